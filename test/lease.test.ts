import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, LeaseHeldError } from '../shared/errors.js';
import { Lease, withLease } from '../shared/lease.js';
import { type TestRedis, useTestRedis } from './support/redis.js';

let t: TestRedis;
let n = 0;
const newKey = () => t.key('lease', String(n++));
const lease = (key: string, owner?: string, ttlMs = 10_000) =>
  new Lease({ redis: t.redis, key, ttlMs, owner });

beforeAll(async () => {
  t = await useTestRedis();
});
afterAll(async () => {
  await t.cleanup();
});

describe('Lease', () => {
  describe('constructor', () => {
    it('rejects an empty key or a non-positive ttl with a ConfigError', () => {
      expect(() => lease('')).toThrow(ConfigError);
      expect(() => lease(newKey(), 'a', 0)).toThrow(ConfigError);
      expect(() => lease(newKey(), 'a', 1.5)).toThrow(ConfigError);
    });

    it('gives every holder a distinct random owner token by default', () => {
      const key = newKey();
      expect(lease(key).owner).not.toBe(lease(key).owner);
    });
  });

  describe('acquire()', () => {
    it('lets exactly one of two concurrent holders in, with the TTL set (SET NX PX)', async () => {
      const key = newKey();
      const results = await Promise.all([lease(key, 'a').acquire(), lease(key, 'b').acquire()]);
      expect(results.filter(Boolean)).toHaveLength(1);
      const pttl = await t.redis.exec<number>(['PTTL', key]);
      expect(pttl).toBeGreaterThan(0);
      expect(pttl).toBeLessThanOrEqual(10_000);
    });

    it('fails for a second acquire by the same holder while it holds the lease', async () => {
      const a = lease(newKey(), 'a');
      expect(await a.acquire()).toBe(true);
      expect(await a.acquire()).toBe(false);
    });
  });

  describe('renew()', () => {
    it('extends the TTL while still the owner', async () => {
      const key = newKey();
      const a = lease(key, 'a', 60_000);
      await a.acquire();
      await t.redis.exec(['PEXPIRE', key, '1000']);
      expect(await a.renew()).toBe(true);
      expect(await t.redis.exec<number>(['PTTL', key])).toBeGreaterThan(1_000);
    });

    it('reports a lease lost to another holder and leaves it untouched', async () => {
      const key = newKey();
      const a = lease(key, 'a');
      await a.acquire();
      // a's lease expired (simulated by deleting it) and b took over.
      await t.redis.exec(['DEL', key]);
      expect(await lease(key, 'b', 5_000).acquire()).toBe(true);
      expect(await a.renew()).toBe(false);
      expect(await t.redis.exec(['GET', key])).toBe('b');
      expect(await t.redis.exec<number>(['PTTL', key])).toBeLessThanOrEqual(5_000);
    });
  });

  describe('release()', () => {
    it('deletes the lease so another holder can acquire it', async () => {
      const key = newKey();
      const a = lease(key, 'a');
      await a.acquire();
      expect(await a.release()).toBe(true);
      expect(await lease(key, 'b').acquire()).toBe(true);
    });

    it("never deletes someone else's lease (compare-and-delete)", async () => {
      const key = newKey();
      await lease(key, 'a').acquire();
      expect(await lease(key, 'b').release()).toBe(false);
      expect(await t.redis.exec(['GET', key])).toBe('a');
    });
  });
});

describe('withLease()', () => {
  it('runs the function while holding the lease and releases it afterwards', async () => {
    const key = newKey();
    const seen = await withLease(lease(key, 'a'), async () => t.redis.exec(['GET', key]));
    expect(seen).toBe('a');
    expect(await t.redis.exec(['EXISTS', key])).toBe(0);
  });

  it('throws LeaseHeldError without running the function when another holder has the lease', async () => {
    const key = newKey();
    await lease(key, 'other').acquire();
    let ran = false;
    const attempt = withLease(lease(key, 'me'), async () => {
      ran = true;
    });
    await expect(attempt).rejects.toBeInstanceOf(LeaseHeldError);
    await expect(attempt).rejects.toMatchObject({ code: 'LEASE_HELD' });
    expect(ran).toBe(false);
    expect(await t.redis.exec(['GET', key])).toBe('other');
  });

  it('releases the lease even when the function throws', async () => {
    const key = newKey();
    await expect(
      withLease(lease(key, 'a'), async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await lease(key, 'b').acquire()).toBe(true);
  });
});
