/**
 * One chaos run, start to verdict: its own redis-server (AOF, `appendfsync always`), its own database,
 * the local stack on random ports, 20,000 seeded and prewarmed profiles, mixed traffic from many clients,
 * the fault schedule, quiescence, the final audit, the report and the chart.
 *
 * Why `appendfsync always`: Upstash acknowledges a write only once it is durable. With Redis' default
 * (`everysec`) a SIGKILL loses up to a second of acknowledged writes (tombstones, fences, stream entries
 * whose outbox rows are already marked published), and the run would measure a durability Redis
 * never promised, not the service's correctness.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startLocalStack } from '../../local/localStack.js';
import { startRedisServer } from '../../local/redisServer.js';
import { openScratchDatabase } from '../../local/scratchDatabase.js';
import { seedProfiles } from '../../local/seedData.js';
import { ProfileRepository } from '../../shared/db/profileRepository.js';
import { SqlActivitySource } from '../../shared/prewarm/activitySources.js';
import { Prewarmer } from '../../shared/prewarm/prewarmer.js';
import { createRedisClient } from '../../shared/redis/client.js';
import { StreamConsumer, type StreamConsumerRedis } from '../../shared/stream/consumer.js';
import { EventPublisher } from '../../shared/stream/eventPublisher.js';
import { UserCache } from '../../shared/userCache.js';
import { renderChart } from './chart.js';
import { claimRecorder, type FaultWindow, pausableSql, planFaults, pollerTrap } from './faults.js';
import { runHostileWriters } from './hostileWriters.js';
import { runOutsideProducer } from './outsideProducer.js';
import { type ChaosPoller, startChaosPoller } from './poller.js';
import { buildReport, type ChaosReport, formatReport } from './report.js';
import { runFaultSchedule } from './schedule.js';
import { fetchStats, writeResults } from './setup.js';
import { auditEverything, deadLetterSources, verifyLedger, waitForQuiescence } from './verify.js';
import { Ledger, runWorkload } from './workload.js';

export interface ChaosOptions {
  /** Length of the traffic phase, seconds. @default 120 */
  durationSec?: number;
  /** Seeded profiles. @default 20000 */
  users?: number;
  /** Concurrent HTTP clients. @default 32 */
  clients?: number;
  /** PRNG seed of the workload. @default 1 */
  seed?: number;
  /** Direct PostgreSQL changes per second by the outside producer. @default 5 */
  outsideRatePerSecond?: number;
  /** Use this PostgreSQL (a fresh schema, dropped afterwards) instead of PGlite in a temp directory. */
  databaseUrl?: string;
  /** Where to write `chaos-latest.json` and `.svg`; null writes nothing. @default null */
  resultsDir?: string | null;
  /** Also write the committed `chaos-recorded.*` copies. @default false */
  record?: boolean;
  /**
   * Longest acceptable stale read after a write (after Redis' restart for writes made while it was down):
   * 5 s of circuit-breaker cooldown plus a few poller and relay cycles on a saturated machine.
   * @default 10000
   */
  maxStaleMs?: number;
  /** Progress lines. @default console.log */
  log?: (line: string) => void;
}

export interface ChaosResult {
  report: ChaosReport;
  svg: string;
  files: string[];
}

