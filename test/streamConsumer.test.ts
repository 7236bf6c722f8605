import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createHandler as createPollerHandler } from '../functions/streamPoller.js';
import type { CacheWrite } from '../shared/cache/writes.js';
import { ProfileRepository } from '../shared/db/profileRepository.js';
import { DatabaseError, LeaseHeldError } from '../shared/errors.js';
import { silentLogger } from '../shared/ports.js';
import { Lease } from '../shared/redis/lease.js';
import {
  StreamConsumer,
  type StreamConsumerOptions,
  type StreamConsumerRedis,
} from '../shared/stream/consumer.js';
import { EventPublisher } from '../shared/stream/eventPublisher.js';
import { toStreamFields, type UserEventType } from '../shared/stream/events.js';
import { trimAcknowledged } from '../shared/stream/trim.js';
import { UserCache } from '../shared/userCache.js';
import { type TestDb, useTestDb } from './support/db.js';
import { fakeTime } from './support/fakeTime.js';
import { fields, newId, storedProfile } from './support/fixtures.js';
import { type TestRedis, useTestRedis } from './support/redis.js';

let t: TestRedis;
let cache: UserCache;
let n = 0;
const newStream = () => t.key('events', String(n++));

function consumer(stream: string, opts: Partial<StreamConsumerOptions> = {}) {
  const time = fakeTime();
  const c = new StreamConsumer({
    redis: t.redis,
    cache,
    stream,
    clock: time.clock,
    sleep: time.sleep,
    ...opts,
  });
  return Object.assign(c, { time });
}

async function xadd(stream: string, fields: Record<string, string>): Promise<string> {
  return t.redis.exec<string>(['XADD', stream, '*', ...Object.entries(fields).flat()]);
}

function event(type: UserEventType, userId: string, version: number, occurredAt = Date.now()) {
  const p = type === 'user.profile.deleted' ? null : storedProfile(userId, version);
  return toStreamFields({ type, userId, version, occurredAt, profile: p });
}

const writeUserId = (w: CacheWrite) => (w.kind === 'profile' ? w.profile.userId : w.userId);

async function groupPending(stream: string, group = 'user-cache'): Promise<number> {
  const summary = await t.redis.exec<unknown[]>(['XPENDING', stream, group]);
  return Number(summary[0]);
}

/** The real client, with chosen commands failing as if the network (or the process) died. */
function failing(match: (args: string[]) => boolean): StreamConsumerRedis {
  const real = t.redis;
  return {
    exec: ((args: [string, ...string[]]) =>
      match(args)
        ? Promise.reject(new Error('socket hang up (injected)'))
        : real.exec(args)) as typeof real.exec,
    multi: real.multi,
    evalsha: real.evalsha,
    eval: real.eval,
  };
}

beforeAll(async () => {
  t = await useTestRedis();
  cache = new UserCache({ redis: t.redis, keyPrefix: t.keyPrefix, trackActivity: false });
});
afterAll(async () => {
  await t.cleanup();
});

