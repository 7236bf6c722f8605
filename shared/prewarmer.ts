/**
 * Prewarmer: loads the profiles of recently active users into the cache ahead of the morning peak, in
 * batches: ONE `getMany` query and ONE fenced cache write per batch, with a pause between batches so
 * PostgreSQL and Redis keep serving live traffic.
 *
 * It can never overwrite a newer profile or resurrect a deleted one: every write goes through the version
 * fence, so a profile the API changed while the batch was in flight comes back `stale` and is left alone.
 * Rows deleted in PostgreSQL are written as tombstones.
 */

import { setTimeout as delay } from 'node:timers/promises';
import type { ActiveUserSource } from './activitySources.js';
import type { CacheWrite } from './cache/writes.js';
import { ConfigError, UserCacheError } from './errors.js';
import { safeErrorText } from './errorText.js';
import { type LeasePort, withLease } from './lease.js';
import { type Clock, type LoggerPort, silentLogger, systemClock } from './ports.js';
import { LIMITS, parseUserProfile } from './profile.js';
import type { ProfileRepository } from './profileRepository.js';
import type { UserCache } from './userCache.js';

export interface PrewarmerOptions {
  cache: Pick<UserCache, 'write'>;
  repository: Pick<ProfileRepository, 'getMany'>;
  source: ActiveUserSource;
  /** Ids per batch (one query, one cache write). At most 1000. @default 500 */
  batchSize?: number;
  /** Pause between two batches (none after the last). @default 1500 */
  pauseMs?: number;
  /** Users active within this many days are warmed. @default 7 */
  windowDays?: number;
  /**
   * Stop starting batches after this long (a Lambda must end before its timeout). The report then says
   * `complete: false`; the next run starts over, and rewriting the same versions is harmless.
   * @default Infinity
   */
  budgetMs?: number;
  /** When set, `run` holds this lease (throws `LeaseHeldError` when another prewarm has it). */
  lease?: LeasePort;
  /** Called after every batch with the totals so far (and `total` when the source can count). */
  onProgress?: (progress: PrewarmProgress) => void;
  /** @default Date.now */
  clock?: Clock;
  /** @default setTimeout from node:timers/promises */
  sleep?: (ms: number) => Promise<void>;
  /** @default a logger that drops everything */
  logger?: LoggerPort;
}

export interface PrewarmReport {
  /** Ids the source yielded. */
  candidates: number;
  /** Profiles and tombstones written. */
  cached: number;
  /** Left alone by the fence: the cache already held a newer version (or a newer tombstone). */
  skippedFresh: number;
  /** Ids PostgreSQL does not have. */
  notFound: number;
  /** Ids not warmed because their batch failed twice, or because the id or row was invalid. */
  errors: number;
  failedBatches: number;
  batches: number;
  /** False when the budget ran out, the lease was lost or the source failed before the end. */
  complete: boolean;
  durationMs: number;
}

export interface PrewarmProgress extends PrewarmReport {
  /** What the source expects to yield, when it can count. */
  total: number | undefined;
}

type BatchCounts = Pick<PrewarmReport, 'cached' | 'skippedFresh' | 'notFound' | 'errors'>;

const DAY_MS = 86_400_000;

export class Prewarmer {
  readonly #cache: Pick<UserCache, 'write'>;
  readonly #repository: Pick<ProfileRepository, 'getMany'>;
  readonly #source: ActiveUserSource;
  readonly #batchSize: number;
  readonly #pauseMs: number;
  readonly #windowMs: number;
  readonly #budgetMs: number;
  readonly #lease: LeasePort | undefined;
  readonly #onProgress: ((progress: PrewarmProgress) => void) | undefined;
  readonly #clock: Clock;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #logger: LoggerPort;

