/**
 * `npm run prewarm [-- --source sql|activity] [--batch-size 500] [--pause-ms 1500] [--window-days 7]
 *                    [--data-dir .local]`
 *
 * Runs the Lambda's prewarm code against the local stack, with a progress bar on stderr:
 * - PostgreSQL: DATABASE_URL, else the PGlite directory `<data-dir>/pgdata`;
 * - Redis: UPSTASH_REDIS_REST_URL + UPSTASH_REDIS_REST_TOKEN when set (e.g. the gateway `npm start`
 *   prints, to warm a running stack), else REDIS_URL or the redis-server of `<data-dir>/redis`, behind a
 *   local Upstash gateway started for this run.
 * `.local` is used by one process at a time: with `npm start` running, pass the URLs it prints.
 * Exit code 0 when every batch was warmed, 1 otherwise (details on stdout).
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Redis } from '@upstash/redis';
import { loadConfig } from '../functions/config.js';
import { RedisActivitySource, SqlActivitySource } from '../shared/activitySources.js';
import { LeaseHeldError } from '../shared/errors.js';
import { Lease } from '../shared/lease.js';
import { Prewarmer, type PrewarmProgress } from '../shared/prewarmer.js';
import { ProfileRepository } from '../shared/profileRepository.js';
import { createRedisClient } from '../shared/redisClient.js';
import { UserCache } from '../shared/userCache.js';
import { openLocalDatabase } from './database.js';
import { acquireRedis, resolveRedisBinary, startRedisServer } from './redisServer.js';
import { startUpstashGateway } from './upstashGateway.js';

const env = process.env;
const { values } = parseArgs({
  options: {
    // Same default as `npm start` (local/localStack.ts).
    'data-dir': { type: 'string', default: fileURLToPath(new URL('../.local', import.meta.url)) },
    source: { type: 'string' },
    'batch-size': { type: 'string' },
    'pause-ms': { type: 'string' },
    'window-days': { type: 'string' },
  },
});

// One parser for every setting: flags override the matching env vars; credentials are handled below.
const config = parseConfig();
function parseConfig() {
  try {
    return loadConfig({
      ...env,
      UPSTASH_SECRET_ARN: undefined,
      DATABASE_SECRET_ARN: undefined,
      UPSTASH_REDIS_REST_URL: 'http://127.0.0.1/',
      UPSTASH_REDIS_REST_TOKEN: 'local',
      DATABASE_URL: 'postgres://local/local',
      // Locally the activity set starts empty, so the seeded last_active_at column is the default source.
      PREWARM_SOURCE: values.source ?? (env.PREWARM_SOURCE?.trim() || 'sql'),
      PREWARM_BATCH_SIZE: values['batch-size'] ?? env.PREWARM_BATCH_SIZE,
      PREWARM_PAUSE_MS: values['pause-ms'] ?? env.PREWARM_PAUSE_MS,
      PREWARM_WINDOW_DAYS: values['window-days'] ?? env.PREWARM_WINDOW_DAYS,
      REDIS_TIMEOUT_MS: env.REDIS_TIMEOUT_MS?.trim() || '2000',
    });
  } catch (error) {
    console.error(`prewarm: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(2);
  }
}

const DATA_DIR = values['data-dir'];
const cleanups: Array<() => Promise<unknown>> = [];
let exitCode = 1;
try {
  const usesLocalDir =
    !env.DATABASE_URL?.trim() || !(env.UPSTASH_REDIS_REST_URL?.trim() || env.REDIS_URL?.trim());
  if (usesLocalDir) await refuseIfStackRuns();
  const db = await openLocalDatabase({ dataDir: join(DATA_DIR, 'pgdata') });
  cleanups.push(() => db.sql.close());
  const redis = await connectRedis();
  const cache = new UserCache({ redis, ...config.cache, trackActivity: false });
  const { batchSize, pauseMs, windowDays, source } = config.prewarm;
  console.error(`prewarm: ${db.describe}, source ${source}, batches of ${batchSize}, ${pauseMs} ms apart`);

  const prewarmer = new Prewarmer({
    cache,
    repository: new ProfileRepository({ sql: db.sql }),
    source:
      source === 'sql'
        ? new SqlActivitySource({ sql: db.sql })
        : new RedisActivitySource({ redis, key: cache.keys.activity }),
    batchSize,
    pauseMs,
    windowDays,
    lease: new Lease({ redis, key: `${config.cache.keyPrefix}user:prewarm:lease`, ttlMs: 60_000 }),
    onProgress: drawProgress,
  });
  const report = await prewarmer.run();
  await cache.flushStats();
  if (process.stderr.isTTY) process.stderr.write('\n');
  console.log(JSON.stringify(report, null, 2));
  exitCode = report.failedBatches === 0 && report.complete ? 0 : 1;
} catch (error) {
  if (process.stderr.isTTY) process.stderr.write('\n');
  console.error(
    error instanceof LeaseHeldError
      ? 'prewarm: another prewarm holds the lease; try again when it is done'
      : `prewarm failed: ${error instanceof Error ? error.message : String(error)}`,
  );
} finally {
  while (cleanups.length > 0)
    await cleanups
      .pop()?.()
      .catch(() => {});
}
process.exit(exitCode);

/** The Upstash REST endpoint given in env, or a gateway in front of REDIS_URL / `.local/redis`. */
async function connectRedis(): Promise<Redis> {
  const url = env.UPSTASH_REDIS_REST_URL?.trim();
  const token = env.UPSTASH_REDIS_REST_TOKEN?.trim();
  if (url && token) return createRedisClient({ url, token, timeoutMs: config.redisTimeoutMs });
  const server = env.REDIS_URL?.trim()
    ? await acquireRedis(env)
    : await startRedisServer({ binary: resolveRedisBinary(env.PATH), dataDir: join(DATA_DIR, 'redis') });
  cleanups.push(() => server.stop());
  const gatewayToken = randomBytes(24).toString('base64url');
  const gateway = await startUpstashGateway({ redisUrl: server.url, token: gatewayToken });
  cleanups.push(() => gateway.close());
  return createRedisClient({ url: gateway.url, token: gatewayToken, timeoutMs: config.redisTimeoutMs });
}

/** PGlite and the AOF of `.local` belong to one process at a time (see localStack's stack.pid). */
async function refuseIfStackRuns(): Promise<void> {
  const pid = Number((await readFile(join(DATA_DIR, 'stack.pid'), 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 0) return;
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: alive, but another user's process.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return;
  }
  throw new Error(
    `npm start is running (pid ${pid}) and owns .local: set DATABASE_URL and the UPSTASH_REDIS_REST_URL/TOKEN it prints, or stop it first`,
  );
}

function drawProgress(p: PrewarmProgress): void {
  const done = p.cached + p.skippedFresh + p.notFound + p.errors;
  const total = p.total ?? p.candidates;
  const share = total > 0 ? Math.min(1, done / total) : 1;
  const width = 30;
  const filled = Math.round(share * width);
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.round(share * 100)).padStart(3)}%`;
  const line = `${bar} ${done}/${total} · cached ${p.cached} · fresh ${p.skippedFresh} · not found ${p.notFound} · errors ${p.errors} · batch ${p.batches}`;
  // A terminal gets one line redrawn in place; a log file gets one line per batch.
  if (process.stderr.isTTY) process.stderr.write(`\r${line}`);
  else process.stderr.write(`${line}\n`);
}
