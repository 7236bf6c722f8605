/**
 * The gateway's Upstash size limits (local/gateway/limits.ts), through the real @upstash/redis client and
 * raw HTTP: max request size, max single record size, DB capacity quota, each with Upstash's error text.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from '@upstash/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { datasetBytes, UPSTASH_LIMITS } from '../local/gateway/limits.js';
import { type RedisServerHandle, startRedisServer } from '../local/redisServer.js';
import { startUpstashGateway, type UpstashGateway } from '../local/upstashGateway.js';
import { ConfigError } from '../shared/errors.js';
import { createRedisClient } from '../shared/redis/client.js';
import { post, t, useGatewayTests } from './support/gateway.js';

useGatewayTests();

/** A gateway of its own with some limits lowered, and a client for it. */
async function gatewayWith(
  limits: { maxRequestBytes?: number; maxRecordBytes?: number; maxDataBytes?: number },
  redisUrl = t.redisUrl,
): Promise<{ gateway: UpstashGateway; redis: Redis; close(): Promise<void> }> {
  const token = randomBytes(8).toString('hex');
  const gateway = await startUpstashGateway({ redisUrl, token, ...limits });
  const redis = createRedisClient({ url: gateway.url, token, timeoutMs: 5_000 });
  return { gateway, redis, close: () => gateway.close() };
}

