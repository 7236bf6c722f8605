import fc from 'fast-check';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startRedisServer } from '../local/redisServer.js';
import { ValidationError } from '../shared/errors.js';
import { UserCache, type UserCacheOptions } from '../shared/userCache.js';
import { newId, storedProfile } from './support/fixtures.js';
import { type TestRedis, useTestRedis } from './support/redis.js';

let t: TestRedis;

function cache(options: Partial<UserCacheOptions> = {}): UserCache {
  return new UserCache({ redis: t.redis, keyPrefix: t.keyPrefix, ...options });
}

beforeAll(async () => {
  t = await useTestRedis();
});
afterAll(async () => {
  await t.cleanup();
});
beforeEach(() => {
  t.gateway.setFaults({ mode: 'none', delayMs: 0 });
});

describe('UserCache', () => {
  describe('set() and get()', () => {
    it('stores the seed layout in hash user:profile:{id} and reads it back with strings intact', async () => {
      const c = cache();
      const id = newId();
      const p = storedProfile(id, 3, {
        matricule: '007',
        fullName: 'Ngono Ébénézer 🇨🇲',
        ministere: 'MINFOP',
      });
      expect(await c.set(p)).toBe('written');

      const raw = await t.redis.hgetall(`${t.keyPrefix}user:profile:${id}`);
      expect(raw).toEqual(
        expect.arrayContaining(['fullName', 'Ngono Ébénézer 🇨🇲', 'matricule', '007', 'ministere', 'MINFOP']),
      );
      expect(raw).toEqual(expect.arrayContaining(['updatedAt', String(p.updatedAt), 'version', '3']));
      expect(await c.get(id)).toEqual({ status: 'hit', profile: p });
    });

    it('reports an absent key as a miss', async () => {
      expect(await cache().get(newId())).toEqual({ status: 'miss' });
    });

    it('treats a legacy entry without a version as a miss so it gets refilled', async () => {
      const id = newId();
      const key = `${t.keyPrefix}user:profile:${id}`;
      await t.redis.hset(key, {
        fullName: 'Old',
        avatar: '',
        matricule: 'M1',
        ministere: 'MINFI',
        updatedAt: '1',
      });
      const c = cache();
      expect(await c.get(id)).toEqual({ status: 'miss' });
      expect(await c.set(storedProfile(id, 1))).toBe('written');
      expect((await c.get(id)).status).toBe('hit');
    });

    it('reports an undecodable entry as a corrupt miss (never as a profile) so it gets refilled', async () => {
      const id = newId();
      await t.redis.hset(`${t.keyPrefix}user:profile:${id}`, {
        fullName: 'X',
        avatar: '',
        matricule: 'M',
        ministere: 'MINFI',
        updatedAt: 'yesterday',
        version: '2',
      });
      const c = cache();
      expect(await c.get(id)).toEqual({ status: 'miss', corrupt: true });
      expect(await c.set(storedProfile(id, 2))).toBe('written');
      expect((await c.get(id)).status).toBe('hit');
    });

    it('sets the TTL with every write, within [ttl × (1 − jitter), ttl]', async () => {
      const id = newId();
      const key = `${t.keyPrefix}user:profile:${id}`;
      // A key without TTL: a bare HSET over it would keep "no TTL" forever.
      await t.redis.hset(key, { version: '1', fullName: 'x' });
      await t.redis.persist(key);
      await cache({ random: () => 0.999 }).set(storedProfile(id, 2));
      const ttl = await t.redis.ttl(key);
      expect(ttl).toBeLessThanOrEqual(604_800);
      expect(ttl).toBeGreaterThan(604_800 * 0.95 - 5);
    });

    it('rejects a malformed profile with a typed error and writes nothing', async () => {
      const id = newId();
      await expect(cache().set({ ...storedProfile(id, 1), ministere: 'lower case' })).rejects.toMatchObject({
        code: 'INVALID_PROFILE',
      });
      expect(await t.redis.exists(`${t.keyPrefix}user:profile:${id}`)).toBe(0);
    });

    it.each(['', 'a:b', 'user*', 'a?', 'line\nbreak', 'with space', 'é', 'x'.repeat(65)])(
      'rejects the id %j before touching Redis',
      async (bad) => {
        t.gateway.metrics.reset();
        const error = await cache()
          .get(bad)
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ValidationError);
        expect(error).toMatchObject({ code: 'INVALID_USER_ID' });
        expect(t.gateway.metrics.httpRequests).toBe(0);
      },
    );
  });

  describe('versioned writes', () => {
    it('keeps the newer version when an older one arrives late', async () => {
      const c = cache();
      const id = newId();
      expect(await c.set(storedProfile(id, 6))).toBe('written');
      expect(await c.set(storedProfile(id, 5))).toBe('stale');
      expect(await c.get(id)).toMatchObject({ status: 'hit', profile: { version: 6 } });
    });

    it('accepts a rewrite of the same version (refreshing its TTL)', async () => {
      const c = cache();
      const id = newId();
      await c.set(storedProfile(id, 4));
      expect(await c.set(storedProfile(id, 4))).toBe('written');
    });

    it('never resurrects a deleted profile from an older write', async () => {
      const c = cache();
      const id = newId();
      await c.set(storedProfile(id, 2));
      expect(await c.write([{ kind: 'deleted', userId: id, version: 3, deletedAt: 1 }])).toEqual(['written']);
      expect(await c.set(storedProfile(id, 2))).toBe('stale');
      expect(await c.get(id)).toEqual({ status: 'deleted', version: 3 });
    });

    it('lets a create override a negative entry, and a negative fill never hides a profile', async () => {
      const c = cache({ negativeTtlSeconds: 30 });
      const id = newId();
      expect(await c.write([{ kind: 'negative', userId: id }])).toEqual(['written']);
      expect(await c.get(id)).toEqual({ status: 'negative' });
      expect(await t.redis.ttl(`${t.keyPrefix}user:profile:${id}`)).toBeLessThanOrEqual(30);
      expect(await c.set(storedProfile(id, 1))).toBe('written');
      expect(await c.write([{ kind: 'negative', userId: id }])).toEqual(['stale']);
      expect((await c.get(id)).status).toBe('hit');
    });

    it('writes many entries in one command and reports each outcome', async () => {
      const c = cache();
      const [a, b] = [newId(), newId()];
      await c.set(storedProfile(b, 9));
      t.gateway.metrics.reset();
      const outcomes = await c.setMany([storedProfile(a, 1), storedProfile(b, 8)]);
      expect(outcomes).toEqual(['written', 'stale']);
      expect(t.gateway.metrics.httpRequests).toBe(1);
      expect(t.gateway.metrics.commands).toBe(1);
    });

    it('refuses a tombstone below version 1 and a negative invalidation version, writing nothing', async () => {
      const id = newId();
      const c = cache();
      await expect(
        c.write([{ kind: 'deleted', userId: id, version: 0, deletedAt: 1 }]),
      ).rejects.toMatchObject({
        code: 'INVALID_VERSION',
      });
      await expect(c.write([{ kind: 'invalidate', userId: id, version: -3 }])).rejects.toMatchObject({
        code: 'INVALID_VERSION',
      });
      expect(await t.redis.exists(`${t.keyPrefix}user:profile:${id}`)).toBe(0);
    });

    it('writes nothing when one entry of a batch is invalid', async () => {
      const [a, b] = [newId(), newId()];
      await expect(
        cache().setMany([storedProfile(a, 1), storedProfile(b, 1, { fullName: '' })]),
      ).rejects.toThrow(ValidationError);
      expect(await t.redis.exists(`${t.keyPrefix}user:profile:${a}`)).toBe(0);
    });

    it('falls back to EVAL when Redis lost its script cache (NOSCRIPT)', async () => {
      // A Redis of its own: SCRIPT FLUSH on the run's shared Redis would disturb other files' counts.
      const server = await startRedisServer();
      const own = await useTestRedis({ redisUrl: server.url });
      try {
        const c = new UserCache({ redis: own.redis, keyPrefix: own.keyPrefix });
        const id = newId();
        await c.set(storedProfile(id, 1));
        await own.redis.scriptFlush();
        expect(await c.set(storedProfile(id, 2))).toBe('written');
        expect(await c.get(id)).toMatchObject({ status: 'hit', profile: { version: 2 } });
      } finally {
        await own.cleanup();
        await server.stop();
      }
    });

    it('ends at the newest version whatever the order of writes and deletes (property)', async () => {
      const c = cache();
      type Op = { version: number; deleted: boolean };
      await fc.assert(
        fc.asyncProperty(
          fc
            .uniqueArray(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 12 })
            .chain((versions) =>
              fc.tuple(
                fc.constant(versions),
                fc.array(fc.boolean(), { minLength: versions.length, maxLength: versions.length }),
                fc.array(fc.nat(versions.length - 1), { maxLength: 6 }),
                fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 }),
              ),
            ),
          async ([versions, deletes, duplicates, chunkSizes]) => {
            const id = newId();
            // Once deleted, PostgreSQL never gives the row a later live version: only the max may be a delete.
            const max = Math.max(...versions);
            const ops: Op[] = versions.map((v, i) => ({
              version: v,
              deleted: v === max && deletes[i] === true,
            }));
            for (const d of duplicates) ops.push(ops[d]!);
            // Apply in the generated order, in concurrent chunks, like racing fills, events and prewarms.
            let i = 0;
            let k = 0;
            while (i < ops.length) {
              const size = chunkSizes[k++ % chunkSizes.length]!;
              const chunk = ops.slice(i, i + size);
              i += size;
              await Promise.all(
                chunk.map((op) =>
                  op.deleted
                    ? c.write([{ kind: 'deleted', userId: id, version: op.version, deletedAt: 1 }])
                    : c.set(storedProfile(id, op.version)),
                ),
              );
            }
            const final = await c.get(id);
            const newest = ops.find((o) => o.version === max)!;
            if (newest.deleted) expect(final).toEqual({ status: 'deleted', version: max });
            else expect(final).toMatchObject({ status: 'hit', profile: { version: max } });
          },
        ),
        { numRuns: 60 },
      );
    });
  });

  describe('invalidate()', () => {
    it('turns the next read into a miss but keeps the version fence', async () => {
      const c = cache();
      const id = newId();
      await c.set(storedProfile(id, 5));
      expect(await c.invalidate(id)).toBe('written');
      expect(await c.get(id)).toEqual({ status: 'miss' });
      expect(await c.set(storedProfile(id, 4))).toBe('stale');
      expect(await c.set(storedProfile(id, 5))).toBe('written');
    });

    it('leaves a newer entry alone when an older versioned invalidation arrives', async () => {
      const c = cache();
      const id = newId();
      await c.set(storedProfile(id, 5));
      expect(await c.write([{ kind: 'invalidate', userId: id, version: 3 }])).toEqual(['stale']);
      expect(await c.get(id)).toMatchObject({ status: 'hit', profile: { version: 5 } });
    });

    it('reports noop for an absent key', async () => {
      expect(await cache().invalidate(newId())).toBe('noop');
    });
  });

  describe('batchGet()', () => {
    it('reads 100 profiles in one HTTP request, in request order', async () => {
      const c = cache();
      const ids = Array.from({ length: 100 }, () => newId());
      await c.setMany(ids.slice(0, 80).map((id) => storedProfile(id, 1)));
      t.gateway.metrics.reset();
      const found = await c.batchGet(ids);
      expect(t.gateway.metrics.httpRequests).toBe(1);
      expect([...found.keys()]).toEqual(ids);
      expect([...found.values()].filter((l) => l.status === 'hit')).toHaveLength(80);
      expect(found.get(ids[99]!)).toEqual({ status: 'miss' });
    });

    it('records the activity of a whole batch with one script (billed per command, not per member)', async () => {
      const c = cache();
      const ids = Array.from({ length: 100 }, () => newId());
      await c.setMany(ids.map((id) => storedProfile(id, 1)));
      t.gateway.metrics.reset();
      await c.batchGet(ids);
      // 100 HGETALLs, 1 MARK_LIVE (ZADDs inside the script), and at most 1 counter flush riding along.
      expect(t.gateway.metrics.commands).toBeGreaterThanOrEqual(101);
      expect(t.gateway.metrics.commands).toBeLessThanOrEqual(102);
      expect(await t.redis.zcard(`${t.keyPrefix}user:activity`)).toBeGreaterThanOrEqual(100);
    });

    it('reads a duplicated id once', async () => {
      const c = cache({ trackActivity: false });
      const id = newId();
      t.gateway.metrics.reset();
      const found = await c.batchGet([id, id, id]);
      expect(found.size).toBe(1);
      expect(t.gateway.metrics.commands).toBe(1);
    });

    it('refuses more than 1000 ids before any I/O', async () => {
      t.gateway.metrics.reset();
      const ids = Array.from({ length: 1001 }, (_, i) => `id${i}`);
      await expect(cache().batchGet(ids)).rejects.toMatchObject({ code: 'BATCH_TOO_LARGE' });
      expect(t.gateway.metrics.httpRequests).toBe(0);
    });
  });

  describe('getStats()', () => {
    it('counts hits, misses, negatives, sets and stale writes across instances', async () => {
      const prefix = `${t.keyPrefix}stats${newId()}:`;
      const a = new UserCache({ redis: t.redis, keyPrefix: prefix });
      const b = new UserCache({ redis: t.redis, keyPrefix: prefix });
      const id = newId();
      await a.set(storedProfile(id, 2));
      await a.set(storedProfile(id, 1));
      await a.get(id);
      await b.get(id);
      await b.get(newId());
      const stats = await a.getStats();
      // b's counts are still pending in b: a sees only what reached Redis.
      expect(stats).toMatchObject({ sets: 1, staleRejected: 1, hits: 1, misses: 0 });
      const both = await b.getStats();
      expect(both).toMatchObject({ sets: 1, staleRejected: 1, hits: 2, misses: 1, lookups: 3 });
      expect(both.hitRate).toBeCloseTo(2 / 3);
    });

    it('flushes counters on the reads it already sends: no extra request, under 0.1 commands per read', async () => {
      const prefix = `${t.keyPrefix}flush${newId()}:`;
      const c = new UserCache({ redis: t.redis, keyPrefix: prefix, trackActivity: false });
      const ids = Array.from({ length: 10 }, () => newId());
      await c.setMany(ids.map((id) => storedProfile(id, 1)));
      t.gateway.metrics.reset();
      for (let i = 0; i < 500; i++) await c.get(ids[i % ids.length]!);
      expect(t.gateway.metrics.httpRequests).toBe(500);
      const extra = t.gateway.metrics.commands - 500;
      expect(extra).toBeGreaterThan(0);
      expect(extra / 500).toBeLessThan(0.1);
      const flushed = await t.redis.hget(`${prefix}user:cache:stats`, 'hits');
      expect(Number(flushed)).toBeGreaterThanOrEqual(400);
    });

    it.each([
      ['one read per second', 1_000],
      ['one read per 15 s', 15_000],
    ])('costs at most 1.1 Redis commands per read at %s, and the counts still arrive', async (_, gapMs) => {
      let now = 1_750_000_000_000;
      const prefix = `${t.keyPrefix}quiet${newId()}:`;
      const c = new UserCache({ redis: t.redis, keyPrefix: prefix, trackActivity: false, clock: () => now });
      const ids = Array.from({ length: 5 }, () => newId());
      await c.setMany(ids.map((id) => storedProfile(id, 1)));
      t.gateway.metrics.reset();
      const reads = 120;
      for (let i = 0; i < reads; i++) {
        now += gapMs;
        await c.get(i % 7 === 0 ? newId() : ids[i % ids.length]!);
      }
      expect(t.gateway.metrics.httpRequests).toBe(reads);
      expect(t.gateway.metrics.commands / reads).toBeLessThanOrEqual(1.1);
      // Within the documented bound: every read but the last few (still pending) reached Redis.
      const stats = await new UserCache({ redis: t.redis, keyPrefix: prefix }).getStats();
      expect(stats.lookups).toBeGreaterThanOrEqual(reads - 30);
    });
  });

  describe('when Redis fails', () => {
    it('answers unknown for reads and unavailable for writes instead of throwing', async () => {
      const c = cache();
      const id = newId();
      t.gateway.setFaults({ mode: 'http503' });
      expect(await c.get(id)).toMatchObject({ status: 'unknown' });
      expect(await c.set(storedProfile(id, 1))).toBe('unavailable');
    });

    it('never logs profile fields when a write fails (the client echoes the command in its errors)', async () => {
      const lines: string[] = [];
      const log = (message: string, extra?: Record<string, unknown>) => {
        lines.push(`${message} ${JSON.stringify(extra)}`);
      };
      const c = cache({ logger: { debug: log, info: log, warn: log, error: log } });
      const id = newId();
      // A key of the wrong type is reported per key (it used to fail the whole script with WRONGTYPE).
      await t.redis.set(`${t.keyPrefix}user:profile:${id}`, 'not a hash');
      expect(await c.set(storedProfile(id, 1, { fullName: 'Secret Ndzana' }))).toBe('wrongType');
      t.gateway.setFaults({ mode: 'http503' });
      expect(await c.set(storedProfile(newId(), 1, { fullName: 'Secret Ndzana' }))).toBe('unavailable');
      expect(lines.length).toBeGreaterThan(0);
      const logged = lines.join('\n');
      expect(logged).not.toContain('Secret Ndzana');
      expect(logged).not.toContain('avatars.ngomna.cm');
    });

    it('times out a stalled request and reports CACHE_TIMEOUT', async () => {
      const redis = t.client({ timeoutMs: 100, retries: 1 });
      const c = new UserCache({ redis, keyPrefix: t.keyPrefix });
      t.gateway.setFaults({ delayMs: 2_000 });
      expect(await c.get(newId())).toEqual({ status: 'unknown', reason: 'CACHE_TIMEOUT' });
    });

    it('opens the circuit after repeated failures, then lets one trial through after the cool-down', async () => {
      let now = 1_000_000;
      const c = cache({ clock: () => now, circuitBreaker: { failureThreshold: 3, cooldownMs: 5_000 } });
      t.gateway.setFaults({ mode: 'reset' });
      for (let i = 0; i < 3; i++) await c.get(newId());
      expect(c.circuitState).toBe('open');

      t.gateway.setFaults({ mode: 'none' });
      t.gateway.metrics.reset();
      expect(await c.get(newId())).toEqual({ status: 'unknown', reason: 'CACHE_CIRCUIT_OPEN' });
      expect(t.gateway.metrics.httpRequests).toBe(0);

      now += 5_000;
      expect(await c.get(newId())).toEqual({ status: 'miss' });
      expect(c.circuitState).toBe('closed');
    });
  });
});
