/**
 * Stream poller (EventBridge Scheduler, every minute, 90 s timeout): applies `events:users` to the cache
 * for up to POLLER_BUDGET_MS, relaying outbox rows the API could not publish. Runs overlap: a new run
 * waits for the Redis lease, the previous one hands it over at a batch boundary, so some run is always
 * consuming and at most one applies (its writes are fenced by the lease). See docs/poller.md.
 */
import type { Context } from 'aws-lambda';
import { maxSafeEventAgeMs } from '../shared/cache/ttl.js';
import type { Clock, LoggerPort } from '../shared/ports.js';
import { Lease } from '../shared/redis/lease.js';
import { type PollReport, type Relay, StreamConsumer } from '../shared/stream/consumer.js';
import { POLLER_SCHEDULE } from '../shared/stream/pollerSchedule.js';
import type { UserCache } from '../shared/userCache.js';
import { type Dependencies, getDependencies, withLambdaContext } from './commons/dependencies.js';
import type { MetricsPort } from './commons/route.js';
import { lazyScheduled, runBudgetMs, scheduledRun } from './commons/scheduledRun.js';

export interface PollerDeps {
  /** A fresh consumer per invocation: its name is unique, and it holds the poller lease. */
  consumer: (budgetMs: number) => Pick<StreamConsumer, 'runFor'>;
  /** Publishes unpublished outbox rows, starting no page after the given deadline; returns how many. */
  relay: Relay;
  cache: Pick<UserCache, 'flushStats'>;
  /** POLLER_BUDGET_MS: the loop's length, capped by the invocation's remaining time. */
  budgetMs: number;
  /** Time kept free at the end of an invocation for the final acks, metrics and stats flush. @default 5000 */
  endMarginMs?: number;
  logger: LoggerPort;
  metrics: MetricsPort;
}

export type PollerResult =
  | { status: 'done'; report: PollReport }
  /** The lease stayed held for all of this run's budget (a predecessor that could not hand over). */
  | { status: 'skipped'; reason: 'lease-held' };

/** Outbox rows per relay page (one query, one pipelined XADD); a backlog drains in several pages. */
const RELAY_BATCH = 100;

export function createHandler(deps: PollerDeps) {
  return async (
    _event: unknown,
    context?: Pick<Context, 'getRemainingTimeInMillis'>,
  ): Promise<PollerResult> => {
    const budgetMs = runBudgetMs(context, {
      endMarginMs: deps.endMarginMs ?? 5_000,
      capMs: deps.budgetMs,
      fallbackMs: deps.budgetMs,
      minMs: 1,
    });
    return scheduledRun(
      deps,
      async () => {
        const report = await deps.consumer(budgetMs).runFor(budgetMs, { relay: deps.relay });
        record(deps.metrics, report);
        const { lagSamplesMs: _samples, ...summary } = report;
        deps.logger.info('poller run done', summary);
        return { status: 'done', report } as const;
      },
      // The previous run kept the lease for all of this run's budget: it could not see the handover request.
      {
        metric: 'PollerSkipped',
        message: 'poller skipped: another run held the lease all along',
        level: 'warn',
      },
    );
  };
}

/** Metric names are shared with `infra/constructs/metrics.ts` (EventLag, EventsDeadLettered, PollerHeartbeat…). */
function record(metrics: MetricsPort, report: PollReport): void {
  // This run held the lease and polled, whether or not anything arrived: the PollerHeartbeat alarm
  // breaches when no run does for 10 minutes (a stuck lease emits only PollerSkipped).
  metrics.addMetric('PollerHeartbeat', 'Count', 1);
  metrics.addMetric('EventsApplied', 'Count', report.applied);
  metrics.addMetric('EventsStale', 'Count', report.stale);
  metrics.addMetric('EventsDeadLettered', 'Count', report.deadLettered);
  metrics.addMetric('EventsUnknownType', 'Count', report.unknownTypes);
  metrics.addMetric('EventsClaimed', 'Count', report.claimed);
  metrics.addMetric('EventsPending', 'Count', report.pending);
  metrics.addMetric('OutboxRelayed', 'Count', report.relayed);
  metrics.addMetric('PollerErrors', 'Count', report.errors);
  for (const lag of report.lagSamplesMs) metrics.addMetric('EventLag', 'Milliseconds', lag);
  // Only from a run that trimmed: the stream's size and its oldest unacknowledged entry (both alarmed).
  if (report.streamLength >= 0) {
    metrics.addMetric('StreamLength', 'Count', report.streamLength);
    metrics.addMetric('OldestPendingAge', 'Milliseconds', Math.max(0, report.oldestPendingAgeMs));
    metrics.addMetric('StreamGroupsExcluded', 'Count', report.groupsExcluded);
  }
}

