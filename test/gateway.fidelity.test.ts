/**
 * What @upstash/redis expects from Upstash beyond plain Redis, through the real client: script flag
 * `allow-key-locking` (with EVALSHA by the original digest), SSE subscribe/psubscribe, SCAN … WITHTYPE.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from '@upstash/redis';
import { beforeAll, describe, expect, it } from 'vitest';
import { t, useGatewayTests } from './support/gateway.js';

useGatewayTests();

const sha1 = (s: string) => createHash('sha1').update(s).digest('hex');

/** Polls until `check` passes or 3 s went by (pub/sub delivery is asynchronous). */
async function eventually(check: () => void): Promise<void> {
  const deadline = Date.now() + 3_000;
  for (;;) {
    try {
      check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(20);
    }
  }
}

describe('UpstashGateway fidelity', () => {
  describe('script flag allow-key-locking (Upstash), over Redis 7.0', () => {
    const flagged = "#!lua flags=allow-key-locking\nreturn redis.call('INCRBY', KEYS[1], ARGV[1])";

    it('runs a flagged script with EVAL, then by its original digest with EVALSHA', async () => {
      const key = t.key('locked');

      expect(await t.redis.eval(flagged, [key], ['2'])).toBe(2);
      expect(await t.redis.evalsha(sha1(flagged), [key], ['3'])).toBe(5);
    });

    it('answers SCRIPT LOAD with the original digest and SCRIPT EXISTS in its terms', async () => {
      const source = `${flagged}\n-- ${t.keyPrefix}`;

      const digest = await t.redis.scriptLoad(source);

      expect(digest).toBe(sha1(source));
      expect(await t.redis.scriptExists(digest, sha1('return "never loaded"'))).toEqual([1, 0]);
      expect(await t.redis.evalsha(digest, [t.key('loaded')], ['7'])).toBe(7);
    });

    it('keeps other flags: a no-writes script refuses to write', async () => {
      const readOnly = "#!lua flags=allow-key-locking,no-writes\nreturn redis.call('SET', KEYS[1], 'x')";

      await expect(t.redis.eval(readOnly, [t.key('ro')], [])).rejects.toThrow(
        /Write commands are not allowed/,
      );
    });

    it('translates inside pipelines and transactions too', async () => {
      const p = t.redis.pipeline();
      p.eval(flagged, [t.key('pipe')], ['1']);
      p.evalsha(sha1(flagged), [t.key('pipe')], ['1']);
      const tx = t.redis.multi();
      tx.evalsha(sha1(flagged), [t.key('tx')], ['4']);

      expect(await p.exec()).toEqual([1, 2]);
      expect(await tx.exec()).toEqual([4]);
    });

    it('refuses a flagged script that touches a key not in KEYS, as Upstash would: that key is never written', async () => {
      const sneaky =
        "#!lua flags=allow-key-locking\nredis.call('SET', KEYS[1], 'a')\nreturn redis.call('SET', KEYS[1] .. ':other', 'b')";

      await expect(t.redis.eval(sneaky, [t.key('declared')], [])).rejects.toThrow(
        /allow-key-locking script accessed a key not in KEYS/,
      );
      expect(await t.redis.exists(t.key('declared:other'))).toBe(0);
    });

    it('leaves unflagged scripts free to touch any key (Upstash then takes its global lock)', async () => {
      const free = "return redis.call('SET', KEYS[1] .. ':other', 'b')";

      await expect(t.redis.eval(free, [t.key('free')], [])).resolves.toBe('OK');
    });

    it('answers NOSCRIPT for a flagged digest it never saw, so the client falls back to EVAL', async () => {
      const unseen = `${flagged}\n-- unseen ${t.keyPrefix}`;

      await expect(t.redis.evalsha(sha1(unseen), [t.key('u')], ['1'])).rejects.toThrow(/NOSCRIPT/);
    });
  });

  describe('SCAN … WITHTYPE', () => {
    it('returns each key with its type, as @upstash/redis deserializes it', async () => {
      // Deserialization on (the client's default): it turns the flat [key, type, …] into objects.
      const client = new Redis({ url: t.gateway.url, token: t.gateway.token, enableTelemetry: false });
      await t.redis.set(t.key('scan', 's'), 'v');
      await t.redis.hset(t.key('scan', 'h'), { f: 'v' });
      await t.redis.xadd(t.key('scan', 'x'), '*', { f: 'v' });

      const found: Array<{ key: string; type: string }> = [];
      let cursor = '0';
      do {
        const [next, keys] = (await client.scan(cursor, {
          match: `${t.key('scan')}:*`,
          count: 1_000,
          withType: true,
        })) as unknown as [string, Array<{ key: string; type: string }>];
        found.push(...keys);
        cursor = next;
      } while (cursor !== '0');

      expect(found.sort((a, b) => a.key.localeCompare(b.key))).toEqual([
        { key: t.key('scan', 'h'), type: 'hash' },
        { key: t.key('scan', 's'), type: 'string' },
        { key: t.key('scan', 'x'), type: 'stream' },
      ]);
      // On the wire (deserialization off): [cursor, [key, type, …]].
      const flat: string[] = [];
      cursor = '0';
      do {
        const [next, page] = (await t.redis.scan(cursor, {
          match: t.key('scan', 's'),
          count: 1_000,
          withType: true,
        })) as unknown as [string, string[]];
        flat.push(...page);
        cursor = next;
      } while (cursor !== '0');
      expect(flat).toEqual([t.key('scan', 's'), 'string']);
    });

    it('still filters with TYPE', async () => {
      await t.redis.set(t.key('typed', 's'), 'v');
      await t.redis.hset(t.key('typed', 'h'), { f: 'v' });

      const keys: string[] = [];
      let cursor = '0';
      do {
        const [next, page] = await t.redis.scan(cursor, { match: `${t.key('typed')}:*`, type: 'hash' });
        keys.push(...(page as string[]));
        cursor = String(next);
      } while (cursor !== '0');

      expect(keys).toEqual([t.key('typed', 'h')]);
    });
  });

  describe('SSE subscribe and psubscribe', () => {
    // The client's Subscriber JSON-parses messages unless deserialization is off (its own option).
    let client: Redis;

    beforeAll(() => {
      client = new Redis({ url: t.gateway.url, token: t.gateway.token, enableTelemetry: false });
    });

    it('delivers messages published to a subscribed channel, after a subscribe event', async () => {
      const channel = t.key('news');
      const counts: number[] = [];
      const messages: unknown[] = [];
      const sub = client.subscribe([channel]);
      sub.on('subscribe', (count) => counts.push(count as number));
      sub.on('message', (data) => messages.push(data));
      try {
        await eventually(() => expect(counts).toEqual([1]));

        await client.publish(channel, { hello: 'world' });
        await client.publish(channel, 'plain text, with commas');
        await client.publish(t.key('elsewhere'), 'not for us');

        await eventually(() =>
          expect(messages).toEqual([
            { channel, message: { hello: 'world' } },
            { channel, message: 'plain text, with commas' },
          ]),
        );
      } finally {
        await sub.unsubscribe();
      }
    });

    it('delivers pattern messages with the pattern and the channel', async () => {
      const pattern = `${t.key('room')}:*`;
      const seen: unknown[] = [];
      const sub = client.psubscribe([pattern]);
      let subscribed = 0;
      sub.on('psubscribe', () => subscribed++);
      sub.on('pmessage', (data) => seen.push(data));
      try {
        await eventually(() => expect(subscribed).toBe(1));

        await client.publish(t.key('room', 'a'), 42);

        await eventually(() => expect(seen).toEqual([{ pattern, channel: t.key('room', 'a'), message: 42 }]));
      } finally {
        await sub.unsubscribe();
      }
    });

    it('releases the Redis subscription when the client unsubscribes', async () => {
      const channel = t.key('gone');
      const sub = client.subscribe([channel]);
      let subscribed = false;
      sub.on('subscribe', () => {
        subscribed = true;
      });
      await eventually(() => expect(subscribed).toBe(true));
      expect(await client.publish(channel, 'x')).toBe(1);

      await sub.unsubscribe();

      const receivers = async () => Number(await client.publish(channel, 'y'));
      const deadline = Date.now() + 3_000;
      while ((await receivers()) !== 0 && Date.now() < deadline) await sleep(20);
      expect(await receivers()).toBe(0);
    });

    it('refuses a subscription without the token', async () => {
      const res = await fetch(`${t.gateway.url}/subscribe/${t.key('x')}`, {
        method: 'POST',
        headers: { accept: 'text/event-stream' },
        body: '[]',
      });

      expect(res.status).toBe(401);
    });
  });
});
