/**
 * Every cache write request fits Upstash's 1 MB request limit, however large the profiles: the cache's
 * fenced writes, the prewarm and the event relay split by bytes, through a gateway enforcing 1 MB.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { argBytes, byteRanges, MAX_REQUEST_BYTES } from '../shared/cache/requestSize.js';
import { ProfileRepository } from '../shared/db/profileRepository.js';
import { IdListSource } from '../shared/prewarm/activitySources.js';
import { Prewarmer } from '../shared/prewarm/prewarmer.js';
import { LIMITS, type ProfileFields, type UserProfile } from '../shared/profile/schemas.js';
import { EventPublisher } from '../shared/stream/eventPublisher.js';
import { StreamGroup } from '../shared/stream/group.js';
import { UserCache } from '../shared/userCache.js';
import { type TestDb, useTestDb } from './support/db.js';
import { type TestRedis, useTestRedis } from './support/redis.js';

let t: TestRedis;
let db: TestDb;
const run = randomBytes(3).toString('hex');

beforeAll(async () => {
  [t, db] = await Promise.all([useTestRedis({ timeoutMs: 10_000 }), useTestDb()]);
});

afterAll(async () => {
  await Promise.all([t?.cleanup(), db?.cleanup()]);
});

/** Fields at every length limit; `wide` uses 3-byte characters (and quotes, escaped in JSON). */
function limitFields(i: number, wide: boolean): ProfileFields {
  const char = wide ? '語' : 'a';
  const name = `${i} "${char.repeat(LIMITS.fullNameMaxLength)}`.slice(0, LIMITS.fullNameMaxLength);
  const avatar = `https://cdn.example/${char.repeat(LIMITS.avatarMaxLength)}`.slice(
    0,
    LIMITS.avatarMaxLength,
  );
  return { fullName: name, avatar, matricule: 'M'.repeat(LIMITS.matriculeMaxLength), ministere: 'MINFOPRA' };
}

describe('byteRanges()', () => {
  it('covers every item once, in order, each range within the budget unless one item alone exceeds it', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 500 }), { maxLength: 200 }),
        fc.integer({ min: 1, max: 2_000 }),
        (sizes, budget) => {
          const ranges = byteRanges(sizes, budget);
          const covered = ranges.flatMap(([a, b]) => Array.from({ length: b - a }, (_, k) => a + k));
          expect(covered).toEqual(sizes.map((_, i) => i));
          for (const [a, b] of ranges) {
            const sum = sizes.slice(a, b).reduce((x, y) => x + y, 0);
            expect(sum <= budget || b - a === 1).toBe(true);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('measures an argument as JSON.stringify sends it: escapes and UTF-8 bytes count', () => {
    expect(argBytes('ab')).toBe(5);
    expect(argBytes('"\\')).toBe(7);
    expect(argBytes('語')).toBe(6);
    expect(argBytes(12)).toBe(3);
  });
});

describe("writes over 1 MB, through a gateway enforcing Upstash's 1 MB", () => {
  it('UserCache.write caches 1,000 profiles at the field limits (3-byte characters, ~7 MB) in requests under 1 MB', async () => {
    const cache = new UserCache({ redis: t.redis, keyPrefix: t.keyPrefix, trackActivity: false });
    const profiles: UserProfile[] = Array.from({ length: LIMITS.cacheBatchMax }, (_, i) => ({
      userId: `${run}w${i}`,
      version: 1,
      updatedAt: 1_700_000_000_000,
      ...limitFields(i, true),
    }));
    t.gateway.metrics.reset();

    const outcomes = await cache.setMany(profiles);

    expect(outcomes.filter((o) => o !== 'written')).toEqual([]);
    // ~7 KB each: at least 7 requests, since none may pass 1 MB.
    expect(t.gateway.metrics.httpRequests).toBeGreaterThanOrEqual(7);
    const last = await cache.get(`${run}w999`);
    expect(last).toMatchObject({ status: 'hit', profile: { fullName: profiles[999]?.fullName } });
  });

  it('the prewarm caches a 500-profile batch at the field limits (over 1 MB as ASCII)', async () => {
    const repository = new ProfileRepository({ sql: db.sql });
    const ids = Array.from({ length: 500 }, (_, i) => `${run}p${i}`);
    for (const [i, id] of ids.entries()) await repository.create(id, limitFields(i, false));
    const cache = new UserCache({ redis: t.redis, keyPrefix: t.keyPrefix, trackActivity: false });
    const prewarmer = new Prewarmer({
      cache,
      repository,
      source: new IdListSource(ids),
      batchSize: 500,
      pauseMs: 0,
    });

    const report = await prewarmer.run();

    expect(report).toMatchObject({ batches: 1, cached: 500, errors: 0, complete: true });
    expect((await cache.get(ids[499] as string)).status).toBe('hit');
  });

  it('the relay publishes 500 outbox events carrying field-limit profiles (over 1 MB) in one page', async () => {
    const repository = new ProfileRepository({ sql: db.sql });
    const stream = t.key('events');
    const publisher = new EventPublisher({ redis: t.redis, stream, repository });
    // The prewarm test above left 500 unpublished creations, each with its whole profile as payload.
    const before = Number(await t.redis.xlen(stream));

    const published = await publisher.publishPending(repository, 500, { maxPages: 1 });

    expect(published).toBe(500);
    expect(Number(await t.redis.xlen(stream)) - before).toBe(500);
    expect(MAX_REQUEST_BYTES).toBe(1_000_000);
  });

  it('the poller dead-letters 200 field-limit entries at once (over 1 MB), acknowledging each with its copy', async () => {
    const stream = t.key('dl-src');
    const deadStream = t.key('dl-dead');
    const group = new StreamGroup(t.redis, stream, 'g', 'c');
    await group.ensure('0');
    // Added 20 at a time: a test's own setup must fit the 1 MB limit too.
    for (let n = 0; n < 200; n += 20) {
      const p = t.redis.pipeline();
      for (let i = n; i < n + 20; i++)
        p.xadd(stream, '*', { type: 'bogus', payload: JSON.stringify(limitFields(i, true)) });
      await p.exec();
    }
    const entries = await group.readNew(200);

    await group.settle(
      [],
      entries.map((entry) => ({ entry, reason: 'test', deliveries: 1 })),
      deadStream,
      100_000,
      Date.now(),
    );

    expect(entries).toHaveLength(200);
    expect(Number(await t.redis.xlen(deadStream))).toBe(200);
    expect(await group.pendingCount()).toBe(0);
  });
});
