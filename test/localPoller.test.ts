/**
 * The local stack runs the poller as AWS does (issue 10 §1): one invocation per period with the deployed
 * timeout and budget, runs overlapping and handing over through the lease, a run past its timeout
 * abandoned as Lambda would kill it. Short periods here; the deployed 60 s one is measured by
 * `npm run bench -- --only deployed-schedule`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type LocalStack, startLocalStack } from '../local/localStack.js';
import type { LocalPollerRun } from '../local/scheduledJobs.js';
import type { Sql } from '../shared/db/sql.js';
import { toStreamFields } from '../shared/stream/events.js';
import { POLLER_SCHEDULE } from '../shared/stream/pollerSchedule.js';
import { type TestDb, useTestDb } from './support/db.js';
import { type TestRedis, useTestRedis } from './support/redis.js';

let db: TestDb;
let redis: TestRedis;
let dir: string | undefined;
let stack: LocalStack | undefined;
let n = 0;

beforeAll(async () => {
  [db, redis] = await Promise.all([useTestDb(), useTestRedis()]);
});
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
});
afterAll(async () => {
  await Promise.all([redis?.cleanup(), db?.cleanup()]);
});

/** A short schedule with the deployed shape: timeout past the period, budget ending before the timeout. */
const SHORT = { periodMs: 800, timeoutMs: 1_600, budgetMs: 1_100, leaseTtlMs: 500 };

async function start(opts: { sql?: Sql; runs: LocalPollerRun[] }) {
  dir = await mkdtemp(join(tmpdir(), 'local-poller-'));
  stack = await startLocalStack({
    port: 0,
    dataDir: dir,
    seedUsers: 0,
    sql: opts.sql ?? db.sql,
    redisUrl: redis.redisUrl,
    keyPrefix: `${redis.keyPrefix}${n++}:`,
    prewarm: false,
    logLevel: 'SILENT',
    log: () => {},
    pollerSchedule: SHORT,
    onPollerRun: (run) => opts.runs.push(run),
  });
  return stack;
}

function updated(userId: string, version: number) {
  const now = Date.now();
  return toStreamFields({
    type: 'user.profile.updated',
    userId,
    version,
    occurredAt: now,
    profile: {
      userId,
      fullName: 'Fouda Alice',
      avatar: '',
      matricule: '1-A',
      ministere: 'MINEE',
      updatedAt: now,
      version,
    },
  });
}

/** An outside producer: one XADD every `everyMs` for `forMs`. Returns the last version written. */
async function produce(s: LocalStack, user: string, everyMs: number, forMs: number): Promise<number> {
  const end = Date.now() + forMs;
  let version = 0;
  while (Date.now() < end) {
    await redis.redis.exec(['XADD', s.stream, '*', ...Object.entries(updated(user, ++version)).flat()]);
    await sleep(everyMs);
  }
  return version;
}

async function cachedVersion(s: LocalStack, user: string): Promise<number | undefined> {
  const lookup = await s.cache.get(user);
  return lookup.status === 'hit' ? lookup.profile.version : undefined;
}

describe('local poller schedule', () => {
  it('defaults to the deployed schedule: a timeout past the period, a budget ending before the timeout', () => {
    expect(POLLER_SCHEDULE.periodMs).toBe(60_000);
    expect(POLLER_SCHEDULE.timeoutMs).toBeGreaterThan(POLLER_SCHEDULE.periodMs);
    expect(POLLER_SCHEDULE.budgetMs).toBeGreaterThan(POLLER_SCHEDULE.periodMs);
    expect(POLLER_SCHEDULE.budgetMs).toBeLessThan(POLLER_SCHEDULE.timeoutMs);
  });

  it('invokes the poller once per period; runs overlap and hand over, so consumption never stops', async () => {
    const runs: LocalPollerRun[] = [];
    const s = await start({ runs });
    const user = `s${n++}`;

    const last = await produce(s, user, 25, 3_400);
    await vi.waitFor(async () => expect(await cachedVersion(s, user)).toBe(last), { timeout: 3_000 });
    await s.stop();

    const starts = runs.map((r) => r.invokedAt).sort((a, b) => a - b);
    expect(starts.length).toBeGreaterThanOrEqual(4);
    // Scheduled at fixed times (first + k × period), not back to back: never early, whatever each run did.
    starts.forEach((at, k) => {
      expect(at - starts[0]!).toBeGreaterThanOrEqual(k * SHORT.periodMs - 5);
      expect(at - starts[0]!).toBeLessThan((k + 1) * SHORT.periodMs);
    });
    const done = runs.filter((r) => r.outcome === 'done');
    expect(done.filter((r) => r.report?.handedOver).length).toBeGreaterThanOrEqual(2);
    const lags = done.flatMap((r) => r.report?.lagSamplesMs ?? []);
    expect(lags.length).toBeGreaterThanOrEqual(last);
    // A gross-failure guard, not a speed target (the bench measures lag at the deployed period).
    expect(Math.max(...lags)).toBeLessThan(3_000);
  });

  it('abandons a run past its timeout as Lambda would kill it; the next run takes over', async () => {
    const runs: LocalPollerRun[] = [];
    // The first relay query of the stack stalls for 2.5 s: its run stops renewing its lease and
    // outlives its 1.6 s timeout.
    let stalls = 1;
    const stalling: Sql = {
      ...db.sql,
      query: async (text, params) => {
        if (stalls > 0 && /FROM outbox/.test(text)) {
          stalls--;
          await sleep(2_500);
        }
        return db.sql.query(text, params);
      },
      transaction: (fn) => db.sql.transaction(fn),
      close: () => db.sql.close(),
    };
    const s = await start({ sql: stalling, runs });
    const user = `t${n++}`;

    const last = await produce(s, user, 50, 3_500);
    await vi.waitFor(async () => expect(await cachedVersion(s, user)).toBe(last), { timeout: 3_000 });
    await sleep(1_000);
    await s.stop();

    // The first run (the one whose relay stalled) was abandoned at its timeout; later runs consumed.
    const first = runs.reduce((a, b) => (a.invokedAt <= b.invokedAt ? a : b));
    expect(first.outcome).toBe('timedOut');
    expect(first.endedAt - first.invokedAt).toBeGreaterThanOrEqual(SHORT.timeoutMs - 5);
    expect(runs.filter((r) => r.outcome === 'done' && (r.report?.applied ?? 0) > 0).length).toBeGreaterThan(
      0,
    );
  });
});
