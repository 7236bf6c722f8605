/**
 * Rotating the Upstash token under a running stack: the gateway (like Upstash) starts refusing the old
 * token with 401, the secret holds the new one, and warm clients recover by themselves, without a
 * restart. Real Redis, real PostgreSQL, the real API handler.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ApiHandler } from '../functions/commons/route.js';
import { createHandler as getUser } from '../functions/getUser.js';
import type { ProfileFields } from '../shared/profile/schemas.js';
import { createRedisClient } from '../shared/redis/client.js';
import { isAuthFailure, rebuildOnAuthFailure } from '../shared/redis/rebuildOnAuthFailure.js';
import { apiEvent } from './support/apiEvents.js';
import { type TestStack, useTestStack } from './support/stack.js';

let s: TestStack;
let get: ApiHandler;

const PROFILE: ProfileFields = {
  fullName: 'Ngo Bassa Marie',
  avatar: '',
  matricule: 'R-17',
  ministere: 'MINFI',
};

function read(id: string): Promise<{ statusCode: number; headers?: Record<string, unknown> }> {
  return get(apiEvent({ route: '/users/{id}', id, scopes: ['users.read'] }));
}

const newToken = () => randomBytes(16).toString('hex');

beforeAll(async () => {
  s = await useTestStack();
  get = getUser(s.deps);
});
afterAll(async () => {
  await s?.cleanup();
});
beforeEach(() => {
  s.metrics.reset();
});

describe('rotating the Upstash token', () => {
  it('keeps serving from Redis after the token is rotated under the running stack, without a restart', async () => {
    const id = `rot${Date.now().toString(36)}`;
    await s.repository.create(id, PROFILE);
    expect((await read(id)).headers?.['x-cache']).toBe('MISS');
    expect((await read(id)).headers?.['x-cache']).toBe('HIT');

    // Rotate: the new token goes into the secret, the old one stops working at the gateway.
    const token = newToken();
    s.upstashSecret.current = { ...s.upstashSecret.current, token };
    s.redis.gateway.setToken(token);
    s.metrics.reset();

    const after = await read(id);
    expect(after.statusCode).toBe(200);
    // Served by Redis with the new token: no PostgreSQL fallback, the same warm services.
    expect(after.headers?.['x-cache']).toBe('HIT');
    expect(s.metrics.added.filter((m) => m.name === 'DbFallback' && m.value > 0)).toEqual([]);
  });

  it('falls back to PostgreSQL, reloading the secret at most once per interval, while the secret lags behind', async () => {
    let refreshes = 0;
    let now = 0;
    const secret = { url: s.redis.gateway.url, token: s.redis.gateway.token };
    const redis = rebuildOnAuthFailure({
      initial: secret,
      refresh: async () => {
        refreshes += 1;
        return { ...secret };
      },
      build: (c) => createRedisClient({ ...c, timeoutMs: 2_000 }),
      minRefreshIntervalMs: 10_000,
      clock: () => now,
    });
    const key = s.redis.key('rotation', 'probe');
    await redis.exec(['SET', key, 'v']);

    s.redis.gateway.setToken(newToken()); // rotated at Upstash, not yet in the secret
    for (let i = 0; i < 5; i++) await expect(redis.exec(['GET', key])).rejects.toSatisfy(isAuthFailure);
    expect(refreshes).toBe(1);

    secret.token = s.redis.gateway.token; // the operator puts the new token
    now += 10_000;
    await expect(redis.exec(['GET', key])).resolves.toBe('v');
    expect(refreshes).toBe(2);
    // Pipelines and scripts go through the same requester.
    const [a] = await redis.pipeline().get(key).exec<[string]>();
    expect(a).toBe('v');
  });

  it("recognizes the gateway's (and Upstash's) 401 as an authentication failure, and nothing else", async () => {
    const wrong = createRedisClient({ url: s.redis.gateway.url, token: 'wrong', timeoutMs: 2_000 });
    const error = await wrong.exec(['GET', 'x']).catch((e: unknown) => e);
    expect(isAuthFailure(error)).toBe(true);
    const right = createRedisClient({
      url: s.redis.gateway.url,
      token: s.redis.gateway.token,
      timeoutMs: 2_000,
    });
    const refused = await right.exec(['NOSUCHCOMMAND']).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(Error);
    expect(isAuthFailure(refused)).toBe(false);
    expect(isAuthFailure(new Error('Unauthorized'))).toBe(false);
  });
});
