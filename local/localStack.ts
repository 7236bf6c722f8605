/**
 * The whole service on one machine: a real redis-server behind the Upstash REST gateway, PostgreSQL
 * (PGlite in `.local/pgdata`, or DATABASE_URL), the API handlers behind a local API Gateway with JWT
 * checks, the stream poller and a prewarm. The handlers reach Redis through `@upstash/redis` over HTTP,
 * exactly as in Lambda. Used by `npm start`, the API tests, the benchmarks and the chaos runs.
 */

import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as batchGetUsers from '../functions/batchGetUsers.js';
import type { Config, Env, LogLevel } from '../functions/commons/config.js';
import type { ApiDeps, MetricsPort } from '../functions/commons/route.js';
import { buildProfileServices } from '../functions/commons/services.js';
import * as createUser from '../functions/createUser.js';
import * as deleteUser from '../functions/deleteUser.js';
import * as getCacheStats from '../functions/getCacheStats.js';
import * as getUser from '../functions/getUser.js';
import * as putUser from '../functions/putUser.js';
import { ProfileRepository } from '../shared/db/profileRepository.js';
import type { Sql } from '../shared/db/sql.js';
import { JsonLogger } from '../shared/observability/jsonLogger.js';
import { createRedisClient } from '../shared/redis/client.js';
import type { PollerSchedule } from '../shared/stream/pollerSchedule.js';
import type { UserCache } from '../shared/userCache.js';
import { type HttpHandler, startApiServer } from './apiServer.js';
import { openLocalDatabase } from './database.js';
import { lockDataDir } from './dataDirLock.js';
import { createDevAuth, type DevAuth } from './devAuth.js';
import { loadLocalConfig } from './localConfig.js';
import { acquireRedis, type RedisServerHandle, resolveRedisBinary, startRedisServer } from './redisServer.js';
import type { HttpHandlerName } from './routes.js';
import { type LocalPollerRun, startLocalPoller, startLocalPrewarm } from './scheduledJobs.js';
import { seedProfiles } from './seedData.js';
import { startUpstashGateway, type UpstashGateway } from './upstashGateway.js';

export interface LocalStackOptions {
  /**
   * API port on 127.0.0.1; 0 picks a free one.
   * @default 8001
   */
  port?: number;
  /**
   * Where Redis (AOF in `redis/`), PGlite (`pgdata/`), the JWT keys (`jwt/`) and `dev-token` live.
   * @default '<repo>/.local'
   */
  dataDir?: string;
  /**
   * Profiles generated on first start (when the table is empty); 30% of them active in the last week.
   * @default 5000
   */
  seedUsers?: number;
  /** Adopt this Redis (`redis://…`) instead of spawning one. @default env REDIS_URL */
  redisUrl?: string;
  /** Use this PostgreSQL instead of PGlite. @default env DATABASE_URL */
  databaseUrl?: string;
  /** An open, migrated `Sql` to use as is (tests: `useTestDb()`); stop() leaves it open. */
  sql?: Sql;
  /**
   * Prefix of every Redis key, the events stream included (tests sharing one Redis pass a random one).
   * @default env CACHE_KEY_PREFIX (cache keys only, as in Lambda), else ''
   */
  keyPrefix?: string;
  /** Invoke the stream poller on its schedule. @default true */
  poller?: boolean;
  /**
   * The poller's period, timeout, budget and lease TTL (tests pass short ones).
   * @default POLLER_SCHEDULE: as deployed (every 60 s, 90 s timeout, 80 s budget)
   */
  pollerSchedule?: Partial<PollerSchedule>;
  /** Told about every poller invocation when it ends (tests, benchmarks). @default none */
  onPollerRun?: (run: LocalPollerRun) => void;
  /** Run one prewarm at start. @default true */
  prewarm?: boolean;
  /** Powertools log level of handlers and jobs. @default env POWERTOOLS_LOG_LEVEL, else 'INFO' */
  logLevel?: LogLevel;
  /** Access log and progress lines. @default console.log */
  log?: (line: string) => void;
  /** Settings (TTLs, scopes, stream names, JWT_ISSUER, JWT_AUDIENCE). @default process.env */
  env?: Env;
}

