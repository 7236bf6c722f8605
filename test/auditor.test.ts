import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler } from '../functions/audit.js';
import { startRedisServer } from '../local/redisServer.js';
import { ConsistencyAuditor } from '../shared/audit/auditor.js';
import { OutboxPurger } from '../shared/db/outboxPurge.js';
import { ProfileRepository } from '../shared/db/profileRepository.js';
import { UserCache } from '../shared/userCache.js';
import { type TestDb, useTestDb } from './support/db.js';
import { fields, newId } from './support/fixtures.js';
import { type TestRedis, useTestRedis } from './support/redis.js';

let db: TestDb;
let t: TestRedis;
let repo: ProfileRepository;
beforeAll(async () => {
  [db, t] = await Promise.all([useTestDb(), useTestRedis()]);
  repo = new ProfileRepository({ sql: db.sql });
});
afterAll(async () => {
  await Promise.all([db.cleanup(), t.cleanup()]);
});

function auditor(cache: UserCache, clock = () => Date.now() + 60_000) {
  // The clock runs a minute ahead so fresh test rows are past the in-flight grace period.
  return new ConsistencyAuditor({ cache, repository: repo, redis: t.redis, clock, sleep: async () => {} });
}

describe('ConsistencyAuditor', () => {
  describe('auditIds()', () => {
    it('reports a cache that matches PostgreSQL as consistent', async () => {
      const cache = new UserCache({ redis: t.redis, keyPrefix: `${t.keyPrefix}ok:` });
      const id = newId();
      const { profile } = await repo.create(id, fields('Abena Marie'));
      await cache.set(profile);
      const report = await auditor(cache).auditIds([id, newId()]);
      expect(report).toMatchObject({ checked: 2, consistent: 1, notCached: 1, inconsistent: 0 });
    });

    it('classifies stale, resurrected, corrupt, ahead and hidden entries, with their age', async () => {
      const cache = new UserCache({ redis: t.redis, keyPrefix: `${t.keyPrefix}bad:` });
      const [stale, resurrected, corrupt, ahead, hidden] = [newId(), newId(), newId(), newId(), newId()];
      for (const id of [stale, resurrected, corrupt, ahead, hidden])
        await repo.create(id, fields('Fotso Paul'));

      // stale: cached v1, then PostgreSQL moves to v2 without the cache hearing of it.
      await cache.set((await repo.getById(stale))!);
      await repo.update(stale, fields('Fotso Paul II'));
      // resurrected: cached v1, deleted in PostgreSQL, the cache never told.
      await cache.set((await repo.getById(resurrected))!);
      await repo.softDelete(resurrected);
      // corrupt: same version, other data (a writer bypassed the fence).
      const c = (await repo.getById(corrupt))!;
      await cache.set({ ...c, fullName: 'Someone Else' });
      // ahead: the cache holds a version PostgreSQL never had.
      await cache.set({ ...(await repo.getById(ahead))!, version: 9 });
      // hidden: a negative entry for a user who exists.
      await cache.write([{ kind: 'negative', userId: hidden }]);

      const report = await auditor(cache).auditIds([stale, resurrected, corrupt, ahead, hidden]);
      expect(report.inconsistent).toBe(5);
      expect(report.byKind).toEqual({
        stale: 1,
        resurrected: 1,
        corrupt: 1,
        ahead: 1,
        hidden: 1,
        orphaned: 0,
        foreign: 0,
      });
      const staleFinding = report.findings.find((f) => f.userId === stale)!;
      expect(staleFinding).toMatchObject({ kind: 'stale', cachedVersion: 1, dbVersion: 2 });
      expect(staleFinding.ageMs).toBeGreaterThanOrEqual(59_000);
    });

    it('counts a difference younger than the grace period as in flight, not inconsistent', async () => {
      const cache = new UserCache({ redis: t.redis, keyPrefix: `${t.keyPrefix}fresh:` });
      const id = newId();
      await cache.set((await repo.create(id, fields('Kamga Luc'))).profile);
      await repo.update(id, fields('Kamga Luc Junior'));
      const report = await auditor(cache, () => Date.now()).auditIds([id]);
      expect(report).toMatchObject({ inFlight: 1, inconsistent: 0 });
    });

    it('reports only suspects that persist after the recheck', async () => {
      const cache = new UserCache({ redis: t.redis, keyPrefix: `${t.keyPrefix}heal:` });
      const id = newId();
      await cache.set((await repo.create(id, fields('Bello Aminatou'))).profile);
      const { profile } = await repo.update(id, fields('Bello Aminatou N.'));
      const healing = new ConsistencyAuditor({
        cache,
        repository: repo,
        clock: () => Date.now() + 60_000,
        // The event lands while the auditor waits to recheck.
        sleep: async () => {
          await cache.set(profile);
        },
      });
      const report = await healing.auditIds([id]);
      expect(report).toMatchObject({ checked: 1, consistent: 1, inconsistent: 0 });
    });
  });

  describe('auditSample()', () => {
    it('finds cached profiles by SCAN and audits them', async () => {
      const cache = new UserCache({ redis: t.redis, keyPrefix: `${t.keyPrefix}sample:` });
      const ids = [newId(), newId(), newId()];
      for (const id of ids) await cache.set((await repo.create(id, fields('Nkoulou Rose'))).profile);
      // A foreign key under the prefix (not a valid id) is skipped, not fatal.
      await t.redis.hset(`${t.keyPrefix}sample:user:profile:legacy.user@x`, { fullName: 'x' });
      const report = await auditor(cache).auditSample(10);
      expect(report).toMatchObject({ checked: 3, consistent: 3, inconsistent: 0 });
    });
  });
});