  constructor(options: PrewarmerOptions) {
    this.#cache = options.cache;
    this.#repository = options.repository;
    this.#source = options.source;
    this.#batchSize = options.batchSize ?? 500;
    this.#pauseMs = options.pauseMs ?? 1500;
    this.#windowMs = (options.windowDays ?? 7) * DAY_MS;
    this.#budgetMs = options.budgetMs ?? Number.POSITIVE_INFINITY;
    this.#lease = options.lease;
    this.#onProgress = options.onProgress;
    this.#clock = options.clock ?? systemClock;
    this.#sleep = options.sleep ?? ((ms) => delay(ms));
    this.#logger = options.logger ?? silentLogger;
    const { batchSize, pauseMs, windowDays } = options;
    if (batchSize !== undefined && !isInt(batchSize, 1, LIMITS.cacheBatchMax)) {
      throw new ConfigError(`batchSize must be an integer from 1 to ${LIMITS.cacheBatchMax}`);
    }
    if (pauseMs !== undefined && !isInt(pauseMs, 0))
      throw new ConfigError('pauseMs must be a non-negative integer');
    if (windowDays !== undefined && !(windowDays > 0)) throw new ConfigError('windowDays must be positive');
    if (!(this.#budgetMs > 0)) throw new ConfigError('budgetMs must be positive');
  }

  /** Warms every active user once. Never throws for a failing batch; see `PrewarmReport`. */
  async run(): Promise<PrewarmReport> {
    return this.#lease ? withLease(this.#lease, () => this.#run(this.#lease)) : this.#run(undefined);
  }

  async #run(lease: LeasePort | undefined): Promise<PrewarmReport> {
    const started = this.#clock();
    const since = started - this.#windowMs;
    const report: PrewarmReport = {
      candidates: 0,
      cached: 0,
      skippedFresh: 0,
      notFound: 0,
      errors: 0,
      failedBatches: 0,
      batches: 0,
      complete: true,
      durationMs: 0,
    };
    const total = this.#onProgress && this.#source.countActive ? await this.#count(since) : undefined;
    let lastRenew = started;

    // Returns false when the run must stop before this batch (budget, lease).
    const runBatch = async (ids: string[]): Promise<boolean> => {
      if (report.batches > 0) await this.#sleep(this.#pauseMs);
      if (this.#clock() - started >= this.#budgetMs) return false;
      if (lease && this.#clock() - lastRenew >= lease.ttlMs / 3) {
        if (!(await lease.renew().catch(() => false))) {
          this.#logger.warn('prewarm lease lost; stopping');
          return false;
        }
        lastRenew = this.#clock();
      }
      report.batches++;
      const counts = await this.#batchWithRetry(ids);
      if (counts) add(report, counts);
      else {
        report.failedBatches++;
        report.errors += ids.length;
      }
      this.#onProgress?.({ ...report, durationMs: this.#clock() - started, total });
      return true;
    };

    const buffer: string[] = [];
    try {
      for await (const page of this.#source.activeUserIds(since)) {
        report.candidates += page.length;
        buffer.push(...page);
        while (buffer.length >= this.#batchSize) {
          if (!(await runBatch(buffer.splice(0, this.#batchSize)))) return stop(report, started, this.#clock);
        }
      }
      if (buffer.length > 0 && !(await runBatch(buffer))) return stop(report, started, this.#clock);
    } catch (error) {
      this.#logger.error('prewarm source failed; stopping', { error: safeErrorText(error) });
      return stop(report, started, this.#clock);
    }
    report.durationMs = this.#clock() - started;
    return report;
  }

  /** One retry after a pause; undefined when both attempts failed (the run goes on). */
  async #batchWithRetry(ids: string[]): Promise<BatchCounts | undefined> {
    for (let attempt = 1; attempt <= 2; attempt++) {
      try {
        return await this.#batch(ids);
      } catch (error) {
        this.#logger.warn('prewarm batch failed', { attempt, ids: ids.length, error: safeErrorText(error) });
        if (attempt === 1) await this.#sleep(this.#pauseMs);
      }
    }
    return undefined;
  }

  async #batch(batch: readonly string[]): Promise<BatchCounts> {
    const counts: BatchCounts = { cached: 0, skippedFresh: 0, notFound: 0, errors: 0 };
    const ids = [...new Set(batch)].filter((id) => {
      const valid = LIMITS.userIdPattern.test(id);
      if (!valid) counts.errors++;
      return valid;
    });
    const stored = await this.#repository.getMany(ids);
    const writes: CacheWrite[] = [];
    for (const id of ids) {
      const row = stored.get(id);
      if (!row) counts.notFound++;
      else if (row.deletedAt !== null) {
        writes.push({ kind: 'deleted', userId: id, version: row.version, deletedAt: row.deletedAt });
      } else {
        try {
          writes.push({ kind: 'profile', profile: parseUserProfile(row) });
        } catch (error) {
          // UserCache.write would refuse the whole batch for one invalid row: skip just that one.
          counts.errors++;
          this.#logger.warn('prewarm skipped an invalid row', { userId: id, error: safeErrorText(error) });
        }
      }
    }
    const outcomes = await this.#cache.write(writes);
    if (outcomes.includes('unavailable')) {
      throw new UserCacheError('CACHE_UNAVAILABLE', 'cache write unavailable for a prewarm batch');
    }
    for (const outcome of outcomes) {
      if (outcome === 'stale') counts.skippedFresh++;
      else counts.cached++;
    }
    return counts;
  }

  async #count(since: number): Promise<number | undefined> {
    try {
      return await this.#source.countActive?.(since);
    } catch (error) {
      this.#logger.warn('prewarm could not count candidates', { error: safeErrorText(error) });
      return undefined;
    }
  }
}

function add(report: PrewarmReport, counts: BatchCounts): void {
  report.cached += counts.cached;
  report.skippedFresh += counts.skippedFresh;
  report.notFound += counts.notFound;
  report.errors += counts.errors;
}

function stop(report: PrewarmReport, started: number, clock: Clock): PrewarmReport {
  return { ...report, complete: false, durationMs: clock() - started };
}

function isInt(value: number, min: number, max = Number.MAX_SAFE_INTEGER): boolean {
  return Number.isSafeInteger(value) && value >= min && value <= max;
}
