/**
 * Issue 9: writers and stream entries we do not control, against the real Redis and PostgreSQL. Each
 * `describe` is one of the scenarios; each test failed before its fix.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../functions/commons/config.js';
import { pollerDeps } from '../functions/streamPoller.js';
import { ConsistencyAuditor } from '../shared/audit/auditor.js';
import { AGED_EVENT_MARGIN_MS, maxSafeEventAgeMs, TtlPolicy } from '../shared/cache/ttl.js';
import { ProfileRepository } from '../shared/db/profileRepository.js';
import { silentLogger } from '../shared/ports.js';
import { ProfileService } from '../shared/profile/service.js';
import { StreamConsumer, type StreamConsumerOptions } from '../shared/stream/consumer.js';
import { EventPublisher } from '../shared/stream/eventPublisher.js';
import { toStreamFields } from '../shared/stream/events.js';
import { UserCache } from '../shared/userCache.js';
import { type TestDb, useTestDb } from './support/db.js';
import { fakeTime } from './support/fakeTime.js';
import { fields, newId } from './support/fixtures.js';
import { type TestRedis, useTestRedis } from './support/redis.js';

const DAY_MS = 86_400_000;
const ENV = { UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:1', UPSTASH_REDIS_REST_TOKEN: 'x' };
let t: TestRedis;
let db: TestDb;
let cache: UserCache;
let repository: ProfileRepository;
let n = 0;
const newStream = () => t.key('events', String(n++));
async function xadd(stream: string, f: Record<string, string>): Promise<string> {
  return t.redis.exec<string>(['XADD', stream, '*', ...Object.entries(f).flat()]);
}

async function pendingOf(stream: string): Promise<number> {
  const summary = await t.redis.exec<unknown[]>(['XPENDING', stream, 'user-cache']);
  return Number(summary[0]);
}

async function deadLetters(stream: string): Promise<Array<Record<string, string>>> {
  const rows = await t.redis.exec<Array<[string, string[]]>>(['XRANGE', `${stream}:dead`, '-', '+']);
  return rows.map(([, flat]) => {
    const out: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!;
    return out;
  });
}

/** The API's services and a poller on `stream`, as the Lambda wires them (relay included). */
function stack(stream: string, opts: Partial<StreamConsumerOptions> = {}) {
  const publisher = new EventPublisher({ redis: t.redis, stream, repository });
  const service = new ProfileService({ cache, repository, publisher });
  const poll = (budgetMs = 1_000) => {
    const time = fakeTime();
    const consumer = new StreamConsumer({
      redis: t.redis,
      cache,
      stream,
      repository,
      clock: time.clock,
      sleep: time.sleep,
      ...opts,
    });
    return consumer.runFor(budgetMs, {
      relay: (until) => publisher.publishPending(repository, 100, { until, clock: time.clock }),
    });
  };
  return { service, poll };
}

beforeAll(async () => {
  t = await useTestRedis();
  db = await useTestDb();
  repository = new ProfileRepository({ sql: db.sql });
  cache = new UserCache({ redis: t.redis, keyPrefix: t.keyPrefix, trackActivity: false });
});
afterAll(async () => {
  await t.cleanup();
  await db.cleanup();
});

describe('1. another service hard-deletes and re-creates ids', () => {
  it('a hard DELETE plus a versionless XADD no longer leaves the deleted profile cached', async () => {
    const stream = newStream();
    const { service, poll } = stack(stream);
    const id = newId();
    await service.createProfile(id, fields('Abena first'));
    await service.updateProfile(id, fields('Abena second'));
    await poll();
    expect((await cache.get(id)).status).toBe('hit');

    await db.sql.query('DELETE FROM personnel WHERE id = $1', [id]);
    await xadd(stream, { event: 'deleted', userId: id });
    await poll();

    expect((await cache.get(id)).status).not.toBe('hit');
    await expect(service.getProfile(id)).rejects.toMatchObject({ code: 'USER_NOT_FOUND' });
  });

  it('a re-created id never shows the previous incarnation, in the cache or through the API', async () => {
    const stream = newStream();
    const { service, poll } = stack(stream);
    const id = newId();
    await service.createProfile(id, fields('Previous Person'));
    await service.updateProfile(id, fields('Previous Person'));
    await poll();
    await db.sql.query('DELETE FROM personnel WHERE id = $1', [id]);
    await xadd(stream, { event: 'deleted', userId: id });
    await poll();

    const created = await service.createProfile(id, fields('New Person'));
    await poll();

    expect(created.version).toBeGreaterThan(2);
    expect((await service.getProfile(id)).profile.fullName).toBe('New Person');
    expect(await cache.get(id)).toMatchObject({ status: 'hit', profile: { fullName: 'New Person' } });
  });

  it('a plain SQL UPDATE or DELETE, with no XADD at all, reaches the cache in one poller run', async () => {
    const stream = newStream();
    const { service, poll } = stack(stream);
    const [updated, deleted] = [newId(), newId()];
    await service.createProfile(updated, fields('Before Update'));
    await service.createProfile(deleted, fields('Before Delete'));
    await poll();

    await db.sql.query(`UPDATE personnel SET full_name = 'After Update' WHERE id = $1`, [updated]);
    await db.sql.query('DELETE FROM personnel WHERE id = $1', [deleted]);
    await poll();

    expect(await cache.get(updated)).toMatchObject({
      status: 'hit',
      profile: { fullName: 'After Update', version: 2 },
    });
    expect(await cache.get(deleted)).toEqual({ status: 'deleted', version: 2 });
  });
});

