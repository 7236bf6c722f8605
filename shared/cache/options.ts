/** `UserCache`'s options (the cache itself is `shared/userCache.ts`). */
import type {
  DEFAULT_ACTIVITY_INTERVAL_MS,
  DEFAULT_NEGATIVE_TTL_SECONDS,
  DEFAULT_TOMBSTONE_TTL_SECONDS,
  DEFAULT_TTL_JITTER,
  DEFAULT_TTL_SECONDS,
} from '../defaults.js';
import type { Clock, LoggerPort } from '../ports.js';
import type { CircuitBreakerOptions } from '../redis/circuitBreaker.js';
import type { MAX_REQUEST_BYTES } from './requestSize.js';
import type { UserCacheRedis } from './transport.js';

export interface UserCacheOptions {
  /** Upstash client, created once per Lambda environment with `createRedisClient`. */
  redis: UserCacheRedis;
  /**
   * Prefix for every key (tenants, test runs). Production keeps the seed's names.
   * @default ''
   */
  keyPrefix?: string;
  /**
   * Profile TTL in seconds. Each write draws its TTL uniformly from `[ttl × (1 − ttlJitter), ttl]`.
   * @default {@link DEFAULT_TTL_SECONDS} (7 days)
   */
  ttlSeconds?: number;
  /**
   * Fraction of the TTL to spread expiries over, so a prewarmed batch does not expire in one instant.
   * @default {@link DEFAULT_TTL_JITTER}
   */
  ttlJitter?: number;
  /**
   * TTL of a negative entry (an id PostgreSQL does not have). Short: a create overrides it anyway.
   * @default {@link DEFAULT_NEGATIVE_TTL_SECONDS}
   */
  negativeTtlSeconds?: number;
  /**
   * TTL of tombstones and invalidation markers. Must exceed the longest delay an event or fill may have;
   * older events are applied as invalidations instead (see the stream poller).
   * @default {@link DEFAULT_TOMBSTONE_TTL_SECONDS} (7 days)
   */
  tombstoneTtlSeconds?: number;
  /** Consecutive-failure breaker around every Redis call. @default { failureThreshold: 3, cooldownMs: 5000 } */
  circuitBreaker?: CircuitBreakerOptions;
  /**
   * When counters ride along to Redis (see `cache/stats.ts` for the bound).
   * @default { flushEvery: 100, flushAfterMs: 10000, maxOverhead: 0.1 }
   */
  stats?: { flushEvery?: number; flushAfterMs?: number; maxOverhead?: number };
  /**
   * Record reads in the activity sorted set (the prewarmer's source), at most once per user per
   * `activityIntervalMs` per instance, as a ZADD riding on the read's own pipeline.
   * @default true
   */
  trackActivity?: boolean;
  /** @default {@link DEFAULT_ACTIVITY_INTERVAL_MS} (1 hour) */
  activityIntervalMs?: number;
  /** @default Date.now */
  clock?: Clock;
  /** Source of randomness for TTL jitter. @default Math.random */
  random?: () => number;
  /** @default a logger that drops everything */
  logger?: LoggerPort;
  /**
   * Largest HTTP request to send: fenced writes are split so that each call fits (Upstash refuses
   * requests over 1 MB with `ERR max request size exceeded`).
   * @default {@link MAX_REQUEST_BYTES} (1 MB, Upstash's limit)
   */
  maxRequestBytes?: number;
}
