/**
 * National scale (issue 11): 350,000 profiles, 150,000 of them active, on the real PostgreSQL at
 * DATABASE_URL (a scratch schema, dropped afterwards) and a private redis-server behind the local Upstash
 * gateway. Measures:
 * - the daily prewarm as budgeted invocations until its cycle is complete, with the deployed budget
 *   (900 s timeout − 30 s margin) and pacing (500 per batch, 1.5 s apart). Pauses are not waited for:
 *   a paced clock adds them to real time, so budgets, checkpoints and leases behave as deployed and
 *   the figures are the paced ones. Once for 150,000 active users (activity source), once for all
 *   350,000 (SQL source);
 * - a day of hourly audits (24 runs of the default sample) and the share of cached profiles it covered;
 * - the outbox purge rate, and insert latency of a concurrent writer during the purge;
 * - Redis bytes per cached profile (MEMORY USAGE) at seed-sized and realistic field sizes.
 */
import { performance } from 'node:perf_hooks';
import { createClient } from 'redis';
import { SETTINGS } from '../functions/commons/settings.js';
import { startRedisServer } from '../local/redisServer.js';
import { openScratchDatabase } from '../local/scratchDatabase.js';
import { seedProfiles } from '../local/seedData.js';
import { startUpstashGateway } from '../local/upstashGateway.js';
import { ConsistencyAuditor } from '../shared/audit/auditor.js';
import { OutboxPurger } from '../shared/db/outboxPurge.js';
import { ProfileRepository } from '../shared/db/profileRepository.js';
import type { Sql } from '../shared/db/sql.js';
import {
  type ActiveUserSource,
  RedisActivitySource,
  SqlActivitySource,
} from '../shared/prewarm/activitySources.js';
import { RedisPrewarmCheckpoint } from '../shared/prewarm/checkpoint.js';
import { Prewarmer } from '../shared/prewarm/prewarmer.js';
import { createRedisClient } from '../shared/redis/client.js';
import { Lease } from '../shared/redis/lease.js';
import { UserCache } from '../shared/userCache.js';
import { type Figures, printTable, round, summarize } from './measure.js';
import { measureProfileMemory } from './scaleMemory.js';

const PROFILES = 350_000;
const ACTIVE = 150_000;
/** The deployed prewarm: 900 s Lambda timeout minus the handler's 30 s end margin. */
const DEPLOYED_BUDGET_MS = 870_000;
/** The deployed schedule repeats every 15 minutes (cron(0/15 4-6 * * ? *)). */
const SCHEDULE_EVERY_MS = 15 * 60_000;
const AUDIT_SAMPLE = SETTINGS.auditSampleSize.default;

export interface PrewarmScenario {
  source: 'activity' | 'sql';
  active: number;
  invocations: number;
  cachedPerInvocation: number[];
  batches: number;
  errors: number;
  coverage: number;
  /** Sum of the invocations' paced durations (work + 1.5 s pauses). */
  pacedSeconds: number;
  /** From the first scheduled run (04:00 UTC) to the cycle's completion, 15-minute gaps included. */
  completeAfterMinutes: number;
  /** Real time the benchmark spent (pauses skipped). */
  workSeconds: number;
}

export interface ScaleBenchResult {
  profiles: number;
  active: number;
  seedSeconds: number;
  prewarm: PrewarmScenario[];
  audit: {
    runs: number;
    sample: number;
    audited: number;
    cached: number;
    coverage: number;
    passes: number;
    runSeconds: Figures;
  };
  outboxPurge: {
    rows: number;
    deleted: number;
    keptUnpublished: number;
    keptRecent: number;
    seconds: number;
    rowsPerSecond: number;
    /** A concurrent writer's create latency during the purge, and alone just before it. */
    writerInsertMs: Figures;
    writerAloneMs: Figures;
  };
  memory: Awaited<ReturnType<typeof measureProfileMemory>>;
}

