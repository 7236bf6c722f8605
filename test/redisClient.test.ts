/**
 * createRedisClient's request deadlines, against the real gateway and Redis: a stalled request fails as a
 * timeout at `timeoutMs`, the abort-all signal stops requests in flight and later ones, and a request that
 * completes leaves no timer behind (a per-request `AbortSignal.timeout` stayed armed for the full
 * timeout after every request, and fired then: work on every hit for nothing).
 */
import { createHook } from 'node:async_hooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isTimeoutError } from '../shared/redis/errorText.js';
import { type TestRedis, useTestRedis } from './support/redis.js';

let t: TestRedis;
beforeAll(async () => {
  t = await useTestRedis();
});
afterAll(async () => {
  await t.cleanup();
});
afterEach(() => {
  t.gateway.setFaults({});
});

/** Timers created by `run` that are still pending once it has settled (real timers, seen by async_hooks). */
async function timersLeftBy(run: () => Promise<unknown>): Promise<number> {
  const live = new Set<number>();
  const hook = createHook({
    init(id, type) {
      if (type === 'Timeout') live.add(id);
    },
    destroy(id) {
      live.delete(id);
    },
  });
  hook.enable();
  try {
    await run();
    // destroy hooks of cleared timers run asynchronously, after the current tick.
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    hook.disable();
  }
  return live.size;
}

describe('createRedisClient request deadlines', () => {
  it('a completed request leaves no deadline timer running', async () => {
    const redis = t.client({ timeoutMs: 60_000 });
    await redis.get(t.key('warm'));
    const requests = 50;
    const left = await timersLeftBy(async () => {
      for (let i = 0; i < requests; i++) {
        await redis.get(t.key('absent', String(i)));
        await redis
          .pipeline()
          .get(t.key('absent', String(i)))
          .exec({ keepErrors: true });
      }
    });
    // The HTTP stack keeps a few timers of its own (keep-alive, its coarse clock); one per request would be 100.
    expect(left).toBeLessThan(10);
  });

  it('fails a stalled request as a timeout after timeoutMs, not before', async () => {
    const redis = t.client({ timeoutMs: 150, retries: 0 });
    t.gateway.setFaults({ delayMs: 3_000 });
    const started = performance.now();
    const error = await redis.get(t.key('stalled')).catch((e: unknown) => e);
    const waited = performance.now() - started;
    expect(isTimeoutError(error)).toBe(true);
    expect(waited).toBeGreaterThanOrEqual(145);
    expect(waited).toBeLessThan(2_000);
  });

  it('gives each request its own deadline: a slow one does not shorten the next', async () => {
    const redis = t.client({ timeoutMs: 400, retries: 0 });
    t.gateway.setFaults({ delayMs: 250 });
    // Each takes ~250 ms, under its own 400 ms; a shared deadline would abort the second.
    await redis.get(t.key('slow', '1'));
    await redis.get(t.key('slow', '2'));
    await expect(redis.get(t.key('slow', '3'))).resolves.toBeNull();
  });

  it('the abort-all signal fails the request in flight and every later one at once', async () => {
    const run = new AbortController();
    const redis = t.client({ timeoutMs: 60_000, retries: 0, signal: run.signal });
    await expect(redis.get(t.key('before'))).resolves.toBeNull();
    t.gateway.setFaults({ delayMs: 3_000 });
    const inFlight = redis.get(t.key('in-flight')).catch((e: unknown) => e);
    setTimeout(() => run.abort(new Error('run aborted at its timeout')), 50);
    const started = performance.now();
    expect(await inFlight).toBeInstanceOf(Error);
    expect(performance.now() - started).toBeLessThan(2_000);
    const later = performance.now();
    await expect(redis.get(t.key('after'))).rejects.toThrow();
    expect(performance.now() - later).toBeLessThan(500);
  });
});
