/**
 * Prewarmer: loads the profiles of recently active users into the cache ahead of the morning peak, most
 * recently active first, in batches: ONE source page, ONE `getMany` query and ONE fenced cache write per
 * batch, with a pause between batches so PostgreSQL and Redis keep serving live traffic.
 *
 * A day's walk is a cycle that may span several invocations: after every batch the cursor and the
 * cycle's totals are saved to a checkpoint fenced by the prewarm lease (`prewarm/checkpoint.ts`), and the
 * next invocation resumes there. A new UTC day starts a new cycle from the top.
 *
 * It can never overwrite a newer profile or resurrect a deleted one: every write goes through the version
 * fence, so a profile the API changed while the batch was in flight comes back `stale` and is left alone.
 * Rows deleted in PostgreSQL are written as tombstones. Rewriting a batch (a resumed run redoing the batch
 * after the last save) is harmless for the same reason.
 */

import { setTimeout as delay } from 'node:timers/promises';
import type { CacheWrite } from '../cache/writes.js';
import {
  DEFAULT_PREWARM_BATCH_SIZE,
  DEFAULT_PREWARM_DEADLINE_MINUTES,
  DEFAULT_PREWARM_PAUSE_MS,
  DEFAULT_PREWARM_WINDOW_DAYS,
} from '../defaults.js';
import { UserCacheError } from '../errors.js';
import { integerOption, numberOption } from '../options.js';
import { silentLogger, systemClock } from '../ports.js';
import { LIMITS, parseUserProfile } from '../profile/schemas.js';
import { safeErrorText } from '../redis/errorText.js';
import { type LeasePort, withLease } from '../redis/lease.js';
import type { ActiveUserSource } from './activitySources.js';
import {
  coverageOf,
  MemoryPrewarmCheckpoint,
  newCycle,
  type PrewarmCycle,
  remainingOf,
  uncoveredOf,
  utcDay,
} from './checkpoint.js';
import type { PrewarmerOptions, PrewarmReport } from './types.js';

export type { PrewarmerOptions, PrewarmProgress, PrewarmReport } from './types.js';

type BatchCounts = Pick<PrewarmReport, 'cached' | 'skippedFresh' | 'notFound' | 'errors'>;
type Stop = NonNullable<PrewarmReport['stoppedBy']>;

const DAY_MS = 86_400_000;

export class Prewarmer {
  readonly #o: Required<Omit<PrewarmerOptions, 'lease' | 'onProgress' | 'onCycleStart'>> &
    Pick<PrewarmerOptions, 'lease' | 'onProgress' | 'onCycleStart'>;