export interface LocalStack {
  /** `http://127.0.0.1:PORT`. */
  apiUrl: string;
  /** Upstash-compatible REST endpoint and its per-run token. */
  gatewayUrl: string;
  gatewayToken: string;
  redisUrl: string;
  /** A token with the read and write scopes, valid 24 h (also in `<dataDir>/dev-token`). */
  token: string;
  tokenFile: string;
  keyPrefix: string;
  /** The events stream the API publishes to and the poller reads (prefixed only by the `keyPrefix` option). */
  stream: string;
  /** Where the data lives, safe to print. */
  database: string;
  /** Profiles inserted by this start's seeding (0 when the table already had rows). */
  seeded: number;
  /** The gateway itself: request/command metrics and fault injection (benchmarks, chaos runs). */
  gateway: UpstashGateway;
  /** The Redis behind it; `owned` is false for REDIS_URL (then never stopped or restarted here). */
  redisServer: RedisServerHandle;
  config: Config;
  auth: DevAuth;
  cache: UserCache;
  sql: Sql;
  /** Stops everything this call started, in reverse order. Idempotent. */
  stop(): Promise<void>;
}

export const DEFAULT_DATA_DIR = fileURLToPath(new URL('../.local', import.meta.url));
const DEV_TOKEN_TTL_SEC = 24 * 3600;

// EMF metric lines only mean something to CloudWatch; locally they would drown the access log.
const noMetrics: MetricsPort = { addMetric() {}, publishStoredMetrics() {} };

