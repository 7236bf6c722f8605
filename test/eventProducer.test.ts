/**
 * EventProducer (the `./producer` entry) as an outside service uses it: the row changes in PostgreSQL by
 * plain SQL (no outbox: it is not our API), the producer XADDs through the Upstash gateway to the real
 * Redis, and the real stream consumer (the poller's logic) applies the entry to the cache.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { UserCacheError, ValidationError } from '../shared/errors.js';
import type { UserProfile } from '../shared/profile/schemas.js';
import { StreamConsumer } from '../shared/stream/consumer.js';
import { EventProducer, type ProfileChange } from '../shared/stream/eventProducer.js';
import { parseStreamEntry } from '../shared/stream/events.js';
import { fakeTime } from './support/fakeTime.js';
import { fields, newId } from './support/fixtures.js';
import { type TestStack, useTestStack } from './support/stack.js';

let s: TestStack;
let n = 0;
const newStream = () => s.redis.key('events', `producer-${n++}`);

/** What another service does: a row created, then changed by plain SQL; returns the committed profile. */
async function changedElsewhere(userId: string, fullName: string): Promise<UserProfile> {
  await s.repository.create(userId, fields());
  await s.db.sql.query(
    'UPDATE personnel SET full_name = $2, version = version + 1, updated_at = now() WHERE id = $1',
    [userId, fullName],
  );
  const row = (await s.repository.getMany([userId])).get(userId);
  const { deletedAt: _, ...profile } = row!;
  return profile;
}

/** The poller's consumer on `stream`, with a clock that moves only when it sleeps. */
function poller(stream: string) {
  const time = fakeTime();
  return new StreamConsumer({
    redis: s.redis.redis,
    cache: s.cache,
    stream,
    clock: time.clock,
    sleep: time.sleep,
  });
}

async function entries(stream: string): Promise<Array<Record<string, string>>> {
  const raw = (await s.redis.redis.xrange(stream, '-', '+')) as unknown as Array<[string, string[]]>;
  return raw.map(([, flat]) => {
    const out: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!;
    return out;
  });
}

beforeAll(async () => {
  s = await useTestStack();
});
afterAll(async () => {
  await s?.cleanup();
});
beforeEach(() => {
  s.redis.gateway.setFaults({});
  s.redis.gateway.metrics.reset();
});

