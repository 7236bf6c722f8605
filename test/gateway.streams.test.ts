import { describe, expect, it } from 'vitest';
import { post, t, useGatewayTests } from './support/gateway.js';

useGatewayTests();

describe('UpstashGateway', () => {
  describe('streams', () => {
    it('supports the consumer-group cycle: XADD, XGROUP, XREADGROUP, XPENDING, XAUTOCLAIM, XACK, XTRIM', async () => {
      const stream = t.key('events');
      await t.redis.xgroup(stream, { type: 'CREATE', group: 'g', id: '$', options: { MKSTREAM: true } });
      const id1 = await t.redis.xadd(stream, '*', { userId: 'u1', version: '007' });
      const id2 = await t.redis.xadd(stream, '*', { userId: 'u2', version: '8' });

      const read = await t.redis.xreadgroup('g', 'c1', stream, '>', { count: 10 });
      expect(read).toEqual([
        [
          stream,
          [
            [id1, ['userId', 'u1', 'version', '007']],
            [id2, ['userId', 'u2', 'version', '8']],
          ],
        ],
      ]);

      const summary = await t.redis.exec<unknown[]>(['XPENDING', stream, 'g']);
      expect(summary).toEqual([2, id1, id2, [['c1', '2']]]);

      const claimed = await t.redis.xautoclaim(stream, 'g', 'c2', 0, '0-0', { count: 1 });
      // Redis 7 shape: [next cursor, claimed entries, ids deleted meanwhile].
      expect(claimed).toEqual([id2, [[id1, ['userId', 'u1', 'version', '007']]], []]);

      expect(await t.redis.xack(stream, 'g', [id1, id2])).toBe(2);
      expect(await t.redis.xpending(stream, 'g', '-', '+', 10)).toEqual([]);
      expect(await t.redis.xtrim(stream, { strategy: 'MAXLEN', exactness: '=', threshold: 1 })).toBe(1);
      expect(await t.redis.xlen(stream)).toBe(1);
    });

    it('returns a null XREADGROUP when nothing is new', async () => {
      const stream = t.key('quiet');
      await t.redis.xgroup(stream, { type: 'CREATE', group: 'g', id: '$', options: { MKSTREAM: true } });

      expect(await t.redis.xreadgroup('g', 'c', stream, '>')).toBeNull();
    });

    it('rejects XREADGROUP and XREAD with BLOCK: clients must poll', async () => {
      const group = await post('/', [
        'XREADGROUP',
        'GROUP',
        'g',
        'c',
        'BLOCK',
        1000,
        'STREAMS',
        t.key('s'),
        '>',
      ]);
      const plain = await post('/', ['XREAD', 'block', 10, 'STREAMS', t.key('s'), '$']);

      expect(group.status).toBe(400);
      expect((group.body as { error: string }).error).toMatch(/XREADGROUP with BLOCK .* poll/);
      expect(plain.status).toBe(400);
    });

    it('does not mistake a stream named "block" for the BLOCK option', async () => {
      const res = await post('/', ['XREAD', 'COUNT', 1, 'STREAMS', t.key('block'), '0-0']);

      expect(res).toMatchObject({ status: 200, body: { result: null } });
    });

    describe('pending entries limit (1000 per consumer, as on Upstash)', () => {
      const refusal =
        /^ERR XReadGroup is cancelled\. Pending Entries List limit per consumer is about to be reached\./;

      /** A stream with `total` entries, group `g`, and `pending` of them delivered to `consumer`, unacknowledged. */
      async function streamWithPending(name: string, total: number, consumer: string, pending: number) {
        const stream = t.key(name);
        await t.redis.xgroup(stream, { type: 'CREATE', group: 'g', id: '$', options: { MKSTREAM: true } });
        const p = t.redis.pipeline();
        for (let i = 0; i < total; i++) p.xadd(stream, '*', { n: String(i) });
        const ids = (await p.exec()) as string[];
        if (pending > 0) await t.redis.xreadgroup('g', consumer, stream, '>', { count: pending });
        return { stream, ids };
      }

      /** Entries an XREADGROUP delivered from its first stream (0 for a null reply). */
      const delivered = (reply: unknown): number =>
        ((reply as [string, unknown[]][] | null)?.[0]?.[1] ?? []).length;

      const pelOf = async (stream: string, consumer: string): Promise<number> => {
        const [, , , consumers] = await t.redis.exec<[number, unknown, unknown, [string, string][] | null]>([
          'XPENDING',
          stream,
          'g',
        ]);
        return Number(consumers?.find(([name]) => name === consumer)?.[1] ?? 0);
      };

      it('refuses a read whose COUNT would take the list past 1000, in Upstash words, delivering nothing', async () => {
        const { stream } = await streamWithPending('pel-count', 1100, 'c1', 950);

        const refused = t.redis.xreadgroup('g', 'c1', stream, '>', { count: 100 });

        await expect(refused).rejects.toThrow(
          `ERR XReadGroup is cancelled. Pending Entries List limit per consumer is about to be reached. Limit: 1000, Current PEL size: 950, Requested Read: 100, Key: ${stream}, Group: g, Consumer: c1.`,
        );
        expect(await pelOf(stream, 'c1')).toBe(950);
      });

      it('allows a read that fills the list to exactly 1000', async () => {
        const { stream } = await streamWithPending('pel-exact', 1100, 'c1', 950);

        const read = await t.redis.xreadgroup('g', 'c1', stream, '>', { count: 50 });

        expect(delivered(read)).toBe(50);
        expect(await pelOf(stream, 'c1')).toBe(1000);
      });

      it('refuses a read without COUNT only once the list already holds 1000', async () => {
        const { stream } = await streamWithPending('pel-unbounded', 1100, 'c1', 999);
        const below = await t.redis.xreadgroup('g', 'c1', stream, '0');

        await t.redis.xreadgroup('g', 'c1', stream, '>', { count: 1 });
        const full = t.redis.xreadgroup('g', 'c1', stream, '0');

        expect(delivered(below)).toBe(999);
        await expect(full).rejects.toThrow(/Current PEL size: 1000, Requested Read: unbounded/);
      });

      it("counts each consumer's list on its own", async () => {
        const { stream } = await streamWithPending('pel-per-consumer', 1200, 'c1', 1000);

        const other = await t.redis.xreadgroup('g', 'c2', stream, '>', { count: 100 });

        expect(delivered(other)).toBe(100);
        await expect(t.redis.xreadgroup('g', 'c1', stream, '>', { count: 1 })).rejects.toThrow(refusal);
      });

      it('names the first stream of a multi-stream read that has no room', async () => {
        const { stream: full } = await streamWithPending('pel-multi-full', 1000, 'c1', 1000);
        const { stream: empty } = await streamWithPending('pel-multi-empty', 10, 'c1', 0);

        const read = t.redis.xreadgroup('g', 'c1', [empty, full], ['>', '>'], { count: 1 });

        await expect(read).rejects.toThrow(
          new RegExp(`Current PEL size: 1000, Requested Read: 1, Key: ${full},`),
        );
        expect(await pelOf(empty, 'c1')).toBe(0);
      });

      it('answers a per-entry error in a pipeline, seeing an XACK earlier in the same pipeline', async () => {
        const { stream, ids } = await streamWithPending('pel-pipeline', 1100, 'c1', 1000);
        const p = t.redis.pipeline();
        p.xreadgroup('g', 'c1', stream, '>', { count: 1 });
        p.xack(stream, 'g', ids.slice(0, 10));
        p.xreadgroup('g', 'c1', stream, '>', { count: 10 });
        p.xreadgroup('g', 'c1', stream, '>', { count: 1 });
        p.xlen(stream);

        const results = await p.exec({ keepErrors: true });

        expect(results[0]?.error).toMatch(refusal);
        expect(results[1]?.result).toBe(10);
        expect(delivered(results[2]?.result)).toBe(10);
        expect(results[3]?.error).toMatch(/Current PEL size: 1000, Requested Read: 1,/);
        expect(results[4]).toEqual({ result: 1100, error: undefined });
        expect(await pelOf(stream, 'c1')).toBe(1000);
      });

      it("leaves a missing group to Redis' own NOGROUP error", async () => {
        const res = await post('/', [
          'XREADGROUP',
          'GROUP',
          'nope',
          'c',
          'COUNT',
          1,
          'STREAMS',
          t.key('none'),
          '>',
        ]);

        expect(res.status).toBe(400);
        expect((res.body as { error: string }).error).toMatch(/^NOGROUP /);
      });
    });
  });
});
