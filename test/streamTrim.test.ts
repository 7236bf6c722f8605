/**
 * The stream stays bounded whatever its consumers do (shared/stream/trim.ts), against real Redis through
 * the gateway: an abandoned consumer group no longer pins the trim floor, the poller's own group always
 * does, and every trim reports the stream's length and the oldest pending entry's age.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUpstashGateway } from '../local/upstashGateway.js';
import type { OutboxEvent } from '../shared/db/profileRepository.js';
import { LIMITS } from '../shared/profile/schemas.js';
import { createRedisClient } from '../shared/redis/client.js';
import {
  DEFAULT_STREAM_MAX_LEN,
  EventPublisher,
  MAX_EVENT_ENTRY_BYTES,
  streamMaxLen,
} from '../shared/stream/eventPublisher.js';
import { ABANDONED_GROUP_LAG_MS, trimAcknowledged } from '../shared/stream/trim.js';
import { type TestRedis, useTestRedis } from './support/redis.js';

let t: TestRedis;
const HOUR = 3_600_000;

beforeAll(async () => {
  t = await useTestRedis();
});

afterAll(async () => {
  await t.cleanup();
});

/** A stream of `n` entries, the first `oldCount` of them dated `ageMs` ago (explicit ids), the rest now. */
async function streamOf(name: string, n: number, oldCount: number, ageMs: number): Promise<string> {
  const key = t.key(name);
  const oldMs = Date.now() - ageMs;
  const p = t.redis.pipeline();
  for (let i = 0; i < n; i++) {
    const id = i < oldCount ? `${oldMs}-${i}` : '*';
    p.xadd(key, id, { type: 'x', i: String(i) });
  }
  await p.exec();
  return key;
}

/** The group reads everything and acknowledges it. */
async function consumeAll(key: string, group: string): Promise<void> {
  const reply = (await t.redis.exec([
    'XREADGROUP',
    'GROUP',
    group,
    'c',
    'COUNT',
    '1000',
    'STREAMS',
    key,
    '>',
  ])) as Array<[string, Array<[string, string[]]>]> | null;
  const ids = reply?.[0]?.[1].map(([id]) => id) ?? [];
  if (ids.length > 0) await t.redis.exec(['XACK', key, group, ...ids]);
}

describe('trimAcknowledged()', () => {
  it('excludes a foreign group lagging past the bound from the floor and names it', async () => {
    const key = await streamOf('abandoned', 300, 250, 2 * ABANDONED_GROUP_LAG_MS);
    await t.redis.exec(['XGROUP', 'CREATE', key, 'user-cache', '0']);
    await t.redis.exec(['XGROUP', 'CREATE', key, 'forgotten', '0']);
    await consumeAll(key, 'user-cache');

    const result = await trimAcknowledged(t.redis, key, { group: 'user-cache' });

    expect(result.excluded).toEqual(['forgotten']);
    expect(result.removed).toBeGreaterThan(0);
    // `~` keeps up to a node (100 entries) below the floor: the stream shrank, never below nothing.
    expect(result.length).toBeLessThan(300);
    expect(result.length).toBe(Number(await t.redis.xlen(key)));
  });

  it('keeps a foreign group lagging less than the bound: nothing it has not read is trimmed', async () => {
    const key = await streamOf('recent', 300, 250, HOUR);
    await t.redis.exec(['XGROUP', 'CREATE', key, 'user-cache', '0']);
    await t.redis.exec(['XGROUP', 'CREATE', key, 'analytics', '0']);
    await consumeAll(key, 'user-cache');

    const result = await trimAcknowledged(t.redis, key, { group: 'user-cache' });

    expect(result.excluded).toEqual([]);
    expect(result.removed).toBe(0);
    expect(result.length).toBe(300);
  });

  it("never excludes the poller's own group, however far behind", async () => {
    const key = await streamOf('own-behind', 300, 250, 2 * ABANDONED_GROUP_LAG_MS);
    await t.redis.exec(['XGROUP', 'CREATE', key, 'user-cache', '0']);

    const result = await trimAcknowledged(t.redis, key, { group: 'user-cache' });

    expect(result).toMatchObject({ removed: 0, excluded: [], length: 300 });
  });

  it('does not count a caught-up group as lagging on a quiet stream', async () => {
    const key = await streamOf('quiet', 300, 300, 2 * ABANDONED_GROUP_LAG_MS);
    await t.redis.exec(['XGROUP', 'CREATE', key, 'user-cache', '0']);
    await t.redis.exec(['XGROUP', 'CREATE', key, 'other', '$']);
    await consumeAll(key, 'user-cache');

    const result = await trimAcknowledged(t.redis, key, { group: 'user-cache' });

    expect(result.excluded).toEqual([]);
    expect(result.removed).toBeGreaterThan(0);
  });

  it("reports the age of the own group's oldest pending entry, -1 when none is pending", async () => {
    const key = await streamOf('pending', 10, 5, 2 * HOUR);
    await t.redis.exec(['XGROUP', 'CREATE', key, 'user-cache', '0']);

    const before = await trimAcknowledged(t.redis, key, { group: 'user-cache' });
    await t.redis.exec(['XREADGROUP', 'GROUP', 'user-cache', 'c', 'COUNT', '3', 'STREAMS', key, '>']);
    const after = await trimAcknowledged(t.redis, key, { group: 'user-cache' });

    expect(before.oldestPendingAgeMs).toBe(-1);
    expect(after.oldestPendingAgeMs).toBeGreaterThanOrEqual(2 * HOUR - 5_000);
    expect(after.oldestPendingAgeMs).toBeLessThan(2 * HOUR + 60_000);
    expect(after.length).toBe(10);
  });

  it('answers zeros for a stream that does not exist', async () => {
    expect(await trimAcknowledged(t.redis, t.key('none'), { group: 'user-cache' })).toEqual({
      removed: 0,
      floor: undefined,
      length: 0,
      oldestPendingAgeMs: -1,
      excluded: [],
    });
  });
});

