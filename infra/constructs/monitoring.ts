/**
 * Alarms and the operations dashboard. Custom metrics come from the handlers' Powertools Metrics
 * (EMF), so their namespace, metric names and the `service` dimension must match what the code emits.
 */
import { Duration } from 'aws-cdk-lib';
import {
  Alarm,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  Metric,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { HttpVerb } from '../functionTable.js';
import type { UserCacheApi } from './userCacheApi.js';

/**
 * Names the handlers emit (Powertools `addMetric`). Renaming one in code silently empties an alarm:
 * change both together.
 */
export const CUSTOM_METRICS = {
  /** Count of looked-up profiles Redis answered (hit, negative or tombstone): `functions/http/route.ts`. */
  cacheHits: 'CacheHit',
  /** Count of looked-up profiles Redis did not have. */
  cacheMisses: 'CacheMiss',
  /** Count of looked-up profiles read from PostgreSQL because Redis failed (status "unknown"). */
  dbFallbacks: 'DbFallback',
  /** Milliseconds between an event's occurredAt and the poller applying it; one value per event. */
  eventLag: 'EventLag',
  /** Count of stream entries the poller gave up on and dead-lettered. */
  eventsDeadLettered: 'EventsDeadLettered',
  /** Cached entries the hourly audit compared with PostgreSQL: `functions/audit.ts`. */
  auditChecked: 'AuditChecked',
  /** Audited entries that still disagreed with PostgreSQL after a recheck (stale, resurrected…). */
  inconsistentEntries: 'InconsistentEntries',
  /** Audited entries Redis could not answer for. */
  auditUnknown: 'AuditUnknown',
  /** Age in ms of the oldest disagreement found by one audit run (only emitted when there is one). */
  inconsistencyMaxAge: 'InconsistencyMaxAgeMs',
  /** Active users a closed prewarm cycle did not warm (emitted once per cycle): `functions/prewarm.ts`. */
  prewarmUncovered: 'PrewarmUncovered',
  /** XLEN of the events stream after the poller's trim: `functions/streamPoller.ts`. */
  streamLength: 'StreamLength',
  /** Age in ms of the poller group's oldest unacknowledged entry (0 when none). */
  oldestPendingAge: 'OldestPendingAge',
} as const;

export interface AlarmThresholds {
  /** Share of API requests answered 5xx, in percent, over 5 minutes. @default 1 */
  readonly api5xxPercent: number;
  /** p99 latency of the read route in ms, over 5 minutes. @default 500 */
  readonly readLatencyP99Ms: number;
  /** p99 age of events when applied, in ms (the poller runs every minute). @default 180000 */
  readonly eventLagP99Ms: number;
  /** Entries one audit run found inconsistent with PostgreSQL (after its recheck). @default 0 */
  readonly inconsistentEntries: number;
  /** Share of looked-up profiles read from PostgreSQL because Redis failed, in percent, over 5 minutes. @default 5 */
  readonly dbFallbackPercent: number;
  /**
   * Events stream length: 44% of the publisher's byte-sized cap (4,545), which drops the oldest entries
   * past it. Normally the stream holds what the poller has not acknowledged plus about 100. @default 2000
   */
  readonly streamLength: number;
  /** Age of the oldest unacknowledged entry, ms (stuck entries are claimed after 30 s). @default 300000 */
  readonly oldestPendingAgeMs: number;
}

export const DEFAULT_THRESHOLDS: AlarmThresholds = {
  api5xxPercent: 1,
  readLatencyP99Ms: 500,
  eventLagP99Ms: 180_000,
  inconsistentEntries: 0,
  dbFallbackPercent: 5,
  streamLength: 2_000,
  oldestPendingAgeMs: 300_000,
};

export interface MonitoringProps {
  readonly api: UserCacheApi;
  /** The route whose p99 latency is alarmed on (GET /users/{id}). */
  readonly readRoute: { method: HttpVerb; path: string };
  /** EMF namespace (POWERTOOLS_METRICS_NAMESPACE). */
  readonly namespace: string;
  /** Powertools' default `service` dimension (POWERTOOLS_SERVICE_NAME). */
  readonly service: string;
  readonly schedulerDeadLetterQueue: IQueue;
  readonly failureQueue: IQueue;
  readonly thresholds?: Partial<AlarmThresholds>;
  /** @default no alarm actions (alarms only show in the console) */
  readonly alarmTopic?: ITopic;
}

const PERIOD = Duration.minutes(5);
/** The audit runs hourly: graphed per hour so each run is one point, not a lone spike among gaps. */
const AUDIT_PERIOD = Duration.hours(1);

export class Monitoring extends Construct {
  readonly alarms: Alarm[] = [];
  readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    const t = { ...DEFAULT_THRESHOLDS, ...props.thresholds };
    const custom = (metricName: string, statistic = 'Sum', period = PERIOD) =>
      new Metric({
        namespace: props.namespace,
        metricName,
        dimensionsMap: { service: props.service },
        statistic,
        period,
      });
    const { stage } = props.api;
    const errors5xx = stage.metricServerError({ statistic: 'Sum', period: PERIOD });
    const requests = stage.metricCount({ statistic: 'Sum', period: PERIOD });
    const readLatency = (statistic: string) =>
      props.api.metricForRoute('Latency', props.readRoute.method, props.readRoute.path, {
        statistic,
        period: PERIOD,
      });
    // Messages SENT per period, not queue depth: failures stay in the queue for 14 days, so a depth alarm
    // would sit in ALARM after the first one and never notify again (actions fire on state changes).
    const newMessages = (queue: IQueue) =>
      queue.metricNumberOfMessagesSent({ statistic: 'Sum', period: PERIOD });

    const api5xxRate = new MathExpression({
      expression: 'IF(requests > 0, 100 * errors / requests, 0)',
      usingMetrics: { errors: errors5xx, requests },
      label: 'API 5xx (%)',
      period: PERIOD,
    });
    // The three lookup counters partition every profile looked up, so their sum is the total.
    const lookups = {
      hits: custom(CUSTOM_METRICS.cacheHits),
      misses: custom(CUSTOM_METRICS.cacheMisses),
      fallbacks: custom(CUSTOM_METRICS.dbFallbacks),
    };
    // The handlers leave zero counts out (no work on a hit), so a period may lack one of the three: FILL
    // makes it 0 instead of dropping the whole period from the sum.
    const total = 'FILL(hits, 0) + FILL(misses, 0) + FILL(fallbacks, 0)';
    const share = (numerator: keyof typeof lookups, label: string) =>
      new MathExpression({
        expression: `IF(${total} > 0, 100 * FILL(${numerator}, 0) / (${total}), 0)`,
        usingMetrics: lookups,
        label,
        period: PERIOD,
      });
    const hitRate = share('hits', 'Cache hit rate (%)');
    const dbShare = share('fallbacks', 'Redis failed, read from PostgreSQL (%)');
    const eventLagP99 = custom(CUSTOM_METRICS.eventLag, 'p99');
    const deadLettered = custom(CUSTOM_METRICS.eventsDeadLettered);
    const audit = (name: keyof typeof CUSTOM_METRICS, statistic = 'Sum') =>
      custom(CUSTOM_METRICS[name], statistic, AUDIT_PERIOD);

    this.alarm('Api5xxRate', api5xxRate, t.api5xxPercent, 'More than the allowed share of API requests fail');
    this.alarm(
      'ReadLatencyP99',
      readLatency('p99'),
      t.readLatencyP99Ms,
      'GET /users/{id} p99 latency too high',
    );
    this.alarm('EventLagP99', eventLagP99, t.eventLagP99Ms, 'Cache updates lag behind PostgreSQL');
    this.alarm('EventsDeadLettered', deadLettered, 0, 'The poller dead-lettered stream entries');
    this.alarm(
      'SchedulerDeadLetters',
      newMessages(props.schedulerDeadLetterQueue),
      0,
      'Scheduler could not invoke',
    );
    this.alarm('FailedRuns', newMessages(props.failureQueue), 0, 'A scheduled function run failed');
    // Redis trouble never fails a request (reads fall back to PostgreSQL), so it would go unnoticed but for this.
    this.alarm(
      'DbFallbackShare',
      dbShare,
      t.dbFallbackPercent,
      'Redis is failing: reads are served from PostgreSQL',
    );
    // The stream is one Upstash record (100 MB limit): its size and its oldest unacknowledged entry.
    this.alarm(
      'StreamLength',
      custom(CUSTOM_METRICS.streamLength, 'Maximum'),
      t.streamLength,
      'The events stream is growing: the poller (or another group) is not keeping up',
    );
    this.alarm(
      'OldestPendingAge',
      custom(CUSTOM_METRICS.oldestPendingAge, 'Maximum'),
      t.oldestPendingAgeMs,
      'Stream entries stay unacknowledged: the poller cannot apply them',
    );
    // A 5-minute period: the alarm fires as soon as a run reports and clears before the next run,
    // so every bad run notifies again instead of the alarm sitting in ALARM unnoticed.
    this.alarm(
      'InconsistentEntries',
      custom(CUSTOM_METRICS.inconsistentEntries),
      t.inconsistentEntries,
      'The hourly audit found cached profiles that disagree with PostgreSQL',
    );
    // Emitted only when a day's cycle closes (complete, past PREWARM_DEADLINE_MINUTES, or found
    // unfinished the next day), so a cycle still under way never alarms.
    this.alarm(
      'PrewarmUncovered',
      custom(CUSTOM_METRICS.prewarmUncovered, 'Maximum'),
      0,
      "A day's prewarm did not warm every active user",
    );
    if (props.alarmTopic) {
      for (const alarm of this.alarms) alarm.addAlarmAction(new SnsAction(props.alarmTopic));
    }

    this.dashboard = new Dashboard(this, 'Dashboard', { defaultInterval: Duration.hours(6) });
    this.dashboard.addWidgets(
      graph('Cache hit rate (%)', [hitRate]),
      graph('PostgreSQL fallback share (%)', [dbShare]),
      graph('GET /users/{id} latency (ms)', [readLatency('p50'), readLatency('p99')]),
    );
    this.dashboard.addWidgets(
      graph('Event lag p99 (ms)', [eventLagP99]),
      graph('Dead letters', [
        deadLettered,
        newMessages(props.schedulerDeadLetterQueue),
        newMessages(props.failureQueue),
      ]),
      graph('API requests, 4xx and 5xx', [
        requests,
        stage.metricClientError({ statistic: 'Sum', period: PERIOD }),
        errors5xx,
      ]),
    );
    this.dashboard.addWidgets(
      graph(
        'Audit: inconsistent entries (left), oldest difference in ms (right)',
        [audit('inconsistentEntries')],
        [audit('inconsistencyMaxAge', 'Maximum')],
      ),
      graph('Audit: entries checked and unreadable', [audit('auditChecked'), audit('auditUnknown')]),
    );
  }

  private alarm(id: string, metric: IMetric, threshold: number, description: string): void {
    this.alarms.push(
      new Alarm(this, id, {
        metric,
        threshold,
        alarmDescription: description,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        // No traffic or no scheduled run is not a failure.
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );
  }
}

function graph(title: string, left: IMetric[], right?: IMetric[]): GraphWidget {
  return new GraphWidget({ title, left, right, width: 8, height: 6 });
}
