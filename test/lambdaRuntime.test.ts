/**
 * What the functions do with the Lambda runtime: the logger gets each invocation's context (every JSON
 * line carries the request id), and scheduled runs end cleanly while the Upstash secret still holds its
 * placeholder. Real Redis through the gateway, the real Powertools logger.
 */
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../functions/commons/config.js';
import { buildDependencies, type Dependencies } from '../functions/commons/dependencies.js';
import { NotConfiguredError, UPSTASH_PLACEHOLDER } from '../functions/commons/notConfigured.js';
import { lazyScheduled, runBudgetMs, scheduledRun } from '../functions/commons/scheduledRun.js';
import { createHandler as getCacheStats } from '../functions/getCacheStats.js';
import { LeaseHeldError } from '../shared/errors.js';
import { apiEvent } from './support/apiEvents.js';
import { type TestRedis, useTestRedis } from './support/redis.js';
import { capturingLogger, capturingMetrics } from './support/stack.js';

let redis: TestRedis;
let deps: Dependencies;

const context = (awsRequestId: string) =>
  ({
    awsRequestId,
    functionName: 'user-cache-test-getCacheStats',
    functionVersion: '7',
    invokedFunctionArn: 'arn:aws:lambda:eu-west-1:111111111111:function:user-cache-test-getCacheStats:live',
    memoryLimitInMB: '256',
    getRemainingTimeInMillis: () => 10_000,
  }) as unknown as Context;

const statsEvent = (requestId: string) =>
  apiEvent({ route: '/cache/stats', requestId, scopes: ['users.read'] });

/** Every JSON line the real logger writes to stdout while `fn` runs. */
async function logLines(fn: () => Promise<unknown>): Promise<Record<string, unknown>[]> {
  const written: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  });
  try {
    await fn();
  } finally {
    spy.mockRestore();
  }
  return written
    .join('')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => typeof line.message === 'string');
}

beforeAll(async () => {
  redis = await useTestRedis();
  deps = await buildDependencies(
    loadConfig({
      UPSTASH_REDIS_REST_URL: redis.gateway.url,
      UPSTASH_REDIS_REST_TOKEN: redis.gateway.token,
      CACHE_KEY_PREFIX: redis.keyPrefix,
      REDIS_TIMEOUT_MS: '2000',
      POWERTOOLS_LOG_LEVEL: 'DEBUG',
    }),
  );
});
afterAll(async () => {
  await redis?.cleanup();
});

describe('Lambda context in the logs', () => {
  it('puts the request id of the invocation on every JSON log line of an API request', async () => {
    const handler = getCacheStats(deps);
    const first = await logLines(() => handler(statsEvent('api-1'), context('lambda-req-1')));
    const second = await logLines(() => handler(statsEvent('api-2'), context('lambda-req-2')));
    expect(first.length).toBeGreaterThan(0);
    for (const line of first)
      expect(line, String(line.message)).toMatchObject({ function_request_id: 'lambda-req-1' });
    // The next invocation's lines carry its own id, not the previous one.
    for (const line of second)
      expect(line, String(line.message)).toMatchObject({ function_request_id: 'lambda-req-2' });
    expect(second[0]).toMatchObject({ function_name: 'user-cache-test-getCacheStats' });
  });
});

describe('before the Upstash secret is filled in', () => {
  it('refuses to build dependencies on the placeholder, naming the variable', async () => {
    const config = loadConfig({
      UPSTASH_REDIS_REST_URL: UPSTASH_PLACEHOLDER.url,
      UPSTASH_REDIS_REST_TOKEN: UPSTASH_PLACEHOLDER.token,
    });
    const error = await buildDependencies(config).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotConfiguredError);
    expect((error as NotConfiguredError).details).toEqual({ variable: 'UPSTASH_REDIS_REST_URL' });
  });

  it('ends a scheduled run cleanly with one log line and a NotConfigured metric', async () => {
    const logger = capturingLogger();
    const metrics = capturingMetrics();
    let builds = 0;
    const handler = lazyScheduled(
      'streamPoller',
      async () => {
        builds += 1;
        throw new NotConfiguredError('the secret named by UPSTASH_SECRET_ARN still holds its placeholder');
      },
      () => ({ log: (message, extra) => logger.warn(message, extra), metrics }),
    );
    await expect(handler({})).resolves.toEqual({ status: 'not-configured' });
    expect(logger.entries).toEqual([
      expect.objectContaining({ level: 'warn', message: 'streamPoller skipped: not configured' }),
    ]);
    expect(metrics.added).toEqual([{ name: 'NotConfigured', unit: 'Count', value: 1 }]);
    expect(metrics.published).toBe(1);
    // The next run checks again: once the secret is filled in, it works without a redeploy.
    await handler({});
    expect(builds).toBe(2);
  });

  it('still fails a scheduled run for any other reason (so the failure queue and alarms see it)', async () => {
    const handler = lazyScheduled('audit', async () => {
      throw new Error('PostgreSQL unreachable');
    });
    await expect(handler({})).rejects.toThrow('PostgreSQL unreachable');
  });
});

