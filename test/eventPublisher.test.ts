import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { OutboxEvent } from '../shared/db/profileRepository.js';
import { UserCacheError } from '../shared/errors.js';
import { EventPublisher } from '../shared/stream/eventPublisher.js';
import { parseStreamEntry } from '../shared/stream/events.js';
import { fields, newId } from './support/fixtures.js';
import { type TestStack, useTestStack } from './support/stack.js';

let s: TestStack;

/** Creates a profile in PostgreSQL and returns its (unpublished) outbox event. */
async function created(): Promise<OutboxEvent> {
  return (await s.repository.create(newId(), fields())).event;
}

async function published(outboxId: string): Promise<string | null> {
  const { rows } = await s.db.sql.query<{ stream_id: string | null }>(
    'SELECT stream_id FROM outbox WHERE id = $1',
    [outboxId],
  );
  return rows[0]?.stream_id ?? null;
}

async function entries(stream: string): Promise<Array<{ id: string; fields: Record<string, string> }>> {
  const raw = (await s.redis.redis.xrange(stream, '-', '+')) as unknown as Array<[string, string[]]>;
  return raw.map(([id, flat]) => {
    const fields: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
    return { id, fields };
  });
}

beforeAll(async () => {
  s = await useTestStack();
});
afterAll(async () => {
  await s?.cleanup();
});
beforeEach(async () => {
  s.redis.gateway.setFaults({});
  s.redis.gateway.metrics.reset();
  // Every test starts with an empty outbox backlog, so relay counts are exact.
  await s.db.sql.query('UPDATE outbox SET published_at = now() WHERE published_at IS NULL');
});

describe('EventPublisher', () => {
  describe('publish()', () => {
    it('XADDs every event in ONE request, in order, and marks the outbox rows with their stream ids', async () => {
      const stream = s.redis.key('events', newId());
      const publisher = new EventPublisher({ redis: s.redis.redis, stream, repository: s.repository });
      const events = [await created(), await created(), await created()];

      const ids = await publisher.publish(events);

      expect(s.redis.gateway.metrics.httpRequests).toBe(1);
      const stored = await entries(stream);
      expect(stored.map((e) => e.id)).toEqual(ids);
      expect(stored.map((e) => e.fields.eventId)).toEqual(events.map((e) => e.outboxId));
      for (const [i, event] of events.entries()) {
        expect(await published(event.outboxId)).toBe(ids[i]);
        // The entry parses back (consumers' contract) to the same profile.
        expect(parseStreamEntry(stored[i]!.fields)).toMatchObject({
          type: 'user.profile.created',
          userId: event.userId,
          version: 1,
          profile: event.profile,
        });
      }
    });

    it('sends nothing for an empty list', async () => {
      const publisher = new EventPublisher({ redis: s.redis.redis, stream: s.redis.key('events', newId()) });
      expect(await publisher.publish([])).toEqual([]);
      expect(s.redis.gateway.metrics.httpRequests).toBe(0);
    });

    it('leaves the outbox alone without a repository', async () => {
      const publisher = new EventPublisher({ redis: s.redis.redis, stream: s.redis.key('events', newId()) });
      const event = await created();
      await publisher.publish([event]);
      expect(await published(event.outboxId)).toBeNull();
    });

    it('caps the stream with MAXLEN ~ (approximate: whole nodes are trimmed)', async () => {
      const stream = s.redis.key('events', newId());
      const publisher = new EventPublisher({ redis: s.redis.redis, stream, maxLen: 10 });
      const event = await created();
      await publisher.publish(Array.from({ length: 400 }, () => event));
      const length = Number(await s.redis.redis.xlen(stream));
      expect(length).toBeGreaterThanOrEqual(10);
      expect(length).toBeLessThan(400);
    });

    it('throws UserCacheError when Redis is down and marks nothing', async () => {
      const publisher = new EventPublisher({
        redis: s.redis.redis,
        stream: s.redis.key('events', newId()),
        repository: s.repository,
      });
      const event = await created();
      s.redis.gateway.setFaults({ mode: 'http503' });
      await expect(publisher.publish([event])).rejects.toBeInstanceOf(UserCacheError);
      expect(await published(event.outboxId)).toBeNull();
    });

    it('throws CACHE_PROTOCOL when Redis refuses the XADD (key of another type) and marks nothing', async () => {
      const stream = s.redis.key('events', newId());
      await s.redis.redis.set(stream, 'not a stream');
      const publisher = new EventPublisher({ redis: s.redis.redis, stream, repository: s.repository });
      const event = await created();
      await expect(publisher.publish([event])).rejects.toMatchObject({ code: 'CACHE_PROTOCOL' });
      expect(await published(event.outboxId)).toBeNull();
    });
  });

  describe('publishPending()', () => {
    it('relays unpublished events oldest first, in pages of `limit`, at most `maxPages` per call', async () => {
      const stream = s.redis.key('events', newId());
      const publisher = new EventPublisher({ redis: s.redis.redis, stream });
      const events = [await created(), await created(), await created()];

      expect(await publisher.publishPending(s.repository, 2, { maxPages: 1 })).toBe(2);
      expect((await entries(stream)).map((e) => e.fields.eventId)).toEqual(
        events.slice(0, 2).map((e) => e.outboxId),
      );
      expect(await publisher.publishPending(s.repository, 2, { maxPages: 1 })).toBe(1);
      expect(await publisher.publishPending(s.repository, 2, { maxPages: 1 })).toBe(0);
      for (const event of events) expect(await published(event.outboxId)).not.toBeNull();
    });
  });

  describe('publishPending() after an outage', () => {
    it('drains a backlog larger than one page in one call, oldest first', async () => {
      const stream = s.redis.key('events', newId());
      const publisher = new EventPublisher({ redis: s.redis.redis, stream });
      // Leftovers of earlier tests go elsewhere, so this stream holds exactly this test's backlog.
      await new EventPublisher({ redis: s.redis.redis, stream: `${stream}:leftovers` }).publishPending(
        s.repository,
        1000,
      );
      const events = [];
      for (let i = 0; i < 7; i++) events.push(await created());

      expect(await publisher.publishPending(s.repository, 2)).toBe(7);
      expect((await entries(stream)).map((e) => e.fields.eventId)).toEqual(events.map((e) => e.outboxId));
    });
  });

  describe('publishPending() near the poller deadline', () => {
    it('starts no page after `until`, leaving the rest for the next run', async () => {
      const stream = s.redis.key('events', newId());
      const publisher = new EventPublisher({ redis: s.redis.redis, stream });
      await new EventPublisher({ redis: s.redis.redis, stream: `${stream}:leftovers` }).publishPending(
        s.repository,
        1000,
      );
      for (let i = 0; i < 5; i++) await created();
      let now = 0;
      // Each page takes the clock one step further; the deadline allows two pages.
      const clock = () => now++;

      expect(await publisher.publishPending(s.repository, 2, { until: 2, clock })).toBe(4);
      expect(await publisher.publishPending(s.repository, 2)).toBe(1);
    });
  });

  describe('constructor', () => {
    it('refuses an empty stream name and a non-positive maxLen', () => {
      expect(() => new EventPublisher({ redis: s.redis.redis, stream: '' })).toThrow(/stream/);
      expect(() => new EventPublisher({ redis: s.redis.redis, maxLen: 0 })).toThrow(/maxLen/);
    });
  });
});
