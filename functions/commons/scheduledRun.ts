/**
 * The scheduled functions' wrappers (poller, prewarm, audit), as `route()` is the API's:
 * - `scheduledRun()` is one run's frame: the run's budget from the Lambda context, a run that finds its
 *   lease held reported as skipped (a metric, a log line) instead of failing, and, whatever happened,
 *   the cache's stats flushed and the metrics published.
 * - `lazyScheduled()` is the entry point: like `lazy`, it builds the dependencies on the first run; when
 *   they cannot be built because the Upstash secret still holds its placeholder (a fresh stack nobody
 *   configured yet), the run does nothing and ends cleanly: one log line and one `NotConfigured` metric
 *   (alarmed on), instead of a failed invocation every minute that fills the failure queue and retries.
 */
import type { Context } from 'aws-lambda';
import { LeaseHeldError } from '../../shared/errors.js';
import { EmfMetrics } from '../../shared/observability/emfMetrics.js';
import { JsonLogger } from '../../shared/observability/jsonLogger.js';
import type { LoggerPort } from '../../shared/ports.js';
import type { UserCache } from '../../shared/userCache.js';
import { loadConfig } from './config.js';
import { lazy } from './lazy.js';
import { NotConfiguredError } from './notConfigured.js';

/** What one scheduled run reports to. */
export interface ScheduledRunDeps {
  logger: LoggerPort;
  metrics: MetricsPort;
  /** Its stats are flushed at the end of every run. @default none (nothing to flush) */
  cache?: Pick<UserCache, 'flushStats'>;
}

/** How a run reacts when another run holds its lease (`LeaseHeldError`). */
export interface LeaseHeldReport {
  /** Metric incremented by 1, e.g. `PollerSkipped`. */
  metric: string;
  message: string;
  /** `warn` where a held lease means something is wrong (the poller's handover failed). @default 'info' */
  level?: 'info' | 'warn';
}

/** The result of a run that did nothing because another run held the lease. */
export interface SkippedResult {
  status: 'skipped';
  reason: 'lease-held';
}

/**
 * Runs one scheduled job: `body`'s result, or `skipped` when it threw `LeaseHeldError` and `leaseHeld`
 * says how to report that (any other error is rethrown, so Lambda counts and retries the run). The
 * stats flush and the metrics always run; a metrics failure is logged, never thrown over the result.
 */
export function scheduledRun<R>(deps: ScheduledRunDeps, body: () => Promise<R>): Promise<R>;
export function scheduledRun<R>(
  deps: ScheduledRunDeps,
  body: () => Promise<R>,
  leaseHeld: LeaseHeldReport,
): Promise<R | SkippedResult>;
export async function scheduledRun<R>(
  deps: ScheduledRunDeps,
  body: () => Promise<R>,
  leaseHeld?: LeaseHeldReport,
): Promise<R | SkippedResult> {
  try {
    return await body();
  } catch (error) {
    if (!leaseHeld || !(error instanceof LeaseHeldError)) throw error;
    deps.logger[leaseHeld.level ?? 'info'](leaseHeld.message);
    deps.metrics.addMetric(leaseHeld.metric, 'Count', 1);
    return { status: 'skipped', reason: 'lease-held' };
  } finally {
    if (deps.cache) await deps.cache.flushStats();
    try {
      deps.metrics.publishStoredMetrics();
    } catch (error) {
      deps.logger.warn('metrics not published', { error: error instanceof Error ? error.name : 'unknown' });
    }
  }
}

/**
 * A run's budget: its Lambda's remaining time less `endMarginMs` (kept for the final acks, metrics and
 * flush), capped at `capMs`; `fallbackMs` when there is no Lambda context (local calls). At least `minMs`.
 */
export function runBudgetMs(
  context: Pick<Context, 'getRemainingTimeInMillis'> | undefined,
  o: { endMarginMs: number; capMs?: number; fallbackMs: number; minMs: number },
): number {
  const remaining = context ? context.getRemainingTimeInMillis() - o.endMarginMs : o.fallbackMs;
  return Math.max(o.minMs, Math.floor(Math.min(o.capMs ?? Number.POSITIVE_INFINITY, remaining)));
}

import type { MetricsPort } from './route.js';

export interface NotConfiguredResult {
  status: 'not-configured';
}

/** Where a skipped run is reported. @default the JSON logger and EMF metrics, configured from the env */
export interface NotConfiguredReport {
  log(message: string, extra: Record<string, unknown>): void;
  metrics: MetricsPort;
}

export function lazyScheduled<A extends unknown[], R>(
  name: string,
  build: () => Promise<(...args: A) => Promise<R>>,
  report: () => NotConfiguredReport = powertoolsReport,
): (...args: A) => Promise<R | NotConfiguredResult> {
  const handler = lazy(build);
  return async (...args) => {
    try {
      return await handler(...args);
    } catch (error) {
      if (!(error instanceof NotConfiguredError)) throw error;
      const { log, metrics } = report();
      log(`${name} skipped: not configured`, { code: error.code, reason: error.message });
      metrics.addMetric('NotConfigured', 'Count', 1);
      metrics.publishStoredMetrics();
      return { status: 'not-configured' };
    }
  };
}

function powertoolsReport(): NotConfiguredReport {
  const { powertools } = loadConfig();
  const logger = new JsonLogger({ serviceName: powertools.serviceName, logLevel: powertools.logLevel });
  const metrics = new EmfMetrics({
    namespace: powertools.metricsNamespace,
    serviceName: powertools.serviceName,
    disabled: powertools.metricsDisabled,
  });
  return {
    log: (message, extra) => logger.warn(message, extra),
    metrics,
  };
}
