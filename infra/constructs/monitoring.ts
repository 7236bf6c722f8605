/**
 * Alarms (one per row of `alarmTable.ts`) and the operations dashboard. Custom metrics come from the
 * handlers' Powertools Metrics (EMF), so their namespace, metric names and the `service` dimension must
 * match what the code emits (`metrics.ts`).
 */
import { Duration } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, Dashboard, GraphWidget, type IMetric } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { type AlarmRow, runbookAnchor } from './alarmTable.js';
import type { MetricSources } from './metrics.js';

export { type AlarmThresholds, DEFAULT_THRESHOLDS } from './alarmTable.js';
export { CUSTOM_METRICS } from './metrics.js';

export interface MonitoringProps {
  readonly metrics: MetricSources;
  readonly rows: readonly AlarmRow[];
  /** Prefix of every alarm name and of the dashboard name (the stage's service name). */
  readonly namePrefix: string;
  /** Base of the runbook links in alarm descriptions: `<runbookUrl>#<section anchor>`. */
  readonly runbookUrl: string;
  readonly schedulerDeadLetterQueue: IQueue;
  readonly failureQueue: IQueue;
  /** Receives ALARM and OK notifications. @default no actions (alarms only show in the console) */
  readonly alarmTopic?: ITopic;
}

/** The audit runs hourly: graphed per hour so each run is one point, not a lone spike among gaps. */
const AUDIT_PERIOD = Duration.hours(1);

export class Monitoring extends Construct {
  /** By row id. */
  readonly alarms: Record<string, Alarm> = {};
  readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    for (const row of props.rows) {
      if (this.alarms[row.id]) throw new Error(`duplicate alarm id ${row.id}`);
      const alarm = new Alarm(this, row.id, {
        alarmName: `${props.namePrefix}-${row.id}`,
        metric: row.metric,
        threshold: row.threshold,
        alarmDescription: `${row.description}. Runbook: ${props.runbookUrl}#${runbookAnchor(row.runbookSection)}`,
        comparisonOperator: row.comparison ?? ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: row.evaluationPeriods ?? 1,
        datapointsToAlarm: row.datapointsToAlarm ?? row.evaluationPeriods ?? 1,
        treatMissingData: row.missingData,
      });
      if (props.alarmTopic) {
        // OK too: whoever was paged learns that it cleared without opening the console.
        alarm.addAlarmAction(new SnsAction(props.alarmTopic));
        alarm.addOkAction(new SnsAction(props.alarmTopic));
      }
      this.alarms[row.id] = alarm;
    }

    const m = props.metrics;
    const sent = (queue: IQueue) => queue.metricNumberOfMessagesSent({ statistic: 'Sum' });
    const audit = (name: 'inconsistentEntries' | 'auditChecked' | 'auditUnknown', statistic = 'Sum') =>
      m.custom(name, statistic, AUDIT_PERIOD);
    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: props.namePrefix,
      defaultInterval: Duration.hours(6),
    });
    this.dashboard.addWidgets(
      graph('Cache hit rate (%)', [m.lookupShare('hits', 'Cache hit rate (%)')]),
      graph('PostgreSQL fallback share (%)', [
        m.lookupShare('fallbacks', 'Redis failed, read from PostgreSQL (%)'),
      ]),
      graph('GET /users/{id} latency (ms)', [m.readLatency('p50'), m.readLatency('p99')]),
    );
    this.dashboard.addWidgets(
      graph('Event lag p99 (ms)', [m.custom('eventLag', 'p99')]),
      graph('Dead letters', [
        m.custom('eventsDeadLettered'),
        sent(props.schedulerDeadLetterQueue),
        sent(props.failureQueue),
      ]),
      graph('API requests, 4xx and 5xx', [m.requests(), m.errors4xx(), m.errors5xx()]),
    );
    this.dashboard.addWidgets(
      graph(
        'Audit: inconsistent entries (left), oldest difference in ms (right)',
        [audit('inconsistentEntries')],
        [m.custom('inconsistencyMaxAge', 'Maximum', AUDIT_PERIOD)],
      ),
      graph('Audit: entries checked and unreadable', [audit('auditChecked'), audit('auditUnknown')]),
      graph('Heartbeats: poller runs, audit runs, completed prewarms', [
        m.custom('pollerHeartbeat'),
        m.custom('auditHeartbeat', 'Sum', AUDIT_PERIOD),
        m.custom('prewarmCompleted', 'Sum', AUDIT_PERIOD),
      ]),
    );
  }
}

function graph(title: string, left: IMetric[], right?: IMetric[]): GraphWidget {
  return new GraphWidget({ title, left, right, width: 8, height: 6 });
}
