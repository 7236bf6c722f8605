import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { startRedisServer } from '../local/redisServer.js';
import { post, type RawResponse, t, useGatewayTests } from './support/gateway.js';
import { useTestRedis } from './support/redis.js';

useGatewayTests();

describe('UpstashGateway', () => {
  describe('setFaults()', () => {
    it('mode "reset" destroys the socket: the client fails with a network error', async () => {
      t.gateway.setFaults({ mode: 'reset' });

      await expect(t.redis.get(t.key('f'))).rejects.toThrow();
      await expect(fetch(t.gateway.url, { method: 'POST', body: '["PING"]' })).rejects.toThrow(
        /fetch failed/,
      );
    });

    it('mode "http503" answers 503 and the client throws', async () => {
      t.gateway.setFaults({ mode: 'http503' });

      const res = await post('/', ['PING']);

      expect(res.status).toBe(503);
      await expect(t.redis.get(t.key('f'))).rejects.toThrow(/Service Unavailable/);
    });

    it('delayMs holds every request, so a short client timeout fires', async () => {
      const impatient = t.client({ timeoutMs: 50, retries: 0 });
      t.gateway.setFaults({ delayMs: 1_000 });

      await expect(impatient.get(t.key('slow'))).rejects.toThrow(/abort|timeout/i);
    });

    it('drops a delayed request whose client gave up instead of running it late', async () => {
      const impatient = t.client({ timeoutMs: 50, retries: 0 });
      t.gateway.setFaults({ delayMs: 300 });
      await expect(impatient.set(t.key('late'), 'v')).rejects.toThrow();
      t.gateway.setFaults({});

      await sleep(600);

      expect(await t.redis.get(t.key('late'))).toBeNull();
    });

    it('setFaults({}) clears every fault', async () => {
      t.gateway.setFaults({ mode: 'http503', delayMs: 10 });

      t.gateway.setFaults({});

      expect(await t.redis.set(t.key('ok'), 'v')).toBe('OK');
    });
  });

  describe('when Redis restarts', () => {
    it('answers 503 while Redis is down and recovers on its own once it is back', async () => {
      const redis = await startRedisServer();
      const own = await useTestRedis({ redisUrl: redis.url });
      try {
        await own.redis.set(own.key('before'), 'v');

        await redis.stop();
        const down = await post('/', ['GET', own.key('before')], { gateway: own.gateway });
        await redis.restart();
        let after: RawResponse | undefined;
        for (let i = 0; i < 100 && after?.status !== 200; i++) {
          after = await post('/', ['SET', own.key('after'), 'v'], { gateway: own.gateway });
          if (after.status !== 200) await sleep(50);
        }

        expect(down.status).toBe(503);
        expect((down.body as { error: string }).error).toMatch(/Redis is unavailable/);
        expect(after?.body).toEqual({ result: 'OK' });
        expect(
          (await post('/multi-exec', [['GET', own.key('after')]], { gateway: own.gateway })).body,
        ).toEqual([{ result: 'v' }]);
      } finally {
        await own.cleanup();
        await redis.stop();
      }
    });
  });
});
