/**
 * `npm run bench -- --only deployed-schedule`: the event lag an outside producer sees under the deployed
 * poller schedule (issue 10 §1). The local stack invokes the poller as EventBridge Scheduler does (every
 * 60 s, 90 s timeout, 80 s budget: shared/stream/pollerSchedule.ts), so runs overlap and hand over. A producer
 * XADDs versioned events at instants spread uniformly over at least three full periods (handovers
 * included), each for its own user; a watcher reads Redis directly and records when each one is applied.
 * Lag = applied (seen in the cache) − just before the XADD was sent.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from 'redis';
import { startLocalStack } from '../local/localStack.js';
import { startRedisServer } from '../local/redisServer.js';
import type { LocalPollerRun } from '../local/scheduledJobs.js';
import { createRedisClient } from '../shared/redis/client.js';
import { toStreamFields } from '../shared/stream/events.js';
import { POLLER_SCHEDULE } from '../shared/stream/pollerSchedule.js';
import { openBenchDatabase } from './eventsBench.js';
import { printTable, round } from './measure.js';

export interface DeployedScheduleResult {
  lagMs: { p50: number; p99: number; max: number; n: number };
  /** The worst lag among events sent in the 2 s before each handover (the instants the old schedule left idle). */
  handoverLagMs: { max: number; n: number };
  schedule: { periodMs: number; timeoutMs: number; budgetMs: number; leaseTtlMs: number };
  measuredMs: number;
  /** Events never seen applied before the end of the run (should be 0). */
  missing: number;
  runs: { invoked: number; handedOver: number; skipped: number; timedOut: number; failed: number };
  /** How long successors waited for the lease (handover wait), ms. */
  waitMs: { p50: number; max: number };
  /** The five largest lags, with when their events were sent (ms after the measurement started). */
  worst: Array<{ sentAtMs: number; lagMs: number }>;
  /** When each handover happened (ms after the measurement started). */
  handoversAtMs: number[];
}

export interface DeployedScheduleOptions {
  /** Full periods to measure over. @default 3 */
  periods?: number;
  /** Mean spacing of the producer's events. @default 50 */
  spacingMs?: number;
}