describe('UpstashGateway size limits', () => {
  it("defaults to Upstash's Pay as You Go figures: 1 MB per request, 100 MB per record", () => {
    expect(UPSTASH_LIMITS.maxRequestBytes).toBe(1_000_000);
    expect(UPSTASH_LIMITS.maxRecordBytes).toBe(100_000_000);
  });

  it("reads a wrapped-around used_memory_dataset (a fresh Redis' unsigned underflow) as 0", () => {
    expect(datasetBytes('used_memory:900000\r\nused_memory_dataset:18446744073709550000\r\n')).toBe(0);
    expect(datasetBytes('used_memory:900000\r\nused_memory_dataset:12345\r\n')).toBe(12_345);
  });

  it('refuses a limit that is not a positive integer', async () => {
    await expect(
      startUpstashGateway({ redisUrl: t.redisUrl, token: 'x', maxRecordBytes: 0 }),
    ).rejects.toThrow(ConfigError);
    await expect(
      startUpstashGateway({ redisUrl: t.redisUrl, token: 'x', maxRequestBytes: 1.5 }),
    ).rejects.toThrow(ConfigError);
  });

  describe('max request size', () => {
    it('refuses a request body over 1 MB by default with "ERR max request size exceeded", running nothing', async () => {
      const big = 'x'.repeat(1_000_001);

      const res = await post('/', ['SET', t.key('big'), big], { gateway: t.gateway });

      expect(res.status).toBe(400);
      expect(res.body).toEqual({ error: 'ERR max request size exceeded' });
      expect(await t.redis.get(t.key('big'))).toBeNull();
    });

    it('accepts a body of exactly the limit and refuses one byte more', async () => {
      const g = await gatewayWith({ maxRequestBytes: 200 });
      try {
        const envelope = JSON.stringify(['SET', t.key('edge'), '']).length;
        const fits = await post('/', ['SET', t.key('edge'), 'x'.repeat(200 - envelope)], {
          gateway: g.gateway,
        });
        const over = await post('/', ['SET', t.key('edge2'), 'x'.repeat(201 - envelope)], {
          gateway: g.gateway,
        });

        expect(fits.status).toBe(200);
        expect(over.body).toEqual({ error: 'ERR max request size exceeded' });
        expect(await t.redis.get(t.key('edge2'))).toBeNull();
      } finally {
        await g.close();
      }
    });

    it("applies to pipelines and transactions as a whole: the client throws Upstash's text", async () => {
      const g = await gatewayWith({ maxRequestBytes: 10_000 });
      try {
        const p = g.redis.pipeline();
        for (let i = 0; i < 20; i++) p.set(t.key(`p${i}`), 'x'.repeat(1_000));

        await expect(p.exec()).rejects.toThrow(/ERR max request size exceeded/);
        expect(await t.redis.exists(t.key('p0'))).toBe(0);
      } finally {
        await g.close();
      }
    });
  });

  describe('max single record size', () => {
    it('refuses a write that would take a key past the limit; reads and deletes still work', async () => {
      const g = await gatewayWith({ maxRecordBytes: 20_000 });
      const key = t.key('stream');
      try {
        let refusal: unknown;
        let added = 0;
        for (let i = 0; i < 100 && refusal === undefined; i++) {
          try {
            await g.redis.xadd(key, '*', { payload: 'y'.repeat(1_000) });
            added++;
          } catch (error) {
            refusal = error;
          }
        }

        expect(String(refusal)).toMatch(/ERR max single record size exceeded/);
        expect(added).toBeGreaterThan(5);
        expect(Number(await g.redis.xlen(key))).toBe(added);
        // Other keys are unaffected, and the big one can still be read, trimmed and deleted.
        await expect(g.redis.set(t.key('other'), 'v')).resolves.toBe('OK');
        expect(Object.keys(await g.redis.xrange(key, '-', '+', 1))).toHaveLength(1);
        expect(Number(await g.redis.xtrim(key, { strategy: 'MAXLEN', threshold: 1 }))).toBeGreaterThan(0);
        await g.redis.xadd(key, '*', { payload: 'y' });
        expect(await g.redis.del(key)).toBe(1);
      } finally {
        await g.close();
      }
    });

    it('counts the earlier commands of a pipeline towards the later ones, refusing only those past the limit', async () => {
      const g = await gatewayWith({ maxRecordBytes: 10_000 });
      try {
        const p = g.redis.pipeline();
        for (let i = 0; i < 20; i++) p.hset(t.key('hash'), { [`f${i}`]: 'z'.repeat(1_000) });
        const replies = (await p.exec({ keepErrors: true })) as Array<{ error?: string }>;

        const refused = replies.filter((r) => r.error === 'ERR max single record size exceeded').length;
        const written = Number(await g.redis.hlen(t.key('hash')));
        expect(refused).toBeGreaterThan(0);
        expect(written + refused).toBe(20);
        expect(replies.slice(written).every((r) => r.error !== undefined)).toBe(true);
      } finally {
        await g.close();
      }
    });

    it('refuses a whole transaction when one of its commands is over, writing nothing', async () => {
      const g = await gatewayWith({ maxRecordBytes: 5_000 });
      try {
        const tx = g.redis.multi();
        tx.set(t.key('tx-small'), 'a');
        tx.set(t.key('tx-big'), 'b'.repeat(6_000));

        await expect(tx.exec()).rejects.toThrow(/ERR max single record size exceeded/);
        expect(await t.redis.exists(t.key('tx-small'))).toBe(0);
      } finally {
        await g.close();
      }
    });

    it('counts a script as writing its KEYS, its arguments shared among them', async () => {
      const g = await gatewayWith({ maxRecordBytes: 5_000 });
      try {
        const lua = "return redis.call('SET', KEYS[1], ARGV[1])";
        await expect(g.redis.eval(lua, [t.key('lua-ok')], ['c'.repeat(1_000)])).resolves.toBe('OK');
        await expect(g.redis.eval(lua, [t.key('lua-big')], ['c'.repeat(6_000)])).rejects.toThrow(
          /ERR max single record size exceeded/,
        );
        expect(await t.redis.exists(t.key('lua-big'))).toBe(0);
      } finally {
        await g.close();
      }
    });
  });

  describe('DB capacity quota', () => {
    let server: RedisServerHandle;

    beforeAll(async () => {
      // The quota is about the whole database: a Redis of its own, so other files' keys do not count.
      server = await startRedisServer();
    });

    afterAll(async () => {
      await server.stop();
    });

    it('refuses writes once the data passes the quota; reads, deletes and expiries still work', async () => {
      const probe = await gatewayWith({}, server.url);
      // Read as the gateway reads it: a fresh Redis can report an underflowed used_memory_dataset (2^64 - n),
      // which read raw made the quota astronomically high and the test flaky.
      const base = datasetBytes(await probe.redis.exec(['INFO', 'memory']));
      await probe.close();
      const g = await gatewayWith({ maxDataBytes: base + 200_000 }, server.url);
      try {
        let refusal: unknown;
        let written = 0;
        for (let i = 0; i < 500 && refusal === undefined; i++) {
          try {
            await g.redis.set(`q:${i}`, 'd'.repeat(2_000));
            written++;
          } catch (error) {
            refusal = error;
          }
        }

        expect(String(refusal)).toMatch(/ERR DB capacity quota exceeded/);
        expect(written).toBeGreaterThan(10);
        expect(await g.redis.get('q:0')).toHaveLength(2_000);
        await expect(g.redis.zadd('q:z', { score: 1, member: 'm' })).rejects.toThrow(/DB capacity quota/);
        expect(await g.redis.expire('q:1', 100)).toBe(1);
        expect(await g.redis.del(...Array.from({ length: written }, (_, i) => `q:${i}`))).toBe(written);
        await expect(g.redis.set('q:after', 'v')).resolves.toBe('OK');
      } finally {
        await g.close();
      }
    });
  });
});