  constructor(options: PrewarmerOptions) {
    this.#o = {
      batchSize: DEFAULT_PREWARM_BATCH_SIZE,
      pauseMs: DEFAULT_PREWARM_PAUSE_MS,
      windowDays: DEFAULT_PREWARM_WINDOW_DAYS,
      budgetMs: Number.POSITIVE_INFINITY,
      checkpoint: new MemoryPrewarmCheckpoint(),
      cycleDeadlineMs: DEFAULT_PREWARM_DEADLINE_MINUTES * 60_000,
      cycleOf: utcDay,
      clock: systemClock,
      sleep: (ms) => delay(ms),
      logger: silentLogger,
      ...stripUndefined(options),
    };
    const { batchSize, pauseMs, windowDays, budgetMs, cycleDeadlineMs } = this.#o;
    integerOption('batchSize', batchSize, { min: 1, max: LIMITS.cacheBatchMax });
    integerOption('pauseMs', pauseMs, { min: 0 });
    numberOption('windowDays', windowDays, { above: 0 });
    numberOption('budgetMs', budgetMs, { above: 0, allowInfinity: true });
    numberOption('cycleDeadlineMs', cycleDeadlineMs, { above: 0 });
  }

  /** Warms the cycle's next users until it is complete or the budget ends. Never throws for a failing batch. */
  async run(): Promise<PrewarmReport> {
    const { lease } = this.#o;
    return lease ? withLease(lease, () => this.#run(lease)) : this.#run(undefined);
  }

  async #run(lease: LeasePort | undefined): Promise<PrewarmReport> {
    const o = this.#o;
    const started = o.clock();
    const work: BatchCounts & Pick<PrewarmReport, 'candidates' | 'failedBatches' | 'batches'> = {
      candidates: 0,
      cached: 0,
      skippedFresh: 0,
      notFound: 0,
      errors: 0,
      failedBatches: 0,
      batches: 0,
    };
    const closed: PrewarmReport['closed'] = [];
    const close = (s: PrewarmCycle) => {
      s.closed = true;
      closed.push({ cycle: s.cycle, uncovered: uncoveredOf(s), coverage: coverageOf(s) });
    };
    const report = (s: PrewarmCycle, stoppedBy?: Stop): PrewarmReport => ({
      ...work,
      complete: s.complete,
      remaining: remainingOf(s),
      cycle: {
        id: s.cycle,
        active: s.active,
        warmed: s.cached + s.skippedFresh,
        errors: s.errors,
        invocations: s.invocations,
        coverage: coverageOf(s),
      },
      closed: [...closed],
      ...(stoppedBy ? { stoppedBy } : {}),
      durationMs: o.clock() - started,
    });

    let state = await o.checkpoint.load();
    const cycleId = o.cycleOf(started);
    if (!state || state.cycle !== cycleId) {
      // Yesterday's cycle never completed nor hit its deadline while a run was there: report it now.
      if (state && !state.closed) close(state);
      const sinceMs = started - o.windowDays * DAY_MS;
      await o.onCycleStart?.(sinceMs).catch((error: unknown) => {
        o.logger.warn('prewarm cycle-start hook failed', { error: safeErrorText(error) });
      });
      state = newCycle(cycleId, started, sinceMs, (await this.#count(sinceMs)) ?? null);
    }
    if (state.complete) return report(state);
    const s = state;
    s.invocations++;
    const total = s.active ?? undefined;
    let lastRenew = started;

    const finish = async (stoppedBy?: Stop): Promise<PrewarmReport> => {
      if (!s.complete && !s.closed && o.clock() - s.startedAt >= o.cycleDeadlineMs) close(s);
      // The last save carries `closed` (and the invocation count when no batch ran).
      if (stoppedBy !== 'lease-lost' && stoppedBy !== 'checkpoint-failed') {
        if (!(await this.#save(s))) return report(s, 'lease-lost');
      }
      return report(s, stoppedBy);
    };

    for (;;) {
      if (work.batches > 0) await o.sleep(o.pauseMs);
      if (o.clock() - started >= o.budgetMs) return finish('budget');
      // Without a checkpoint (which renews the lease on every save), renew it here.
      if (
        lease &&
        o.checkpoint instanceof MemoryPrewarmCheckpoint &&
        o.clock() - lastRenew >= lease.ttlMs / 3
      ) {
        if (!(await lease.renew().catch(() => false))) {
          o.logger.warn('prewarm lease lost; stopping');
          return report(s, 'lease-lost');
        }
        lastRenew = o.clock();
      }
      let page: Awaited<ReturnType<ActiveUserSource['page']>>;
      try {
        page = await o.source.page(s.sinceMs, s.cursor, o.batchSize);
      } catch (error) {
        o.logger.error('prewarm source failed; stopping', { error: safeErrorText(error) });
        return finish('source-failed');
      }
      if (page.ids.length > 0) {
        work.batches++;
        s.batches++;
        work.candidates += page.ids.length;
        s.walked += page.ids.length;
        const counts = await this.#batchWithRetry(page.ids);
        if (!counts) work.failedBatches++;
        const c = counts ?? { cached: 0, skippedFresh: 0, notFound: 0, errors: page.ids.length };
        add(work, c);
        add(s, c);
      }
      s.cursor = page.next;
      if (page.next === undefined) {
        s.complete = true;
        close(s);
      }
      const saved = await this.#save(s);
      if (!saved) {
        o.logger.warn('prewarm lease lost (checkpoint refused); stopping');
        return report(s, 'lease-lost');
      }
      if (page.ids.length > 0) o.onProgress?.({ ...report(s), total });
      if (s.complete) return report(s);
    }
  }

  /** False when the lease was lost or Redis failed (the run stops; the next one resumes at the last save). */
  async #save(state: PrewarmCycle): Promise<boolean> {
    try {
      return await this.#o.checkpoint.save(state);
    } catch (error) {
      this.#o.logger.warn('prewarm checkpoint save failed', { error: safeErrorText(error) });
      return false;
    }
  }

  /** One retry after a pause; undefined when both attempts failed (the run goes on). */
  async #batchWithRetry(ids: string[]): Promise<BatchCounts | undefined> {
    for (let attempt = 1; attempt <= 2; attempt++) {
      try {
        return await this.#batch(ids);
      } catch (error) {
        this.#o.logger.warn('prewarm batch failed', {
          attempt,
          ids: ids.length,
          error: safeErrorText(error),
        });
        if (attempt === 1) await this.#o.sleep(this.#o.pauseMs);
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
    const stored = await this.#o.repository.getMany(ids);
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
          this.#o.logger.warn('prewarm skipped an invalid row', { userId: id, error: safeErrorText(error) });
        }
      }
    }
    const outcomes = await this.#o.cache.write(writes);
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
      return await this.#o.source.countActive?.(since);
    } catch (error) {
      this.#o.logger.warn('prewarm could not count candidates', { error: safeErrorText(error) });
      return undefined;
    }
  }
}

function add(into: BatchCounts, counts: BatchCounts): void {
  into.cached += counts.cached;
  into.skippedFresh += counts.skippedFresh;
  into.notFound += counts.notFound;
  into.errors += counts.errors;
}

/** `{ ...defaults, ...options }` must not let an explicit `undefined` erase a default. */
function stripUndefined<T extends object>(options: T): T {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as T;
}
