/**
 * Prewarm (EventBridge Scheduler, every 15 minutes from 04:00 UTC until the day's cycle is done): loads
 * recently active profiles into the cache in paced batches, most recently active first, resuming at the
 * checkpoint the previous invocation saved (a run after the cycle completed does nothing). The source is
 * PREWARM_SOURCE: `activity` (the cache's own sorted set of recent readers) or `sql`
 * (`personnel.last_active_at`). A Redis lease keeps it to one run at a time and fences the checkpoint.
 */
import type { Context } from 'aws-lambda';
import { pruneActivity } from '../shared/cache/activity.js';
import type { Clock, LoggerPort } from '../shared/ports.js';
import { RedisActivitySource, SqlActivitySource } from '../shared/prewarm/activitySources.js';
import { RedisPrewarmCheckpoint } from '../shared/prewarm/checkpoint.js';
import { Prewarmer, type PrewarmerOptions, type PrewarmReport } from '../shared/prewarm/prewarmer.js';
import { Lease } from '../shared/redis/lease.js';
import type { UserCache } from '../shared/userCache.js';
import type { Config } from './commons/config.js';
import { type Dependencies, getDependencies, withLambdaContext } from './commons/dependencies.js';
import type { MetricsPort } from './commons/route.js';
import { lazyScheduled, runBudgetMs, scheduledRun } from './commons/scheduledRun.js';

export interface PrewarmDeps {
  /** A fresh prewarmer per invocation, holding the prewarm lease, that stops after `budgetMs`. */
  prewarmer: (budgetMs: number) => Pick<Prewarmer, 'run'>;
  cache: Pick<UserCache, 'flushStats'>;
  logger: LoggerPort;
  metrics: MetricsPort;
}

export type PrewarmResult =
  | { status: 'done'; report: PrewarmReport }
  | { status: 'skipped'; reason: 'lease-held' };

/** Time kept free at the end of an invocation: the batch in flight, metrics, stats flush. */
const END_MARGIN_MS = 30_000;
/** Budget when no Lambda context is given (local calls): a Lambda's maximum run time. */
const DEFAULT_BUDGET_MS = 15 * 60_000;

export function createHandler(deps: PrewarmDeps) {
  return async (
    _event: unknown,
    context?: Pick<Context, 'getRemainingTimeInMillis'>,
  ): Promise<PrewarmResult> => {
    const budgetMs = runBudgetMs(context, {
      endMarginMs: END_MARGIN_MS,
      fallbackMs: DEFAULT_BUDGET_MS,
      minMs: 1_000,
    });
    return scheduledRun(
      deps,
      async () => {
        const report = await deps.prewarmer(budgetMs).run();
        record(deps.metrics, report);
        if (report.failedBatches > 0 || !report.complete)
          deps.logger.warn('prewarm finished with gaps', { ...report });
        else deps.logger.info('prewarm done', { ...report });
        return { status: 'done', report } as const;
      },
      { metric: 'PrewarmSkipped', message: 'prewarm skipped: another run holds the lease' },
    );
  };
}

function record(metrics: MetricsPort, report: PrewarmReport): void {
  metrics.addMetric('PrewarmCandidates', 'Count', report.candidates);
  metrics.addMetric('PrewarmCached', 'Count', report.cached);
  metrics.addMetric('PrewarmSkippedFresh', 'Count', report.skippedFresh);
  metrics.addMetric('PrewarmNotFound', 'Count', report.notFound);
  metrics.addMetric('PrewarmErrors', 'Count', report.errors);
  metrics.addMetric('PrewarmFailedBatches', 'Count', report.failedBatches);
  metrics.addMetric('PrewarmIncomplete', 'Count', report.complete ? 0 : 1);
  // The PrewarmHeartbeat alarm breaches on 24 hours without a 1 here: no run found the day's cycle walked
  // to its end. Every run after completion (a no-op) reports it again, so yesterday's last 1 (06:45 UTC)
  // covers today's cycle while it is under way. Gaps in a completed cycle are PrewarmUncovered's alarm.
  metrics.addMetric('PrewarmCompleted', 'Count', report.complete ? 1 : 0);
  metrics.addMetric('PrewarmDuration', 'Milliseconds', report.durationMs);
  // The cycle so far (warmed / active, across invocations), then its outcome once it is closed.
  metrics.addMetric('PrewarmCoverage', 'Percent', round2(report.cycle.coverage * 100));
  if (report.remaining !== null) metrics.addMetric('PrewarmRemaining', 'Count', report.remaining);
  for (const cycle of report.closed) metrics.addMetric('PrewarmUncovered', 'Count', cycle.uncovered);
}

const round2 = (n: number) => Math.round(n * 100) / 100;

/** What `prewarmDeps()` reads: Lambda's `Dependencies`, or the local stack's own clients. */
export interface PrewarmSources
  extends Pick<Dependencies, 'config' | 'redis' | 'cache' | 'repository' | 'sql' | 'logger'> {
  metrics: MetricsPort;
}

/** Where the local stack's prewarm differs from Lambda's (a moved clock to stop it, its own source). */
export interface PrewarmOverrides {
  /** Where active users come from. @default config.prewarm.source */
  source?: Config['prewarm']['source'];
  /** Prefix of the lease key. @default config.cache.keyPrefix */
  keyPrefix?: string;
  /** The prewarmer's clock. @default Date.now */
  clock?: Clock;
  /** The prewarmer's pause between batches. @default a timer */
  sleep?: (ms: number) => Promise<void>;
  /** The handler's and the prewarmer's logger. @default sources.logger */
  logger?: LoggerPort;
  /** Called after every batch (the CLI's progress bar). @default none */
  onProgress?: PrewarmerOptions['onProgress'];
}

/** The prewarm's dependencies: one place wires the prewarmer, its source and lease, for Lambda and local. */
export function prewarmDeps(d: PrewarmSources, overrides: PrewarmOverrides = {}): PrewarmDeps {
  const { config, redis, cache } = d;
  const { clock, sleep } = overrides;
  const logger = overrides.logger ?? d.logger;
  const keyPrefix = overrides.keyPrefix ?? config.cache.keyPrefix;
  const source = overrides.source ?? config.prewarm.source;
  const { batchSize, pauseMs, windowDays, deadlineMinutes } = config.prewarm;
  return {
    prewarmer: (budgetMs) => {
      // Renewed by every checkpoint save (one per batch); a killed run frees it within a minute.
      const lease = new Lease({ redis, key: `${keyPrefix}user:prewarm:lease`, ttlMs: 60_000 });
      return new Prewarmer({
        cache,
        repository: d.repository,
        source:
          source === 'sql'
            ? new SqlActivitySource({ sql: d.sql })
            : new RedisActivitySource({ redis, key: cache.keys.activity }),
        batchSize,
        pauseMs,
        windowDays,
        budgetMs,
        clock,
        sleep,
        logger,
        lease,
        checkpoint: new RedisPrewarmCheckpoint({ redis, key: `${keyPrefix}user:prewarm:checkpoint`, lease }),
        cycleDeadlineMs: deadlineMinutes * 60_000,
        // Whatever the source: with PREWARM_SOURCE=sql nothing else prunes the activity set.
        onCycleStart: (sinceMs) => pruneActivity(redis, cache.keys.activity, sinceMs),
        onProgress: overrides.onProgress,
      });
    },
    cache,
    logger,
    metrics: d.metrics,
  };
}

/** The Lambda entry point: dependencies are built on the first call, once per environment. */
export const handler = lazyScheduled('prewarm', async () => {
  const deps = await getDependencies();
  return withLambdaContext(deps, createHandler(prewarmDeps(deps)));
});
