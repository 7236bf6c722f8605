/** TTLs of cache entries, validated once at construction (a bad value is a ConfigError, not a bad write). */
import { ConfigError } from '../errors.js';
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
    positiveInt('ttlSeconds', settings.profileSeconds);
    positiveInt('negativeTtlSeconds', settings.negativeSeconds);
    positiveInt('tombstoneTtlSeconds', settings.tombstoneSeconds);
    if (!(settings.jitter >= 0 && settings.jitter < 1)) throw new ConfigError('ttlJitter must be in [0, 1)');
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

export function positiveInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0) throw new ConfigError(`${name} must be a positive integer`);
  return value;
}