export async function runScaleBench(): Promise<ScaleBenchResult> {
  const db = await openScratchDatabase({ name: 'scale', max: 6, statementTimeoutMs: 60_000 });
  if (db.kind !== 'postgres') {
    await db.close();
    throw new Error('the scale benchmark needs DATABASE_URL (a real PostgreSQL server)');
  }
  const server = await startRedisServer();
  const gateway = await startUpstashGateway({ redisUrl: server.url, token: 'bench-token' });
  const raw = createClient({ url: server.url });
  await raw.connect();
  try {
    const redis = createRedisClient({ url: gateway.url, token: gateway.token, timeoutMs: 10_000 });
    const cache = new UserCache({ redis, trackActivity: false });
    const repository = new ProfileRepository({ sql: db.sql });

    const t0 = performance.now();
    await seedProfiles(db.sql, ACTIVE, { activeShare: 1, idPrefix: 'a', chunkSize: 10_000 });
    await seedProfiles(db.sql, PROFILES - ACTIVE, {
      activeShare: 0,
      idPrefix: 'i',
      seed: 7,
      chunkSize: 10_000,
    });
    await db.sql.query('ANALYZE personnel');
    const seedSeconds = round((performance.now() - t0) / 1000, 1);
    console.error(`scale: seeded ${PROFILES} profiles (${ACTIVE} active) in ${seedSeconds} s`);

    // The activity set as reads would have left it: every active user, scored by their last activity.
    await fillActivitySet(db.sql, raw, cache.keys.activity);
    const prewarm = [
      await prewarmScenario('activity', new RedisActivitySource({ redis, key: cache.keys.activity }), ACTIVE),
    ];
    // Then every one of the 350,000 active, through the SQL source: more than one invocation's worth.
    await db.sql.query(
      `UPDATE personnel SET last_active_at = now() - random() * interval '6 days' WHERE last_active_at IS NULL
          OR last_active_at < now() - interval '7 days'`,
    );
    prewarm.push(await prewarmScenario('sql', new SqlActivitySource({ sql: db.sql }), PROFILES));

    const audit = await auditDay();
    const outboxPurge = await purgeBench(db.sql, repository);
    const memory = await measureProfileMemory({ redis, raw, sample: 1_000 });
    print({ prewarm, audit, outboxPurge, memory });
    return { profiles: PROFILES, active: ACTIVE, seedSeconds, prewarm, audit, outboxPurge, memory };

    async function prewarmScenario(
      name: PrewarmScenario['source'],
      source: ActiveUserSource,
      active: number,
    ): Promise<PrewarmScenario> {
      const checkpointKey = `bench:${name}:checkpoint`;
      const paced = pacedClock();
      const cachedPerInvocation: number[] = [];
      let batches = 0;
      let errors = 0;
      let coverage = 0;
      // What the source counted when the cycle began: seeded activity near the window's edge ages out.
      let counted = active;
      let pacedMs = 0;
      let lastStart = 0;
      let lastDuration = 0;
      const started = performance.now();
      for (let invocation = 0; invocation < 20; invocation++) {
        const lease = new Lease({ redis, key: `bench:${name}:lease`, ttlMs: 60_000 });
        const p = new Prewarmer({
          cache,
          repository,
          source,
          lease,
          checkpoint: new RedisPrewarmCheckpoint({ redis, key: checkpointKey, lease }),
          budgetMs: DEPLOYED_BUDGET_MS,
          clock: paced.clock,
          sleep: paced.sleep,
          cycleOf: () => 'bench',
        });
        const report = await p.run();
        cachedPerInvocation.push(report.cached);
        batches += report.batches;
        errors += report.errors;
        coverage = report.cycle.coverage;
        counted = report.cycle.active ?? counted;
        pacedMs += report.durationMs;
        lastStart = invocation * SCHEDULE_EVERY_MS;
        lastDuration = report.durationMs;
        console.error(
          `scale: prewarm ${name} invocation ${invocation + 1}: cached ${report.cached}, remaining ${report.remaining}, paced ${round(report.durationMs / 1000, 1)} s`,
        );
        if (report.complete) break;
      }
      return {
        source: name,
        active: counted,
        invocations: cachedPerInvocation.length,
        cachedPerInvocation,
        batches,
        errors,
        coverage,
        pacedSeconds: round(pacedMs / 1000, 1),
        completeAfterMinutes: round((lastStart + lastDuration) / 60_000, 1),
        workSeconds: round((performance.now() - started) / 1000, 1),
      };
    }

    async function auditDay(): Promise<ScaleBenchResult['audit']> {
      const audited = new Set<string>();
      const runMs: number[] = [];
      let passes = 0;
      let virtualNow = Date.now();
      const auditor = new ConsistencyAuditor({
        cache: {
          keys: cache.keys,
          batchGet: async (ids, o) => {
            for (const id of ids) audited.add(id);
            return cache.batchGet(ids, o);
          },
        },
        repository,
        redis,
        rotationKey: 'user:audit:rotation',
        clock: () => virtualNow,
        sleep: async () => {},
      });
      for (let run = 0; run < 24; run++) {
        const start = performance.now();
        const report = await auditor.auditSample(AUDIT_SAMPLE);
        runMs.push(performance.now() - start);
        passes = report.rotation?.passes ?? passes;
        virtualNow += 3_600_000;
      }
      let cached = 0;
      for await (const keys of raw.scanIterator({ MATCH: 'user:profile:*', COUNT: 10_000 }))
        cached += keys.length;
      const profiles = audited.size;
      return {
        runs: 24,
        sample: AUDIT_SAMPLE,
        audited: profiles,
        cached,
        coverage: round(profiles / cached, 4),
        passes,
        runSeconds: summarize(runMs.map((ms) => ms / 1000)),
      };
    }
  } finally {
    raw.destroy();
    await gateway.close();
    await server.stop();
    await db.close();
  }
}

