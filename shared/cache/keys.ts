/** Redis key names. `prefix` isolates tenants and test runs; production uses the seed's bare names. */
export interface CacheKeys {
  profile(userId: string): string;
  /** Hash of shared counters (see stats.ts). */
  readonly stats: string;
  /** Sorted set userId -> last read time (ms), the prewarmer's "active users" source. */
  readonly activity: string;
}

export function cacheKeys(prefix = ''): CacheKeys {
  return {
    profile: (userId) => `${prefix}user:profile:${userId}`,
    stats: `${prefix}user:cache:stats`,
    activity: `${prefix}user:activity`,
  };
}