export async function runDeployedScheduleBench(
  opts: DeployedScheduleOptions = {},
): Promise<DeployedScheduleResult> {
  const schedule = POLLER_SCHEDULE;
  const periods = opts.periods ?? 3;
  const spacingMs = opts.spacingMs ?? 50;
  const dataDir = await mkdtemp(join(os.tmpdir(), 'user-cache-schedulebench-'));
  const server = await startRedisServer();
  const db = await openBenchDatabase();
  const runs: LocalPollerRun[] = [];
  const watcher = createClient({ url: server.url });
  try {
    await watcher.connect();
    const stack = await startLocalStack({
      port: 0,
      dataDir: join(dataDir, 'stack'),
      seedUsers: 0,
      redisUrl: server.url,
      sql: db.sql,
      prewarm: false,
      logLevel: 'WARN',
      log: () => {},
      env: { PATH: process.env.PATH },
      onPollerRun: (run) => runs.push(run),
    });
    const producer = createRedisClient({
      url: stack.gatewayUrl,
      token: stack.gatewayToken,
      timeoutMs: 5_000,
    });
    const profileKey = (id: string) => `${stack.keyPrefix}user:profile:${id}`;
    try {
      // The first run starts with the stack; measure over `periods` full periods after it settled.
      await sleep(2_000);
      const start = Date.now();
      const measuredMs = periods * schedule.periodMs + 5_000;
      const count = Math.floor(measuredMs / spacingMs);
      const sentAt = new Map<string, number>();
      const lags = new Map<string, number>();
      let producing = true;

      const watching = (async () => {
        while (producing || lags.size < sentAt.size) {
          const outstanding = [...sentAt.keys()].filter((id) => !lags.has(id));
          if (outstanding.length > 0) {
            const seen = await Promise.all(outstanding.map((id) => watcher.exists(profileKey(id))));
            const now = Date.now();
            outstanding.forEach((id, i) => {
              if (seen[i] === 1) lags.set(id, now - sentAt.get(id)!);
            });
          }
          if (!producing && Date.now() > start + measuredMs + 10_000) break;
          await sleep(5);
        }
      })();

      // Stratified uniform instants: one event in each `spacingMs` slot, at a random point of it.
      for (let i = 0; i < count; i++) {
        const at = start + (i + Math.random()) * spacingMs;
        const wait = at - Date.now();
        if (wait > 0) await sleep(wait);
        const id = `ds${String(i).padStart(6, '0')}`;
        const now = Date.now();
        const fields = toStreamFields({
          type: 'user.profile.updated',
          userId: id,
          version: 1,
          occurredAt: now,
          profile: {
            userId: id,
            fullName: 'Mvondo Thérèse',
            avatar: '',
            matricule: '600001-D',
            ministere: 'MINTP',
            updatedAt: now,
            version: 1,
          },
        });
        sentAt.set(id, now);
        // Not awaited: a slow XADD must not delay the next instant (the producer is another service).
        void producer.xadd(stack.stream, '*', fields).catch(() => sentAt.delete(id));
      }
      producing = false;
      await watching;
      await stack.stop();

      const handovers = runs.filter((r) => r.report?.handedOver).map((r) => r.endedAt);
      const values = [...lags.values()].sort((a, b) => a - b);
      const near = [...lags.entries()]
        .filter(([id]) => handovers.some((h) => h - sentAt.get(id)! >= 0 && h - sentAt.get(id)! <= 2_000))
        .map(([, lag]) => lag);
      const waits = runs
        .filter((r) => r.outcome === 'done')
        .map((r) => r.report?.waitedMs ?? 0)
        .filter((w) => w > 0)
        .sort((a, b) => a - b);
      const pick = (sorted: number[], q: number) =>
        round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN, 1);
      const result: DeployedScheduleResult = {
        lagMs: { p50: pick(values, 0.5), p99: pick(values, 0.99), max: pick(values, 1), n: values.length },
        handoverLagMs: { max: near.length > 0 ? Math.max(...near) : Number.NaN, n: near.length },
        schedule: { ...schedule },
        measuredMs,
        missing: sentAt.size - lags.size,
        runs: {
          invoked: runs.length,
          handedOver: handovers.length,
          skipped: runs.filter((r) => r.outcome === 'skipped').length,
          timedOut: runs.filter((r) => r.outcome === 'timedOut').length,
          failed: runs.filter((r) => r.outcome === 'failed').length,
        },
        waitMs: { p50: pick(waits, 0.5), max: pick(waits, 1) },
        worst: [...lags.entries()]
          .sort((a, b) => b[1] - a[1])
          .slice(0, 5)
          .map(([id, lagMs]) => ({ sentAtMs: sentAt.get(id)! - start, lagMs })),
        handoversAtMs: handovers.map((h) => h - start),
      };
      printTable(
        `Event lag under the deployed schedule (every ${schedule.periodMs / 1000} s, ${schedule.timeoutMs / 1000} s timeout, ${schedule.budgetMs / 1000} s budget), outside XADD → applied (ms)`,
        [
          {
            events: result.lagMs.n,
            missing: result.missing,
            p50: result.lagMs.p50,
            p99: result.lagMs.p99,
            max: result.lagMs.max,
            'max near handovers': result.handoverLagMs.max,
            runs: result.runs.invoked,
            handovers: result.runs.handedOver,
            'wait p50/max': `${result.waitMs.p50}/${result.waitMs.max}`,
            target: 'p99 < 1000',
          },
        ],
      );
      return result;
    } finally {
      await stack.stop();
    }
  } finally {
    await watcher.quit().catch(() => {});
    await server.stop();
    await db.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}
