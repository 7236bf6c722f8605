/**
 * Builds the real clients ONCE per Lambda environment (the memoized `getDependencies()`), from the
 * configuration in `config.ts`: the Upstash client and the `pg` pool then keep their connections across
 * warm invocations. Secrets come from Secrets Manager through Powertools Parameters (cached 5 minutes);
 * nothing secret is ever read from plain environment variables in AWS. PostgreSQL is lazy: its secret is
 * fetched and its pool created on the first query, so a Redis-only function (GET /cache/stats) runs
 * without DATABASE_* and without a grant on the database secret.
 */

import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { getSecret } from '@aws-lambda-powertools/parameters/secrets';
import type { Redis } from '@upstash/redis';
import type { PoolConfig } from 'pg';
import * as z from 'zod/mini';
import { ConfigError } from '../shared/errors.js';
import type { EventPublisher } from '../shared/eventPublisher.js';
import { createPgSql } from '../shared/pgSql.js';
import type { LoggerPort } from '../shared/ports.js';
import { ProfileRepository } from '../shared/profileRepository.js';
import type { ProfileService } from '../shared/profileService.js';
import { createRedisClient } from '../shared/redisClient.js';
import type { Sql, SqlQueryable } from '../shared/sql.js';
import type { UserCache } from '../shared/userCache.js';
import { type Config, loadConfig, requireDatabase } from './config.js';
import type { ApiDeps } from './http/route.js';
import { buildProfileServices } from './services.js';

export interface Dependencies extends ApiDeps {
  config: Config;
  redis: Redis;
  sql: Sql;
  cache: UserCache;
  repository: ProfileRepository;
  publisher: EventPublisher;
  service: ProfileService;
  /** The Powertools logger behind `logger` (for `addContext`, `appendKeys`). */
  powertoolsLogger: Logger;
  metrics: Metrics;
}

/** Seconds Powertools keeps a fetched secret before asking Secrets Manager again. */
const SECRET_MAX_AGE = 300;

const upstashSecret = z.object({
  url: z.string().check(z.regex(/^https?:\/\//)),
  token: z.string().check(z.minLength(1)),
});
const rdsSecret = z.object({
  host: z.string().check(z.minLength(1)),
  port: z.optional(z.union([z.number(), z.string()])),
  username: z.string().check(z.minLength(1)),
  password: z.string(),
  dbname: z.optional(z.string()),
});

/** Builds every client from `config`. Throws `ConfigError` when a secret is missing or malformed. */
export async function buildDependencies(config: Config): Promise<Dependencies> {
  const { powertools } = config;
  const powertoolsLogger = new Logger({ serviceName: powertools.serviceName, logLevel: powertools.logLevel });
  const logger = loggerPort(powertoolsLogger);
  const metrics = new Metrics({
    namespace: powertools.metricsNamespace,
    serviceName: powertools.serviceName,
  });

  const upstash =
    config.upstash.source === 'env'
      ? config.upstash
      : await readSecret(config.upstash.secretArn, 'UPSTASH_SECRET_ARN', upstashSecret);
  const redis = createRedisClient({
    url: upstash.url,
    token: upstash.token,
    timeoutMs: config.redisTimeoutMs,
  });
  const sql = createDatabaseSql(config, logger);

  const repository = new ProfileRepository({ sql });
  const { cache, publisher, service } = buildProfileServices({
    redis,
    repository,
    cache: config.cache,
    stream: config.events.stream,
    maxLen: config.events.maxLen,
    logger,
    metrics,
  });
  const auth = config.auth;
  return {
    config,
    redis,
    sql,
    cache,
    repository,
    publisher,
    service,
    logger,
    powertoolsLogger,
    metrics,
    auth,
  };
}

/**
 * Adapts Powertools' Logger to the `LoggerPort` of `shared/`. Its methods take extra keys as a rest
 * parameter, so an explicit `undefined` would be logged as an argument: pass extras only when present.
 */
export function loggerPort(logger: Logger): LoggerPort {
  const level =
    (name: 'debug' | 'info' | 'warn' | 'error') =>
    (message: string, extra?: Record<string, unknown>): void => {
      if (extra === undefined) logger[name](message);
      else logger[name](message, extra);
    };
  return { debug: level('debug'), info: level('info'), warn: level('warn'), error: level('error') };
}

let memo: Promise<Dependencies> | undefined;

/** The environment's dependencies, built on first use from `process.env`. A failed build is retried. */
export function getDependencies(): Promise<Dependencies> {
  memo ??= buildDependencies(loadConfig()).catch((error: unknown) => {
    memo = undefined;
    throw error;
  });
  return memo;
}

/**
 * The environment's PostgreSQL pool, built on first query: `createPgSql`'s defaults (one connection,
 * idle timeout, bounded connect timeout), which the stack's connection budget counts on
 * (docs/database.md). Exported so tests build many "environments" exactly like this one.
 */
export function createDatabaseSql(config: Pick<Config, 'database'>, logger: LoggerPort): Sql {
  return lazySql(async () =>
    createPgSql({ ...(await databaseOptions(requireDatabase(config.database))), logger }),
  );
}

/**
 * A `Sql` whose real one is built on first use. Concurrent first queries share one build; a failed build
 * (Secrets Manager throttled, settings missing: the `ConfigError` naming them) is retried on the next use.
 */
function lazySql(build: () => Promise<Sql>): Sql {
  let ready: Promise<Sql> | undefined;
  const get = (): Promise<Sql> => {
    ready ??= build().catch((error: unknown) => {
      ready = undefined;
      throw error;
    });
    return ready;
  };
  return {
    async query<R>(text: string, params?: readonly unknown[]) {
      return (await get()).query<R>(text, params);
    },
    async transaction<T>(fn: (tx: SqlQueryable) => Promise<T>) {
      return (await get()).transaction(fn);
    },
    async close() {
      // Never built: nothing to end, and closing must not fetch a secret just to open a pool.
      const sql = await ready?.catch(() => undefined);
      await sql?.close();
    },
  };
}

async function databaseOptions(
  db: ReturnType<typeof requireDatabase>,
): Promise<{ connectionString?: string; config?: PoolConfig }> {
  // `require` verifies the server certificate. On Lambda the RDS CA bundle is loaded through
  // NODE_EXTRA_CA_CERTS=/var/runtime/ca-cert.pem (set by the stack).
  const ssl: PoolConfig['ssl'] = db.ssl === 'require' ? { rejectUnauthorized: true } : false;
  if (db.source === 'env') return { connectionString: db.url, config: { ssl } };
  const secret = await readSecret(db.secretArn, 'DATABASE_SECRET_ARN', rdsSecret);
  return {
    config: {
      host: secret.host,
      port: secret.port === undefined ? 5432 : Number(secret.port),
      user: secret.username,
      database: secret.dbname ?? 'postgres',
      ssl,
      // A function, so new connections pick up a rotated password (Powertools re-fetches after maxAge).
      password: async () => (await readSecret(db.secretArn, 'DATABASE_SECRET_ARN', rdsSecret)).password,
    },
  };
}

async function readSecret<T>(arn: string, variable: string, schema: z.ZodMiniType<T>): Promise<T> {
  const value: unknown = await getSecret(arn, { transform: 'json', maxAge: SECRET_MAX_AGE });
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    // Field paths only: the secret's values must never reach a log.
    const fields = parsed.error.issues.map((i) => i.path.join('.') || '(root)').join(', ');
    throw new ConfigError(`the secret named by ${variable} is missing or lacks fields: ${fields}`, {
      details: { variable },
    });
  }
  return parsed.data;
}
