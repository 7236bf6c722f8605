import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../functions/commons/config.js';
import { createHandler as createPrewarmHandler, prewarmDeps } from '../functions/prewarm.js';
import { seedProfiles } from '../local/seedData.js';
import { pruneActivity } from '../shared/cache/activity.js';
import { ProfileRepository } from '../shared/db/profileRepository.js';
import { ConfigError, DatabaseError, LeaseHeldError } from '../shared/errors.js';
import { silentLogger } from '../shared/ports.js';
import {
  type ActiveUserSource,
  DEFAULT_ACTIVE_USERS_QUERY,
  IdListSource,
  RedisActivitySource,
  SqlActivitySource,
} from '../shared/prewarm/activitySources.js';
import { RedisPrewarmCheckpoint } from '../shared/prewarm/checkpoint.js';
import {
  Prewarmer,
  type PrewarmerOptions,
  type PrewarmProgress,
  type PrewarmReport,
} from '../shared/prewarm/prewarmer.js';
import { ProfileService } from '../shared/profile/service.js';
import { Lease } from '../shared/redis/lease.js';
import { UserCache } from '../shared/userCache.js';
import { type TestDb, useTestDb } from './support/db.js';
import { fakeTime } from './support/fakeTime.js';
import { fields, newId } from './support/fixtures.js';
import { type TestRedis, useTestRedis } from './support/redis.js';

const DAY_MS = 86_400_000;
const NOW = Date.now();
const prefix = `p${randomBytes(3).toString('hex')}_`;

let t: TestRedis;
let db: TestDb;
let repository: ProfileRepository;
let cache: UserCache;

/** An IdListSource that records the cursor of every page asked for. */
function listSource(ids: string[]): ActiveUserSource & { pages: Array<string | undefined> } {
  const inner = new IdListSource(ids);
  const pages: Array<string | undefined> = [];
  return {
    pages,
    page(since, cursor, limit) {
      pages.push(cursor);
      return inner.page(since, cursor, limit);
    },
    countActive: (since) => inner.countActive(since),
  };
}

