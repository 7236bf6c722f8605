/**
 * The ONE list of alarms: what each watches, when it fires, what silence means, and its runbook
 * section. `Monitoring` turns every row into a CloudWatch alarm named `<service>-<id>`; the tests read
 * the same rows. A new alarm is one new row (or one more entry in `extraAlarms`).
 */
import { Duration } from 'aws-cdk-lib';
import { ComparisonOperator, type IMetric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { API_PERIOD, type MetricSources, PERIOD } from './metrics.js';

export interface AlarmRow {
  /** Construct id and alarm-name suffix; unique. */
  readonly id: string;
  readonly metric: IMetric;
  readonly threshold: number;
  /** @default ComparisonOperator.GREATER_THAN_THRESHOLD */
  readonly comparison?: ComparisonOperator;
  /** Periods looked at ("N" of M-of-N). @default 1 */
  readonly evaluationPeriods?: number;
  /** Breaching periods among them that fire the alarm ("M"). @default evaluationPeriods */
  readonly datapointsToAlarm?: number;
  /**
   * Written on every row, because it is the decision that matters: BREACHING where silence is the
   * failure (a heartbeat), NOT_BREACHING where no data means nothing happened (no traffic, no failure).
   */
  readonly missingData: TreatMissingData;
  /** One sentence: what is wrong when it fires. The runbook link is appended. */
  readonly description: string;
  /** Heading of the alarm's section in docs/runbook.md (the link uses its GitHub anchor). */
  readonly runbookSection: string;
}

export interface AlarmThresholds {
  /** Share of API requests answered 5xx, in percent, per minute. @default 1 */
  readonly api5xxPercent: number;
  /** p99 latency of the read route in ms, per minute. @default 500 */
  readonly readLatencyP99Ms: number;
  /**
   * Requests per minute below which the 5xx-rate and latency alarms ignore a minute: one 503 among
   * ten requests is 10 %, and p99 of three requests is their maximum. @default 20
   */
  readonly apiMinRequestsPerMinute: number;
  /** p99 age of events when applied, in ms (the poller runs every minute). @default 180000 */
  readonly eventLagP99Ms: number;
  /**
   * Events stream length: 44% of the publisher's byte-sized cap (4,545), which drops the oldest entries
   * past it. Normally the stream holds what the poller has not acknowledged plus about 100. @default 2000
   */
  readonly streamLength: number;
  /** Age of the oldest unacknowledged entry, ms (stuck entries are claimed after 30 s). @default 300000 */
  readonly oldestPendingAgeMs: number;
  /** Entries one audit run found inconsistent with PostgreSQL (after its recheck). @default 0 */
  readonly inconsistentEntries: number;
  /** Share of looked-up profiles read from PostgreSQL because Redis failed, in percent, over 5 minutes. @default 5 */
  readonly dbFallbackPercent: number;
  /** Age of the oldest message in a failure queue, in hours, before it is flagged (they keep 14 days). @default 72 */
  readonly failureMessageAgeHours: number;
}

export const DEFAULT_THRESHOLDS: AlarmThresholds = {
  api5xxPercent: 1,
  readLatencyP99Ms: 500,
  apiMinRequestsPerMinute: 20,
  eventLagP99Ms: 180_000,
  streamLength: 2_000,
  oldestPendingAgeMs: 300_000,
  inconsistentEntries: 0,
  dbFallbackPercent: 5,
  failureMessageAgeHours: 72,
};

export interface AlarmInputs {
  readonly metrics: MetricSources;
  readonly thresholds: AlarmThresholds;
  /** By function name (the `FUNCTIONS` rows): one Errors and one Throttles alarm each. */
  readonly functions: Readonly<Record<string, IFunction>>;
  readonly schedulerDeadLetterQueue: IQueue;
  readonly failureQueue: IQueue;
}

/** API alarms: 3 bad minutes out of 5, so one slow or failed minute at low traffic does not page. */
const API_WINDOW = { evaluationPeriods: 5, datapointsToAlarm: 3 } as const;
const HOUR = Duration.hours(1);
const DAY = Duration.days(1);

export function alarmRows(i: AlarmInputs): AlarmRow[] {
  const { metrics: m, thresholds: t } = i;
  const quietIsFine = TreatMissingData.NOT_BREACHING;
  const silenceIsFailure = TreatMissingData.BREACHING;
  // Messages SENT per period, not queue depth: failures stay in the queue for 14 days, so a depth alarm
  // would sit in ALARM after the first one and never notify again (actions fire on state changes).
  const sent = (queue: IQueue) => queue.metricNumberOfMessagesSent({ statistic: 'Sum', period: PERIOD });
  // …and the oldest message's age, so a failure nobody redrove is flagged again before it expires.
  const oldest = (queue: IQueue) =>
    queue.metricApproximateAgeOfOldestMessage({ statistic: 'Maximum', period: PERIOD });

  const rows: AlarmRow[] = [
    {
      id: 'Api5xxRate',
      metric: m.api5xxRate(t.apiMinRequestsPerMinute, API_PERIOD),
      threshold: t.api5xxPercent,
      ...API_WINDOW,
      missingData: quietIsFine,
      description: 'More than the allowed share of API requests fail with 5xx',
      runbookSection: 'Api5xxRate',
    },
    {
      id: 'ReadLatencyP99',
      metric: m.readLatencyWithTraffic('p99', t.apiMinRequestsPerMinute, API_PERIOD),
      threshold: t.readLatencyP99Ms,
      ...API_WINDOW,
      missingData: quietIsFine,
      description: 'GET /users/{id} p99 latency too high',
      runbookSection: 'ReadLatencyP99',
    },
    {
      id: 'DbFallbackShare',
      // Redis trouble never fails a request (reads fall back to PostgreSQL), so it would go unnoticed but for this.
      metric: m.lookupShare('fallbacks', 'Redis failed, read from PostgreSQL (%)', 20),
      threshold: t.dbFallbackPercent,
      missingData: quietIsFine,
      description: 'Redis is failing: reads are served from PostgreSQL',
      runbookSection: 'DbFallbackShare',
    },
    {
      id: 'PollerHeartbeat',
      metric: m.custom('pollerHeartbeat'),
      threshold: 1,
      comparison: ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 2,
      missingData: silenceIsFailure,
      description:
        'No poller run has applied or polled events for 10 minutes (stopped, stuck lease, failing)',
      runbookSection: 'PollerHeartbeat',
    },
    {
      id: 'PollerErrors',
      metric: m.custom('pollerErrors'),
      threshold: 0,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      missingData: quietIsFine,
      description: 'Poller runs keep hitting Redis or outbox-relay errors',
      runbookSection: 'PollerErrors',
    },
    {
      id: 'EventLagP99',
      metric: m.custom('eventLag', 'p99'),
      threshold: t.eventLagP99Ms,
      missingData: quietIsFine,
      description: 'Cache updates lag behind PostgreSQL',
      runbookSection: 'EventLagP99',
    },
    {
      id: 'EventsDeadLettered',
      metric: m.custom('eventsDeadLettered'),
      threshold: 0,
      missingData: quietIsFine,
      description: 'The poller dead-lettered stream entries',
      runbookSection: 'EventsDeadLettered',
    },
    {
      // The stream is one Upstash record (100 MB limit): its size and its oldest unacknowledged entry.
      // Emitted only by a poller run that trimmed; a stopped poller is PollerHeartbeat's alarm.
      id: 'StreamLength',
      metric: m.custom('streamLength', 'Maximum'),
      threshold: t.streamLength,
      missingData: quietIsFine,
      description: 'The events stream is growing: the poller (or another group) is not keeping up',
      runbookSection: 'StreamLength',
    },
    {
      id: 'OldestPendingAge',
      metric: m.custom('oldestPendingAge', 'Maximum'),
      threshold: t.oldestPendingAgeMs,
      missingData: quietIsFine,
      description: 'Stream entries stay unacknowledged: the poller cannot apply them',
      runbookSection: 'OldestPendingAge',
    },
    {
      id: 'AuditHeartbeat',
      metric: m.custom('auditHeartbeat', 'Sum', HOUR),
      threshold: 1,
      comparison: ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 2,
      missingData: silenceIsFailure,
      description: 'The hourly audit has not finished a run for 2 hours',
      runbookSection: 'AuditHeartbeat',
    },
    {
      // A 5-minute period: the alarm fires as soon as a run reports and clears before the next run,
      // so every bad run notifies again instead of the alarm sitting in ALARM unnoticed.
      id: 'InconsistentEntries',
      metric: m.custom('inconsistentEntries'),
      threshold: t.inconsistentEntries,
      missingData: quietIsFine,
      description: 'The hourly audit found cached profiles that disagree with PostgreSQL',
      runbookSection: 'InconsistentEntries',
    },
    {
      id: 'PrewarmHeartbeat',
      metric: m.custom('prewarmCompleted', 'Sum', DAY),
      threshold: 1,
      comparison: ComparisonOperator.LESS_THAN_THRESHOLD,
      missingData: silenceIsFailure,
      description: "No prewarm run found the day's cycle complete in the last 24 hours",
      runbookSection: 'PrewarmHeartbeat',
    },
    {
      // Emitted only when a day's cycle closes (complete, past PREWARM_DEADLINE_MINUTES, or found
      // unfinished the next day), so a cycle still under way never alarms.
      id: 'PrewarmUncovered',
      metric: m.custom('prewarmUncovered', 'Maximum'),
      threshold: 0,
      missingData: quietIsFine,
      description: "A day's prewarm did not warm every active user",
      runbookSection: 'PrewarmUncovered',
    },
    {
      id: 'NotConfigured',
      metric: m.custom('notConfigured'),
      threshold: 0,
      missingData: quietIsFine,
      description: 'Scheduled functions skip their runs: the Upstash secret still holds its placeholder',
      runbookSection: 'NotConfigured',
    },
    {
      id: 'SchedulerDeadLetters',
      metric: sent(i.schedulerDeadLetterQueue),
      threshold: 0,
      missingData: quietIsFine,
      description: 'Scheduler could not invoke a scheduled function',
      runbookSection: 'SchedulerDeadLetters',
    },
    {
      id: 'FailedRuns',
      metric: sent(i.failureQueue),
      threshold: 0,
      missingData: quietIsFine,
      description: 'A scheduled function run failed (after its retries)',
      runbookSection: 'FailedRuns',
    },
  ];
  for (const [id, queue] of [
    ['SchedulerDeadLettersAge', i.schedulerDeadLetterQueue],
    ['FailedRunsAge', i.failureQueue],
  ] as const) {
    rows.push({
      id,
      metric: oldest(queue),
      threshold: t.failureMessageAgeHours * 3600,
      missingData: quietIsFine,
      description: `A failure message has waited more than ${t.failureMessageAgeHours} h (queues keep 14 days): redrive or delete it`,
      runbookSection: 'FailureMessageAge',
    });
  }
  for (const [name, fn] of Object.entries(i.functions)) {
    const suffix = name.charAt(0).toUpperCase() + name.slice(1);
    rows.push(
      {
        id: `Errors${suffix}`,
        metric: fn.metricErrors({ statistic: 'Sum', period: PERIOD }),
        threshold: 0,
        missingData: quietIsFine,
        description: `Lambda function ${name} failed invocations (crash, timeout, out of memory)`,
        runbookSection: 'LambdaErrors',
      },
      {
        id: `Throttles${suffix}`,
        metric: fn.metricThrottles({ statistic: 'Sum', period: PERIOD }),
        threshold: 0,
        missingData: quietIsFine,
        description: `Lambda throttled invocations of ${name} (account or reserved concurrency exhausted)`,
        runbookSection: 'LambdaThrottles',
      },
    );
  }
  return rows;
}

/** GitHub's anchor for a Markdown heading: lower case, spaces to dashes, punctuation dropped. */
export function runbookAnchor(section: string): string {
  return section
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9 _-]/g, '')
    .replace(/ /g, '-');
}