describe('scheduledRun() (the scheduled functions frame)', () => {
  const frame = () => {
    let flushed = 0;
    const deps = {
      logger: capturingLogger(),
      metrics: capturingMetrics(),
      cache: {
        flushStats: async () => {
          flushed += 1;
        },
      },
    };
    return { deps, flushed: () => flushed };
  };
  const leaseHeld = { metric: 'PollerSkipped', message: 'skipped: lease held', level: 'warn' as const };

  it("returns the body's result, then flushes the stats and publishes the metrics", async () => {
    const f = frame();
    await expect(scheduledRun(f.deps, async () => 42, leaseHeld)).resolves.toBe(42);
    expect([f.flushed(), f.deps.metrics.published]).toEqual([1, 1]);
  });

  it('reports a held lease as skipped: one metric, one log line at the given level', async () => {
    const f = frame();
    const result = await scheduledRun(
      f.deps,
      async () => {
        throw new LeaseHeldError('held by another run');
      },
      leaseHeld,
    );
    expect(result).toEqual({ status: 'skipped', reason: 'lease-held' });
    expect(f.deps.metrics.added).toEqual([{ name: 'PollerSkipped', unit: 'Count', value: 1 }]);
    expect(f.deps.logger.entries).toEqual([
      expect.objectContaining({ level: 'warn', message: 'skipped: lease held' }),
    ]);
    expect([f.flushed(), f.deps.metrics.published]).toEqual([1, 1]);
  });

  it('rethrows any other error (and a held lease when no report is given), after flushing', async () => {
    const f = frame();
    await expect(
      scheduledRun(
        f.deps,
        async () => {
          throw new Error('PostgreSQL unreachable');
        },
        leaseHeld,
      ),
    ).rejects.toThrow('PostgreSQL unreachable');
    await expect(
      scheduledRun(f.deps, async () => {
        throw new LeaseHeldError('held');
      }),
    ).rejects.toBeInstanceOf(LeaseHeldError);
    expect([f.flushed(), f.deps.metrics.published]).toEqual([2, 2]);
  });

  it('logs a metrics failure instead of throwing it over the result', async () => {
    const f = frame();
    f.deps.metrics.publishStoredMetrics = () => {
      throw new RangeError('too many metrics');
    };
    await expect(scheduledRun(f.deps, async () => 'done')).resolves.toBe('done');
    expect(f.deps.logger.entries).toEqual([
      expect.objectContaining({ level: 'warn', message: 'metrics not published' }),
    ]);
  });
});

describe('runBudgetMs()', () => {
  const ctx = (ms: number) => ({ getRemainingTimeInMillis: () => ms });
  it('is the remaining time less the margin, capped, floored, at least the minimum', () => {
    const o = { endMarginMs: 5_000, capMs: 80_000, fallbackMs: 80_000, minMs: 1 };
    expect(runBudgetMs(ctx(90_000), o)).toBe(80_000);
    expect(runBudgetMs(ctx(30_000.7), o)).toBe(25_000);
    expect(runBudgetMs(ctx(4_000), o)).toBe(1);
    expect(runBudgetMs(undefined, o)).toBe(80_000);
    expect(runBudgetMs(undefined, { endMarginMs: 30_000, fallbackMs: 900_000, minMs: 1_000 })).toBe(900_000);
  });
});
