/**
 * Clients for the command-line jobs (`npm run prewarm`, `npm run audit`): the same code as the Lambdas,
 * pointed at local data.
 * - PostgreSQL: DATABASE_URL, else the PGlite directory `<dataDir>/pgdata`;
 * - Redis: UPSTASH_REDIS_REST_URL + UPSTASH_REDIS_REST_TOKEN when set (the gateway `npm start` prints, to
 *   work on a running stack), else REDIS_URL or the redis-server of `<dataDir>/redis`, behind a local
 *   Upstash gateway started for this run.
 * `.local` belongs to one process at a time: with `npm start` running, pass the URLs it prints.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from '@upstash/redis';
import type { Sql } from '../shared/db/sql.js';
import { isIntegerIn } from '../shared/options.js';
import { createRedisClient } from '../shared/redis/client.js';
import { openLocalDatabase } from './database.js';
import { acquireRedis, resolveRedisBinary, startRedisServer } from './redisServer.js';
import { startUpstashGateway } from './upstashGateway.js';

export interface CliClients {
  sql: Sql;
  /** Where the data lives, for the first log line. */
  describe: string;
  redis: Redis;
  /** Closes everything opened, in reverse order. Never throws. */
  close(): Promise<void>;
}

export async function openCliClients(opts: {
  dataDir: string;
  redisTimeoutMs: number;
  env?: NodeJS.ProcessEnv;
}): Promise<CliClients> {
  const env = opts.env ?? process.env;
  const cleanups: Array<() => Promise<unknown>> = [];
  const close = async () => {
    while (cleanups.length > 0)
      await cleanups
        .pop()?.()
        .catch(() => {});
  };
  try {
    const usesLocalDir =
      !env.DATABASE_URL?.trim() || !(env.UPSTASH_REDIS_REST_URL?.trim() || env.REDIS_URL?.trim());
    if (usesLocalDir) await refuseIfStackRuns(opts.dataDir);
    const db = await openLocalDatabase({ env, dataDir: join(opts.dataDir, 'pgdata') });
    cleanups.push(() => db.sql.close());
    const redis = await connectRedis(env, opts, cleanups);
    return { sql: db.sql, describe: db.describe, redis, close };
  } catch (error) {
    await close();
    throw error;
  }
}

async function connectRedis(
  env: NodeJS.ProcessEnv,
  opts: { dataDir: string; redisTimeoutMs: number },
  cleanups: Array<() => Promise<unknown>>,
): Promise<Redis> {
  const url = env.UPSTASH_REDIS_REST_URL?.trim();
  const token = env.UPSTASH_REDIS_REST_TOKEN?.trim();
  if (url && token) return createRedisClient({ url, token, timeoutMs: opts.redisTimeoutMs });
  const server = env.REDIS_URL?.trim()
    ? await acquireRedis(env)
    : await startRedisServer({ binary: resolveRedisBinary(env.PATH), dataDir: join(opts.dataDir, 'redis') });
  cleanups.push(() => server.stop());
  const gatewayToken = randomBytes(24).toString('base64url');
  const gateway = await startUpstashGateway({ redisUrl: server.url, token: gatewayToken });
  cleanups.push(() => gateway.close());
  return createRedisClient({ url: gateway.url, token: gatewayToken, timeoutMs: opts.redisTimeoutMs });
}

/**
 * The database alone, for `npm run migrate` and `npm run seed`: DATABASE_URL, else `<dataDir>/pgdata`
 * (refused while `npm start` owns it: PGlite's files belong to one process, and rows written by a second
 * one are silently lost).
 */
export async function openCliDatabase(dataDir: string, env: NodeJS.ProcessEnv = process.env) {
  if (!env.DATABASE_URL?.trim()) await refuseIfStackRuns(dataDir);
  return openLocalDatabase({ env, dataDir: join(dataDir, 'pgdata') });
}

/** The default `--data-dir` of every local tool: the `.local` folder `npm start` uses. */
export const DEFAULT_DATA_DIR = fileURLToPath(new URL('../.local', import.meta.url));

/** PGlite and the AOF of `.local` belong to one process at a time (see localStack's stack.pid). */
async function refuseIfStackRuns(dataDir: string): Promise<void> {
  const pid = Number((await readFile(join(dataDir, 'stack.pid'), 'utf8').catch(() => '')).trim());
  if (!isIntegerIn(pid, { min: 1 })) return;
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: alive, but another user's process.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return;
  }
  throw new Error(
    `npm start is running (pid ${pid}) and owns ${dataDir}: set DATABASE_URL and the UPSTASH_REDIS_REST_URL/TOKEN it prints, or stop it first`,
  );
}
