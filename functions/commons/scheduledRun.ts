/**
 * Entry point wrapper of the scheduled functions (poller, prewarm, audit). Like `lazy`, it builds the
 * dependencies on the first run; when they cannot be built because the Upstash secret still holds its
 * placeholder (a fresh stack nobody configured yet), the run does nothing and ends cleanly: one log line
 * and one `NotConfigured` metric (alarmed on), instead of a failed invocation every minute that fills
 * the failure queue and retries.
 */
import { EmfMetrics } from '../../shared/observability/emfMetrics.js';
import { JsonLogger } from '../../shared/observability/jsonLogger.js';
import { loadConfig } from './config.js';
import { lazy } from './lazy.js';
import { NotConfiguredError } from './notConfigured.js';
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
