/**
 * The alarms of the stack, by template assertion: each row of `alarmTable.ts` becomes one alarm, with
 * its missing-data rule, its M-of-N window, its runbook link and ALARM + OK actions.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runbookAnchor } from '../infra/constructs/alarmTable.js';
import { PROJECT_ROOT } from '../infra/constructs/cacheFunction.js';
import { CUSTOM_METRICS } from '../infra/constructs/metrics.js';
import { FUNCTIONS } from '../infra/functionTable.js';
import { ALARM_TOPIC_ARN, alarms, type Json, synth } from './support/infra.js';

const byName = (list: Json[], suffix: string) => {
  const found = list.find((a) => a.Properties.AlarmName === `user-cache-staging-${suffix}`);
  if (!found) throw new Error(`no alarm ${suffix}`);
  return found.Properties;
};

describe('UserCacheStack alarms', { timeout: 120_000 }, () => {
  it('names every alarm after the stage, and links its description to its runbook section', () => {
    const list = alarms(synth().template);
    const runbook = readFileSync(join(PROJECT_ROOT, 'docs/runbook.md'), 'utf8');
    const anchors = new Set([...runbook.matchAll(/^#{2,4} (.+)$/gm)].map((m) => runbookAnchor(m[1]!)));
    for (const alarm of list) {
      const { AlarmName, AlarmDescription } = alarm.Properties;
      expect(AlarmName).toMatch(/^user-cache-staging-[A-Za-z0-9]+$/);
      const link = /Runbook: docs\/runbook\.md#([a-z0-9-]+)$/.exec(AlarmDescription);
      expect(link, AlarmName).not.toBeNull();
      expect(anchors.has(link![1]!), `${AlarmName} → #${link![1]}`).toBe(true);
    }
  });

  it('breaches on missing data exactly for the heartbeats: poller, audit, prewarm', () => {
    const list = alarms(synth().template);
    const breaching = list
      .filter((a) => a.Properties.TreatMissingData === 'breaching')
      .map((a) => a.Properties.AlarmName)
      .sort();
    expect(breaching).toEqual([
      'user-cache-staging-AuditHeartbeat',
      'user-cache-staging-PollerHeartbeat',
      'user-cache-staging-PrewarmHeartbeat',
    ]);
    for (const alarm of list)
      expect(['breaching', 'notBreaching']).toContain(alarm.Properties.TreatMissingData);
  });

  it('fires the poller heartbeat after 10 minutes without a run that held the lease and polled', () => {
    expect(byName(alarms(synth().template), 'PollerHeartbeat')).toMatchObject({
      Namespace: 'NgomnaUserCache/staging',
      MetricName: CUSTOM_METRICS.pollerHeartbeat,
      Dimensions: [{ Name: 'service', Value: 'user-cache-staging' }],
      Statistic: 'Sum',
      Period: 300,
      EvaluationPeriods: 2,
      DatapointsToAlarm: 2,
      ComparisonOperator: 'LessThanThreshold',
      Threshold: 1,
    });
  });

  it('fires the audit heartbeat after 2 hours without a finished run, and the prewarm one after a day', () => {
    const list = alarms(synth().template);
    expect(byName(list, 'AuditHeartbeat')).toMatchObject({
      MetricName: CUSTOM_METRICS.auditHeartbeat,
      Period: 3600,
      EvaluationPeriods: 2,
      ComparisonOperator: 'LessThanThreshold',
      Threshold: 1,
    });
    expect(byName(list, 'PrewarmHeartbeat')).toMatchObject({
      MetricName: CUSTOM_METRICS.prewarmCompleted,
      Period: 86_400,
      EvaluationPeriods: 1,
      ComparisonOperator: 'LessThanThreshold',
      Threshold: 1,
    });
  });

  it("alarms on the events stream's length and its oldest pending entry's age (the stream stays bounded)", () => {
    const list = alarms(synth().template);
    expect(byName(list, 'StreamLength')).toMatchObject({
      MetricName: CUSTOM_METRICS.streamLength,
      Statistic: 'Maximum',
      Threshold: 2_000,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
    });
    expect(byName(list, 'OldestPendingAge')).toMatchObject({
      MetricName: CUSTOM_METRICS.oldestPendingAge,
      Statistic: 'Maximum',
      Threshold: 300_000,
      ComparisonOperator: 'GreaterThanThreshold',
    });
  });

  it("alarms when a day's prewarm cycle closes without having warmed every active user", () => {
    expect(byName(alarms(synth().template), 'PrewarmUncovered')).toMatchObject({
      MetricName: CUSTOM_METRICS.prewarmUncovered,
      Statistic: 'Maximum',
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 0,
      TreatMissingData: 'notBreaching',
    });
  });

  it('alarms on errors and throttles of every Lambda function', () => {
    const { template, fnId } = synth();
    const list = alarms(template);
    for (const spec of FUNCTIONS) {
      for (const metric of ['Errors', 'Throttles']) {
        const found = list.filter(
          (a) =>
            a.Properties.Namespace === 'AWS/Lambda' &&
            a.Properties.MetricName === metric &&
            JSON.stringify(a.Properties.Dimensions) ===
              JSON.stringify([{ Name: 'FunctionName', Value: { Ref: fnId(spec.name) } }]),
        );
        expect(found, `${metric} ${spec.name}`).toHaveLength(1);
        expect(found[0]!.Properties).toMatchObject({ Threshold: 0, Statistic: 'Sum' });
      }
    }
  });

  it('needs 3 bad minutes out of 5 and at least 20 requests a minute for the 5xx and latency alarms', () => {
    const list = alarms(synth().template);
    const api5xx = byName(list, 'Api5xxRate');
    expect(api5xx).toMatchObject({ EvaluationPeriods: 5, DatapointsToAlarm: 3, Threshold: 1 });
    expect(api5xx.Metrics).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Expression: 'IF(requests >= 20, 100 * errors / requests, 0)' }),
      ]),
    );
    const latency = byName(list, 'ReadLatencyP99');
    expect(latency).toMatchObject({ EvaluationPeriods: 5, DatapointsToAlarm: 3, Threshold: 500 });
    const ids: Record<string, Json> = Object.fromEntries((latency.Metrics as Json[]).map((m) => [m.Id, m]));
    expect(Object.values(ids).find((m) => m.Expression)).toMatchObject({
      Expression: 'IF(reads >= 20, latency, 0)',
    });
    expect(ids.latency?.MetricStat).toMatchObject({
      Metric: {
        Namespace: 'AWS/ApiGateway',
        MetricName: 'Latency',
        Dimensions: expect.arrayContaining([{ Name: 'Resource', Value: '/users/{id}' }]),
      },
      Period: 60,
      Stat: 'p99',
    });
    expect(ids.reads?.MetricStat).toMatchObject({ Metric: { MetricName: 'Count' }, Stat: 'Sum' });
  });

  it('takes the minimum request count and the thresholds from props', () => {
    const list = alarms(
      synth({
        alarmThresholds: { apiMinRequestsPerMinute: 50, inconsistentEntries: 5, eventLagP99Ms: 600_000 },
      }).template,
    );
    expect(JSON.stringify(byName(list, 'Api5xxRate').Metrics)).toContain('requests >= 50');
    expect(byName(list, 'InconsistentEntries').Threshold).toBe(5);
    expect(byName(list, 'EventLagP99').Threshold).toBe(600_000);
  });

  it('alarms on new failure messages and on failure messages nobody redrove for 3 days', () => {
    const { template } = synth();
    const ages = template.findResources('AWS::CloudWatch::Alarm', {
      Properties: { Namespace: 'AWS/SQS', MetricName: 'ApproximateAgeOfOldestMessage', Threshold: 72 * 3600 },
    });
    expect(Object.keys(ages)).toHaveLength(2);
    // New messages per period, not depth: a depth alarm would stay in ALARM for the queue's 14 days.
    const sent = template.findResources('AWS::CloudWatch::Alarm', {
      Properties: {
        Namespace: 'AWS/SQS',
        MetricName: 'NumberOfMessagesSent',
        Statistic: 'Sum',
        Threshold: 0,
      },
    });
    expect(Object.keys(sent)).toHaveLength(2);
    const queues = (found: Record<string, Json>) =>
      new Set(Object.values(found).map((a) => JSON.stringify(a.Properties.Dimensions)));
    expect(queues(ages)).toEqual(queues(sent));
  });

  it('alarms on poller errors, dead letters, event lag, DB fallback, the audit and an unconfigured stack', () => {
    const list = alarms(synth().template);
    for (const [suffix, metricName] of [
      ['PollerErrors', CUSTOM_METRICS.pollerErrors],
      ['EventsDeadLettered', CUSTOM_METRICS.eventsDeadLettered],
      ['EventLagP99', CUSTOM_METRICS.eventLag],
      ['InconsistentEntries', CUSTOM_METRICS.inconsistentEntries],
      ['NotConfigured', CUSTOM_METRICS.notConfigured],
    ] as const) {
      expect(byName(list, suffix), suffix).toMatchObject({
        Namespace: 'NgomnaUserCache/staging',
        MetricName: metricName,
        Dimensions: [{ Name: 'service', Value: 'user-cache-staging' }],
        TreatMissingData: 'notBreaching',
      });
    }
    expect(JSON.stringify(byName(list, 'DbFallbackShare').Metrics)).toContain(
      'IF(FILL(hits, 0) + FILL(misses, 0) + FILL(fallbacks, 0) >= 20, 100 * FILL(fallbacks, 0) / (FILL(hits, 0) + FILL(misses, 0) + FILL(fallbacks, 0)), 0)',
    );
  });

  it('watches metric names the handlers really emit', () => {
    const sources = ['functions', 'functions/commons', 'functions/commons/http']
      .flatMap((dir) =>
        readdirSync(join(PROJECT_ROOT, dir))
          .filter((file) => file.endsWith('.ts'))
          .map((file) => readFileSync(join(PROJECT_ROOT, dir, file), 'utf8')),
      )
      .join('\n');
    for (const name of Object.values(CUSTOM_METRICS)) {
      expect(sources, name).toMatch(new RegExp(`addMetric\\(\\s*'${name}'`));
    }
  });

  it('sends ALARM and OK notifications of every alarm to the topic given as props', () => {
    const list = alarms(synth({ alarmTopicArn: ALARM_TOPIC_ARN }).template);
    expect(list.length).toBeGreaterThan(20);
    for (const alarm of list) {
      expect(alarm.Properties.AlarmActions).toEqual([ALARM_TOPIC_ARN]);
      expect(alarm.Properties.OKActions).toEqual([ALARM_TOPIC_ARN]);
    }
  });

  it('has a dashboard with hit rate, fallback share, latency, event lag, dead letters, the audit and heartbeats', () => {
    const { template } = synth();
    template.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'user-cache-staging' });
    const dashboard = Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0]!;
    const body = JSON.stringify(dashboard.Properties.DashboardBody);
    for (const text of [
      'Cache hit rate',
      'PostgreSQL fallback share',
      'p50',
      'p99',
      CUSTOM_METRICS.cacheHits,
      CUSTOM_METRICS.cacheMisses,
      CUSTOM_METRICS.dbFallbacks,
      CUSTOM_METRICS.eventLag,
      'Dead letters',
      CUSTOM_METRICS.inconsistentEntries,
      CUSTOM_METRICS.inconsistencyMaxAge,
      CUSTOM_METRICS.auditChecked,
      CUSTOM_METRICS.pollerHeartbeat,
      CUSTOM_METRICS.prewarmCompleted,
    ]) {
      expect(body).toContain(text);
    }
  });
});
