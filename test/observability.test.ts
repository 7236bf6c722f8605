/**
 * The lean logger and EMF writer that replaced Powertools Logger and Metrics on the cold path: the lines
 * they print are what CloudWatch (metric extraction, Logs Insights) and the alarms expect.
 */
import { describe, expect, it } from 'vitest';
import { EmfMetrics } from '../shared/observability/emfMetrics.js';
import { JsonLogger } from '../shared/observability/jsonLogger.js';

const capture = () => {
  const lines: string[] = [];
  return {
    lines,
    write: (line: string) => void lines.push(line),
    json: () => lines.map((l) => JSON.parse(l)),
  };
};

describe('EmfMetrics', () => {
  it('prints one EMF line with the namespace, the service dimension and every stored metric', () => {
    const out = capture();
    const m = new EmfMetrics({
      namespace: 'NgomnaUserCache',
      serviceName: 'user-cache',
      write: out.write,
      clock: () => 1_750_000_000_000,
    });
    m.addMetric('Latency', 'Milliseconds', 12.5);
    m.addMetric('CacheHit', 'Count', 1);
    m.addMetric('CacheHit', 'Count', 2);
    m.publishStoredMetrics();
    expect(out.json()).toEqual([
      {
        _aws: {
          Timestamp: 1_750_000_000_000,
          CloudWatchMetrics: [
            {
              Namespace: 'NgomnaUserCache',
              Dimensions: [['service']],
              Metrics: [
                { Name: 'Latency', Unit: 'Milliseconds' },
                { Name: 'CacheHit', Unit: 'Count' },
              ],
            },
          ],
        },
        service: 'user-cache',
        Latency: 12.5,
        CacheHit: [1, 2],
      },
    ]);
  });

  it('prints nothing without metrics, forgets what it published, and splits past 100 metrics per line', () => {
    const out = capture();
    const m = new EmfMetrics({ namespace: 'N', serviceName: 's', write: out.write });
    m.publishStoredMetrics();
    expect(out.lines).toEqual([]);
    for (let i = 0; i < 150; i++) m.addMetric(`M${i}`, 'Count', i);
    m.publishStoredMetrics();
    m.publishStoredMetrics();
    expect(out.json().map((l) => l._aws.CloudWatchMetrics[0].Metrics.length)).toEqual([100, 50]);
  });

  it('prints nothing when disabled (POWERTOOLS_METRICS_DISABLED)', () => {
    const out = capture();
    const m = new EmfMetrics({ namespace: 'N', serviceName: 's', write: out.write, disabled: true });
    m.addMetric('Latency', 'Milliseconds', 1);
    m.publishStoredMetrics();
    expect(out.lines).toEqual([]);
  });
});

describe('JsonLogger', () => {
  it('prints level, message, timestamp, service, the Lambda context and the extra keys as one JSON line', () => {
    const out = capture();
    const log = new JsonLogger({ serviceName: 'user-cache', write: out.write, clock: () => 0 });
    log.info('before context');
    log.addContext({
      awsRequestId: 'req-1',
      functionName: 'getUser',
      invokedFunctionArn: 'arn:fn',
      memoryLimitInMB: '512',
    });
    log.warn('cache write failed', { entries: 2, error: new TypeError('boom') });
    log.addContext({
      awsRequestId: 'req-2',
      functionName: 'getUser',
      invokedFunctionArn: 'arn:fn',
      memoryLimitInMB: '512',
    });
    log.error('again');
    const [first, second, third] = out.json();
    expect(first).toEqual({
      level: 'INFO',
      message: 'before context',
      timestamp: '1970-01-01T00:00:00.000Z',
      service: 'user-cache',
    });
    expect(second).toMatchObject({
      level: 'WARN',
      cold_start: true,
      function_request_id: 'req-1',
      function_memory_size: 512,
      entries: 2,
      error: { name: 'TypeError', message: 'boom' },
    });
    expect(third).toMatchObject({ level: 'ERROR', cold_start: false, function_request_id: 'req-2' });
  });

  it('drops levels below its own and says whether debug is on', () => {
    const out = capture();
    const info = new JsonLogger({ serviceName: 's', write: out.write });
    info.debug('hidden');
    expect(info.isDebugEnabled()).toBe(false);
    const silent = new JsonLogger({ serviceName: 's', write: out.write, logLevel: 'SILENT' });
    silent.error('hidden too');
    expect(out.lines).toEqual([]);
    const debug = new JsonLogger({ serviceName: 's', write: out.write, logLevel: 'DEBUG' });
    debug.debug('shown');
    expect(debug.isDebugEnabled()).toBe(true);
    expect(out.json().map((l) => l.message)).toEqual(['shown']);
  });
});