/** What `pollerDeps()` reads: Lambda's `Dependencies`, or the local stack's own clients. */
export interface PollerSources
  extends Pick<Dependencies, 'config' | 'redis' | 'cache' | 'repository' | 'publisher' | 'logger'> {
  metrics: MetricsPort;
}

/** Where the local stack's poller differs from Lambda's (a moved clock to stop it, its own stream). */
export interface PollerOverrides {
  /** The events stream to consume. @default config.events.stream */
  stream?: string;
  /** Prefix of the lease key. @default config.cache.keyPrefix */
  keyPrefix?: string;
  /** The consumer's and the relay's clock. @default Date.now */
  clock?: Clock;
  /** The consumer's pause between empty reads. @default a timer */
  sleep?: (ms: number) => Promise<void>;
  /** The handler's and the consumer's logger. @default sources.logger */
  logger?: LoggerPort;
  /** Time between scheduled runs: a successor is due this long after a run starts. @default POLLER_SCHEDULE.periodMs */
  periodMs?: number;
  /** The poller lease's TTL. @default POLLER_SCHEDULE.leaseTtlMs */
  leaseTtlMs?: number;
  /** The loop's budget. @default config.poller.budgetMs (POLLER_BUDGET_MS) */
  budgetMs?: number;
  /** See `PollerDeps.endMarginMs` (short local schedules need a short one). @default 5000 */
  endMarginMs?: number;
}

/** The poller's dependencies: one place wires the consumer, its lease and the relay, for Lambda and local. */
export function pollerDeps(d: PollerSources, overrides: PollerOverrides = {}): PollerDeps {
  const { config, redis, cache } = d;
  const { clock, sleep } = overrides;
  const logger = overrides.logger ?? d.logger;
  const keyPrefix = overrides.keyPrefix ?? config.cache.keyPrefix;
  // Events older than the shortest fence lifetime (minus a margin) are applied as invalidations.
  const maxEventAgeMs = maxSafeEventAgeMs(config.cache);
  return {
    consumer: () =>
      new StreamConsumer({
        redis,
        cache,
        stream: overrides.stream ?? config.events.stream,
        group: config.events.group,
        maxEventAgeMs,
        logger,
        repository: d.repository,
        clock,
        sleep,
        periodMs: overrides.periodMs ?? POLLER_SCHEDULE.periodMs,
        // Short: it only bounds how long a killed run keeps its successor waiting; renewed every third.
        lease: new Lease({
          redis,
          key: `${keyPrefix}user:poller:lease`,
          ttlMs: overrides.leaseTtlMs ?? POLLER_SCHEDULE.leaseTtlMs,
        }),
      }),
    relay: (until) => d.publisher.publishPending(d.repository, RELAY_BATCH, { until, clock }),
    cache,
    budgetMs: overrides.budgetMs ?? config.poller.budgetMs,
    endMarginMs: overrides.endMarginMs,
    logger,
    metrics: d.metrics,
  };
}

/** The Lambda entry point: dependencies are built on the first call, once per environment. */
export const handler = lazyScheduled('streamPoller', async () => {
  const deps = await getDependencies();
  return withLambdaContext(deps, createHandler(pollerDeps(deps)));
});
