import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createHandler as createPrewarmHandler } from '../functions/prewarm.js';
import { seedProfiles } from '../local/seedData.js';
import { type ActiveUserSource, RedisActivitySource, SqlActivitySource } from '../shared/activitySources.js';
import { DatabaseError, LeaseHeldError } from '../shared/errors.js';
import { Lease } from '../shared/lease.js';
import { silentLogger } from '../shared/ports.js';
import { Prewarmer, type PrewarmerOptions, type PrewarmProgress } from '../shared/prewarmer.js';
import type { ProfileFields } from '../shared/profile.js';
import { ProfileRepository } from '../shared/profileRepository.js';
import { UserCache } from '../shared/userCache.js';
import { type TestDb, useTestDb } from './support/db.js';
import { fakeTime } from './support/fakeTime.js';
import { type TestRedis, useTestRedis } from './support/redis.js';

const DAY_MS = 86_400_000;
const NOW = Date.now();
const prefix = `p${randomBytes(3).toString('hex')}_`;
let counter = 0;
const newId = () => `${prefix}${++counter}`;

let t: TestRedis;
let db: TestDb;
let repository: ProfileRepository;
let cache: UserCache;

const fields = (fullName = 'Kamga Aurélien'): ProfileFields => ({
  fullName,
  avatar: '',
  matricule: '654321-K',
  ministere: 'MINFI',
});

/** Our own port fed from a list (the source under test elsewhere is Redis or SQL). */
function listSource(ids: string[], pageSize = 2): ActiveUserSource {
  return {
    async *activeUserIds() {
      for (let i = 0; i < ids.length; i += pageSize) yield ids.slice(i, i + pageSize);
    },
  };
}

function prewarmer(opts: Partial<PrewarmerOptions> & Pick<PrewarmerOptions, 'source'>) {
  const time = fakeTime(NOW);
  const p = new Prewarmer({ cache, repository, clock: time.clock, sleep: time.sleep, ...opts });
  return Object.assign(p, { time });
}

beforeAll(async () => {
  [t, db] = await Promise.all([useTestRedis(), useTestDb()]);
  repository = new ProfileRepository({ sql: db.sql });
  cache = new UserCache({ redis: t.redis, keyPrefix: t.keyPrefix, trackActivity: false });
});
afterAll(async () => {
  await Promise.all([t?.cleanup(), db?.cleanup()]);
});
beforeEach(() => {
  t.gateway.setFaults({});
});

