/**
 * Builds the real clients ONCE per Lambda environment (the memoized `getDependencies()`), from the
 * configuration in `commons/config.ts`: the Upstash client and the `pg` pool then keep their connections across
 * warm invocations. Secrets come from Secrets Manager through the AWS Parameters and Secrets Lambda
 * Extension (`functions/commons/secretReader.ts`), so no AWS SDK is loaded; nothing secret is ever read from plain
 * environment variables in AWS. PostgreSQL is lazy: `pg` is evaluated, its secret fetched and its pool
 * created on the first query, so a cache hit never pays for it, and a Redis-only function
 * (GET /cache/stats) runs without DATABASE_* and without a grant on the database secret.
 */

import type { Redis } from '@upstash/redis';
import type { Context } from 'aws-lambda';
import type { PoolConfig } from 'pg';
import * as z from 'zod/mini';
import { ProfileRepository } from '../../shared/db/profileRepository.js';
import type { Sql, SqlQueryable } from '../../shared/db/sql.js';
import { ConfigError } from '../../shared/errors.js';
import { EmfMetrics } from '../../shared/observability/emfMetrics.js';
import { JsonLogger } from '../../shared/observability/jsonLogger.js';
import type { LoggerPort } from '../../shared/ports.js';
import type { ProfileService } from '../../shared/profile/service.js';
import { createRedisClient } from '../../shared/redis/client.js';
import { rebuildOnAuthFailure } from '../../shared/redis/rebuildOnAuthFailure.js';
import type { EventPublisher } from '../../shared/stream/eventPublisher.js';
import type { UserCache } from '../../shared/userCache.js';
import { type Config, loadConfig, requireDatabase } from './config.js';
import { assertUpstashConfigured } from './notConfigured.js';
import type { ApiDeps } from './route.js';
import { SecretReader, type SecretSource } from './secretReader.js';
import { buildProfileServices } from './services.js';
import { SETTINGS } from './settings.js';

export interface Dependencies extends ApiDeps {
  config: Config;
  /**
   * Base64 replies (binary-safe): for stream entries, which outside producers write. The cache and the
   * API's publisher use a text-mode client of their own (profile fields are validated UTF-8 text).
   */
  redis: Redis;
  sql: Sql;
  cache: UserCache;
  repository: ProfileRepository;
  publisher: EventPublisher;
  service: ProfileService;
  /** `logger` itself, typed with `addContext(context)` for the Lambda entry points. */
  rootLogger: JsonLogger;
  /** EMF metrics on stdout (namespace and `service` dimension from the Powertools variables). */
  metrics: EmfMetrics;
  /**
   * The `*_SECRET_ARN` secrets, kept for the environment's life. `refresh(arn)` after an
   * authentication failure makes the next read (and the client built from it) see a rotated value.
   */
  secrets: SecretSource;
}

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
  const logger = new JsonLogger({ serviceName: powertools.serviceName, logLevel: powertools.logLevel });
  const metrics = new EmfMetrics({
    namespace: powertools.metricsNamespace,
    serviceName: powertools.serviceName,
    disabled: powertools.metricsDisabled,
  });

  const secrets = secretSource(config);
  const upstash =
    config.upstash.source === 'env'
      ? config.upstash
      : await secrets.get(config.upstash.secretArn, upstashSecret, SETTINGS.upstashSecretArn.env);
  assertUpstashConfigured(
    upstash,
    config.upstash.source === 'env' ? SETTINGS.upstashUrl.env : SETTINGS.upstashSecretArn.env,
  );
  const upstashSource = config.upstash;
  // A rotated token (new one in the secret, old one revoked) is picked up on the first 401: no redeploy.
  const refresh = async () => {
    if (upstashSource.source === 'env') return upstashSource;
    secrets.refresh(upstashSource.secretArn);
    return secrets.get(upstashSource.secretArn, upstashSecret, SETTINGS.upstashSecretArn.env);
  };
  const client = (responseEncoding?: 'text') =>
    rebuildOnAuthFailure({
      initial: upstash,
      refresh,
      build: ({ url, token }) =>
        createRedisClient({ url, token, timeoutMs: config.redisTimeoutMs, responseEncoding }),
      logger,
    });
  const redis = client();
  // Every value the cache reads is text it validated on the way in: skip base64 on the hot path.
  const textRedis = client('text');
  const sql = createDatabaseSql(config, logger, secrets);

  const repository = new ProfileRepository({ sql });
  const { cache, publisher, service } = buildProfileServices({
    redis: textRedis,
    repository,
    cache: config.cache,
    stream: config.events.stream,
    maxLen: config.events.maxLen,
    logger,
    metrics,
  });
  const auth = config.auth;
  return {
    bindContext: (context) => logger.addContext(context),
    config,
    redis,
    sql,
    cache,
    repository,
    publisher,
    service,
    logger,
    rootLogger: logger,
    metrics,
    auth,
    secrets,
  };
}

