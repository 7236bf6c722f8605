import { integerOption, numberOption } from '../options.js';
import type { CacheWrite } from './writes.js';

export interface TtlSettings {
  profileSeconds: number;
  /** Fraction in [0, 1): profiles get a TTL drawn uniformly from [ttl × (1 − jitter), ttl]. */
  jitter: number;
  negativeSeconds: number;
  tombstoneSeconds: number;
}

export class TtlPolicy {
  readonly #s: TtlSettings;
  readonly #random: () => number;

  constructor(settings: TtlSettings, random: () => number) {
    integerOption('ttlSeconds', settings.profileSeconds, { min: 1 });
    integerOption('negativeTtlSeconds', settings.negativeSeconds, { min: 1 });
    integerOption('tombstoneTtlSeconds', settings.tombstoneSeconds, { min: 1 });
    numberOption('ttlJitter', settings.jitter, { min: 0, below: 1 });
    this.#s = settings;
    this.#random = random;
  }

  /**
   * Seconds for one write. Profiles are jittered downwards so a prewarmed batch does not expire in one
   * instant and no entry outlives the documented TTL; tombstones and invalidation markers keep theirs.
   */
  secondsFor(kind: CacheWrite['kind']): number {
    if (kind === 'negative') return this.#s.negativeSeconds;
    if (kind !== 'profile') return this.#s.tombstoneSeconds;
    const spread = Math.floor(this.#s.profileSeconds * this.#s.jitter * this.#random());
    return Math.max(1, this.#s.profileSeconds - spread);
  }
}

/**
 * Kept between an aged event and the shortest fence it could meet: the delay between a commit and its
 * XADD for producers that send no `occurredAt` (the stream id's time is used, which is later than the
 * commit), and clock skew between Redis and the poller.
 */
export const AGED_EVENT_MARGIN_MS = 3_600_000;

/** The TTL settings the aged-event threshold depends on (names as in `UserCacheOptions`). */
export interface FenceLifetimes {
  ttlSeconds: number;
  ttlJitter: number;
  tombstoneTtlSeconds: number;
}

/** The shortest TTL `TtlPolicy` can give a profile: `ttl − floor(ttl × jitter)` (random → 1). */
export function shortestProfileTtlSeconds(s: Pick<FenceLifetimes, 'ttlSeconds' | 'ttlJitter'>): number {
  return Math.max(1, s.ttlSeconds - Math.floor(s.ttlSeconds * s.ttlJitter));
}

/**
 * Age past which a versioned event must be applied as an invalidation (the poller's `maxEventAgeMs`).
 * A newer version's cache entry was written after the older event's commit and lives at least the
 * shortest profile TTL (or the tombstone TTL, for a deletion or an invalidation marker); an event younger
 * than the shorter of the two, minus the margin, therefore still meets its fence. Older, its newer
 * version may have expired and its data would roll the profile back for a whole TTL (issue 9: the old
 * threshold, tombstone TTL − 1 h, ignored the 5 % jitter and a profile TTL below the tombstone TTL).
 * Negative when the TTLs are shorter than the margin (`functions/commons/config.ts` refuses such settings).
 */
export function maxSafeEventAgeMs(s: FenceLifetimes): number {
  return Math.min(shortestProfileTtlSeconds(s), s.tombstoneTtlSeconds) * 1000 - AGED_EVENT_MARGIN_MS;
}
