import { createClient } from 'redis';
import { describe, expect, it } from 'vitest';
import { post, t, useGatewayTests } from './support/gateway.js';

useGatewayTests();

describe('UpstashGateway', () => {
  describe('transactions (POST /multi-exec)', () => {
    it('runs the commands atomically: concurrent readers see none or all of them', async () => {
      const key = t.key('atomic');
      const tx = t.redis.multi();
      for (let i = 0; i < 3000; i++) tx.incr(key);
      // The reader has its own connection: reads queued behind the gateway's would prove nothing.
      const reader = createClient({ url: t.redisUrl });
      await reader.connect();
      const seen = new Set<string | null>();
      let done = false;

      const running = tx.exec().finally(() => {
        done = true;
      });
      while (!done) seen.add(await reader.get(key));
      await running;
      reader.destroy();

      expect(seen.size).toBeGreaterThan(0);
      for (const value of seen) expect([null, '3000']).toContain(value);
    });

    it('runs on its own connection: concurrent single commands never see MULTI state', async () => {
      await t.redis.set(t.key('iso'), 'plain');
      const tx = t.redis.multi();
      for (let i = 0; i < 2000; i++) tx.get(t.key('iso'));

      const [, ...reads] = await Promise.all([
        tx.exec(),
        ...Array.from({ length: 20 }, () => t.redis.get(t.key('iso'))),
      ]);

      expect(reads).toEqual(Array(20).fill('plain'));
    });

    it('answers runtime errors per entry and runs the rest, like Redis', async () => {
      const res = await post('/multi-exec', [
        ['SET', t.key('tx'), 'v'],
        ['HSET', t.key('tx'), 'f', 'v'],
        ['GET', t.key('tx')],
      ]);

      expect(res.status).toBe(200);
      expect(res.body).toEqual([
        { result: 'OK' },
        { error: expect.stringMatching(/^WRONGTYPE/) },
        { result: 'v' },
      ]);
    });

    it('discards the whole transaction when Redis refuses a command while queueing', async () => {
      const res = await post('/multi-exec', [
        ['SET', t.key('discarded'), 'v'],
        ['NOSUCHCOMMAND', 'x'],
      ]);

      expect(res.status).toBe(400);
      expect((res.body as { error: string }).error).toMatch(/unknown command/);
      expect(await t.redis.get(t.key('discarded'))).toBeNull();
    });

    it('refuses a transaction containing a blocking command without running any of it', async () => {
      const res = await post('/multi-exec', [
        ['SET', t.key('refused'), 'v'],
        ['BRPOP', t.key('list'), 0],
      ]);

      expect(res.status).toBe(400);
      expect(await t.redis.get(t.key('refused'))).toBeNull();
    });
  });
});