describe('EventProducer', () => {
  describe('publish()', () => {
    it('XADDs a versioned update that the poller applies through the fence', async () => {
      const stream = newStream();
      const profile = await changedElsewhere(newId(), 'Ngo Bassa Claire-Marie');
      const at = Date.now() - 5;
      const producer = new EventProducer({ redis: s.redis.redis, stream, clock: () => at });

      const id = await producer.publish({ type: 'user.profile.updated', profile, eventId: 'auth-17' });

      expect(id).toMatch(/^\d+-\d+$/);
      const [stored] = await entries(stream);
      expect(stored).toMatchObject({
        type: 'user.profile.updated',
        userId: profile.userId,
        version: '2',
        occurredAt: String(at),
        eventId: 'auth-17',
      });
      expect(parseStreamEntry(stored!)).toMatchObject({ version: 2, profile });
      const report = await poller(stream).runFor(1_000);
      expect(report).toMatchObject({ applied: 1, stale: 0, deadLettered: 0 });
      expect(await s.cache.get(profile.userId)).toEqual({ status: 'hit', profile });
    });

    it('XADDs a delete that leaves a tombstone at its version', async () => {
      const stream = newStream();
      const userId = newId();
      await s.repository.create(userId, fields());
      const producer = new EventProducer({ redis: s.redis.redis, stream });

      await producer.publish({ type: 'user.profile.deleted', userId, version: 2 });

      const [stored] = await entries(stream);
      expect(stored).not.toHaveProperty('payload');
      expect(stored?.eventId).toMatch(/^[0-9a-f-]{36}$/);
      await poller(stream).runFor(1_000);
      expect(await s.cache.get(userId)).toEqual({ status: 'deleted', version: 2 });
    });

    it('sends versions the fence orders: an older one published late is stale', async () => {
      const stream = newStream();
      const v2 = await changedElsewhere(newId(), 'Second Name');
      const v1 = { ...v2, fullName: fields().fullName, version: 1 };
      const producer = new EventProducer({ redis: s.redis.redis, stream });

      await producer.publishMany([
        { type: 'user.profile.updated', profile: v2 },
        { type: 'user.profile.created', profile: v1 },
      ]);

      expect(s.redis.gateway.metrics.httpRequests).toBe(1);
      const report = await poller(stream).runFor(1_000);
      expect(report).toMatchObject({ applied: 1, stale: 1 });
      expect(await s.cache.get(v2.userId)).toEqual({ status: 'hit', profile: v2 });
    });

    it('caps the stream with MAXLEN ~', async () => {
      const stream = newStream();
      const profile = await changedElsewhere(newId(), 'Capped Stream');
      const producer = new EventProducer({ redis: s.redis.redis, stream, maxLen: 10 });
      const change: ProfileChange = { type: 'user.profile.updated', profile };

      await producer.publishMany(Array.from({ length: 400 }, () => change));

      const length = Number(await s.redis.redis.xlen(stream));
      expect(length).toBeGreaterThanOrEqual(10);
      expect(length).toBeLessThan(400);
    });
  });

  describe('validation', () => {
    const valid = (): UserProfile => ({
      ...fields(),
      userId: newId(),
      version: 3,
      updatedAt: 1_764_000_000_000,
    });
    const cases: Array<[string, () => ProfileChange, string]> = [
      [
        'a version of 0',
        () => ({ type: 'user.profile.deleted', userId: newId(), version: 0 }),
        'INVALID_VERSION',
      ],
      [
        'an unsafe version (two versions would share one text)',
        () => ({ type: 'user.profile.updated', profile: { ...valid(), version: 2 ** 53 + 2 } }),
        'INVALID_VERSION',
      ],
      [
        'a missing version',
        () => ({ type: 'user.profile.deleted', userId: newId() }) as unknown as ProfileChange,
        'INVALID_VERSION',
      ],
      [
        'a profile that breaks a field rule',
        () => ({ type: 'user.profile.updated', profile: { ...valid(), ministere: 'finances' } }),
        'INVALID_EVENT',
      ],
      [
        'a malformed user id',
        () => ({ type: 'user.profile.deleted', userId: 'a b', version: 2 }),
        'INVALID_EVENT',
      ],
      [
        'an unknown type',
        () => ({ type: 'user.profile.renamed', profile: valid() }) as unknown as ProfileChange,
        'INVALID_EVENT',
      ],
    ];

    for (const [name, change, code] of cases) {
      it(`refuses ${name} with ${code} and sends nothing`, async () => {
        const stream = newStream();
        const producer = new EventProducer({ redis: s.redis.redis, stream });
        const ok: ProfileChange = { type: 'user.profile.updated', profile: valid() };

        const attempt = producer.publishMany([ok, change()]);

        await expect(attempt).rejects.toBeInstanceOf(ValidationError);
        await expect(attempt).rejects.toMatchObject({ code, details: { index: 1 } });
        expect(s.redis.gateway.metrics.httpRequests).toBe(0);
        expect(Number(await s.redis.redis.xlen(stream))).toBe(0);
      });
    }

    it('refuses an empty stream name or a bad cap at construction', () => {
      expect(() => new EventProducer({ redis: s.redis.redis, stream: '' })).toThrow(/stream/);
      expect(() => new EventProducer({ redis: s.redis.redis, maxLen: 0 })).toThrow(/maxLen/);
    });
  });

  it('throws UserCacheError when Redis is unavailable', async () => {
    const producer = new EventProducer({ redis: s.redis.redis, stream: newStream() });
    const profile = { ...fields(), userId: newId(), version: 1, updatedAt: 0 };
    s.redis.gateway.setFaults({ mode: 'http503' });
    await expect(producer.publish({ type: 'user.profile.created', profile })).rejects.toBeInstanceOf(
      UserCacheError,
    );
  });

  it("defaults to the poller's stream, events:users", () => {
    expect(new EventProducer({ redis: s.redis.redis }).stream).toBe('events:users');
  });
});