describe('Prewarmer', () => {
  describe('run()', () => {
    it('warms 1,200 active users in 3 batches (one query, one cache write each), pausing between batches only', async () => {
      // The only rows with last_active_at in this database: the other tests create inactive users.
      await seedProfiles(db.sql, 1_200, { activeShare: 1, nowMs: NOW, idPrefix: `${prefix}s` });
      const getMany: number[] = [];
      const writes: number[] = [];
      const progress: PrewarmProgress[] = [];
      const p = prewarmer({
        source: new SqlActivitySource({ sql: db.sql }),
        repository: {
          getMany: (ids) => {
            getMany.push(ids.length);
            return repository.getMany(ids);
          },
        },
        cache: {
          write: (entries) => {
            writes.push(entries.length);
            return cache.write(entries);
          },
        },
        onProgress: (p) => progress.push(p),
      });

      const report = await p.run();

      expect(report).toMatchObject({
        candidates: 1_200,
        cached: 1_200,
        skippedFresh: 0,
        notFound: 0,
        errors: 0,
        failedBatches: 0,
        batches: 3,
        complete: true,
      });
      expect(getMany).toEqual([500, 500, 200]);
      expect(writes).toEqual([500, 500, 200]);
      expect(p.time.sleeps).toEqual([1_500, 1_500]);
      expect(progress.map((x) => [x.batches, x.cached, x.total])).toEqual([
        [1, 500, 1_200],
        [2, 1_000, 1_200],
        [3, 1_200, 1_200],
      ]);
      const sample = `${prefix}s000777`;
      expect(await cache.get(sample)).toEqual({
        status: 'hit',
        profile: await repository.getById(sample).then(strip),
      });
    });

    it('never overwrites a newer profile or resurrects a deleted one written while its batch was in flight', async () => {
      const [updated, deleted] = [newId(), newId()];
      await repository.create(updated, fields());
      await repository.create(deleted, fields());
      const racing = {
        async getMany(ids: readonly string[]) {
          const snapshot = await repository.getMany(ids);
          // The API commits an update and a delete (and writes them through) after the batch was read.
          const { profile } = await repository.update(updated, fields('Kamga Aurélien Junior'));
          await cache.set(profile);
          const { version } = await repository.softDelete(deleted);
          await cache.write([{ kind: 'deleted', userId: deleted, version, deletedAt: Date.now() }]);
          return snapshot;
        },
      };

      const report = await prewarmer({ source: listSource([updated, deleted]), repository: racing }).run();

      expect(report).toMatchObject({ cached: 0, skippedFresh: 2, errors: 0 });
      expect(await cache.get(updated)).toEqual({
        status: 'hit',
        profile: strip(await repository.getById(updated)),
      });
      expect((await cache.get(deleted)).status).toBe('deleted');
    });

    it('writes tombstones for deleted rows and counts ids PostgreSQL does not have', async () => {
      const [live, gone, unknown] = [newId(), newId(), newId()];
      await repository.create(live, fields());
      await repository.create(gone, fields());
      const { version } = await repository.softDelete(gone);

      const report = await prewarmer({ source: listSource([live, gone, unknown]) }).run();

      expect(report).toMatchObject({ candidates: 3, cached: 2, notFound: 1, errors: 0, batches: 1 });
      expect((await cache.get(live)).status).toBe('hit');
      expect(await cache.get(gone)).toEqual({ status: 'deleted', version });
      expect(await cache.get(unknown)).toEqual({ status: 'miss' });
    });

    it('retries a batch once after a transient Redis failure (0 errors)', async () => {
      const ids = [newId(), newId()];
      for (const id of ids) await repository.create(id, fields());
      const time = fakeTime(NOW);
      t.gateway.setFaults({ mode: 'http503' });

      const report = await new Prewarmer({
        cache,
        repository,
        source: listSource(ids),
        clock: time.clock,
        // The outage ends during the pause before the retry.
        sleep: async (ms) => {
          t.gateway.setFaults({});
          await time.sleep(ms);
        },
      }).run();

      expect(report).toMatchObject({ cached: 2, errors: 0, failedBatches: 0, batches: 1 });
      expect(time.sleeps).toEqual([1_500]);
    });

    it('reports a batch that fails twice and carries on with the next ones', async () => {
      const ids = [newId(), newId(), newId(), newId(), newId(), newId()];
      for (const id of ids) await repository.create(id, fields());
      const calls: string[][] = [];
      const flaky = {
        getMany(batch: readonly string[]) {
          calls.push([...batch]);
          if (batch.includes(ids[2] as string))
            return Promise.reject(new DatabaseError('connection reset (injected)'));
          return repository.getMany(batch);
        },
      };

      const report = await prewarmer({ source: listSource(ids), repository: flaky, batchSize: 2 }).run();

      expect(report).toMatchObject({ batches: 3, failedBatches: 1, errors: 2, cached: 4, complete: true });
      expect(calls.filter((c) => c.includes(ids[2] as string))).toHaveLength(2);
      expect((await cache.get(ids[5] as string)).status).toBe('hit');
    });

    it('stops starting batches when the budget is spent and says the run is incomplete', async () => {
      const ids = [newId(), newId(), newId()];
      const report = await prewarmer({ source: listSource(ids), batchSize: 1, budgetMs: 2_000 }).run();
      expect(report).toMatchObject({ batches: 2, complete: false });
    });

    it('lets only one of two prewarms started together run (lease)', async () => {
      const key = t.key('prewarm', 'lease');
      const start = () =>
        prewarmer({
          source: listSource([newId()]),
          lease: new Lease({ redis: t.redis, key, ttlMs: 10_000 }),
        }).run();

      const results = await Promise.allSettled([start(), start()]);

      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const rejected = results.find((r) => r.status === 'rejected');
      expect(rejected?.status === 'rejected' && rejected.reason).toBeInstanceOf(LeaseHeldError);
      expect(await t.redis.exec(['EXISTS', key])).toBe(0);
    });
  });
});

