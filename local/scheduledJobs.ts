/**
 * What EventBridge Scheduler runs in AWS, run in-process locally through the same handler modules
 * (`functions/streamPoller.ts`, `functions/prewarm.ts`) and the same wiring (`pollerDeps()`,
 * `prewarmDeps()`, here on the local stack's clients): the poller back to back instead of once a minute,
 * the prewarm once at start. Leases as in AWS, so two stacks sharing one REDIS_URL still run one poller.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Config } from '../functions/config.js';
import * as prewarmFunction from '../functions/prewarm.js';
import * as streamPoller from '../functions/streamPoller.js';
import type { Clock, LoggerPort } from '../shared/ports.js';

export interface BackgroundJob {
  /** Asks the job to stop and waits until it has (at most the Redis or SQL call in flight). */
  stop(): Promise<void>;
}

/** The local stack's clients and settings. */
export interface JobContext extends streamPoller.PollerSources, prewarmFunction.PrewarmSources {
  /** Prefix of the lease keys (the cache's key prefix). */
  keyPrefix: string;
  /** The events stream, prefixed as the stack decided. */
  stream: string;
}

/** Runs the stream poller's handler back to back until stopped. */
export function startLocalPoller(ctx: JobContext): BackgroundJob {
  return startJob({ repeat: true, name: 'poller', logger: ctx.logger }, (ports) => {
    const run = streamPoller.createHandler(
      streamPoller.pollerDeps(ctx, { ...ports, stream: ctx.stream, keyPrefix: ctx.keyPrefix }),
    );
    return () => run({});
  });
}

/** Runs the prewarm's handler once, in the background. */
export function startLocalPrewarm(ctx: JobContext, source: Config['prewarm']['source']): BackgroundJob {
  return startJob({ repeat: false, name: 'prewarm', logger: ctx.logger }, (ports) => {
    const run = prewarmFunction.createHandler(
      prewarmFunction.prewarmDeps(ctx, { ...ports, source, keyPrefix: ctx.keyPrefix }),
    );
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