describe('StreamConsumer', () => {
  describe('ensureGroup()', () => {
    it('creates the group at 0, so events published before the first run are applied', async () => {
      const stream = newStream();
      const id = newId();
      await xadd(stream, event('user.profile.created', id, 1));
      const c = consumer(stream);
      await c.ensureGroup();
      await c.ensureGroup(); // BUSYGROUP is ignored

      const report = await c.runFor(1_000);

      expect(report.applied).toBe(1);
      expect(await cache.get(id)).toEqual({ status: 'hit', profile: storedProfile(id, 1) });
    });

    it('recreates a group deleted under it (NOGROUP) and applies what arrives after', async () => {
      const stream = newStream();
      const id = newId();
      const c = consumer(stream);
      await c.ensureGroup();
      await t.redis.exec(['XGROUP', 'DESTROY', stream, 'user-cache']);
      await xadd(stream, event('user.profile.created', id, 1));

      const report = await c.runFor(5_000);

      expect(report.errors).toBeGreaterThanOrEqual(1);
      expect(report.applied).toBe(1);
      expect(await cache.get(id)).toEqual({ status: 'hit', profile: storedProfile(id, 1) });
    });

    it("skips the stream's history when configured to start at $", async () => {
      const stream = newStream();
      const id = newId();
      await xadd(stream, event('user.profile.created', id, 1));
      const report = await consumer(stream, { startId: '$' }).runFor(1_000);
      expect(report.applied).toBe(0);
      expect(await cache.get(id)).toEqual({ status: 'miss' });
    });
  });

  describe('runFor()', () => {
    it('applies created, updated and deleted events and acknowledges them', async () => {
      const stream = newStream();
      const [a, b] = [newId(), newId()];
      await xadd(stream, event('user.profile.created', a, 1));
      await xadd(stream, event('user.profile.updated', a, 2));
      await xadd(stream, event('user.profile.created', b, 1));
      await xadd(stream, event('user.profile.deleted', b, 2));

      const report = await consumer(stream).runFor(2_000);

      expect(report).toMatchObject({ applied: 4, stale: 0, deadLettered: 0, pending: 0, batches: 1 });
      expect(await cache.get(a)).toEqual({ status: 'hit', profile: storedProfile(a, 2) });
      expect(await cache.get(b)).toEqual({ status: 'deleted', version: 2 });
      expect(await groupPending(stream)).toBe(0);
    });

    it('applies a whole XREADGROUP batch with one cache write', async () => {
      const stream = newStream();
      for (let i = 0; i < 25; i++) await xadd(stream, event('user.profile.created', newId(), 1));
      const calls: number[] = [];
      const spy = {
        write: (entries: readonly CacheWrite[]) => {
          calls.push(entries.length);
          return cache.write(entries);
        },
      };

      const report = await consumer(stream, { cache: spy, count: 10 }).runFor(1_000);

      expect(calls).toEqual([10, 10, 5]);
      expect(report).toMatchObject({ applied: 25, batches: 3 });
    });

    it('without a repository, turns a seed-shaped event without a version (event=updated, payload JSON) into an invalidation', async () => {
      const stream = newStream();
      const id = newId();
      await cache.set(storedProfile(id, 3));
      const { userId, version, ...payload } = storedProfile(id, 9);
      await xadd(stream, { event: 'updated', userId, payload: JSON.stringify(payload) });

      const report = await consumer(stream).runFor(1_000);

      expect(report.applied).toBe(1);
      expect(await cache.get(id)).toEqual({ status: 'miss' });
      // The fence survived the invalidation: an older fill still cannot land.
      expect(await cache.set(storedProfile(id, 2))).toBe('stale');
    });

    describe('with the repository (events without a version)', () => {
      let db: TestDb;
      let repository: ProfileRepository;
      beforeAll(async () => {
        db = await useTestDb();
        repository = new ProfileRepository({ sql: db.sql });
      });
      afterAll(async () => {
        await db.cleanup();
      });

      it('writes the row PostgreSQL has now, so an older write still in flight cannot land (chaos finding)', async () => {
        const stream = newStream();
        const id = newId();
        const v1 = (await repository.create(id, fields('Essomba v1'))).profile;
        await cache.set(v1);
        // v2 through the API while Redis was down: its event waits in the outbox.
        const v2 = (await repository.update(id, fields('Essomba v2'))).profile;
        // v3 by an outside service that XADDs a seed-style event without a version.
        await repository.update(id, fields('Essomba v3'));
        const { userId, version, ...payload } = { ...v2, fullName: 'Essomba v3' };
        await xadd(stream, { event: 'updated', userId, payload: JSON.stringify(payload) });

        const report = await consumer(stream, { repository }).runFor(1_000);

        expect(report.applied).toBe(1);
        expect(await cache.get(id)).toMatchObject({
          status: 'hit',
          profile: { version: 3, fullName: 'Essomba v3' },
        });
        // The relay publishes v2 late: the fence now rejects it.
        expect(await cache.set(v2)).toBe('stale');
      });

      it('writes a tombstone for a deleted row, and drops whatever is cached when there is no row', async () => {
        const stream = newStream();
        const [gone, never] = [newId(), newId()];
        await repository.create(gone, fields('Owona'));
        await repository.softDelete(gone);
        await cache.set({ ...storedProfile(never, 3), fullName: 'Ghost' });
        await xadd(stream, { event: 'deleted', userId: gone });
        await xadd(stream, { event: 'created', userId: never, payload: JSON.stringify(fields('Ghost')) });

        await consumer(stream, { repository }).runFor(1_000);

        expect(await cache.get(gone)).toEqual({ status: 'deleted', version: 2 });
        // A negative entry (version 0) would lose to the cached v3: an invalidation keeps only its fence.
        expect(await cache.get(never)).toEqual({ status: 'miss' });
        expect(await cache.set(storedProfile(never, 2))).toBe('stale');
      });

      it('invalidates the user when it gives up on a versionless event after a long PostgreSQL outage', async () => {
        const stream = newStream();
        const id = newId();
        const v1 = (await repository.create(id, fields('Mvondo v1'))).profile;
        await cache.set(v1);
        await repository.update(id, fields('Mvondo v2'));
        const down = { getMany: () => Promise.reject(new DatabaseError('outage')) };
        await xadd(stream, { event: 'updated', userId: id, payload: JSON.stringify(fields('Mvondo v2')) });
        const run = () =>
          consumer(stream, { repository: down, claimIdleMs: 0, maxDeliveries: 2 }).runFor(300);

        let report = await run();
        for (let i = 0; i < 5 && report.deadLettered === 0; i++) report = await run();

        expect(report.deadLettered).toBe(1);
        expect(await groupPending(stream)).toBe(0);
        // The cache no longer serves v1 for the TTL: the next read goes to PostgreSQL (v2).
        expect(await cache.get(id)).toEqual({ status: 'miss' });
      });

      it('keeps versionless events pending while PostgreSQL fails, and applies them once it is back', async () => {
        const stream = newStream();
        const id = newId();
        await repository.create(id, fields('Ngo Bassa'));
        let down = true;
        const flaky = {
          getMany: (ids: readonly string[]) =>
            down ? Promise.reject(new DatabaseError('paused')) : repository.getMany(ids),
        };
        await xadd(stream, { event: 'updated', userId: id, payload: JSON.stringify(fields('Ngo Bassa')) });

        const first = await consumer(stream, { repository: flaky }).runFor(500);
        expect(first.applied).toBe(0);
        expect(await groupPending(stream)).toBe(1);
        expect(await cache.get(id)).toEqual({ status: 'miss' });

        down = false;
        const second = await consumer(stream, { repository: flaky, claimIdleMs: 0 }).runFor(1_000);
        expect(second.applied).toBe(1);
        expect(await groupPending(stream)).toBe(0);
        expect(await cache.get(id)).toMatchObject({ status: 'hit', profile: { version: 1 } });
      });
    });

    it('applies an event older than maxEventAgeMs as an invalidation that keeps its version', async () => {
      const stream = newStream();
      const id = newId();
      await cache.set(storedProfile(id, 4));
      await xadd(stream, event('user.profile.deleted', id, 5, Date.now() - 120_000));

      await consumer(stream, { maxEventAgeMs: 60_000 }).runFor(1_000);

      expect(await cache.get(id)).toEqual({ status: 'miss' });
      expect(await cache.set(storedProfile(id, 4))).toBe('stale');
    });

    it('counts events the fence rejects as stale and keeps the newer cached version', async () => {
      const stream = newStream();
      const id = newId();
      await cache.set(storedProfile(id, 7));
      await xadd(stream, event('user.profile.updated', id, 6));

      const report = await consumer(stream).runFor(1_000);

      expect(report).toMatchObject({ applied: 0, stale: 1, pending: 0 });
      expect(await cache.get(id)).toEqual({ status: 'hit', profile: storedProfile(id, 7) });
    });

    it('reports the lag from the event time to the cache write, per event and as p50/p99', async () => {
      const stream = newStream();
      const c = consumer(stream);
      for (const age of [5_000, 1_000, 3_000]) {
        await xadd(stream, event('user.profile.created', newId(), 1, c.time.clock() - age));
      }
      const report = await c.runFor(1_000);
      expect(report.lagMs).toEqual({ p50: 3_000, p99: 5_000 });
      expect(report.lagSamplesMs).toEqual([1_000, 3_000, 5_000]);
    });

    it('acknowledges and counts events of unknown types without touching the cache', async () => {
      const stream = newStream();
      const id = newId();
      await xadd(stream, { type: 'user.presence.changed', userId: id });

      const report = await consumer(stream).runFor(1_000);

      expect(report).toMatchObject({ unknownTypes: 1, applied: 0, deadLettered: 0, pending: 0 });
      expect(await cache.get(id)).toEqual({ status: 'miss' });
    });

    it('dead-letters malformed entries at once, with the reason and original fields, and applies the rest', async () => {
      const stream = newStream();
      const good = newId();
      const bad = newId();
      const ids = [
        await xadd(stream, { type: 'user.profile.updated', userId: 'not an id!' }),
        await xadd(stream, { type: 'user.profile.updated', userId: bad, version: '2', payload: '{oops' }),
        await xadd(stream, { userId: bad }),
        await xadd(stream, event('user.profile.updated', bad, 0)),
        // Version 0 would slip under every fence: a tombstone at 0 would hide a live profile for the TTL.
        await xadd(stream, { type: 'user.profile.deleted', userId: good, version: '0' }),
      ];
      await xadd(stream, event('user.profile.created', good, 1));

      const report = await consumer(stream).runFor(1_000);

      expect(report).toMatchObject({ deadLettered: 5, applied: 1, pending: 0 });
      expect((await cache.get(good)).status).toBe('hit');
      const dead = await t.redis.exec<Array<[string, string[]]>>(['XRANGE', `${stream}:dead`, '-', '+']);
      expect(dead.map(([, f]) => f[f.indexOf('sourceId') + 1])).toEqual(ids);
      const first = dead[0]?.[1] ?? [];
      expect(first[first.indexOf('reason') + 1]).toMatch(/^malformed: /);
      expect(first).toEqual(expect.arrayContaining(['type', 'user.profile.updated', 'userId', 'not an id!']));
    });

    it('re-delivers entries of a poller killed between apply and ack; the fence makes the replay harmless', async () => {
      const stream = newStream();
      const id = newId();
      await xadd(stream, event('user.profile.created', id, 1));
      // The first poller writes the cache, then dies before its XACK reaches Redis.
      const dying = consumer(stream, { redis: failing((args) => args[0] === 'XACK'), claimIdleMs: 60_000 });
      const first = await dying.runFor(500);
      expect(first.applied).toBe(1);
      expect(await groupPending(stream)).toBe(1);
      // Meanwhile the API wrote version 2 through the cache.
      await cache.set(storedProfile(id, 2));

      const second = await consumer(stream, { claimIdleMs: 0 }).runFor(1_000);

      expect(second).toMatchObject({ claimed: 1, stale: 1, pending: 0 });
      expect(await cache.get(id)).toEqual({ status: 'hit', profile: storedProfile(id, 2) });
    });

    it('does not acknowledge while the cache write is unavailable, and applies once it recovers', async () => {
      const stream = newStream();
      const ids = [newId(), newId()];
      for (const id of ids) await xadd(stream, event('user.profile.created', id, 1));
      const down = { write: async (e: readonly CacheWrite[]) => e.map(() => 'unavailable' as const) };

      const outage = await consumer(stream, { cache: down, claimIdleMs: 60_000 }).runFor(1_000);
      expect(outage).toMatchObject({ applied: 0, pending: 2 });

      let failures = 2;
      const flaky = {
        write: async (e: readonly CacheWrite[]) =>
          failures-- > 0 ? e.map(() => 'unavailable' as const) : cache.write(e),
      };
      const recovery = await consumer(stream, { cache: flaky, claimIdleMs: 0 }).runFor(5_000);

      expect(recovery).toMatchObject({ claimed: 2, applied: 2, pending: 0 });
      for (const id of ids) expect((await cache.get(id)).status).toBe('hit');
    });

    it('dead-letters a poison entry after maxDeliveries and isolates it from its batch mates', async () => {
      const stream = newStream();
      const [good1, poison, good2] = [newId(), newId(), newId()];
      for (const id of [good1, poison, good2]) await xadd(stream, event('user.profile.created', id, 1));
      const crashing = {
        write: async (e: readonly CacheWrite[]) => {
          if (e.some((w) => writeUserId(w) === poison)) throw new Error('poller crashed (injected)');
          return cache.write(e);
        },
      };
      const run = () => consumer(stream, { cache: crashing, claimIdleMs: 0, maxDeliveries: 3 }).runFor(2_000);

      for (let i = 0; i < 3; i++) await expect(run()).rejects.toThrow('poller crashed');
      const last = await run();

      expect(last.deadLettered).toBe(1);
      expect(last.pending).toBe(0);
      for (const id of [good1, good2]) expect((await cache.get(id)).status).toBe('hit');
      expect((await cache.get(poison)).status).toBe('miss');
      const dead = await t.redis.exec<Array<[string, string[]]>>(['XRANGE', `${stream}:dead`, '-', '+']);
      expect(dead).toHaveLength(1);
      const fields = dead[0]?.[1] ?? [];
      expect(fields).toEqual(expect.arrayContaining(['userId', poison, 'deliveries', '3']));
      expect(fields[fields.indexOf('reason') + 1]).toBe('not acknowledged after 3 deliveries');
    });

    it('removes its consumer from the group when it ends with nothing pending', async () => {
      const stream = newStream();
      await xadd(stream, event('user.profile.created', newId(), 1));
      const c = consumer(stream);
      await c.runFor(1_000);
      const consumers = await t.redis.exec<unknown[]>(['XINFO', 'CONSUMERS', stream, 'user-cache']);
      expect(consumers).toEqual([]);
    });

    it('pauses 50 ms doubling to 1 s while idle, and ends at the budget', async () => {
      const c = consumer(newStream());
      const report = await c.runFor(3_000);
      expect(c.time.sleeps).toEqual([50, 100, 200, 400, 800, 1_000, 450]);
      expect(report.durationMs).toBe(3_000);
    });

    it('ends early when its abort signal fires, after the step in flight', async () => {
      const stop = new AbortController();
      const c = consumer(newStream(), {
        sleep: async (ms) => {
          c.time.sleeps.push(ms);
          if (c.time.sleeps.length === 3) stop.abort();
        },
      });
      const report = await c.runFor(60_000, { signal: stop.signal });
      expect(c.time.sleeps).toEqual([50, 100, 200]);
      expect(report.batches).toBe(0);
    });

    it('runs the relay step when idle, then applies what it published', async () => {
      const stream = newStream();
      const publisher = new EventPublisher({ redis: t.redis, stream });
      const id = newId();
      // An outbox row the API committed but could not publish (the relay reads such rows from PostgreSQL).
      const unpublished = [
        {
          outboxId: '1',
          type: 'user.profile.created' as const,
          userId: id,
          version: 1,
          occurredAt: Date.now(),
          profile: storedProfile(id, 1),
        },
      ];
      const relay = async () => (await publisher.publish(unpublished.splice(0))).length;

      const report = await consumer(stream).runFor(2_000, { relay });

      expect(report).toMatchObject({ relayed: 1, applied: 1, pending: 0 });
      expect(await cache.get(id)).toEqual({ status: 'hit', profile: storedProfile(id, 1) });
    });

    it('survives a failing relay step, counting the error', async () => {
      const stream = newStream();
      const relay = async (): Promise<number> => {
        throw new Error('database unavailable (injected)');
      };
      const report = await consumer(stream).runFor(200, { relay });
      expect(report.relayed).toBe(0);
      expect(report.errors).toBeGreaterThan(0);
    });

    it('makes a poller started while another holds the lease wait, and give up at its deadline (lease)', async () => {
      const stream = newStream();
      const key = t.key('poller', 'lease', String(n++));
      // A TTL past the holder's budget: it never looks for a successor, so the waiter runs out of budget.
      const poller = () => consumer(stream, { lease: new Lease({ redis: t.redis, key, ttlMs: 120_000 }) });
      const holder = poller().runFor(60_000);
      await vi.waitFor(async () => expect(await t.redis.exec(['EXISTS', key])).toBe(1));

      const results = await Promise.allSettled([holder, poller().runFor(500)]);

      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const rejected = results.find((r) => r.status === 'rejected');
      expect(rejected?.status === 'rejected' && rejected.reason).toBeInstanceOf(LeaseHeldError);
    });

    it('stops early when its lease is taken over mid-run', async () => {
      const key = t.key('poller', 'lease', String(n++));
      const time = fakeTime();
      const c = new StreamConsumer({
        redis: t.redis,
        cache,
        stream: newStream(),
        clock: time.clock,
        // While this poller pauses, its lease expires and another poller takes it.
        sleep: async (ms) => {
          if (time.sleeps.length === 0) {
            await t.redis.exec(['DEL', key]);
            await new Lease({ redis: t.redis, key, ttlMs: 10_000, owner: 'other' }).acquire();
          }
          await time.sleep(ms);
        },
        lease: new Lease({ redis: t.redis, key, ttlMs: 150 }),
      });

      const report = await c.runFor(5_000);

      expect(report.leaseLost).toBe(true);
      expect(report.durationMs).toBeLessThan(5_000);
      expect(await t.redis.exec(['GET', key])).toBe('other');
    });

    it('ends with the newest version whatever the order and duplication of events (property)', async () => {
      const history = fc.record({ updates: fc.integer({ min: 0, max: 3 }), deleted: fc.boolean() });
      const scenario = fc.array(history, { minLength: 1, maxLength: 3 }).chain((histories) => {
        const users = histories.map((h) => ({ ...h, id: newId() }));
        const events = users.flatMap((u) => {
          const list = [event('user.profile.created', u.id, 1)];
          for (let v = 2; v <= 1 + u.updates; v++) list.push(event('user.profile.updated', u.id, v));
          if (u.deleted) list.push(event('user.profile.deleted', u.id, 2 + u.updates));
          return list;
        });
        return fc
          .array(fc.constantFrom(...events), { maxLength: 6 })
          .chain((dupes) => {
            const all = [...events, ...dupes];
            return fc.shuffledSubarray(all, { minLength: all.length, maxLength: all.length });
          })
          .chain((order) => fc.record({ order: fc.constant(order), count: fc.integer({ min: 1, max: 5 }) }))
          .map((s) => ({ ...s, users }));
      });

      await fc.assert(
        fc.asyncProperty(scenario, async ({ users, order, count }) => {
          const stream = newStream();
          for (const fields of order) await xadd(stream, fields);
          await consumer(stream, { count }).runFor(1_000);
          for (const u of users) {
            const newest = 1 + u.updates + (u.deleted ? 1 : 0);
            const expected = u.deleted
              ? { status: 'deleted', version: newest }
              : { status: 'hit', profile: storedProfile(u.id, newest) };
            expect(await cache.get(u.id)).toEqual(expected);
          }
          expect(await groupPending(stream)).toBe(0);
        }),
        { numRuns: 25 },
      );
    });
  });
});

