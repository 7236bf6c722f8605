/**
 * The metrics alarms and the dashboard read: the handlers' custom metrics (Powertools EMF) and the
 * API's own. One place builds each, so an alarm and its graph always show the same series.
 */
import { Duration } from 'aws-cdk-lib';
import { MathExpression, Metric } from 'aws-cdk-lib/aws-cloudwatch';
import type { HttpVerb } from '../functionTable.js';
import type { UserCacheApi } from './userCacheApi.js';

/**
 * Names the handlers emit (Powertools `addMetric`). Renaming one in code silently empties an alarm:
 * change both together.
 */
export const CUSTOM_METRICS = {
  /** Count of looked-up profiles Redis answered (hit, negative or tombstone): `functions/commons/route.ts`. */
  cacheHits: 'CacheHit',
  /** Count of looked-up profiles Redis did not have. */
  cacheMisses: 'CacheMiss',
  /** Count of looked-up profiles read from PostgreSQL because Redis failed (status "unknown"). */
  dbFallbacks: 'DbFallback',
  /** Milliseconds between an event's occurredAt and the poller applying it; one value per event. */
  eventLag: 'EventLag',
  /** Count of stream entries the poller gave up on and dead-lettered. */
  eventsDeadLettered: 'EventsDeadLettered',
  /** XLEN of the events stream after the poller's trim: `functions/streamPoller.ts`. */
  streamLength: 'StreamLength',
  /** Age in ms of the poller group's oldest unacknowledged entry (0 when none). */
  oldestPendingAge: 'OldestPendingAge',
  /** Redis or relay failures a poller run survived: `functions/streamPoller.ts`. */
  pollerErrors: 'PollerErrors',
  /** 1 per poller run that held the lease and polled (applying or idle): the poller's heartbeat. */
  pollerHeartbeat: 'PollerHeartbeat',
  /**
   * 1 per prewarm run that finds the day's cycle walked to its end (the run completing it and every
   * later run that day): `functions/prewarm.ts`.
   */
  prewarmCompleted: 'PrewarmCompleted',
  /** Active users a closed prewarm cycle did not warm (emitted once per cycle). */
  prewarmUncovered: 'PrewarmUncovered',
  /** Cached entries the hourly audit compared with PostgreSQL: `functions/audit.ts`. */
  auditChecked: 'AuditChecked',
  /** 1 per audit run that finished (whatever it found): the audit's heartbeat. */
  auditHeartbeat: 'AuditHeartbeat',
  /** Audited entries that still disagreed with PostgreSQL after a recheck (stale, resurrected…). */
  inconsistentEntries: 'InconsistentEntries',
  /** Audited entries Redis could not answer for. */
  auditUnknown: 'AuditUnknown',
  /** Age in ms of the oldest disagreement found by one audit run (only emitted when there is one). */
  inconsistencyMaxAge: 'InconsistencyMaxAgeMs',
  /** 1 per scheduled run skipped because the Upstash secret still holds its placeholder: `functions/commons/scheduledRun.ts`. */
  notConfigured: 'NotConfigured',
} as const;

/** Default period of alarms and graphs. */
export const PERIOD = Duration.minutes(5);
/** API alarms evaluate minute by minute, so a canary deployment can roll back within its 5 minutes. */
export const API_PERIOD = Duration.minutes(1);

export interface MetricSourcesProps {
  readonly api: UserCacheApi;
  /** The route whose latency is alarmed on and graphed (GET /users/{id}). */
  readonly readRoute: { method: HttpVerb; path: string };
  /** EMF namespace (POWERTOOLS_METRICS_NAMESPACE). */
  readonly namespace: string;
  /** Powertools' default `service` dimension (POWERTOOLS_SERVICE_NAME). */
  readonly service: string;
}

export class MetricSources {
  constructor(private readonly props: MetricSourcesProps) {}

  custom(name: keyof typeof CUSTOM_METRICS, statistic = 'Sum', period = PERIOD): Metric {
    return new Metric({
      namespace: this.props.namespace,
      metricName: CUSTOM_METRICS[name],
      dimensionsMap: { service: this.props.service },
      statistic,
      period,
    });
  }

  requests(period = PERIOD): Metric {
    return this.props.api.stage.metricCount({ statistic: 'Sum', period });
  }

  errors5xx(period = PERIOD): Metric {
    return this.props.api.stage.metricServerError({ statistic: 'Sum', period });
  }

  errors4xx(period = PERIOD): Metric {
    return this.props.api.stage.metricClientError({ statistic: 'Sum', period });
  }

  readLatency(statistic: string, period = PERIOD): Metric {
    const { method, path } = this.props.readRoute;
    return this.props.api.metricForRoute('Latency', method, path, { statistic, period });
  }

  readRequests(period = PERIOD): Metric {
    const { method, path } = this.props.readRoute;
    return this.props.api.metricForRoute('Count', method, path, { statistic: 'Sum', period });
  }

  /** Share of API requests answered 5xx (%), 0 while fewer than `minRequests` arrived in the period. */
  api5xxRate(minRequests: number, period = PERIOD): MathExpression {
    return new MathExpression({
      expression: `IF(requests >= ${minRequests}, 100 * errors / requests, 0)`,
      usingMetrics: { errors: this.errors5xx(period), requests: this.requests(period) },
      label: 'API 5xx (%)',
      period,
    });
  }

  /** Read-route latency at `statistic`, 0 while fewer than `minRequests` reads arrived in the period. */
  readLatencyWithTraffic(statistic: string, minRequests: number, period = PERIOD): MathExpression {
    return new MathExpression({
      expression: `IF(reads >= ${minRequests}, latency, 0)`,
      usingMetrics: { latency: this.readLatency(statistic, period), reads: this.readRequests(period) },
      label: `GET ${this.props.readRoute.path} ${statistic} (ms)`,
      period,
    });
  }

  /**
   * Share of looked-up profiles answered by `numerator` (%). The three lookup counters partition every
   * profile looked up, so their sum is the total; 0 while fewer than `minLookups` were looked up.
   */
  lookupShare(numerator: 'hits' | 'fallbacks', label: string, minLookups = 1): MathExpression {
    // The handlers leave zero counts out (no work on a hit), so a period may lack one of the three: FILL
    // makes it 0 instead of dropping the whole period from the sum.
    const total = 'FILL(hits, 0) + FILL(misses, 0) + FILL(fallbacks, 0)';
    return new MathExpression({
      expression: `IF(${total} >= ${Math.max(1, minLookups)}, 100 * FILL(${numerator}, 0) / (${total}), 0)`,
      usingMetrics: {
        hits: this.custom('cacheHits'),
        misses: this.custom('cacheMisses'),
        fallbacks: this.custom('dbFallbacks'),
      },
      label,
      period: PERIOD,
    });
  }
}