describe('2. an unsafe version', () => {
  it('is dead-lettered at once as malformed, and the run goes on with the other entries', async () => {
    const stream = newStream();
    const { service, poll } = stack(stream);
    const [bad, good] = [newId(), newId()];
    await service.createProfile(good, fields('Good Entry'));
    await xadd(stream, { type: 'user.profile.deleted', userId: bad, version: '9007199254740993' });

    const report = await poll();

    expect(report).toMatchObject({ deadLettered: 1, pending: 0 });
    expect((await cache.get(good)).status).toBe('hit');
    const [dead] = await deadLetters(stream);
    expect(dead?.reason).toMatch(/^malformed: .*version/);
  });
});

describe('3. a key of the wrong type', () => {
  it('UserCache.write reports it for that key only, leaves it alone and writes the other keys', async () => {
    const [legacy, good] = [newId(), newId()];
    await t.redis.exec(['SET', cache.keys.profile(legacy), 'legacy string value']);
    const p = (userId: string) => ({ userId, ...fields('Batch Mate'), updatedAt: 1, version: 1 });

    const outcomes = await cache.write([
      { kind: 'profile', profile: p(legacy) },
      { kind: 'profile', profile: p(good) },
    ]);

    expect(outcomes).toEqual(['wrongType', 'written']);
    expect(await t.redis.exec(['GET', cache.keys.profile(legacy)])).toBe('legacy string value');
    expect((await cache.get(good)).status).toBe('hit');
  });

  it('dead-letters only its own entry in the run that sees it; the batch mates are applied', async () => {
    const stream = newStream();
    const [legacy, good] = [newId(), newId()];
    await t.redis.exec(['SET', cache.keys.profile(legacy), 'legacy string value']);
    const now = Date.now();
    const profileOf = (userId: string) => ({ userId, ...fields('Batch Mate'), updatedAt: now, version: 1 });
    await xadd(
      stream,
      toStreamFields({
        type: 'user.profile.created',
        userId: legacy,
        version: 1,
        occurredAt: now,
        profile: profileOf(legacy),
      }),
    );
    await xadd(
      stream,
      toStreamFields({
        type: 'user.profile.created',
        userId: good,
        version: 1,
        occurredAt: now,
        profile: profileOf(good),
      }),
    );

    const report = await stack(stream).poll();

    expect(report).toMatchObject({ applied: 1, deadLettered: 1, pending: 0 });
    expect((await cache.get(good)).status).toBe('hit');
    const [dead] = await deadLetters(stream);
    expect(dead).toMatchObject({ userId: legacy });
    expect(dead?.reason).toMatch(/wrong type/);
  });
});

describe('4. a dead-letter XADD that fails', () => {
  it('leaves the entry pending (never acknowledged without its copy), and a later run moves it', async () => {
    const stream = newStream();
    // The dead-letter stream's key holds a string: its XADD fails at EXEC, as a record-size refusal would.
    await t.redis.exec(['SET', `${stream}:dead`, 'not a stream']);
    const entryId = await xadd(stream, { type: 'user.profile.updated', userId: 'not an id!' });

    const first = await stack(stream).poll();

    expect(first.deadLettered).toBe(0);
    expect(await pendingOf(stream)).toBe(1);

    await t.redis.exec(['DEL', `${stream}:dead`]);
    const second = await stack(stream, { claimIdleMs: 0 }).poll();

    expect(second.deadLettered).toBe(1);
    expect(await pendingOf(stream)).toBe(0);
    expect((await deadLetters(stream)).map((d) => d.sourceId)).toEqual([entryId]);
  });
});

