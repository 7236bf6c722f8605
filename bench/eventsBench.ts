/**
 * Events and warmth benchmark: the seed's prewarm (2,456 active users, batches of 500, 1.5 s apart; the
 * seed took 47.32 s with 58 errors) and the event lag from a committed PUT to the stream poller's apply.
 */
import { startRedisServer } from '../local/redisServer.js';
import { openScratchDatabase, type ScratchDatabase } from '../local/scratchDatabase.js';
import { seedProfiles } from '../local/seedData.js';
import { startUpstashGateway } from '../local/upstashGateway.js';
import { ProfileRepository } from '../shared/db/profileRepository.js';
import {
  DEFAULT_EVENTS_GROUP,
  DEFAULT_EVENTS_STREAM,
  DEFAULT_PREWARM_BATCH_SIZE,
  DEFAULT_PREWARM_PAUSE_MS,
} from '../shared/defaults.js';
import { SqlActivitySource } from '../shared/prewarm/activitySources.js';
import { Prewarmer, type PrewarmReport } from '../shared/prewarm/prewarmer.js';
import { ProfileService } from '../shared/profile/service.js';
import { createRedisClient } from '../shared/redis/client.js';
import { StreamConsumer } from '../shared/stream/consumer.js';
import { EventPublisher } from '../shared/stream/eventPublisher.js';
import { UserCache } from '../shared/userCache.js';
import { type Figures, printTable, round, summarize } from './measure.js';

export interface EventsBenchResult {
  prewarm: PrewarmReport & { users: number; configuredPausesMs: number; overheadMs: number };
  eventLag: Figures & { updates: number; appliedOrFresh: number };
}

/** PGlite in memory, or a throwaway schema on DATABASE_URL's server (dropped by `close()`). */
export function openBenchDatabase(): Promise<ScratchDatabase> {
  // Lambda's own statement timeout (createPgSql's default): the benches measure what Lambda would run.
  return openScratchDatabase({ name: 'bench', max: 4, statementTimeoutMs: 2_000 });
}

export async function runEventsBench(opts: { updates?: number } = {}): Promise<EventsBenchResult> {
  const users = 2_456;
  const updates = opts.updates ?? 1_000;
  const server = await startRedisServer();
  const gateway = await startUpstashGateway({ redisUrl: server.url, token: 'bench-token' });
  const db = await openBenchDatabase();
  try {
    const redis = createRedisClient({ url: gateway.url, token: gateway.token, timeoutMs: 5_000 });
    const cache = new UserCache({ redis });
    const repository = new ProfileRepository({ sql: db.sql });
    // Every seeded user active in the window: the seed's 2,456 candidates.
    await seedProfiles(db.sql, users, { activeShare: 1, idPrefix: 'b' });

    const prewarmer = new Prewarmer({
      cache,
      repository,
      source: new SqlActivitySource({ sql: db.sql }),
      batchSize: DEFAULT_PREWARM_BATCH_SIZE,
      pauseMs: DEFAULT_PREWARM_PAUSE_MS,
    });
    const report = await prewarmer.run();
    const configuredPausesMs = Math.max(0, report.batches - 1) * DEFAULT_PREWARM_PAUSE_MS;
    const prewarm = {
      ...report,
      users,
      configuredPausesMs,
      overheadMs: round(report.durationMs - configuredPausesMs, 1),
    };

    // Event lag: PUTs through the service while a poller loop consumes the stream (as in Lambda).
    const publisher = new EventPublisher({ redis, repository });
    const service = new ProfileService({ cache, repository, publisher });
    const consumer = new StreamConsumer({ redis, cache, consumer: 'bench-poller' });
    await consumer.ensureGroup();
    const stop = new AbortController();
    const polling = consumer.runFor(120_000, { signal: stop.signal });
    const ids = Array.from({ length: 100 }, (_, i) => `b${String(i + 1).padStart(6, '0')}`);
    for (let i = 0; i < updates; i++) {
      const id = ids[i % ids.length]!;
      await service.updateProfile(id, {
        fullName: `Ndjock Samuel ${i}`,
        avatar: '',
        matricule: `${800000 + i}-C`,
        ministere: 'MINESEC',
      });
    }
    const lags: number[] = [];
    let applied = 0;
    // Stop the loop once every update has been consumed (or its budget ends).
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const [pending] = (await redis.xpending(
        DEFAULT_EVENTS_STREAM,
        DEFAULT_EVENTS_GROUP,
        '-',
        '+',
        1,
      )) as unknown[];
      const length = Number(await redis.xlen(DEFAULT_EVENTS_STREAM));
      if (pending === undefined && length >= updates) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    stop.abort();
    const pollReport = await polling;
    lags.push(...pollReport.lagSamplesMs);
    applied = pollReport.applied + pollReport.stale;
    const eventLag = { ...summarize(lags), updates, appliedOrFresh: applied };

    printTable('Prewarm (seed: 2,456 users in 47.32 s with 58 errors)', [
      {
        users,
        batches: report.batches,
        cached: report.cached,
        errors: report.errors,
        'wall s': round(report.durationMs / 1000, 2),
        'configured pauses s': configuredPausesMs / 1000,
        'overhead ms': prewarm.overheadMs,
      },
    ]);
    printTable('Event lag, PUT commit → poller applied (ms)', [
      { updates, 'events consumed': applied, p50: eventLag.p50, p99: eventLag.p99, mean: eventLag.mean },
    ]);
    return { prewarm, eventLag };
  } finally {
    await gateway.close();
    await server.stop();
    await db.close();
  }
}