describe("the publisher's byte-sized MAXLEN cap", () => {
  it("keeps the worst-case stream under half of Upstash's 100 MB record limit by default", () => {
    expect(DEFAULT_STREAM_MAX_LEN).toBe(Math.floor(50_000_000 / MAX_EVENT_ENTRY_BYTES));
    // Plus one radix node (100 entries) that `~` may keep: still far under 100 MB.
    expect((DEFAULT_STREAM_MAX_LEN + 100) * MAX_EVENT_ENTRY_BYTES).toBeLessThan(60_000_000);
  });

  it('keeps a stream nobody reads under the record limit: 1,000 largest-possible events, limit 4 MB', async () => {
    const token = randomBytes(8).toString('hex');
    const gateway = await startUpstashGateway({ redisUrl: t.redisUrl, token, maxRecordBytes: 4_000_000 });
    try {
      const redis = createRedisClient({ url: gateway.url, token, timeoutMs: 10_000 });
      const stream = t.key('capped');
      // The same arithmetic as the default, scaled: half the record limit over the largest entry.
      const publisher = new EventPublisher({ redis, stream, maxLen: streamMaxLen(2_000_000) });
      // 4-byte characters: lengths count code points, so these are the largest entries the validators allow.
      const wide = '😀';
      const events: OutboxEvent[] = Array.from({ length: 1_000 }, (_, i) => ({
        outboxId: String(i + 1),
        type: 'user.profile.updated',
        userId: `u${i}`,
        version: i + 1,
        occurredAt: Date.now(),
        profile: {
          userId: `u${i}`,
          version: i + 1,
          updatedAt: Date.now(),
          fullName: wide.repeat(LIMITS.fullNameMaxLength),
          avatar: `https://${wide.repeat(LIMITS.avatarMaxLength - 8)}`,
          matricule: 'M'.repeat(LIMITS.matriculeMaxLength),
          ministere: 'MINFOPRA',
        },
      }));

      for (let i = 0; i < events.length; i += 100) await publisher.publish(events.slice(i, i + 100));

      const usage = Number(await t.redis.exec(['MEMORY', 'USAGE', stream]));
      expect(usage).toBeLessThan(4_000_000);
      expect(Number(await t.redis.xlen(stream))).toBeLessThanOrEqual(streamMaxLen(2_000_000) + 100);
    } finally {
      await gateway.close();
    }
  });
});