/**
 * The extension's reader, or one that refuses with the variable to set when the session token is
 * missing (outside Lambda). Only functions configured with a secret ARN ever call it.
 */
function secretSource(config: Config): SecretSource {
  const { port, sessionToken } = config.secretsExtension;
  if (sessionToken !== undefined)
    return new SecretReader({ baseUrl: `http://localhost:${port}`, sessionToken });
  return NO_SECRETS;
}

/** Outside Lambda (no session token): secret ARNs cannot be read; the error names what to set. */
const NO_SECRETS: SecretSource = {
  get: async () => {
    throw new ConfigError(
      `${SETTINGS.sessionToken.env} is required to read *_SECRET_ARN secrets (the Lambda runtime sets it)`,
      { details: { variable: SETTINGS.sessionToken.env } },
    );
  },
  refresh: () => false,
};

/**
 * Gives the logger each invocation's Lambda context before `handler` runs, so every line it writes
 * (the handler's and `shared/`'s, through the port) carries the request id and the function's name.
 */
export function withLambdaContext<E, R>(
  deps: Pick<Dependencies, 'rootLogger'>,
  handler: (event: E, context?: Context) => Promise<R>,
): (event: E, context?: Context) => Promise<R> {
  return (event, context) => {
    if (context) deps.rootLogger.addContext(context);
    return handler(event, context);
  };
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
export function createDatabaseSql(
  config: Pick<Config, 'database'>,
  logger: LoggerPort,
  secrets: SecretSource = NO_SECRETS,
): Sql {
  return lazySql(async () => {
    // Evaluated on the first query only: a cache hit never loads `pg` (about 18 ms of a cold start).
    const [{ createPgSql }, options] = await Promise.all([
      import('../../shared/db/pgSql.js'),
      databaseOptions(requireDatabase(config.database), secrets),
    ]);
    return createPgSql({ ...options, logger });
  });
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
  secrets: SecretSource,
): Promise<{ connectionString?: string; config?: PoolConfig }> {
  // `require` verifies the server certificate. On Lambda the RDS CA bundle is loaded through
  // NODE_EXTRA_CA_CERTS=/var/runtime/ca-cert.pem (set by the stack).
  const ssl: PoolConfig['ssl'] = db.ssl === 'require' ? { rejectUnauthorized: true } : false;
  if (db.source === 'env') return { connectionString: db.url, config: { ssl } };
  const read = () => secrets.get(db.secretArn, rdsSecret, SETTINGS.databaseSecretArn.env);
  const secret = await read();
  return {
    config: {
      host: secret.host,
      port: secret.port === undefined ? 5432 : Number(secret.port),
      user: secret.username,
      database: secret.dbname ?? 'postgres',
      ssl,
      // A function, so new connections pick up a rotated password once `secrets.refresh(arn)` ran.
      password: async () => (await read()).password,
    },
  };
}