describe('RedisActivitySource', () => {
  const since = NOW - 7 * DAY_MS;
  async function collect(source: ActiveUserSource): Promise<string[][]> {
    const pages: string[][] = [];
    for await (const page of source.activeUserIds(since)) pages.push(page);
    return pages;
  }

  it('yields users read within the window, in pages, and removes older entries from the set', async () => {
    const key = t.key('activity', 'a');
    for (let i = 0; i < 5; i++) await t.redis.zadd(key, { score: since - 1_000 - i, member: `old${i}` });
    for (let i = 0; i < 7; i++) await t.redis.zadd(key, { score: since + 1_000 + i, member: `new${i}` });
    const source = new RedisActivitySource({ redis: t.redis, key, pageSize: 3 });

    expect(await source.countActive(since)).toBe(7);
    const pages = await collect(source);

    expect(pages.map((p) => p.length)).toEqual([3, 3, 1]);
    expect(pages.flat()).toEqual(['new0', 'new1', 'new2', 'new3', 'new4', 'new5', 'new6']);
    expect(await t.redis.exec(['ZCARD', key])).toBe(7);
  });

  it('visits every member once when many share a score across page boundaries', async () => {
    const key = t.key('activity', 'ties');
    const members = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
    for (const [i, m] of members.entries())
      await t.redis.zadd(key, { score: since + (i < 7 ? 5 : 9), member: m });
    const pages = await collect(new RedisActivitySource({ redis: t.redis, key, pageSize: 3 }));
    expect(pages.flat()).toEqual(members);
  });

  it('reads the activity that UserCache reads record', async () => {
    const tracking = new UserCache({ redis: t.redis, keyPrefix: `${t.keyPrefix}track:` });
    const [a, b] = [newId(), newId()];
    await tracking.batchGet([a, b]);
    const pages = await collect(new RedisActivitySource({ redis: t.redis, key: tracking.keys.activity }));
    expect(pages.flat().sort()).toEqual([a, b].sort());
  });
});

describe('SqlActivitySource', () => {
  it('pages a custom query with keyset pagination ($1 since, $2 last id, $3 page size)', async () => {
    const ids = [newId(), newId(), newId(), newId(), newId()];
    for (const id of ids) await repository.create(id, fields());
    const source = new SqlActivitySource({
      sql: db.sql,
      pageSize: 2,
      // Every user of this test, active or not: e.g. a "staff directory" source.
      query: `SELECT id FROM personnel WHERE id = ANY($4::text[]) AND $1::timestamptz IS NOT NULL
                AND ($2::text IS NULL OR id > $2::text) ORDER BY id LIMIT $3`.replace(
        '$4::text[]',
        `ARRAY[${ids.map((id) => `'${id}'`).join(',')}]`,
      ),
    });

    const pages: string[][] = [];
    for await (const page of source.activeUserIds(NOW - DAY_MS)) pages.push(page);

    expect(pages.map((p) => p.length)).toEqual([2, 2, 1]);
    expect(pages.flat()).toEqual([...ids].sort());
    expect(source.countActive).toBeUndefined();
  });
});

function strip(row: Awaited<ReturnType<ProfileRepository['getById']>>) {
  if (!row) throw new Error('row expected');
  const { deletedAt: _deletedAt, ...profile } = row;
  return profile;
}

describe('prewarm handler', () => {
  function handlerFor(leaseKey: string, ids: string[]) {
    const metrics: Array<[string, number]> = [];
    const budgets: number[] = [];
    const handler = createPrewarmHandler({
      prewarmer: (budgetMs) => {
        budgets.push(budgetMs);
        return prewarmer({
          source: listSource(ids),
          lease: new Lease({ redis: t.redis, key: leaseKey, ttlMs: 10_000 }),
        });
      },
      cache,
      logger: silentLogger,
      metrics: { addMetric: (name, _unit, value) => metrics.push([name, value]), publishStoredMetrics() {} },
    });
    return { handler, metrics, budgets };
  }

  it('warms within the invocation time left and records the report as metrics', async () => {
    const id = newId();
    await repository.create(id, fields());
    const h = handlerFor(t.key('prewarm', 'h1'), [id]);

    const result = await h.handler({}, { getRemainingTimeInMillis: () => 600_000 });

    expect(h.budgets).toEqual([570_000]);
    expect(result).toMatchObject({ status: 'done', report: { cached: 1, complete: true } });
    expect(h.metrics).toEqual(
      expect.arrayContaining([
        ['PrewarmCached', 1],
        ['PrewarmFailedBatches', 0],
      ]),
    );
  });

  it('skips the run when another prewarm holds the lease', async () => {
    const key = t.key('prewarm', 'h2');
    await new Lease({ redis: t.redis, key, ttlMs: 10_000 }).acquire();
    const h = handlerFor(key, [newId()]);
    expect(await h.handler({})).toEqual({ status: 'skipped', reason: 'lease-held' });
    expect(h.metrics).toContainEqual(['PrewarmSkipped', 1]);
  });
});
