/**
 * Consistency audit (EventBridge Scheduler, hourly): samples cached profiles, compares them with
 * PostgreSQL and emits `InconsistentEntries` (alarmed on) with the age of the oldest difference. Samples
 * rotate through the keyspace (a saved SCAN cursor), so the default 15,000 an hour audits every one of
 * 350,000 cached profiles within a day. Findings are logged by id and version only: never profile fields.
 *
 * The same hourly run purges published outbox rows older than OUTBOX_RETENTION_DAYS (bounded batches).
 */
import { type AuditReport, ConsistencyAuditor } from '../shared/audit/auditor.js';
import { OutboxPurger, type PurgeReport } from '../shared/db/outboxPurge.js';
import type { LoggerPort } from '../shared/ports.js';
import { safeErrorText } from '../shared/redis/errorText.js';
import { getDependencies, withLambdaContext } from './commons/dependencies.js';
import type { MetricsPort } from './commons/route.js';
import { lazyScheduled, scheduledRun } from './commons/scheduledRun.js';

export interface AuditDeps {
  auditor: Pick<ConsistencyAuditor, 'auditSample'>;
  sampleSize: number;
  /** Outbox retention, run after the audit. @default none */
  purger?: Pick<OutboxPurger, 'purge'>;
  logger: LoggerPort;
  metrics: MetricsPort;
}

export function createHandler(deps: AuditDeps) {
  return async (): Promise<AuditReport & { purge?: PurgeReport }> =>
    scheduledRun(deps, async () => {
      const report = await deps.auditor.auditSample(deps.sampleSize);
      deps.metrics.addMetric('AuditChecked', 'Count', report.checked);
      deps.metrics.addMetric('InconsistentEntries', 'Count', report.inconsistent);
      deps.metrics.addMetric('AuditUnknown', 'Count', report.unknown);
      const pass = 'rotation' in report ? report.rotation?.passCompleted : undefined;
      // Once a day or so: how long auditing every cached profile took, and the daily coverage it implies.
      if (pass) {
        deps.metrics.addMetric('AuditPassHours', 'Count', Math.round(pass.durationMs / 36_000) / 100);
        deps.metrics.addMetric('AuditCoverage', 'Percent', Math.round(pass.dailyCoverage * 10_000) / 100);
      }
      // The AuditHeartbeat alarm breaches after 2 hours without a finished run.
      deps.metrics.addMetric('AuditHeartbeat', 'Count', 1);
      if (report.maxAgeMs !== null)
        deps.metrics.addMetric('InconsistencyMaxAgeMs', 'Milliseconds', report.maxAgeMs);
      const { findings, ...summary } = report;
      if (report.inconsistent > 0)
        deps.logger.warn('cache inconsistent with PostgreSQL', { ...summary, findings });
      else deps.logger.info('cache consistent with PostgreSQL', summary);
      const purge = await runPurge(deps);
      return purge ? { ...report, purge } : report;
    });
}

/** A failing purge is logged and retried next hour; it never hides the audit's result. */
async function runPurge(deps: AuditDeps): Promise<PurgeReport | undefined> {
  if (!deps.purger) return undefined;
  try {
    const purge = await deps.purger.purge();
    deps.metrics.addMetric('OutboxPurged', 'Count', purge.deleted);
    deps.logger.info('outbox purged', { ...purge });
    return purge;
  } catch (error) {
    deps.metrics.addMetric('OutboxPurgeFailed', 'Count', 1);
    deps.logger.error('outbox purge failed', { error: safeErrorText(error) });
    return undefined;
  }
}

/** The Lambda entry point: dependencies are built on the first call, once per environment. */
export const handler = lazyScheduled('audit', async () => {
  const deps = await getDependencies();
  const audit = createHandler({
    auditor: new ConsistencyAuditor({
      cache: deps.cache,
      repository: deps.repository,
      redis: deps.redis,
      rotationKey: `${deps.config.cache.keyPrefix}user:audit:rotation`,
    }),
    sampleSize: deps.config.audit.sampleSize,
    purger: new OutboxPurger({ sql: deps.sql, retentionDays: deps.config.outbox.retentionDays }),
    logger: deps.logger,
    metrics: deps.metrics,
  });
  return withLambdaContext(deps, audit);
});
