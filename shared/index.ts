/**
 * `@chatapp-ngomna/shared`: the read side, what a service that only reads profiles installs.
 *
 * Everything here runs without `pg`, PGlite, the CDK or Powertools (test/package.test.ts installs the
 * packed tarball and checks its node_modules), and a Lambda bundle of `ProfileClient` + `UserCache` stays
 * under 100 KB minified. Only what is re-exported here (and from `./producer`, `./server`, `./pg`) is
 * public; every other file of `shared/` is internal and may move.
 * @see ../docs/api.md
 */

export type { CacheKeys } from './cache/keys.js';
export {
  AppError,
  ConfigError,
  UserCacheError,
  type UserCacheErrorCode,
  type ValidationCode,
  ValidationError,
} from './errors.js';
export type { Clock, LoggerPort } from './ports.js';
export {
  ProfileClient,
  type ProfileClientOptions,
  type ProfileResult,
  type ProfilesResult,
} from './profile/client.js';
export {
  assertUserId,
  LIMITS,
  type ProfileFields,
  parseUserProfile,
  RESERVED_USER_IDS,
  type UserProfile,
} from './profile/model.js';
export type { CircuitBreakerOptions } from './redis/circuitBreaker.js';
export { createRedisClient, type RedisClientOptions } from './redis/client.js';
export {
  type CacheLookup,
  type CacheStats,
  type CacheWrite,
  UserCache,
  type UserCacheOptions,
  type UserCacheRedis,
  type WriteOutcome,
} from './userCache.js';