describe('trimAcknowledged()', () => {
  /** 300 entries, all delivered to consumer c1 of group g; returns their ids. */
  async function deliveredStream(stream: string): Promise<string[]> {
    await t.redis.exec(['XGROUP', 'CREATE', stream, 'g', '0', 'MKSTREAM']);
    const p = t.redis.pipeline();
    for (let i = 0; i < 300; i++) p.xadd(stream, '*', { i: String(i) });
    const ids = (await p.exec()) as string[];
    await t.redis.exec(['XREADGROUP', 'GROUP', 'g', 'c1', 'COUNT', '300', 'STREAMS', stream, '>']);
    return ids;
  }

  const xrangeIds = async (stream: string) =>
    (await t.redis.exec<Array<[string, unknown]>>(['XRANGE', stream, '-', '+'])).map(([id]) => id);

  it('drops acknowledged entries but never an unacknowledged one', async () => {
    const stream = newStream();
    const ids = await deliveredStream(stream);
    const unacked = [ids[150] as string, ids[280] as string];
    await t.redis.exec(['XACK', stream, 'g', ...ids.filter((id) => !unacked.includes(id))]);

    const { removed, floor } = await trimAcknowledged(t.redis, stream);

    expect(floor).toBe(unacked[0]);
    expect(removed).toBeGreaterThanOrEqual(100);
    const left = await xrangeIds(stream);
    expect(left).toEqual(expect.arrayContaining(unacked));
    expect(left).toEqual(ids.slice(ids.length - left.length));
  });

  it('keeps entries another group has not read yet', async () => {
    const stream = newStream();
    const ids = await deliveredStream(stream);
    await t.redis.exec(['XACK', stream, 'g', ...ids]);
    await t.redis.exec(['XGROUP', 'CREATE', stream, 'late-reader', '0']);

    const { removed } = await trimAcknowledged(t.redis, stream);

    expect(removed).toBe(0);
    expect(await xrangeIds(stream)).toEqual(ids);
  });

  it('keeps entries no consumer has been delivered yet', async () => {
    const stream = newStream();
    await t.redis.exec(['XGROUP', 'CREATE', stream, 'g', '0', 'MKSTREAM']);
    const p = t.redis.pipeline();
    for (let i = 0; i < 250; i++) p.xadd(stream, '*', { i: String(i) });
    const ids = (await p.exec()) as string[];

    expect((await trimAcknowledged(t.redis, stream)).removed).toBe(0);
    expect(await xrangeIds(stream)).toEqual(ids);
  });

  it('does nothing for a stream that does not exist', async () => {
    expect(await trimAcknowledged(t.redis, newStream())).toMatchObject({ removed: 0, floor: undefined });
  });
});

