/**
 * What EventBridge Scheduler runs in AWS, run in-process locally through the same handler modules
 * (`functions/streamPoller.ts`, `functions/prewarm.ts`) and the same wiring (`pollerDeps()`,
 * `prewarmDeps()`, here on the local stack's clients).
 *
 * The poller is invoked as AWS invokes it: once per period (the deployed 60 s by default), each run with
 * the deployed timeout and budget, so runs overlap and hand over through the lease exactly as deployed.
 * Each invocation gets its own "environment" (its own Redis client and cache, as a Lambda environment has),
 * and a run still going at its timeout is abandoned as Lambda would kill it: its Redis requests fail from
 * then on, its lease stays until its TTL. The prewarm runs once at start.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Config } from '../functions/commons/config.js';
import * as prewarmFunction from '../functions/prewarm.js';
import * as streamPoller from '../functions/streamPoller.js';
import { ConfigError } from '../shared/errors.js';
import { integerOption } from '../shared/options.js';
import type { Clock, LoggerPort } from '../shared/ports.js';
import type { PollReport } from '../shared/stream/consumer.js';
import { POLLER_SCHEDULE, type PollerSchedule } from '../shared/stream/pollerSchedule.js';

export interface BackgroundJob {
  /** Asks the job to stop and waits until it has (at most the Redis or SQL call in flight). */
  stop(): Promise<void>;
}

/** The clients one Lambda environment builds; `kill` fails every Redis request once aborted. */
export type EnvironmentFactory = (
  kill: AbortSignal,
) => Pick<streamPoller.PollerSources, 'redis' | 'cache' | 'publisher'>;

/** The local stack's clients and settings. */
export interface JobContext extends streamPoller.PollerSources, prewarmFunction.PrewarmSources {
  /** Prefix of the lease keys (the cache's key prefix). */
  keyPrefix: string;
  /** The events stream, prefixed as the stack decided. */
  stream: string;
  /** Fresh clients per poller invocation. @default the context's own clients (a kill then only abandons) */
  environment?: EnvironmentFactory;
}

/** One scheduled poller invocation, as the local scheduler saw it. */
export interface LocalPollerRun {
  invokedAt: number;
  endedAt: number;
  /** `timedOut`: still going at its timeout, abandoned (killed) as Lambda would. */
  outcome: 'done' | 'skipped' | 'timedOut' | 'failed';
  report?: PollReport;
  error?: string;
}

export interface LocalPollerOptions {
  /** Period, timeout, budget and lease TTL. @default POLLER_SCHEDULE (as deployed) */
  schedule?: Partial<PollerSchedule>;
  /** Called once per invocation when it ends (or is abandoned). @default none */
  onRun?: (run: LocalPollerRun) => void;
}

/** Beyond any run's budget (the poller's and the prewarm's are at most 15 minutes). */
const HORIZON_MS = 3_600_000;