/** ZADDs every active user with their last_active_at, 10,000 per command. */
async function fillActivitySet(sql: Sql, raw: ReturnType<typeof createClient>, key: string): Promise<void> {
  let after = '';
  for (;;) {
    const { rows } = await sql.query<{ id: string; ms: string }>(
      `SELECT id, (extract(epoch FROM last_active_at) * 1000)::bigint::text AS ms FROM personnel
        WHERE last_active_at >= now() - interval '7 days' AND id > $1 ORDER BY id LIMIT 10000`,
      [after],
    );
    if (rows.length === 0) return;
    await raw.zAdd(
      key,
      rows.map((r) => ({ score: Number(r.ms), value: r.id })),
    );
    after = rows.at(-1)!.id;
  }
}

/** Real time plus the pauses the prewarmer asked for, which are skipped instead of waited. */
function pacedClock() {
  const origin = Date.now();
  const start = performance.now();
  let skipped = 0;
  return {
    clock: () => Math.floor(origin + (performance.now() - start) + skipped),
    sleep: async (ms: number) => {
      skipped += ms;
    },
  };
}

async function purgeBench(sql: Sql, repository: ProfileRepository): Promise<ScaleBenchResult['outboxPurge']> {
  const old = 200_000;
  // Rows like the API's (341 B on average): old published ones, recent published ones, old unpublished.
  // (user_id, version) is unique (migration 0003): row n of the whole fill is user n mod 150,000 at version
  // 2 + n div 150,000, so no two synthetic rows collide across the inserts below.
  let filled = 0;
  const insert = (count: number, publishedAgo: string | null, occurredAgo: string) => {
    const offset = filled;
    filled += count;
    return sql.query(
      `INSERT INTO outbox (event_type, user_id, version, occurred_at, payload, published_at, stream_id)
       SELECT 'user.profile.updated', 'a' || lpad((g % 150000 + 1)::text, 6, '0'), 2 + g / 150000,
              now() - $2::interval,
              jsonb_build_object('fullName', 'Agent Ngono ' || g, 'avatar',
                'https://avatars.ngomna.cm/a' || lpad((g % 150000 + 1)::text, 6, '0') || '.jpg',
                'matricule', '654321-K', 'ministere', 'MINFI', 'updatedAt', 1764000000000),
              CASE WHEN $3::interval IS NULL THEN NULL ELSE now() - $3::interval END,
              CASE WHEN $3::interval IS NULL THEN NULL ELSE '1-0' END
         FROM generate_series($4::int + 1, $4::int + $1::int) AS g`,
      [count, occurredAgo, publishedAgo, offset],
    );
  };
  for (let i = 0; i < old; i += 50_000) await insert(50_000, '8 days', '8 days');
  await insert(20_000, '1 day', '1 day');
  await insert(5_000, null, '30 days');
  await sql.query('ANALYZE outbox');

  // A writer keeps committing profile creates (row + outbox event): alone first, then during the purge.
  let written = 0;
  const write = async (): Promise<number> => {
    const start = performance.now();
    await repository.create(`w${String(written++).padStart(6, '0')}`, {
      fullName: 'Essomba Lucie',
      avatar: '',
      matricule: '712345-B',
      ministere: 'MINSANTE',
    });
    return performance.now() - start;
  };
  const alone: number[] = [];
  for (let i = 0; i < 500; i++) alone.push(await write());
  const latencies: number[] = [];
  let stop = false;
  const writer = (async () => {
    while (!stop) latencies.push(await write());
  })();
  const start = performance.now();
  let deleted = 0;
  const purger = new OutboxPurger({ sql, retentionDays: 7, batchSize: 1_000, maxBatches: 1_000 });
  for (;;) {
    const report = await purger.purge();
    deleted += report.deleted;
    if (report.drained) break;
  }
  const seconds = (performance.now() - start) / 1000;
  stop = true;
  await writer;
  const { rows } = await sql.query<{ unpublished: number; recent: number }>(
    `SELECT count(*) FILTER (WHERE published_at IS NULL AND user_id NOT LIKE 'w%')::int AS unpublished,
            count(*) FILTER (WHERE published_at IS NOT NULL)::int AS recent FROM outbox`,
  );
  return {
    rows: old + 25_000,
    deleted,
    keptUnpublished: Number(rows[0]?.unpublished),
    keptRecent: Number(rows[0]?.recent),
    seconds: round(seconds, 2),
    rowsPerSecond: Math.round(deleted / seconds),
    writerInsertMs: summarize(latencies),
    writerAloneMs: summarize(alone),
  };
}