describe('auditSample() rotation (a saved SCAN cursor)', () => {
  let own: Awaited<ReturnType<typeof startRedisServer>>;
  let r: TestRedis;
  const total = 3_000;
  let cache: UserCache;
  beforeAll(async () => {
    // A private Redis: the shared one holds every other test file's keys, which would blur the rotation.
    own = await startRedisServer();
    r = await useTestRedis({ redisUrl: own.url });
    cache = new UserCache({ redis: r.redis, keyPrefix: r.keyPrefix });
    const ids = Array.from({ length: total }, (_, i) => `rot${i}`);
    for (let i = 0; i < total; i += 1_000) {
      const profiles = ids
        .slice(i, i + 1_000)
        .map((userId) => ({ userId, ...fields('Mbarga Ines'), updatedAt: 1, version: 1 }));
      await cache.setMany(profiles);
    }
  }, 60_000);
  afterAll(async () => {
    await r?.cleanup();
    await own?.stop();
  });

  /** The ids one auditSample run read from the cache. */
  async function sampleRun(rotationKey: string | undefined, now: number) {
    const seen = new Set<string>();
    const auditor = new ConsistencyAuditor({
      cache: {
        keys: cache.keys,
        batchGet: async (ids, o) => {
          for (const id of ids) seen.add(id);
          return cache.batchGet(ids, o);
        },
      },
      // Only which keys are visited matters here: the rows match the cache, so nothing is repaired.
      repository: {
        getMany: async (ids: readonly string[]) =>
          new Map(
            ids.map((userId) => [
              userId,
              { userId, ...fields('Mbarga Ines'), updatedAt: 1, version: 1, deletedAt: null },
            ]),
          ),
      },
      redis: r.redis,
      rotationKey,
      clock: () => now,
      sleep: async () => {},
    });
    const report = await auditor.auditSample(1_000);
    return { seen, report };
  }

  it('without a rotation key, every run audits the same keys (cursor 0 each time)', async () => {
    const [a, b] = [await sampleRun(undefined, 0), await sampleRun(undefined, 0)];
    expect(a.seen.size).toBeGreaterThanOrEqual(1_000);
    expect(b.seen.size).toBeGreaterThanOrEqual(1_000);
    // Both walks start at cursor 0, so one is a prefix of the other. Not always equal: SCAN's COUNT is a
    // hint, and Redis' incremental rehashing can make one walk return an extra batch before it stops.
    const [short, long] =
      a.seen.size <= b.seen.size ? [[...a.seen], [...b.seen]] : [[...b.seen], [...a.seen]];
    expect(long.slice(0, short.length)).toEqual(short);
  });

  it('rotates through the whole keyspace: every cached profile is audited within one pass', async () => {
    const key = r.key('audit', 'rotation');
    const audited = new Set<string>();
    const hour = 3_600_000;
    let runs = 0;
    let last: Awaited<ReturnType<typeof sampleRun>> | undefined;
    do {
      last = await sampleRun(key, ++runs * hour);
      for (const id of last.seen) audited.add(id);
      // A run that did not reach the end of the keyspace audited at least its sample.
      if (!last.report.rotation?.passCompleted) expect(last.seen.size).toBeGreaterThanOrEqual(1_000);
    } while (!last.report.rotation?.passCompleted && runs < 10);

    expect(audited.size).toBe(total);
    // 3,000 keys at 1,000 or more a run: more than one run, at most 4. Not exactly 3: SCAN's COUNT is a
    // hint, and a walk over a table Redis is still rehashing returns keys of both tables per step.
    expect(runs).toBeGreaterThanOrEqual(2);
    expect(runs).toBeLessThanOrEqual(4);
    expect(last.report.rotation).toMatchObject({ passes: 1, passCompleted: { dailyCoverage: 1 } });
    expect(last.report.rotation?.passCompleted?.audited).toBeGreaterThanOrEqual(total);
    // The next run starts the next pass at the top of the keyspace.
    const next = await sampleRun(key, (runs + 1) * hour);
    expect(next.report.rotation).toMatchObject({ passes: 1 });
    expect(next.report.rotation?.passCompleted).toBeUndefined();
  });
});

describe('audit handler (functions/audit.ts)', () => {
  it('emits InconsistentEntries and logs findings by id and version only', async () => {
    const cache = new UserCache({ redis: t.redis, keyPrefix: `${t.keyPrefix}handler:` });
    const id = newId();
    await cache.set((await repo.create(id, fields('Tchakounte Brice'))).profile);
    await repo.update(id, fields('Tchakounte Brice Sr'));
    const metrics: Array<[string, number]> = [];
    const logs: string[] = [];
    const log = (message: string, extra?: Record<string, unknown>) => {
      logs.push(`${message} ${JSON.stringify(extra)}`);
    };
    const handler = createHandler({
      auditor: auditor(cache),
      sampleSize: 100,
      purger: new OutboxPurger({ sql: db.sql }),
      logger: { debug: log, info: log, warn: log, error: log },
      metrics: {
        addMetric: (name, _unit, value) => metrics.push([name, value]),
        publishStoredMetrics: () => {},
      },
    });
    const report = await handler();
    expect(report.inconsistent).toBe(1);
    expect(metrics).toContainEqual(['InconsistentEntries', 1]);
    // The hourly run also purges the outbox (nothing is older than 7 days here).
    expect(metrics).toContainEqual(['OutboxPurged', 0]);
    expect(report.purge).toMatchObject({ deleted: 0, drained: true });
    expect(logs.join('\n')).toContain(id);
    expect(logs.join('\n')).not.toContain('Tchakounte');
  });
});
