/**
 * Poller runs that overlap and hand over (issue 10 §1): a run started while another holds the lease waits,
 * the holder finishes its batch, acknowledges and releases, and the waiting run takes over. Real Redis,
 * real clocks, short periods.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { CacheWrite, WriteOutcome } from '../shared/cache/writes.js';
import { LeaseLostError } from '../shared/errors.js';
import { Lease } from '../shared/redis/lease.js';
import { StreamConsumer, type StreamConsumerOptions } from '../shared/stream/consumer.js';
import { toStreamFields } from '../shared/stream/events.js';
import { UserCache } from '../shared/userCache.js';
import { type TestRedis, useTestRedis } from './support/redis.js';

let t: TestRedis;
let cache: UserCache;
let n = 0;
const newStream = () => t.key('events', String(n++));
const newLeaseKey = () => t.key('poller', 'lease', String(n++));

beforeAll(async () => {
  t = await useTestRedis();
  cache = new UserCache({ redis: t.redis, keyPrefix: t.keyPrefix });
});
afterAll(async () => {
  await t.cleanup();
});

function updated(userId: string, version: number, occurredAt = Date.now()) {
  return toStreamFields({
    type: 'user.profile.updated',
    userId,
    version,
    occurredAt,
    profile: {
      userId,
      fullName: `Essomba Paul v${version}`,
      avatar: '',
      matricule: '123456-A',
      ministere: 'MINFI',
      updatedAt: occurredAt,
      version,
    },
  });
}

async function xadd(stream: string, fields: Record<string, string>): Promise<string> {
  return t.redis.exec<string>(['XADD', stream, '*', ...Object.entries(fields).flat()]);
}

async function groupPending(stream: string): Promise<number> {
  const summary = await t.redis.exec<unknown[]>(['XPENDING', stream, 'user-cache']);
  return Number(summary[0]);
}

/** XADDs one event every `everyMs` until `untilMs` from now; returns the ids and versions it wrote. */
async function produce(stream: string, opts: { everyMs: number; forMs: number; user: string }) {
  const end = Date.now() + opts.forMs;
  let version = 0;
  while (Date.now() < end) {
    await xadd(stream, updated(opts.user, ++version));
    await sleep(opts.everyMs);
  }
  return version;
}

/** A poller run as the Lambda handler builds one: its own consumer name, the shared lease key. */
function run(
  stream: string,
  leaseKey: string,
  opts: Partial<StreamConsumerOptions> & { ttlMs?: number } = {},
) {
  const { ttlMs = 2_000, ...rest } = opts;
  const lease = new Lease({ redis: t.redis, key: leaseKey, ttlMs });
  return new StreamConsumer({ redis: t.redis, cache, stream, lease, claimIdleMs: 30_000, ...rest });
}

/** The cache, wrapped to count writes in flight at once across every run that shares the counter. */
function overlapProbe(inner: Pick<UserCache, 'write'>) {
  const state = { active: 0, maxActive: 0, writes: 0 };
  const wrap = (): Pick<UserCache, 'write'> => ({
    async write(entries: readonly CacheWrite[], options?: Parameters<UserCache['write']>[1]) {
      state.active++;
      state.maxActive = Math.max(state.maxActive, state.active);
      try {
        const outcomes = await inner.write(entries, options);
        state.writes++;
        return outcomes;
      } finally {
        state.active--;
      }
    },
  });
  return { state, wrap };
}