/** Invokes the stream poller's handler once per period until stopped; runs overlap as in AWS. */
export function startLocalPoller(ctx: JobContext, options: LocalPollerOptions = {}): BackgroundJob {
  const schedule = resolveSchedule(options.schedule);
  const stopping = new AbortController();
  const inFlight = new Set<Promise<void>>();
  const firstAt = Date.now();
  let count = 0;
  let timer: NodeJS.Timeout | undefined;

  const invoke = async (): Promise<void> => {
    const invokedAt = Date.now();
    const kill = new AbortController();
    const ports = runPorts(ctx.logger, [stopping.signal, kill.signal]);
    const env = ctx.environment?.(kill.signal) ?? ctx;
    const run = streamPoller.createHandler(
      streamPoller.pollerDeps(
        { ...ctx, ...env },
        {
          ...ports,
          stream: ctx.stream,
          keyPrefix: ctx.keyPrefix,
          periodMs: schedule.periodMs,
          leaseTtlMs: schedule.leaseTtlMs,
          budgetMs: schedule.budgetMs,
          // The deployed 5 s, or less for short test schedules whose whole margin is smaller.
          endMarginMs: Math.min(5_000, Math.floor((schedule.timeoutMs - schedule.budgetMs) / 2)),
        },
      ),
    );
    const context = { getRemainingTimeInMillis: () => invokedAt + schedule.timeoutMs - Date.now() };
    const settled = run({}, context).then(
      (result) => ({ result }),
      (error: unknown) => ({ error }),
    );
    const killTimer = new AbortController();
    const outcome = await Promise.race([
      settled,
      delay(schedule.timeoutMs, 'timedOut' as const, { signal: killTimer.signal }).catch(
        () => 'stopped' as const,
      ),
    ]);
    killTimer.abort();
    const endedAt = Date.now();
    if (outcome === 'timedOut') {
      // Lambda ends the process: nothing more of this run reaches Redis (no ack, no release).
      kill.abort();
      ctx.logger.warn('poller run timed out; abandoned as Lambda would kill it', {
        timeoutMs: schedule.timeoutMs,
      });
      options.onRun?.({ invokedAt, endedAt, outcome: 'timedOut' });
      await settled;
      return;
    }
    if (outcome === 'stopped') return;
    if ('error' in outcome) {
      const error =
        outcome.error instanceof Error
          ? `${outcome.error.name}: ${outcome.error.message}`
          : String(outcome.error);
      if (!stopping.signal.aborted) ctx.logger.warn('poller run failed', { error });
      options.onRun?.({ invokedAt, endedAt, outcome: 'failed', error });
      return;
    }
    const { result } = outcome;
    options.onRun?.(
      result.status === 'done'
        ? { invokedAt, endedAt, outcome: 'done', report: result.report }
        : { invokedAt, endedAt, outcome: 'skipped' },
    );
  };

  // Fixed times (first + k × period), as a rate schedule fires, whatever each run takes.
  const tick = () => {
    if (stopping.signal.aborted) return;
    const running = invoke().finally(() => inFlight.delete(running));
    inFlight.add(running);
    count++;
    timer = setTimeout(tick, Math.max(0, firstAt + count * schedule.periodMs - Date.now()));
  };
  tick();
  return {
    async stop() {
      stopping.abort();
      clearTimeout(timer);
      await Promise.all(inFlight);
    },
  };
}

function resolveSchedule(partial: Partial<PollerSchedule> = {}): PollerSchedule {
  const schedule = { ...POLLER_SCHEDULE, ...partial };
  for (const [name, value] of Object.entries(schedule)) integerOption(`poller ${name}`, value, { min: 1 });
  if (schedule.budgetMs >= schedule.timeoutMs)
    throw new ConfigError('poller budgetMs must end before timeoutMs');
  return schedule;
}

/** Runs the prewarm's handler once, in the background. */
export function startLocalPrewarm(ctx: JobContext, source: Config['prewarm']['source']): BackgroundJob {
  const stopping = new AbortController();
  const ports = runPorts(ctx.logger, [stopping.signal]);
  const run = prewarmFunction.createHandler(
    prewarmFunction.prewarmDeps(ctx, { ...ports, source, keyPrefix: ctx.keyPrefix }),
  );
  const done = run({}).then(
    () => {},
    (error: unknown) => {
      if (stopping.signal.aborted) return;
      const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      ctx.logger.warn('prewarm failed', { error: message });
    },
  );
  return {
    async stop() {
      stopping.abort();
      await done;
    },
  };
}

/** What a run's consumer or prewarmer is built with, so stopping (or killing) it can end it. */
interface RunPorts {
  clock: Clock;
  sleep: (ms: number) => Promise<void>;
  /** Drops info and debug once ended: the last report's durations are those of the moved clock. */
  logger: LoggerPort;
}

/**
 * Neither the consumer nor the prewarmer takes an abort signal; both end at their own deadline. So once
 * any of `ends` fires, the run's clock moves past any deadline and the pause in progress is cut short:
 * a stopped run then ends through its normal path (acks, consumer removed from the group, stats flushed,
 * lease released) instead of an exception halfway through; a killed one fails fast, its Redis gone.
 */
function runPorts(base: LoggerPort, ends: AbortSignal[]): RunPorts {
  const ended = AbortSignal.any(ends);
  const clock = () => Date.now() + (ended.aborted ? HORIZON_MS : 0);
  const sleep = (ms: number) => delay(ms, undefined, { signal: ended }).catch(() => {});
  const logger: LoggerPort = {
    debug: (message, extra) => void (ended.aborted || base.debug(message, extra)),
    info: (message, extra) => void (ended.aborted || base.info(message, extra)),
    warn: (message, extra) => base.warn(message, extra),
    error: (message, extra) => base.error(message, extra),
  };
  return { clock, sleep, logger };
}
