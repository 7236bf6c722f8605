/** The prewarmer's options and reports (the `Prewarmer` itself is `prewarmer.ts`). */
import type { ProfileRepository } from '../db/profileRepository.js';
import type {
  DEFAULT_PREWARM_BATCH_SIZE,
  DEFAULT_PREWARM_DEADLINE_MINUTES,
  DEFAULT_PREWARM_PAUSE_MS,
  DEFAULT_PREWARM_WINDOW_DAYS,
} from '../defaults.js';
import type { Clock, LoggerPort } from '../ports.js';
import type { LeasePort } from '../redis/lease.js';
import type { UserCache } from '../userCache.js';
import type { ActiveUserSource } from './activitySources.js';
import type { PrewarmCheckpointStore } from './checkpoint.js';

export interface PrewarmerOptions {
  cache: Pick<UserCache, 'write'>;
  repository: Pick<ProfileRepository, 'getMany'>;
  source: ActiveUserSource;
  /** Ids per batch (one page, one query, one cache write). At most 1000. @default {@link DEFAULT_PREWARM_BATCH_SIZE} */
  batchSize?: number;
  /** Pause between two batches (none after the last). @default {@link DEFAULT_PREWARM_PAUSE_MS} */
  pauseMs?: number;
  /** Users active within this many days are warmed. @default {@link DEFAULT_PREWARM_WINDOW_DAYS} */
  windowDays?: number;
  /**
   * Stop starting batches after this long (a Lambda must end before its timeout). The report then says
   * `complete: false` and the next run resumes at the checkpoint.
   * @default Infinity
   */
  budgetMs?: number;
  /** When set, `run` holds this lease (throws `LeaseHeldError` when another prewarm has it). */
  lease?: LeasePort;
  /**
   * Where the cycle's cursor and totals are kept between invocations. A `RedisPrewarmCheckpoint` must be
   * built on the same lease (its saves are fenced by the lease token and renew it).
   * @default a MemoryPrewarmCheckpoint (every run is a whole new cycle)
   */
  checkpoint?: PrewarmCheckpointStore;
  /**
   * A cycle not complete this long after it began is reported short (`closed` in the report, once):
   * the alarm fires then, instead of waiting for the next day's cycle. Later runs still carry on.
   * @default {@link DEFAULT_PREWARM_DEADLINE_MINUTES} minutes (2.5 hours)
   */
  cycleDeadlineMs?: number;
  /** The cycle a time belongs to. @default the UTC day */
  cycleOf?: (nowMs: number) => string;
  /** Called when a new cycle starts, with its window start: prunes the activity set whatever the source. */
  onCycleStart?: (sinceMs: number) => Promise<unknown>;
  /** Called after every batch with the totals so far (and `total` when the source can count). */
  onProgress?: (progress: PrewarmProgress) => void;
  /** @default Date.now */
  clock?: Clock;
  /** @default setTimeout from node:timers/promises */
  sleep?: (ms: number) => Promise<void>;
  /** @default a logger that drops everything */
  logger?: LoggerPort;
}

/** This invocation's work, and where its cycle stands. */
export interface PrewarmReport {
  /** Ids the source yielded to this invocation. */
  candidates: number;
  /** Profiles and tombstones written by this invocation. */
  cached: number;
  /** Left alone by the fence: the cache already held a newer version (or a newer tombstone). */
  skippedFresh: number;
  /** Ids PostgreSQL does not have. */
  notFound: number;
  /** Ids not warmed because their batch failed twice, or because the id or row was invalid. */
  errors: number;
  failedBatches: number;
  batches: number;
  /** True when the cycle's walk is done (by this invocation or an earlier one). */
  complete: boolean;
  /** Active users the cycle has not walked yet (0 when complete; null when the source cannot count). */
  remaining: number | null;
  /** The cycle's totals so far, across invocations. */
  cycle: {
    id: string;
    active: number | null;
    warmed: number;
    errors: number;
    invocations: number;
    /** warmed / (warmed + errors + remaining), in [0, 1]. */
    coverage: number;
  };
  /**
   * The cycles this invocation closed (usually none): one completed, passed its deadline incomplete, or
   * was found unfinished when the next day's began. `uncovered` > 0 is what the alarm fires on.
   */
  closed: Array<{ cycle: string; uncovered: number; coverage: number }>;
  /** Why it stopped early, when it did. */
  stoppedBy?: 'budget' | 'lease-lost' | 'source-failed' | 'checkpoint-failed';
  durationMs: number;
}

export interface PrewarmProgress extends PrewarmReport {
  /** What the cycle expects to walk, when the source can count. */
  total: number | undefined;
}