describe('5. aged events and the TTL jitter', () => {
  it('applies a version delayed past the shortest profile TTL as an invalidation, never as data', async () => {
    const stream = newStream();
    const id = newId();
    // v6 was cached with the shortest TTL (7 d minus 5 % jitter = 6.65 d) and has just expired; v5 arrives
    // 6.8 days late.
    const occurredAt = Date.now() - 6.8 * DAY_MS;
    const v5 = { userId: id, ...fields('Rolled Back'), updatedAt: occurredAt, version: 5 };
    await xadd(
      stream,
      toStreamFields({ type: 'user.profile.updated', userId: id, version: 5, occurredAt, profile: v5 }),
    );

    await stack(stream).poll();

    expect(await cache.get(id)).toEqual({ status: 'miss' });
  });

  it('derives the threshold from the configured TTLs: a 1-day profile TTL makes a 1.5-day-old event an invalidation', async () => {
    const stream = newStream();
    const id = newId();
    const config = loadConfig({
      ...ENV,
      CACHE_TTL_SECONDS: '86400',
      CACHE_KEY_PREFIX: t.keyPrefix.slice(0, -1),
    });
    const publisher = new EventPublisher({ redis: t.redis, stream, repository });
    const metrics = { addMetric: () => undefined, publishStoredMetrics: () => undefined };
    const time = fakeTime();
    const deps = pollerDeps(
      { config, redis: t.redis, cache, repository, publisher, logger: silentLogger, metrics },
      { stream, clock: time.clock, sleep: time.sleep, keyPrefix: t.keyPrefix },
    );
    const occurredAt = Date.now() - 1.5 * DAY_MS;
    const v5 = { userId: id, ...fields('Rolled Back'), updatedAt: occurredAt, version: 5 };
    await xadd(
      stream,
      toStreamFields({ type: 'user.profile.updated', userId: id, version: 5, occurredAt, profile: v5 }),
    );

    await deps.consumer(1_000).runFor(1_000);

    expect(await cache.get(id)).toEqual({ status: 'miss' });
  });

  it('the configuration refuses a profile TTL whose shortest value leaves no safe window', () => {
    expect(() => loadConfig({ ...ENV, CACHE_TTL_SECONDS: '3600' })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID', details: { variable: 'CACHE_TTL_SECONDS' } }),
    );
    expect(() => loadConfig({ ...ENV, CACHE_TTL_SECONDS: '7500', CACHE_TTL_JITTER: '0.5' })).toThrow(
      expect.objectContaining({ details: { variable: 'CACHE_TTL_SECONDS' } }),
    );
  });

  it('no accepted TTL, jitter or tombstone setting lets an aged event outlive the fence it must meet', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 90 * 86_400 }),
        fc.integer({ min: 0, max: 99 }),
        fc.integer({ min: 7_200, max: 90 * 86_400 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (ttl, jitterPct, tombstone, random) => {
          const env = {
            ...ENV,
            CACHE_TTL_SECONDS: String(ttl),
            CACHE_TTL_JITTER: String(jitterPct / 100),
            CACHE_TOMBSTONE_TTL_SECONDS: String(tombstone),
          };
          let config: ReturnType<typeof loadConfig>;
          try {
            config = loadConfig(env);
          } catch {
            return; // refused: nothing to check
          }
          const { cache: c } = config;
          const policy = new TtlPolicy(
            {
              profileSeconds: c.ttlSeconds,
              jitter: c.ttlJitter,
              negativeSeconds: c.negativeTtlSeconds,
              tombstoneSeconds: c.tombstoneTtlSeconds,
            },
            () => random,
          );
          const threshold = maxSafeEventAgeMs(c);
          expect(threshold).toBeGreaterThan(0);
          expect(threshold + AGED_EVENT_MARGIN_MS).toBeLessThanOrEqual(policy.secondsFor('profile') * 1000);
          expect(threshold + AGED_EVENT_MARGIN_MS).toBeLessThanOrEqual(policy.secondsFor('deleted') * 1000);
          expect(threshold + AGED_EVENT_MARGIN_MS).toBeLessThanOrEqual(
            policy.secondsFor('invalidate') * 1000,
          );
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('the auditor and outside writers', () => {
  it('counts a cached profile whose row was hard-deleted, or of a previous incarnation, as inconsistent', async () => {
    const [orphan, reborn, stale] = [newId(), newId(), newId()];
    for (const id of [orphan, reborn, stale]) await repository.create(id, fields('Audited Person'));
    const old = (await repository.update(reborn, fields('Audited Person'))).profile;
    const staleProfile = (await repository.getById(stale))!;
    await repository.update(stale, fields('Audited Later'));
    await cache.write([
      { kind: 'profile', profile: (await repository.getById(orphan))! },
      { kind: 'profile', profile: old },
      { kind: 'profile', profile: staleProfile },
    ]);
    // Another service hard-deletes two rows (and re-creates one) while Redis did not hear of it.
    await db.sql.query('DELETE FROM personnel WHERE id = ANY($1)', [[orphan, reborn]]);
    await db.sql.query(
      `INSERT INTO personnel (id, matricule, full_name, avatar_url, ministere) VALUES ($1, 'N-1', 'Someone Else', '', 'MINFI')`,
      [reborn],
    );
    // Re-create at version 1 in the cache's eyes: the fence keeps the previous person's v2 there.
    const auditor = new ConsistencyAuditor({
      cache,
      repository,
      clock: () => Date.now() + 60_000,
      sleep: async () => {},
    });

    const report = await auditor.auditIds([orphan, reborn, stale]);

    expect(report).toMatchObject({ inconsistent: 3, byKind: { orphaned: 1, foreign: 1, stale: 1 } });
    expect(report.findings.find((f) => f.userId === reborn)).toMatchObject({
      kind: 'foreign',
      cachedVersion: 2,
      dbVersion: 4,
    });
  });
});