function print(r: Pick<ScaleBenchResult, 'prewarm' | 'audit' | 'outboxPurge' | 'memory'>): void {
  printTable(
    `Prewarm at the deployed budget (${DEPLOYED_BUDGET_MS / 1000} s) and pacing (500 per batch, 1.5 s apart)`,
    r.prewarm.map((p) => ({
      source: p.source,
      active: p.active,
      invocations: p.invocations,
      'cached per invocation': p.cachedPerInvocation.join(' + '),
      batches: p.batches,
      errors: p.errors,
      coverage: `${round(p.coverage * 100, 2)} %`,
      'paced s': p.pacedSeconds,
      'done after (min from 04:00)': p.completeAfterMinutes,
    })),
  );
  const a = r.audit;
  printTable(`A day of audits (24 hourly runs of ${a.sample})`, [
    {
      runs: a.runs,
      audited: a.audited,
      'of profiles': PROFILES,
      coverage: `${round(a.coverage * 100, 2)} %`,
      passes: a.passes,
      'run s p50': a.runSeconds.p50,
    },
  ]);
  const o = r.outboxPurge;
  printTable('Outbox purge (published rows older than 7 days, batches of 1,000)', [
    {
      deleted: o.deleted,
      'rows/s': o.rowsPerSecond,
      'kept unpublished': o.keptUnpublished,
      'kept recent': o.keptRecent,
      'writer p50/p99 ms during': `${o.writerInsertMs.p50} / ${o.writerInsertMs.p99}`,
      alone: `${o.writerAloneMs.p50} / ${o.writerAloneMs.p99}`,
    },
  ]);
  printTable(
    'Redis bytes per cached profile (MEMORY USAGE)',
    r.memory.rows.map((m) => ({
      fields: m.label,
      encoding: m.encoding,
      'bytes/profile': m.bytes,
      '× 350,000 (MB)': m.mbFor350k,
    })),
  );
  console.log(
    `activity set: ${r.memory.activityBytesPerMember} bytes per member (${r.memory.activityMembers} members)`,
  );
}
