/**
 * Cache counters shared by every instance, kept in one Redis hash. Counting each read with its own HINCRBY
 * would double the bill (Upstash charges per command), so counts gather in memory and ride, as HINCRBYs,
 * on a pipeline the cache sends anyway: no extra round trip, and one HINCRBY per counter per flush.
 */
import type { Clock } from '../ports.js';

export const COUNTERS = [
  'hits',
  'misses',
  'negativeHits',
  'deletedHits',
  'unknown',
  'sets',
  'staleRejected',
  'invalidations',
  'errors',
  /** Profiles read from PostgreSQL because the cache could not answer (the seed's "backend load"). */
  'dbReads',
] as const;

export type Counter = (typeof COUNTERS)[number];
export type CounterValues = Record<Counter, number>;

export interface CacheStats extends CounterValues {
  /** Share of lookups answered by the cache (hits, negative hits and tombstones) among decided lookups. */
  hitRate: number;
  /** Lookups counted so far (including `unknown`). */
  lookups: number;
  /** `dbReads / lookups`: the share of reads that reached PostgreSQL. */
  dbFallbackShare: number;
}

export interface StatsBufferOptions {
  /**
   * Flush once this many operations are pending.
   * @default 100
   */
  flushEvery?: number;
  /**
   * Flush pending counts at the next Redis call once they are this old, so a quiet instance still reports.
   * @default 10000
   */
  flushAfterMs?: number;
  clock: Clock;
}

export function zeroCounters(): CounterValues {
  return Object.fromEntries(COUNTERS.map((c) => [c, 0])) as CounterValues;
}

export function toCacheStats(values: CounterValues): CacheStats {
  const answered = values.hits + values.negativeHits + values.deletedHits;
  const decided = answered + values.misses;
  const lookups = decided + values.unknown;
  return {
    ...values,
    lookups,
    hitRate: decided === 0 ? 0 : answered / decided,
    dbFallbackShare: lookups === 0 ? 0 : values.dbReads / lookups,
  };
}

/** Counts in memory and hands out what is due for flushing. Not thread-safe; Node is single-threaded. */
export class StatsBuffer {
  readonly #flushEvery: number;
  readonly #flushAfterMs: number;
  readonly #clock: Clock;
  #pending = zeroCounters();
  #pendingOps = 0;
  #oldest: number | undefined;

  constructor(options: StatsBufferOptions) {
    this.#flushEvery = options.flushEvery ?? 100;
    this.#flushAfterMs = options.flushAfterMs ?? 10_000;
    this.#clock = options.clock;
  }

  add(counter: Counter, n = 1): void {
    if (n === 0) return;
    this.#pending[counter] += n;
    this.#pendingOps += n;
    this.#oldest ??= this.#clock();
  }

  /** Whether the next Redis call should carry the pending counts. */
  get due(): boolean {
    if (this.#pendingOps === 0) return false;
    return this.#pendingOps >= this.#flushEvery || this.#clock() - (this.#oldest ?? 0) >= this.#flushAfterMs;
  }

  /** Takes the pending non-zero counts (the caller flushes them, or gives them back with `restore`). */
  take(): Partial<CounterValues> {
    const taken: Partial<CounterValues> = {};
    for (const c of COUNTERS) if (this.#pending[c] !== 0) taken[c] = this.#pending[c];
    this.#pending = zeroCounters();
    this.#pendingOps = 0;
    this.#oldest = undefined;
    return taken;
  }

  /** Puts counts back after a failed flush, so a Redis outage loses no counts (until the process ends). */
  restore(counts: Partial<CounterValues>): void {
    for (const [c, n] of Object.entries(counts) as Array<[Counter, number]>) this.add(c, n);
  }

  /** Pending counts, not yet in Redis. */
  peek(): CounterValues {
    return { ...this.#pending };
  }
}
