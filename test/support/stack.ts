/**
 * The whole read/write stack on real servers, for tests: a real Redis behind this file's Upstash gateway
 * (random key prefix) and a private PostgreSQL/PGlite database, wired exactly as `functions/commons/dependencies.ts`
 * wires them in Lambda. Call once per test file (PGlite takes seconds to start) and `cleanup()` after.
 */

import type { ApiDeps, MetricsPort } from '../../functions/commons/route.js';
import { buildProfileServices } from '../../functions/commons/services.js';
import { ProfileRepository } from '../../shared/db/profileRepository.js';
import type { LoggerPort } from '../../shared/ports.js';
import type { ProfileService } from '../../shared/profile/service.js';
import { createRedisClient } from '../../shared/redis/client.js';
import { type RedisCredentials, rebuildOnAuthFailure } from '../../shared/redis/rebuildOnAuthFailure.js';
import type { EventPublisher } from '../../shared/stream/eventPublisher.js';
import type { UserCache, UserCacheOptions } from '../../shared/userCache.js';
import { type InstrumentedSql, instrumentSql, type TestDb, type TestDbOptions, useTestDb } from './db.js';
import { type TestRedis, type UseTestRedisOptions, useTestRedis } from './redis.js';

export interface LogEntry {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  extra: Record<string, unknown> | undefined;
}

export interface CapturingLogger extends LoggerPort {
  readonly entries: LogEntry[];
}

export interface CapturingMetrics extends MetricsPort {
  /** Metrics added since the last `reset()` (published or not). */
  readonly added: Array<{ name: string; unit: string; value: number }>;
  published: number;
  reset(): void;
}

/** One service wired on the stack's servers, with its own cache instance (and circuit breaker). */
export interface StackServices {
  cache: UserCache;
  publisher: EventPublisher;
  service: ProfileService;
  /** What `createHandler(deps)` takes, with the stack's capturing logger and metrics. */
  deps: ApiDeps;
}

export interface TestStack extends StackServices {
  redis: TestRedis;
  /**
   * Stand-in for the Upstash secret in Secrets Manager: what the stack's client reloads after a 401
   * (it is wired through `rebuildOnAuthFailure`, as in Lambda). Change it together with
   * `redis.gateway.setToken()` to rotate the token under the running stack.
   */
  upstashSecret: { current: RedisCredentials };
  db: TestDb;
  sql: InstrumentedSql;
  repository: ProfileRepository;
  /** The events stream key (under the Redis key prefix). */
  stream: string;
  logger: CapturingLogger;
  metrics: CapturingMetrics;
  /** Fresh cache/publisher/service on the same servers: use after fault injection opened a breaker. */
  build(options?: { cache?: Partial<UserCacheOptions> }): StackServices;
  cleanup(): Promise<void>;
}

export interface TestStackOptions {
  redis?: UseTestRedisOptions;
  db?: TestDbOptions;
  /** Options of the stack's own UserCache. @default {} (production defaults, under the key prefix) */
  cache?: Partial<UserCacheOptions>;
  /** Scope names the handlers check. @default { readScope: 'users.read', writeScope: 'users.write' } */
  auth?: ApiDeps['auth'];
}

export async function useTestStack(options: TestStackOptions = {}): Promise<TestStack> {
  const [redis, db] = await Promise.all([useTestRedis(options.redis), useTestDb(options.db)]);
  const sql = instrumentSql(db.sql);
  const repository = new ProfileRepository({ sql });
  const stream = `${redis.keyPrefix}events:users`;
  const upstashSecret = { current: { url: redis.gateway.url, token: redis.gateway.token } };
  const client = rebuildOnAuthFailure({
    initial: upstashSecret.current,
    refresh: async () => upstashSecret.current,
    build: (credentials) =>
      createRedisClient({ ...credentials, timeoutMs: options.redis?.timeoutMs ?? 2_000 }),
  });
  const logger = capturingLogger();
  const metrics = capturingMetrics();
  const auth = options.auth ?? { readScope: 'users.read', writeScope: 'users.write' };

  const build = (opts: { cache?: Partial<UserCacheOptions> } = {}): StackServices => {
    const { cache, publisher, service } = buildProfileServices({
      redis: client,
      repository,
      cache: { keyPrefix: redis.keyPrefix, ...opts.cache },
      stream,
      logger,
      metrics,
    });
    return { cache, publisher, service, deps: { service, logger, metrics, auth } };
  };

  return {
    ...build({ cache: options.cache }),
    redis,
    upstashSecret,
    db,
    sql,
    repository,
    stream,
    logger,
    metrics,
    build,
    async cleanup() {
      await Promise.allSettled([redis.cleanup(), db.cleanup()]);
    },
  };
}

export function capturingLogger(): CapturingLogger {
  const entries: LogEntry[] = [];
  const at =
    (level: LogEntry['level']) =>
    (message: string, extra?: Record<string, unknown>): void => {
      entries.push({ level, message, extra });
    };
  return { entries, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export function capturingMetrics(): CapturingMetrics {
  const m: CapturingMetrics = {
    added: [],
    published: 0,
    addMetric(name, unit, value) {
      m.added.push({ name, unit, value });
    },
    publishStoredMetrics() {
      m.published += 1;
    },
    reset() {
      m.added.length = 0;
      m.published = 0;
    },
  };
  return m;
}