export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const env = options.env ?? process.env;
  const dataDir = options.dataDir ?? DEFAULT_DATA_DIR;
  const log = options.log ?? console.log;
  const keyPrefix = options.keyPrefix ?? env.CACHE_KEY_PREFIX?.trim() ?? '';
  const seedUsers = options.seedUsers ?? 5000;
  // Fail on a bad setting before anything is spawned.
  const config = loadLocalConfig(env, {
    CACHE_KEY_PREFIX: keyPrefix,
    // The gateway shares this process with PGlite, whose queries block the event loop while they run:
    // Lambda's 250 ms would turn a busy moment into spurious cache timeouts (set it to test those).
    REDIS_TIMEOUT_MS: env.REDIS_TIMEOUT_MS?.trim() || '1000',
    POWERTOOLS_LOG_LEVEL: options.logLevel ?? env.POWERTOOLS_LOG_LEVEL,
  });

  const cleanups: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    while (cleanups.length > 0) await cleanups.pop()!().catch((e: unknown) => log(`stop: ${String(e)}`));
  };
  try {
    await mkdir(dataDir, { recursive: true });
    cleanups.push(await lockDataDir(dataDir));

    const redisUrlOption = options.redisUrl ?? env.REDIS_URL?.trim();
    const redisServer = redisUrlOption
      ? await acquireRedis({ REDIS_URL: redisUrlOption })
      : await startRedisServer({ binary: resolveRedisBinary(env.PATH), dataDir: join(dataDir, 'redis') });
    cleanups.push(() => redisServer.stop());

    const gatewayToken = randomBytes(24).toString('base64url');
    const gateway = await startUpstashGateway({ redisUrl: redisServer.url, token: gatewayToken });
    cleanups.push(() => gateway.close());

    let sql = options.sql;
    let database = 'the Sql passed in';
    if (!sql) {
      const databaseUrl = options.databaseUrl ?? env.DATABASE_URL?.trim();
      const opened = await openLocalDatabase({
        env: databaseUrl ? { DATABASE_URL: databaseUrl } : {},
        dataDir: join(dataDir, 'pgdata'),
      });
      sql = opened.sql;
      database = opened.describe;
      cleanups.push(() => opened.sql.close());
    }
    const seeded = seedUsers > 0 && (await isEmpty(sql)) ? (await seedProfiles(sql, seedUsers)).inserted : 0;
    if (seeded > 0) log(`seeded ${seeded} profiles`);

    const logger = new JsonLogger({
      serviceName: config.powertools.serviceName,
      logLevel: config.powertools.logLevel,
    });
    const redis = createRedisClient({
      url: gateway.url,
      token: gatewayToken,
      timeoutMs: config.redisTimeoutMs,
    });
    const repository = new ProfileRepository({ sql });
    // As in Lambda, CACHE_KEY_PREFIX leaves the stream name alone; an explicit `keyPrefix` (tests sharing
    // one Redis) prefixes it too, so every key the stack touches is under the prefix.
    const stream = (options.keyPrefix ?? '') + config.events.stream;
    const services = (client: typeof redis) =>
      buildProfileServices({
        redis: client,
        repository,
        cache: config.cache,
        stream,
        maxLen: config.events.maxLen,
        logger,
        metrics: noMetrics,
      });
    const { cache, publisher, service } = services(redis);
    const deps: ApiDeps = { service, logger, metrics: noMetrics, auth: config.auth };
    const handlers: Record<HttpHandlerName, HttpHandler> = {
      getUser: getUser.createHandler(deps),
      batchGetUsers: batchGetUsers.createHandler(deps),
      putUser: putUser.createHandler(deps),
      createUser: createUser.createHandler(deps),
      deleteUser: deleteUser.createHandler(deps),
      getCacheStats: getCacheStats.createHandler(deps),
    };

    const api = await startApiServer({
      handlers,
      port: options.port ?? 8001,
      scopes: { read: config.auth.readScope, write: config.auth.writeScope },
      log,
      auth: (origin) =>
        createDevAuth({
          keyDir: join(dataDir, 'jwt'),
          issuer: env.JWT_ISSUER?.trim() || `${origin}/`,
          ...(env.JWT_AUDIENCE?.trim() ? { audience: env.JWT_AUDIENCE.trim() } : {}),
        }),
    });
    cleanups.push(() => api.close());

    const jobs = {
      redis,
      cache,
      repository,
      publisher,
      sql,
      config,
      keyPrefix,
      stream,
      logger,
      metrics: noMetrics,
      // Each poller invocation builds its own clients, as each Lambda environment does: killing one run
      // at its timeout then cuts only that run's requests.
      environment: (kill: AbortSignal) => {
        const own = createRedisClient({
          url: gateway.url,
          token: gatewayToken,
          timeoutMs: config.redisTimeoutMs,
          signal: kill,
        });
        const built = services(own);
        return { redis: own, cache: built.cache, publisher: built.publisher };
      },
    };
    if (options.poller ?? true) {
      const poller = startLocalPoller(jobs, { schedule: options.pollerSchedule, onRun: options.onPollerRun });
      cleanups.push(() => poller.stop());
    }
    if (options.prewarm ?? true) {
      // The activity set fills as users read; on a fresh machine it is empty, so locally the seeded
      // `last_active_at` column is the default source (PREWARM_SOURCE still wins when set).
      const prewarm = startLocalPrewarm(jobs, env.PREWARM_SOURCE?.trim() ? config.prewarm.source : 'sql');
      cleanups.push(() => prewarm.stop());
    }

    const token = await api.auth.issueToken({
      scopes: [config.auth.readScope, config.auth.writeScope],
      subject: 'local-dev',
      expiresIn: DEV_TOKEN_TTL_SEC,
    });
    const tokenFile = join(dataDir, 'dev-token');
    await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });

    let stopping: Promise<void> | undefined;
    return {
      apiUrl: api.url,
      gatewayUrl: gateway.url,
      gatewayToken,
      redisUrl: redisServer.url,
      gateway,
      redisServer,
      token,
      tokenFile,
      keyPrefix,
      stream,
      database,
      seeded,
      config,
      auth: api.auth,
      cache,
      sql,
      stop: () => {
        stopping ??= stopAll();
        return stopping;
      },
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

async function isEmpty(sql: Sql): Promise<boolean> {
  const { rows } = await sql.query<{ n: unknown }>('SELECT count(*)::int AS n FROM personnel');
  return Number(rows[0]?.n ?? 0) === 0;
}