/** Every id of a walk, page by page. */
async function walk(source: ActiveUserSource, since: number, limit: number): Promise<string[][]> {
  const pages: string[][] = [];
  let cursor: string | undefined;
  do {
    const page = await source.page(since, cursor, limit);
    pages.push(page.ids);
    cursor = page.next;
  } while (cursor !== undefined);
  return pages;
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
      const [updated, deleted] = [newId(prefix), newId(prefix)];
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
      const [live, gone, unknown] = [newId(prefix), newId(prefix), newId(prefix)];
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
      const ids = [newId(prefix), newId(prefix)];
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
      const ids = [newId(prefix), newId(prefix), newId(prefix), newId(prefix), newId(prefix), newId(prefix)];
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
      const ids = [newId(prefix), newId(prefix), newId(prefix)];
      const report = await prewarmer({ source: listSource(ids), batchSize: 1, budgetMs: 2_000 }).run();
      expect(report).toMatchObject({ batches: 2, complete: false });
    });

    it('lets only one of two prewarms started together run (lease)', async () => {
      const key = t.key('prewarm', 'lease');
      const start = () =>
        prewarmer({
          source: listSource([newId(prefix)]),
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

describe('Prewarmer with a checkpoint (a cycle across invocations)', () => {
  /** A prewarm invocation as the Lambda builds it: a fresh lease token, a checkpoint fenced by it. */
  function invocation(name: string, ids: string[], opts: Partial<PrewarmerOptions> & { at?: number } = {}) {
    const lease = new Lease({ redis: t.redis, key: t.key(name, 'lease'), ttlMs: 10_000 });
    const checkpoint = new RedisPrewarmCheckpoint({ redis: t.redis, key: t.key(name, 'checkpoint'), lease });
    const time = fakeTime(opts.at ?? NOW);
    const source = listSource(ids);
    const p = new Prewarmer({
      cache,
      repository,
      source,
      batchSize: 1,
      lease,
      checkpoint,
      clock: time.clock,
      sleep: time.sleep,
      ...opts,
    });
    return Object.assign(p, { time, lease, checkpoint, source });
  }
  async function users(n: number): Promise<string[]> {
    const ids = Array.from({ length: n }, () => newId(prefix));
    for (const id of ids) await repository.create(id, fields());
    return ids;
  }

  it('resumes where the last budgeted invocation stopped until the cycle is complete, then does nothing', async () => {
    const ids = await users(5);
    // 2 batches per invocation: batch, 1.5 s pause, batch, pause, budget spent.
    const run = () => invocation('resume', ids, { budgetMs: 2_000 }).run();

    const first = await run();
    const second = await run();
    const third = await run();
    const fourth = await run();

    expect([first, second, third, fourth].map((r) => [r.cached, r.complete, r.remaining])).toEqual([
      [2, false, 3],
      [2, false, 1],
      [1, true, 0],
      [0, true, 0],
    ]);
    expect(third.cycle).toMatchObject({ warmed: 5, errors: 0, invocations: 3, coverage: 1, active: 5 });
    expect(third.closed).toEqual([{ cycle: third.cycle.id, uncovered: 0, coverage: 1 }]);
    expect(fourth.closed).toEqual([]);
    for (const id of ids) expect((await cache.get(id)).status).toBe('hit');
  });

  it('resumes when the clock reads fractional milliseconds (performance.now-based clocks)', async () => {
    const ids = await users(3);
    const run = () => {
      const p = invocation('fraction', ids, { budgetMs: 1_000 });
      return new Prewarmer({
        cache,
        repository,
        source: p.source,
        batchSize: 1,
        budgetMs: 1_000,
        lease: p.lease,
        checkpoint: p.checkpoint,
        clock: () => p.time.clock() + 0.25,
        sleep: p.time.sleep,
      }).run();
    };
    const reports = [await run(), await run(), await run()];
    expect(reports.map((r) => [r.cached, r.remaining, r.cycle.invocations])).toEqual([
      [1, 2, 1],
      [1, 1, 2],
      [1, 0, 3],
    ]);
  });

  it('starts a new cycle from the top on a new day, reporting the unfinished one as uncovered', async () => {
    const ids = await users(3);
    const today = await invocation('days', ids, { budgetMs: 1_000 }).run();
    expect(today).toMatchObject({ cached: 1, complete: false, remaining: 2 });

    const p = invocation('days', ids, { at: NOW + DAY_MS });
    const tomorrow = await p.run();

    expect(p.source.pages[0]).toBeUndefined();
    expect(tomorrow).toMatchObject({ cached: 3, complete: true, remaining: 0 });
    expect(tomorrow.cycle.id).not.toBe(today.cycle.id);
    expect(tomorrow.closed).toEqual([
      { cycle: today.cycle.id, uncovered: 2, coverage: 1 / 3 },
      { cycle: tomorrow.cycle.id, uncovered: 0, coverage: 1 },
    ]);
  });

  it('closes a cycle still incomplete at its deadline once, with what it did not cover', async () => {
    const ids = await users(4);
    const opts = { budgetMs: 1_000, cycleDeadlineMs: 3_600_000 };
    const early = await invocation('deadline', ids, opts).run();
    const late = await invocation('deadline', ids, { ...opts, at: NOW + 3_600_000 }).run();
    const later = await invocation('deadline', ids, { ...opts, at: NOW + 3_700_000 }).run();

    expect(early.closed).toEqual([]);
    expect(late.closed).toEqual([{ cycle: late.cycle.id, uncovered: 2, coverage: 0.5 }]);
    expect(later).toMatchObject({ cached: 1, remaining: 1 });
    expect(later.closed).toEqual([]);
  });

  it('runs the cycle-start hook (the activity prune) once per cycle', async () => {
    const ids = await users(2);
    const calls: number[] = [];
    const onCycleStart = async (since: number) => {
      calls.push(since);
    };
    await invocation('hook', ids, { budgetMs: 1_000, onCycleStart }).run();
    await invocation('hook', ids, { budgetMs: 1_000, onCycleStart }).run();
    expect(calls).toEqual([NOW - 7 * DAY_MS]);
  });

  it('two racing runs: the second is refused the lease; a run that lost its lease cannot move the checkpoint', async () => {
    const ids = await users(6);
    // A and B start together: only one gets the lease, the other does nothing.
    const together = await Promise.allSettled([
      invocation('race', ids, { budgetMs: 1_000 }).run(),
      invocation('race', ids, { budgetMs: 1_000 }).run(),
    ]);
    expect(together.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);

    // A stalls past its lease TTL during a pause; B takes the lease over and finishes the cycle.
    let b: PrewarmReport | undefined;
    const a = invocation('race', ids, {
      sleep: async () => {
        if (b) return;
        await t.redis.exec(['DEL', t.key('race', 'lease')]);
        b = await invocation('race', ids).run();
      },
    });
    const aReport = await a.run();

    expect(b).toMatchObject({ complete: true, remaining: 0 });
    // A's batch after the takeover is written (fenced writes: harmless), then its save is refused.
    expect(aReport).toMatchObject({ stoppedBy: 'lease-lost', batches: 2, complete: false });
    // B's save stands: A's refused save neither rewound the cursor nor reopened the cycle.
    const state = await a.checkpoint.load();
    expect(state).toMatchObject({ complete: true, cursor: undefined, walked: 6 });
    expect(await invocation('race', ids).run()).toMatchObject({ cached: 0, complete: true });
  });
});

describe('IdListSource', () => {
  it('yields the list in its order, page by page, counts it, and resumes from a saved cursor', async () => {
    const ids = Array.from({ length: 7 }, (_, i) => `l${i}`);
    const source = new IdListSource(ids);
    expect(await source.countActive(0)).toBe(7);
    expect(await walk(source, 0, 3)).toEqual([['l0', 'l1', 'l2'], ['l3', 'l4', 'l5'], ['l6']]);
    const first = await source.page(0, undefined, 4);
    expect(first).toEqual({ ids: ['l0', 'l1', 'l2', 'l3'], next: expect.any(String) });
    expect(await source.page(0, first.next, 4)).toEqual({ ids: ['l4', 'l5', 'l6'], next: undefined });
    expect(await walk(new IdListSource([]), 0, 3)).toEqual([[]]);
  });

  it('refuses a cursor it did not make', async () => {
    const source = new IdListSource(['a', 'b']);
    for (const cursor of ['x', '-1', '1.5', '3', '']) {
      await expect(source.page(0, cursor, 10)).rejects.toBeInstanceOf(ConfigError);
    }
  });

  it('warms exactly its ids through a Prewarmer, batch by batch', async () => {
    const ids = [newId(prefix), newId(prefix), newId(prefix)];
    for (const id of ids) await repository.create(id, fields());
    const report = await prewarmer({ source: new IdListSource(ids), batchSize: 2 }).run();
    expect(report).toMatchObject({ candidates: 3, cached: 3, batches: 2, errors: 0, complete: true });
    for (const id of ids) expect(await cache.get(id)).toMatchObject({ status: 'hit' });
  });
});

describe('RedisActivitySource', () => {
  const since = NOW - 7 * DAY_MS;
  const collect = (source: ActiveUserSource, limit = 3) => walk(source, since, limit);

  it('yields the users read within the window, most recent first, in pages', async () => {
    const key = t.key('activity', 'a');
    for (let i = 0; i < 5; i++) await t.redis.zadd(key, { score: since - 1_000 - i, member: `old${i}` });
    for (let i = 0; i < 7; i++) await t.redis.zadd(key, { score: since + 1_000 + i, member: `new${i}` });
    const source = new RedisActivitySource({ redis: t.redis, key });

    expect(await source.countActive(since)).toBe(7);
    const pages = await collect(source);

    expect(pages.map((p) => p.length)).toEqual([3, 3, 1]);
    expect(pages.flat()).toEqual(['new6', 'new5', 'new4', 'new3', 'new2', 'new1', 'new0']);
  });

  it('pruneActivity removes the members read before the window, and only those', async () => {
    const key = t.key('activity', 'prune');
    for (let i = 0; i < 5; i++) await t.redis.zadd(key, { score: since - 1_000 - i, member: `old${i}` });
    await t.redis.zadd(key, { score: since, member: 'edge' }, { score: since + 1, member: 'new' });
    expect(await pruneActivity(t.redis, key, since)).toBe(5);
    expect(await t.redis.exec(['ZRANGE', key, '0', '-1'])).toEqual(['edge', 'new']);
  });

  it('visits every member once when many share a score across page boundaries', async () => {
    const key = t.key('activity', 'ties');
    const members = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
    for (const [i, m] of members.entries())
      await t.redis.zadd(key, { score: since + (i < 7 ? 5 : 9), member: m });
    const pages = await collect(new RedisActivitySource({ redis: t.redis, key }));
    // Ties come in member order, descending (ZRANGE … REV).
    expect(pages.flat()).toEqual(['h', 'g', 'f', 'e', 'd', 'c', 'b', 'a']);
  });

  it('skips no one when visited users are read again (re-scored above the cursor) mid-walk', async () => {
    const key = t.key('activity', 'moves');
    const members = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
    for (const m of members) await t.redis.zadd(key, { score: since + 5, member: m });
    const source = new RedisActivitySource({ redis: t.redis, key });
    const first = await source.page(since, undefined, 3);
    expect(first.ids).toEqual(['g', 'f', 'e']);
    // Two visited users read again: their new score is above the cursor, and the tie group shrinks.
    await t.redis.zadd(key, { score: since + 50, member: 'g' }, { score: since + 51, member: 'e' });
    const rest = await walk({ page: (s, c, l) => source.page(s, c ?? first.next, l) }, since, 3);
    expect(rest.flat()).toEqual(['d', 'c', 'b', 'a']);
  });

  it('records only profiles that exist: hits, and misses once their read-fill confirmed them', async () => {
    const tracking = new UserCache({ redis: t.redis, keyPrefix: `${t.keyPrefix}track:` });
    const reader = new ProfileService({
      cache: tracking,
      repository,
      publisher: { publish: async () => [] },
    });
    const [cached, filled, deleted, unknown] = [newId(prefix), newId(prefix), newId(prefix), newId(prefix)];
    await tracking.set((await repository.create(cached, fields())).profile);
    await repository.create(filled, fields());
    await repository.create(deleted, fields());
    await repository.softDelete(deleted);

    await reader.getProfiles([cached, filled, deleted, unknown]);
    await reader.getProfile(unknown).catch(() => undefined);

    const pages = await collect(new RedisActivitySource({ redis: t.redis, key: tracking.keys.activity }));
    expect(pages.flat().sort()).toEqual([cached, filled].sort());
  });
});

describe('SqlActivitySource', () => {
  it('walks the most recently active first, keyset on (last_active_at, id) to the microsecond', async () => {
    const scratch = `${prefix}k`;
    // Three rows share one microsecond-precise time: a millisecond cursor would skip or repeat them.
    const times = [
      '2026-11-30 10:00:00.000007+00',
      '2026-11-30 10:00:00.000007+00',
      '2026-11-30 10:00:00.000007+00',
      '2026-11-30 11:00:00.5+00',
      '2026-11-30 09:00:00+00',
    ];
    const ids = times.map((_, i) => `${scratch}${i}`);
    for (const [i, id] of ids.entries()) {
      await repository.create(id, fields());
      await db.sql.query('UPDATE personnel SET last_active_at = $2::timestamptz WHERE id = $1', [
        id,
        times[i],
      ]);
    }
    const source = new SqlActivitySource({
      sql: db.sql,
      // The default query narrowed to this test's rows.
      query: DEFAULT_ACTIVE_USERS_QUERY.replace('WHERE ', `WHERE id LIKE '${scratch}%' AND `),
    });

    const pages = await walk(source, Date.parse('2026-11-29T00:00:00Z'), 2);

    expect(pages.map((p) => p.length)).toEqual([2, 2, 1]);
    expect(pages.flat()).toEqual([ids[3], ids[2], ids[1], ids[0], ids[4]]);
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
    const id = newId(prefix);
    await repository.create(id, fields());
    const h = handlerFor(t.key('prewarm', 'h1'), [id]);

    const result = await h.handler({}, { getRemainingTimeInMillis: () => 600_000 });

    expect(h.budgets).toEqual([570_000]);
    expect(result).toMatchObject({ status: 'done', report: { cached: 1, complete: true } });
    expect(h.metrics).toEqual(
      expect.arrayContaining([
        ['PrewarmCached', 1],
        ['PrewarmFailedBatches', 0],
        ['PrewarmCoverage', 100],
        ['PrewarmRemaining', 0],
        ['PrewarmUncovered', 0],
      ]),
    );
  });

  it('wires the SQL source with the checkpoint and prunes the activity set anyway (prewarmDeps)', async () => {
    const keyPrefix = `${t.keyPrefix}deps:`;
    const config = loadConfig({
      UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:1',
      UPSTASH_REDIS_REST_TOKEN: 'x',
      PREWARM_SOURCE: 'sql',
      PREWARM_PAUSE_MS: '0',
      CACHE_KEY_PREFIX: keyPrefix,
    });
    const depsCache = new UserCache({ redis: t.redis, keyPrefix, trackActivity: false });
    await t.redis.zadd(
      depsCache.keys.activity,
      { score: 1, member: 'long-gone' },
      { score: Date.now(), member: 'recent' },
    );
    const metrics: Array<[string, number]> = [];
    const deps = prewarmDeps({
      config,
      redis: t.redis,
      cache: depsCache,
      repository,
      sql: db.sql,
      logger: silentLogger,
      metrics: { addMetric: (name, _unit, value) => metrics.push([name, value]), publishStoredMetrics() {} },
    });

    const result = await createPrewarmHandler(deps)({}, { getRemainingTimeInMillis: () => 600_000 });

    expect(result).toMatchObject({ status: 'done', report: { complete: true, remaining: 0 } });
    expect(await t.redis.exec(['ZRANGE', depsCache.keys.activity, '0', '-1'])).toEqual(['recent']);
    expect(await t.redis.exec(['HGET', `${keyPrefix}user:prewarm:checkpoint`, 'complete'])).toBe('1');
    expect(metrics).toContainEqual(['PrewarmUncovered', 0]);
  });

  it("reports PrewarmCompleted from every run that finds the day's cycle walked, gaps or not (the heartbeat)", async () => {
    const ids = Array.from({ length: 4 }, () => newId(prefix));
    for (const id of ids) await repository.create(id, fields());
    const flaky = {
      getMany(batch: readonly string[]) {
        if (batch.includes(ids[3] as string))
          return Promise.reject(new DatabaseError('connection reset (injected)'));
        return repository.getMany(batch);
      },
    };
    const lease = () => new Lease({ redis: t.redis, key: t.key('heartbeat', 'lease'), ttlMs: 10_000 });
    const runs: Array<Array<[string, number]>> = [];
    // Invocations as Lambda runs them every 15 minutes: 2 batches each, resuming one checkpoint.
    const invoke = async () => {
      const metrics: Array<[string, number]> = [];
      const l = lease();
      await createPrewarmHandler({
        prewarmer: () =>
          prewarmer({
            source: listSource(ids),
            repository: flaky,
            batchSize: 1,
            budgetMs: 2_000,
            lease: l,
            checkpoint: new RedisPrewarmCheckpoint({
              redis: t.redis,
              key: t.key('heartbeat', 'cp'),
              lease: l,
            }),
          }),
        cache,
        logger: silentLogger,
        metrics: {
          addMetric: (name, _unit, value) => metrics.push([name, value]),
          publishStoredMetrics() {},
        },
      })({});
      runs.push(metrics);
    };

    for (let i = 0; i < 3; i++) await invoke();

    const completed = runs.map((m) => m.find(([name]) => name === 'PrewarmCompleted')?.[1]);
    // Under way, then completed (its last batch failed: PrewarmUncovered says so), then a no-op run.
    expect(completed).toEqual([0, 1, 1]);
    expect(runs[1]).toContainEqual(['PrewarmFailedBatches', 1]);
    expect(runs[1]).toContainEqual(['PrewarmUncovered', 1]);
  });

  it('skips the run when another prewarm holds the lease', async () => {
    const key = t.key('prewarm', 'h2');
    await new Lease({ redis: t.redis, key, ttlMs: 10_000 }).acquire();
    const h = handlerFor(key, [newId(prefix)]);
    expect(await h.handler({})).toEqual({ status: 'skipped', reason: 'lease-held' });
    expect(h.metrics).toContainEqual(['PrewarmSkipped', 1]);
  });
});