export async function runChaos(options: ChaosOptions = {}): Promise<ChaosResult> {
  const durationMs = (options.durationSec ?? 120) * 1000;
  const users = options.users ?? 20_000;
  const clients = options.clients ?? 32;
  const log = options.log ?? console.log;
  const plan = planFaults(durationMs);
  // Pending entries of a dead consumer are claimed once idle this long: short, so the run sees it.
  const claimIdleMs = Math.max(1_000, Math.min(5_000, Math.round(durationMs * 0.03)));
  const startedAt = new Date();
  const cleanups: Array<() => Promise<unknown>> = [];
  const tmp = await mkdtemp(join(tmpdir(), 'ngomna-chaos-'));
  cleanups.push(() => rm(tmp, { recursive: true, force: true }));

  try {
    const redisServer = await startRedisServer({ dataDir: join(tmp, 'redis'), appendfsync: 'always' });
    cleanups.push(() => redisServer.stop());
    // `databaseUrl` alone decides (never DATABASE_URL): without it, PGlite on disk in the run's directory.
    const db = await openScratchDatabase({
      url: options.databaseUrl ?? '',
      name: 'chaos',
      dataDir: join(tmp, 'pgdata'),
    });
    cleanups.push(db.close);
    log(`database: ${db.describe}; redis: ${redisServer.url} (appendonly, appendfsync always)`);
    const { inserted } = await seedProfiles(db.sql, users, { activeShare: 0.3 });
    log(`seeded ${inserted} profiles`);
    const sql = pausableSql(db.sql, { maxWaitMs: plan.dbMaxWaitMs });

    const stack = await startLocalStack({
      port: 0,
      dataDir: join(tmp, 'stack'),
      seedUsers: 0,
      redisUrl: redisServer.url,
      sql,
      poller: false,
      prewarm: false,
      logLevel: 'SILENT',
      log: () => {},
      env: { PATH: process.env.PATH },
    });
    cleanups.push(() => stack.stop());
    const { config } = stack;
    const stream = stack.keyPrefix + config.events.stream;
    const redis = createRedisClient({ url: stack.gatewayUrl, token: stack.gatewayToken, timeoutMs: 2_000 });
    const repository = new ProfileRepository({ sql });
    const publisher = new EventPublisher({ redis, stream, maxLen: config.events.maxLen, repository });
    // The poller is another Lambda function: its own cache instance, its own circuit breaker.
    const pollerCache = new UserCache({ redis, ...config.cache });

    const prewarm = await new Prewarmer({
      cache: stack.cache,
      repository,
      source: new SqlActivitySource({ sql }),
      pauseMs: 0,
    }).run();
    log(`prewarmed ${prewarm.cached} profiles in ${prewarm.durationMs} ms`);

    const pollers: ChaosPoller[] = [];
    const startPoller = (consumerRedis: StreamConsumerRedis, name: string) => {
      const poller = startChaosPoller(
        ({ clock, sleep: pause }) =>
          new StreamConsumer({
            redis: consumerRedis,
            cache: pollerCache,
            stream,
            group: config.events.group,
            consumer: name,
            repository,
            claimIdleMs,
            claimEveryMs: 1_000,
            clock,
            sleep: pause,
          }),
        { sliceMs: 5_000, relay: (until) => publisher.publishPending(repository, 100, { until }) },
      );
      pollers.push(poller);
      return poller;
    };
    const trap = pollerTrap(redis);
    const first = startPoller(trap.redis, 'chaos-poller-1');
    // A killed poller never ends (its calls hang, as a dead process's would): only the others are stopped.
    const stopPollers = () =>
      Promise.all(pollers.filter((p) => p !== first || !trap.dead).map((p) => p.stop()));
    cleanups.push(stopPollers);
    // Created now so the final consumer's claims are recorded whichever poller runs at the end.
    const recorder = claimRecorder(redis);

    const origin = performance.now();
    const originWall = Date.now();
    const now = () => performance.now() - origin;
    const windows: FaultWindow[] = [];
    const faults = { redisKilled: false, redisRestarted: false };
    const userIds = Array.from({ length: users }, (_, i) => `u${String(i + 1).padStart(6, '0')}`);
    log(`workload: ${clients} clients for ${durationMs / 1000} s; faults at ${JSON.stringify(plan)}`);

    const ledger = new Ledger();
    const workload = runWorkload({
      baseUrl: stack.apiUrl,
      token: stack.token,
      userIds,
      clients,
      durationMs,
      createPrefix: `chaos-${randomBytes(3).toString('hex')}-`,
      seed: options.seed ?? 1,
      origin,
      ledger,
    });
    const outside = runOutsideProducer({
      sql,
      xadd: (fields) => redis.xadd(stream, '*', fields),
      userIds,
      ratePerSecond: options.outsideRatePerSecond ?? 5,
      durationMs,
      ledger,
      origin,
    });

    const hostile = runHostileWriters({
      sql,
      xadd: (fields) => redis.xadd(stream, '*', fields),
      plantLegacyKey: (id) => redis.exec(['SET', stack.cache.keys.profile(id), 'legacy writer']),
      apiUrl: stack.apiUrl,
      token: stack.token,
      durationMs,
      boundMs: options.maxStaleMs ?? 10_000,
    });

    const schedule = runFaultSchedule({
      plan,
      now,
      log,
      redisServer,
      sql,
      trap,
      windows,
      faults,
      replacePoller: () => startPoller(recorder.redis, 'chaos-poller-2'),
    });

    const [load, producer, writers] = await Promise.all([workload, outside, hostile, schedule]);
    const trafficEnd = now();
    log(`traffic done: ${load.samples.length} requests; waiting for quiescence`);

    const quiescence = await waitForQuiescence({
      sql: db.sql,
      redis,
      stream,
      group: config.events.group,
      timeoutMs: Math.max(30_000, durationMs / 2),
    });
    await stopPollers();

    const cacheStats = await fetchStats(stack.apiUrl, stack.token);
    const deadLettered = Number(await redis.exec(['XLEN', `${stream}:dead`]).catch(() => 0));
    const deadSources = await deadLetterSources(redis, `${stream}:dead`);
    await writers.verify();
    const auditCache = new UserCache({ redis, ...config.cache, trackActivity: false });
    const audit = await auditEverything({ cache: auditCache, repository, sql: db.sql });
    const verdict = await verifyLedger({
      ledger: load.ledger,
      cache: auditCache,
      repository,
      apiUrl: stack.apiUrl,
      token: stack.token,
    });
    const slices = pollers
      .flatMap((p) => p.reports)
      .sort((a, b) => a.endedAt - b.endedAt)
      .map(({ endedAt, report: r }) => ({
        t: Math.round((endedAt - originWall) / 100) / 10,
        applied: r.applied,
        relayed: r.relayed,
        claimed: r.claimed,
        errors: r.errors,
        lagP99: r.lagMs.p99,
        lagMaxSampled: Math.max(0, ...(r.lagSamplesMs ?? [])),
      }));
    const sum = (k: 'applied' | 'relayed' | 'claimed') => slices.reduce((n, x) => n + x[k], 0);
    const lags = slices.map((x) => Math.max(x.lagP99 ?? 0, x.lagMaxSampled));
    const unacked = trap.dead ? await trap.tripped : [];

    const report = buildReport({
      startedAt,
      config: {
        durationSec: durationMs / 1000,
        users,
        clients,
        seed: options.seed ?? 1,
        database: db.kind,
        claimIdleMs,
      },
      plan,
      windows,
      samples: load.samples,
      durationMs: Math.max(durationMs, trafficEnd),
      now: trafficEnd,
      final: {
        cacheStats,
        audit: {
          ...audit,
          findings: audit.findings.map((f) => ({
            ...f,
            writes: load.ledger.describe(f.userId) || undefined,
          })),
        },
        lostUpdates: verdict.lostUpdates,
        resurrected: verdict.resurrected,
        ledgerSize: load.ledger.entries.size,
        hostile: { result: writers.result, deadSources },
        deletedCount: load.deleted.length,
        quiescence,
        events: {
          maxLagMs: lags.length ? Math.max(...lags) : null,
          deadLettered,
          applied: sum('applied'),
          relayed: sum('relayed'),
          claimed: sum('claimed'),
          outside: producer,
          slices,
        },
        pollerKill: {
          tripped: trap.dead,
          unacked,
          reclaimed: unacked.filter((id) => recorder.claimed.has(id)).length,
        },
        faultsInjected: { ...faults, dbStatementsHeld: sql.stats.held, dbTimedOut: sql.stats.timedOut },
        staleReads: load.staleReads,
        maxStaleMs: options.maxStaleMs ?? 10_000,
      },
    });
    for (const w of report.staleness.worst) w.writes = load.ledger.describe(w.userId);
    const svg = renderChart({
      title: `ngomna-user-cache chaos run: ${users} users, ${clients} clients, ${durationMs / 1000} s (${db.kind})`,
      series: report.series,
      windows,
      durationMs,
      staleReads: report.staleness.perSecond,
    });
    log(formatReport(report));
    const files = options.resultsDir
      ? await writeResults(options.resultsDir, report, svg, options.record ?? false)
      : [];
    for (const f of files) log(`wrote ${f}`);
    return { report, svg, files };
  } finally {
    while (cleanups.length > 0) await cleanups.pop()!().catch((e: unknown) => log(`cleanup: ${String(e)}`));
  }
}
