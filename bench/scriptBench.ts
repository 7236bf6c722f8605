/**
 * Scripts bench: how long one Lua script holds Redis during a prewarm. On Upstash a script without
 * `allow-key-locking` runs under a global lock (every other command waits for it); with the flag it locks
 * its KEYS only. Redis runs every script alone, so the longest EVAL/EVALSHA here is the longest stall a
 * prewarm would impose on everyone else without the flag. Measured by Redis itself (SLOWLOG with a 0 µs
 * threshold, on the bench's own redis-server), for the seed's prewarm (2,456 users, batches of 500) and
 * for one batch of 500 profiles at the field limits (split by bytes into several calls).
 */
import { createClient } from 'redis';
import { startRedisServer } from '../local/redisServer.js';
import { seedProfiles } from '../local/seedData.js';
import { startUpstashGateway } from '../local/upstashGateway.js';
import { ProfileRepository } from '../shared/db/profileRepository.js';
import { IdListSource, SqlActivitySource } from '../shared/prewarm/activitySources.js';
import { Prewarmer } from '../shared/prewarm/prewarmer.js';
import { LIMITS } from '../shared/profile/schemas.js';
import { createRedisClient } from '../shared/redis/client.js';
import { UserCache } from '../shared/userCache.js';
import { openBenchDatabase } from './eventsBench.js';
import { type Figures, printTable, round, summarize } from './measure.js';

export interface ScriptRunFigures {
  users: number;
  batches: number;
  cached: number;
  /** Script calls (EVAL/EVALSHA) Redis ran. */
  scripts: number;
  /** Execution time of each script call, ms (Redis' own figure, queueing excluded). */
  scriptMs: Figures & { max: number };
}

export interface ScriptBenchResult {
  seedPrewarm: ScriptRunFigures;
  fieldLimitBatch: ScriptRunFigures;
}

type Slowlog = Array<[number, number, number, Array<string | Buffer>]>;

export async function runScriptBench(): Promise<ScriptBenchResult> {
  const server = await startRedisServer();
  const direct = createClient({ url: server.url });
  await direct.connect();
  const gateway = await startUpstashGateway({ redisUrl: server.url, token: 'bench-token' });
  const db = await openBenchDatabase();
  try {
    await direct.sendCommand(['CONFIG', 'SET', 'slowlog-log-slower-than', '0']);
    await direct.sendCommand(['CONFIG', 'SET', 'slowlog-max-len', '100000']);
    const redis = createRedisClient({ url: gateway.url, token: gateway.token, timeoutMs: 10_000 });
    const cache = new UserCache({ redis, trackActivity: false });
    const repository = new ProfileRepository({ sql: db.sql });

    const measure = async (users: number, run: () => Promise<{ batches: number; cached: number }>) => {
      await direct.sendCommand(['SLOWLOG', 'RESET']);
      const report = await run();
      const log = (await direct.sendCommand(['SLOWLOG', 'GET', '100000'])) as Slowlog;
      const scripts = log
        .filter(([, , , args]) => /^EVAL(SHA)?$/i.test(String(args[0])))
        .map(([, , micros]) => micros / 1000);
      const figures = summarize(scripts);
      return {
        users,
        batches: report.batches,
        cached: report.cached,
        scripts: scripts.length,
        scriptMs: { ...figures, max: round(Math.max(0, ...scripts), 3) },
      };
    };

    const users = 2_456;
    await seedProfiles(db.sql, users, { activeShare: 1, idPrefix: 's' });
    const seedPrewarm = await measure(users, () =>
      new Prewarmer({
        cache,
        repository,
        source: new SqlActivitySource({ sql: db.sql }),
        batchSize: 500,
        // The pauses change nothing in a script's duration; the seed's 1.5 s is the events bench's.
        pauseMs: 0,
      }).run(),
    );

    // 500 more users with every field at its length limit (about 1.2 MB in one request before splitting).
    await seedProfiles(db.sql, 500, { activeShare: 1, idPrefix: 'L', seed: 7 });
    await db.sql.query(
      `UPDATE personnel SET full_name = repeat('a', $1::int), avatar_url = 'https://' || repeat('a', $2::int)
        WHERE id LIKE 'L%'`,
      [LIMITS.fullNameMaxLength, LIMITS.avatarMaxLength - 8],
    );
    const ids = Array.from({ length: 500 }, (_, i) => `L${String(i + 1).padStart(6, '0')}`);
    const fieldLimitBatch = await measure(500, () =>
      new Prewarmer({
        cache,
        repository,
        source: new IdListSource(ids),
        batchSize: 500,
        pauseMs: 0,
      }).run(),
    );

    printTable('Longest script during a prewarm (Redis SLOWLOG, ms)', [
      { run: 'seed prewarm', ...row(seedPrewarm) },
      { run: '500 at field limits', ...row(fieldLimitBatch) },
    ]);
    return { seedPrewarm, fieldLimitBatch };
  } finally {
    direct.destroy();
    await gateway.close();
    await server.stop();
    await db.close();
  }
}

function row(f: ScriptRunFigures): Record<string, number> {
  return {
    users: f.users,
    batches: f.batches,
    cached: f.cached,
    'script calls': f.scripts,
    p50: f.scriptMs.p50,
    max: f.scriptMs.max,
  };
}
