/**
 * Consistency audit (EventBridge Scheduler, hourly): samples cached profiles, compares them with
 * PostgreSQL and emits `InconsistentEntries` (alarmed on) with the age of the oldest difference. Findings
 * are logged by id and version only: never profile fields.
 */
import { type AuditReport, ConsistencyAuditor } from '../shared/auditor.js';
import type { LoggerPort } from '../shared/ports.js';
import { getDependencies } from './dependencies.js';
import { lazy } from './http/lazy.js';
import type { MetricsPort } from './http/route.js';

export interface AuditDeps {
  auditor: Pick<ConsistencyAuditor, 'auditSample'>;
  sampleSize: number;
  logger: LoggerPort;
  metrics: MetricsPort;
}

export function createHandler(deps: AuditDeps) {
  return async (): Promise<AuditReport> => {
    try {
      const report = await deps.auditor.auditSample(deps.sampleSize);
      deps.metrics.addMetric('AuditChecked', 'Count', report.checked);
      deps.metrics.addMetric('InconsistentEntries', 'Count', report.inconsistent);
      deps.metrics.addMetric('AuditUnknown', 'Count', report.unknown);
      if (report.maxAgeMs !== null)
        deps.metrics.addMetric('InconsistencyMaxAgeMs', 'Milliseconds', report.maxAgeMs);
      const { findings, ...summary } = report;
      if (report.inconsistent > 0)
        deps.logger.warn('cache inconsistent with PostgreSQL', { ...summary, findings });
      else deps.logger.info('cache consistent with PostgreSQL', summary);
      return report;
    } finally {
      deps.metrics.publishStoredMetrics();
    }
  };
}

/** The Lambda entry point: dependencies are built on the first call, once per environment. */
export const handler = lazy(async () => {
  const deps = await getDependencies();
  return createHandler({
    auditor: new ConsistencyAuditor({ cache: deps.cache, repository: deps.repository, redis: deps.redis }),
    sampleSize: deps.config.audit.sampleSize,
    logger: deps.logger,
    metrics: deps.metrics,
  });
});
