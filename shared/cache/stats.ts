/**
 * Cache counters shared by every instance, kept in one Redis hash. Counting each read with its own HINCRBY
 * would double the bill (Upstash charges per command), so counts gather in memory and ride, as HINCRBYs,
 * on a pipeline the cache sends anyway: no extra round trip, and one HINCRBY per counter per flush.
 *
 * A flush is also paid for: its HINCRBYs may be at most `maxOverhead` (10 %) of the commands the cache
 * sent since the previous flush. That holds the bill to ≤ 1.1 commands per read at any traffic level: a
 * quiet environment (one read per 15 s) waits for enough reads instead of flushing on every one, and no
 * timer ever sends a request of its own.
 *
 * Bound: pending counts reach Redis with the first call made once they are `flushAfterMs` old (or
 * `flushEvery` operations) AND the environment has sent `distinct counters / maxOverhead` commands since
 * the last flush: 10 reads for the usual `hits`, at most 100 with all ten counters pending. An explicit
 * flush (`getStats`, `flushStats` at the end of a poller or prewarm run) sends them at once.
 */
import { numberOption } from '../options.js';
import type { Clock } from '../ports.js';
import type { CacheLookup } from './codec.js';

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

/** The counter each kind of lookup adds to. */
export const LOOKUP_COUNTER: Record<CacheLookup['status'], Counter> = {
  hit: 'hits',
  miss: 'misses',
  negative: 'negativeHits',
  deleted: 'deletedHits',
  unknown: 'unknown',
};

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
  /**
   * Largest share of the commands sent since the last flush that one flush may add (its HINCRBYs).
   * @default 0.1
   */
  maxOverhead?: number;
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
  readonly #maxOverhead: number;
  readonly #clock: Clock;
  #pending = zeroCounters();
  #pendingOps = 0;
  #distinct = 0;
  #oldest: number | undefined;
  /** Commands the cache sent since the last flush: what pays for the next one. */
  #sent = 0;

  constructor(options: StatsBufferOptions) {
    this.#flushEvery = options.flushEvery ?? 100;
    this.#flushAfterMs = options.flushAfterMs ?? 10_000;
    this.#maxOverhead = options.maxOverhead ?? 0.1;
    numberOption('stats.maxOverhead', this.#maxOverhead, { above: 0 });
    this.#clock = options.clock;
  }

  add(counter: Counter, n = 1): void {
    if (n === 0) return;
    if (this.#pending[counter] === 0) this.#distinct += 1;
    this.#pending[counter] += n;
    this.#pendingOps += n;
    this.#oldest ??= this.#clock();
  }

  /** Counts `n` commands the cache sends (its own, not the flush's). */
  sent(n: number): void {
    this.#sent += n;
  }

  /** Whether the next Redis call should carry the pending counts. */
  get due(): boolean {
    if (this.#pendingOps === 0) return false;
    // Paid for: one HINCRBY per distinct counter, within maxOverhead of what was sent since the last flush.
    if (this.#distinct > this.#maxOverhead * this.#sent) return false;
    return this.#pendingOps >= this.#flushEvery || this.#clock() - (this.#oldest ?? 0) >= this.#flushAfterMs;
  }

  /** Takes the pending non-zero counts (the caller flushes them, or gives them back with `restore`). */
  take(): Partial<CounterValues> {
    const taken: Partial<CounterValues> = {};
    for (const c of COUNTERS) if (this.#pending[c] !== 0) taken[c] = this.#pending[c];
    this.#pending = zeroCounters();
    this.#pendingOps = 0;
    this.#distinct = 0;
    this.#oldest = undefined;
    this.#sent = 0;
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
