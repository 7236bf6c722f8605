import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, LeaseHeldError, LeaseLostError } from '../shared/errors.js';
import { Lease, waitForLease, withLease } from '../shared/redis/lease.js';
import { UserCache } from '../shared/userCache.js';
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

describe('handover', () => {
  describe('heartbeat()', () => {
    it('renews the lease and reports `held` while nobody waits', async () => {
      const key = newKey();
      const a = lease(key, 'a', 60_000);
      await a.acquire();
      await t.redis.exec(['PEXPIRE', key, '1000']);
      expect(await a.heartbeat()).toBe('held');
      expect(await t.redis.exec<number>(['PTTL', key])).toBeGreaterThan(1_000);
    });

    it('reports `successor` once another run has queued for the lease', async () => {
      const key = newKey();
      const a = lease(key, 'a');
      await a.acquire();
      expect(await lease(key, 'b').acquireOrQueue()).toBe(false);
      expect(await a.heartbeat()).toBe('successor');
      expect(await t.redis.exec(['GET', key])).toBe('a');
    });

    it('reports `lost` when another holder has the lease, and leaves it alone', async () => {
      const key = newKey();
      const a = lease(key, 'a');
      await a.acquire();
      await t.redis.exec(['SET', key, 'b', 'PX', '5000']);
      expect(await a.heartbeat()).toBe('lost');
      expect(await t.redis.exec(['GET', key])).toBe('b');
    });

    it('takes back a lease that expired while nobody else took it', async () => {
      const key = newKey();
      const a = lease(key, 'a');
      await a.acquire();
      await t.redis.exec(['DEL', key]);
      expect(await a.heartbeat()).toBe('held');
      expect(await t.redis.exec(['GET', key])).toBe('a');
    });
  });

  describe('acquireOrQueue()', () => {
    it('leaves a short-lived request when the lease is held, and clears its own request on acquiring', async () => {
      const key = newKey();
      const a = lease(key, 'a');
      const b = lease(key, 'b');
      await a.acquire();
      expect(await b.acquireOrQueue()).toBe(false);
      const pttl = await t.redis.exec<number>(['PTTL', `${key}:next`]);
      expect(pttl).toBeGreaterThan(0);
      expect(pttl).toBeLessThanOrEqual(2_000);
      await a.release();
      expect(await b.acquireOrQueue()).toBe(true);
      expect(await t.redis.exec(['EXISTS', `${key}:next`])).toBe(0);
      expect(await b.heartbeat()).toBe('held');
    });
  });

  describe('waitForLease()', () => {
    const realTime = { clock: Date.now, sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, ms)) };

    it('waits while the holder finishes and takes the lease once it is released', async () => {
      const key = newKey();
      const a = lease(key, 'a');
      await a.acquire();
      let releasedAt = 0;
      const holder = (async () => {
        while ((await a.heartbeat()) !== 'successor') await realTime.sleep(20);
        releasedAt = Date.now();
        await a.release();
      })();
      const b = lease(key, 'b');
      const result = await waitForLease(b, { until: Date.now() + 5_000, ...realTime });
      await holder;
      expect(result.acquired).toBe(true);
      expect(Date.now()).toBeGreaterThanOrEqual(releasedAt);
      expect(await t.redis.exec(['GET', key])).toBe('b');
    });

    it('gives up at `until` when the holder keeps the lease', async () => {
      const key = newKey();
      await lease(key, 'a').acquire();
      const started = Date.now();
      const result = await waitForLease(lease(key, 'b'), { until: started + 300, ...realTime });
      expect(result.acquired).toBe(false);
      expect(result.waitedMs).toBeGreaterThanOrEqual(250);
      expect(await t.redis.exec(['GET', key])).toBe('a');
      // Its request is gone with it: the holder must not hand over to a run that gave up.
      expect(await lease(key, 'a').heartbeat()).toBe('held');
    });
  });

  describe('fenced cache writes', () => {
    const profile = (userId: string) => ({
      userId,
      fullName: 'Nkoulou Jeanne',
      avatar: '',
      matricule: '654321-Z',
      ministere: 'MINSANTE',
      updatedAt: 1_764_230_400_000,
      version: 3,
    });

    it('applies a write while the fence token holds the lease', async () => {
      const cache = new UserCache({ redis: t.redis, keyPrefix: t.keyPrefix });
      const key = newKey();
      const a = lease(key, 'a');
      await a.acquire();
      const id = `fence${n++}`;
      expect(await cache.write([{ kind: 'profile', profile: profile(id) }], { fence: a.fence })).toEqual([
        'written',
      ]);
      expect(await cache.get(id)).toMatchObject({ status: 'hit' });
    });

    it('refuses the whole write with LeaseLostError when another token holds the lease or none does', async () => {
      const cache = new UserCache({ redis: t.redis, keyPrefix: t.keyPrefix });
      const key = newKey();
      const a = lease(key, 'a');
      const id = `fence${n++}`;
      const write = () => cache.write([{ kind: 'profile', profile: profile(id) }], { fence: a.fence });
      await expect(write()).rejects.toBeInstanceOf(LeaseLostError);
      await lease(key, 'b').acquire();
      await expect(write()).rejects.toMatchObject({ code: 'LEASE_LOST' });
      expect(await t.redis.exec(['EXISTS', t.key('user', 'profile', id)])).toBe(0);
    });
  });
});