describe('poller handover', () => {
  it('a run started while another holds the lease waits, takes over, and leaves no gap', async () => {
    const stream = newStream();
    const leaseKey = newLeaseKey();
    const user = `h${n++}`;
    // The first run's budget ends at 1.5 s, the second starts at 1 s: without a handover the second
    // would be skipped and events from 1.5 s on would wait for a later run.
    const first = run(stream, leaseKey, { periodMs: 1_000 });
    await first.ensureGroup();
    const producing = produce(stream, { everyMs: 20, forMs: 3_000, user });
    const firstRun = first.runFor(1_500);
    // Observed now so a rejection during the sleep is not reported as unhandled; Promise.all still sees it.
    firstRun.catch(() => {});
    await sleep(1_000);
    const secondRun = run(stream, leaseKey, { periodMs: 1_000 }).runFor(3_000);

    const [a, b, last] = await Promise.all([firstRun, secondRun, producing]);

    // The first run handed over (it did not run out its budget), the second consumed the rest.
    expect(a.handedOver).toBe(true);
    expect(b.waitedMs).toBeGreaterThan(0);
    expect(a.applied + b.applied).toBeGreaterThanOrEqual(last);
    expect(b.applied).toBeGreaterThan(0);
    // A gross-failure guard, not a speed target (the bench measures lag): without a handover the
    // events from 1.5 s on would never be applied by these runs.
    expect(Math.max(...a.lagSamplesMs, ...b.lagSamplesMs)).toBeLessThan(3_000);
    expect(await groupPending(stream)).toBe(0);
    expect(await cache.get(user)).toMatchObject({ status: 'hit', profile: { version: last } });
    expect(await t.redis.exec(['EXISTS', leaseKey])).toBe(0);
  });

  it('overlapping runs never apply at the same time, and together apply every entry (property)', async () => {
    const schedule = fc.record({
      // Each run starts `gapMs` after the previous one, as the scheduler would fire them.
      runs: fc.array(
        fc.record({ gapMs: fc.integer({ min: 0, max: 400 }), budgetMs: fc.integer({ min: 300, max: 900 }) }),
        { minLength: 2, maxLength: 4 },
      ),
      periodMs: fc.integer({ min: 100, max: 600 }),
    });
    await fc.assert(
      fc.asyncProperty(schedule, async ({ runs, periodMs }) => {
        const stream = newStream();
        const leaseKey = newLeaseKey();
        const user = `p${n++}`;
        const probe = overlapProbe(cache);
        const reports: Array<Promise<unknown>> = [];
        await run(stream, leaseKey).ensureGroup();
        const producing = produce(stream, { everyMs: 15, forMs: 600, user });
        for (const r of runs) {
          await sleep(r.gapMs);
          // A run that gives up waiting rejects (LEASE_HELD) while later runs are still being started:
          // settle it now, or Node reports the rejection as unhandled before allSettled below sees it.
          const report = run(stream, leaseKey, { periodMs, cache: probe.wrap() }).runFor(r.budgetMs);
          reports.push(
            report.then(
              (value) => value,
              (error: unknown) => error,
            ),
          );
        }
        const last = await producing;
        await Promise.allSettled(reports);
        // Whatever the runs' schedule left behind is finished by one more run, as the next minute would.
        await run(stream, leaseKey, { cache: probe.wrap() }).runFor(400);

        expect(probe.state.maxActive).toBe(1);
        expect(await groupPending(stream)).toBe(0);
        expect(await cache.get(user)).toMatchObject({ status: 'hit', profile: { version: last } });
      }),
      { numRuns: 6 },
    );
  });

  it('a run that stalls past its lease TTL can never apply after another run took over (fence)', async () => {
    const stream = newStream();
    const leaseKey = newLeaseKey();
    const user = `f${n++}`;
    const outcomes: WriteOutcome[][] = [];
    const errors: unknown[] = [];
    // The stalled run's write waits until its lease expired and a successor took it.
    const successor = new Lease({ redis: t.redis, key: leaseKey, ttlMs: 10_000, owner: 'next' });
    const stalling: Pick<UserCache, 'write'> = {
      async write(entries, options) {
        await vi.waitFor(async () => expect(await successor.acquire()).toBe(true), {
          timeout: 5_000,
          interval: 50,
        });
        await t.redis.exec(['DEL', t.key('user', 'profile', user)]);
        try {
          const result = await cache.write(entries, options);
          outcomes.push(result);
          return result;
        } catch (error) {
          errors.push(error);
          throw error;
        }
      },
    };
    const stalled = run(stream, leaseKey, { ttlMs: 300, cache: stalling });
    await stalled.ensureGroup();
    await xadd(stream, updated(user, 1));

    const report = await stalled.runFor(2_000);

    expect(outcomes).toEqual([]);
    expect(errors[0]).toBeInstanceOf(LeaseLostError);
    expect(report).toMatchObject({ leaseLost: true, applied: 0 });
    // Nothing landed: the profile key stays deleted, and the entry stays pending for the next holder.
    expect(await t.redis.exec(['EXISTS', t.key('user', 'profile', user)])).toBe(0);
    expect(await groupPending(stream)).toBe(1);
    expect(await t.redis.exec(['GET', leaseKey])).toBe('next');
  });

  it('a run killed mid-batch leaves its entries pending, and the next run claims them as it takes over', async () => {
    const stream = newStream();
    const leaseKey = newLeaseKey();
    const users = Array.from({ length: 5 }, (_, i) => `k${n}x${i}`);
    n++;
    // The killed run's own client: every request fails once killed, as when Lambda ends the process.
    const kill = new AbortController();
    const doomed = t.client({ timeoutMs: 2_000, signal: kill.signal });
    const doomedCache = new UserCache({ redis: doomed, keyPrefix: t.keyPrefix });
    const killing: Pick<UserCache, 'write'> = {
      async write(entries, options) {
        kill.abort();
        return doomedCache.write(entries, options);
      },
    };
    const victim = new StreamConsumer({
      redis: doomed,
      cache: killing,
      stream,
      lease: new Lease({ redis: doomed, key: leaseKey, ttlMs: 500 }),
    });
    await victim.ensureGroup();
    for (const u of users) await xadd(stream, updated(u, 1));

    const victimRun = victim.runFor(1_000).catch((error: unknown) => error);
    await sleep(100);
    const next = await run(stream, leaseKey, { ttlMs: 500 }).runFor(3_000);
    await victimRun;

    // Claimed at takeover, not after the 30 s idle time a dead consumer's entries otherwise wait (past
    // this run's 3 s budget).
    expect(next.claimed).toBe(users.length);
    expect(next.waitedMs).toBeGreaterThan(0);
    expect(await groupPending(stream)).toBe(0);
    for (const u of users)
      expect(await cache.get(u)).toMatchObject({ status: 'hit', profile: { version: 1 } });
  });
});
