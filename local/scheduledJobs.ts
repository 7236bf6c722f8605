/**
 * What EventBridge Scheduler runs in AWS, run in-process locally through the same handler modules
 * (`functions/streamPoller.ts`, `functions/prewarm.ts`): the poller back to back instead of once a
 * minute, the prewarm once at start. Their clients are the local stack's (Lambda's `pollerDeps()` and
 * `prewarmDeps()` take the Lambda `Dependencies`); leases as in AWS, so two stacks sharing one REDIS_URL
 * still run one poller.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Redis } from '@upstash/redis';
import type { Config } from '../functions/config.js';
import type { MetricsPort } from '../functions/http/route.js';
import * as prewarmFunction from '../functions/prewarm.js';
import * as streamPoller from '../functions/streamPoller.js';
import { RedisActivitySource, SqlActivitySource } from '../shared/activitySources.js';
import type { EventPublisher } from '../shared/eventPublisher.js';
import { Lease } from '../shared/lease.js';
import type { Clock, LoggerPort } from '../shared/ports.js';
import { Prewarmer } from '../shared/prewarmer.js';
import type { ProfileRepository } from '../shared/profileRepository.js';
import type { Sql } from '../shared/sql.js';
import { StreamConsumer } from '../shared/streamConsumer.js';
import type { UserCache } from '../shared/userCache.js';

export interface BackgroundJob {
  /** Asks the job to stop and waits until it has (at most the Redis or SQL call in flight). */
  stop(): Promise<void>;
}

/** The local stack's clients and settings. */
export interface JobContext {
  redis: Redis;
  cache: UserCache;
  repository: ProfileRepository;
  publisher: EventPublisher;
  sql: Sql;
  config: Config;
  /** Prefix of the lease keys (the cache's key prefix). */
  keyPrefix: string;
  /** The events stream, prefixed as the stack decided. */
  stream: string;
  logger: LoggerPort;
  metrics: MetricsPort;
}

/** Runs the stream poller's handler back to back until stopped. */
export function startLocalPoller(ctx: JobContext): BackgroundJob {
  const { redis, cache, config } = ctx;
  // As in pollerDeps(): events older than the tombstone TTL (minus an hour) become invalidations.
  const maxEventAgeMs = Math.max(60_000, config.cache.tombstoneTtlSeconds * 1000 - 3_600_000);
  return startJob({ repeat: true, name: 'poller', logger: ctx.logger }, ({ clock, sleep, logger }) => {
    const run = streamPoller.createHandler({
      consumer: (budgetMs) =>
        new StreamConsumer({
          redis,
          cache,
          stream: ctx.stream,
          group: config.events.group,
          maxEventAgeMs,
          logger,
          repository: ctx.repository,
          clock,
          sleep,
          lease: new Lease({ redis, key: `${ctx.keyPrefix}user:poller:lease`, ttlMs: budgetMs + 15_000 }),
        }),
      relay: (until) => ctx.publisher.publishPending(ctx.repository, 100, { until, clock }),
      cache,
      budgetMs: config.poller.budgetMs,
      logger,
      metrics: ctx.metrics,
    });
    return () => run({});
  });
}

/** Runs the prewarm's handler once, in the background. */
export function startLocalPrewarm(ctx: JobContext, source: 'activity' | 'sql'): BackgroundJob {
  const { redis, cache, config } = ctx;
  const activeUsers =
    source === 'sql'
      ? new SqlActivitySource({ sql: ctx.sql })
      : new RedisActivitySource({ redis, key: cache.keys.activity });
  return startJob({ repeat: false, name: 'prewarm', logger: ctx.logger }, ({ clock, sleep, logger }) => {
    const run = prewarmFunction.createHandler({
      prewarmer: (budgetMs) =>
        new Prewarmer({
          cache,
          repository: ctx.repository,
          source: activeUsers,
          batchSize: config.prewarm.batchSize,
          pauseMs: config.prewarm.pauseMs,
          windowDays: config.prewarm.windowDays,
          budgetMs,
          clock,
          sleep,
          logger,
          lease: new Lease({ redis, key: `${ctx.keyPrefix}user:prewarm:lease`, ttlMs: 60_000 }),
        }),
      cache,
      logger,
      metrics: ctx.metrics,
    });
    return () => run({});
  });
}

/** What a job's consumer or prewarmer is built with, so stop() can end it. */
interface JobPorts {
  clock: Clock;
  sleep: (ms: number) => Promise<void>;
  /** Drops info and debug once stopping: the last report's durations are those of the moved clock. */
  logger: LoggerPort;
}

/** Beyond any run's budget (the poller's and the prewarm's are at most 15 minutes). */
const HORIZON_MS = 3_600_000;

/**
 * Neither the consumer nor the prewarmer takes an abort signal; both end at their own deadline. So stop()
 * moves the job's clock past any deadline and cuts the pause in progress short: the run then ends
 * through its normal path (acks, consumer removed from the group, stats flushed, lease released)
 * instead of an exception halfway through. Repeated runs pause a second between them: a run skipped
 * because another poller holds the lease returns at once.
 */
function startJob(
  opts: { repeat: boolean; name: string; logger: LoggerPort },
  build: (ports: JobPorts) => () => Promise<unknown>,
): BackgroundJob {
  const abort = new AbortController();
  const clock = () => Date.now() + (abort.signal.aborted ? HORIZON_MS : 0);
  const sleep = (ms: number) => delay(ms, undefined, { signal: abort.signal }).catch(() => {});
  const base = opts.logger;
  const logger: LoggerPort = {
    debug: (message, extra) => void (abort.signal.aborted || base.debug(message, extra)),
    info: (message, extra) => void (abort.signal.aborted || base.info(message, extra)),
    warn: (message, extra) => base.warn(message, extra),
    error: (message, extra) => base.error(message, extra),
  };
  const run = build({ clock, sleep, logger });
  const done = (async () => {
    do {
      try {
        await run();
      } catch (error) {
        if (abort.signal.aborted) break;
        const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        opts.logger.warn(`${opts.name} failed${opts.repeat ? '; retrying' : ''}`, { error: message });
      }
      if (opts.repeat) await sleep(1_000);
    } while (opts.repeat && !abort.signal.aborted);
  })();
  return {
    async stop() {
      abort.abort();
      await done;
    },
  };
}