describe('streamPoller handler', () => {
  function recordingMetrics() {
    const metrics: Array<[string, number]> = [];
    return {
      metrics,
      port: {
        addMetric: (name: string, _unit: string, value: number) => metrics.push([name, value]),
        publishStoredMetrics: () => metrics.push(['(published)', 0]),
      },
    };
  }

  function handlerFor(stream: string, leaseKey: string) {
    const m = recordingMetrics();
    const budgets: number[] = [];
    const handler = createPollerHandler({
      consumer: (budgetMs) => {
        budgets.push(budgetMs);
        return consumer(stream, {
          lease: new Lease({ redis: t.redis, key: leaseKey, ttlMs: budgetMs + 1_000 }),
        });
      },
      relay: async () => 0,
      cache,
      budgetMs: 50_000,
      logger: silentLogger,
      metrics: m.port,
    });
    return { handler, budgets, metrics: m.metrics };
  }

  it('runs for the budget capped by the invocation time left, and publishes metrics once', async () => {
    const stream = newStream();
    await xadd(stream, event('user.profile.created', newId(), 1, Date.now() - 2_000));
    const h = handlerFor(stream, t.key('poller', 'h', String(n++)));

    const result = await h.handler({}, { getRemainingTimeInMillis: () => 6_000 });

    expect(h.budgets).toEqual([1_000]);
    expect(result).toMatchObject({ status: 'done', report: { applied: 1 } });
    expect(h.metrics).toEqual(
      expect.arrayContaining([
        ['EventsApplied', 1],
        ['EventsDeadLettered', 0],
        ['EventLag', expect.any(Number)],
        // Alarmed: the stream stays bounded (streamTrim.ts).
        ['StreamLength', expect.any(Number)],
        ['OldestPendingAge', expect.any(Number)],
        ['StreamGroupsExcluded', 0],
      ]),
    );
    expect(h.metrics.filter(([name]) => name === '(published)')).toHaveLength(1);
  });

  it('skips the run when another poller holds the lease', async () => {
    const leaseKey = t.key('poller', 'h', String(n++));
    await new Lease({ redis: t.redis, key: leaseKey, ttlMs: 10_000 }).acquire();
    const h = handlerFor(newStream(), leaseKey);

    expect(await h.handler({})).toEqual({ status: 'skipped', reason: 'lease-held' });
    expect(h.metrics).toContainEqual(['PollerSkipped', 1]);
  });
});
