/**
 * A Redis lease: at most one stream poller, and at most one prewarm, run at a time across every Lambda
 * environment. EventBridge Scheduler may fire a run while the previous one is still going (a slow run,
 * an at-least-once re-delivery), and reserved concurrency is not always available on new accounts.
 *
 * The lease is a key holding its owner's random token with a TTL. Renew and release are Lua scripts that
 * compare the token first: a holder that overran its TTL must never extend or delete a lease that has
 * since been taken by someone else (the classic "GET then DEL" race).
 * @see https://redis.io/docs/latest/develop/use/patterns/distributed-locks/
 */

import { randomUUID } from 'node:crypto';
import type { Redis } from '@upstash/redis';
import { runScript, script } from './cache/scripts.js';
import { ConfigError, LeaseHeldError, UserCacheError } from './errors.js';
import { safeErrorText } from './errorText.js';

/** The Redis commands a lease needs (an `@upstash/redis` client built by `createRedisClient`). */
export type LeaseRedis = Pick<Redis, 'exec' | 'evalsha' | 'eval'>;

/** What the poller and the prewarmer need from a lease (tests may pass their own). */
export interface LeasePort {
  readonly ttlMs: number;
  acquire(): Promise<boolean>;
  renew(): Promise<boolean>;
  release(): Promise<boolean>;
}

export interface LeaseOptions {
  redis: LeaseRedis;
  /** The lease key, e.g. `user:poller:lease` (prefixed by the caller for tests and tenants). */
  key: string;
  /** How long the lease lives without a renewal. Longer than the work between two renewals. */
  ttlMs: number;
  /**
   * Token identifying this holder. Unique per run, so two runs in one environment never share a lease.
   * @default a random UUID
   */
  owner?: string;
}

/** PEXPIRE only when the caller still owns the key. Returns 1 when renewed, 0 when lost. */
const RENEW = script(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`);

/** DEL only when the caller still owns the key. Returns 1 when released, 0 when already gone or taken. */
const RELEASE = script(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`);

export class Lease implements LeasePort {
  readonly key: string;
  readonly owner: string;
  readonly ttlMs: number;
  readonly #redis: LeaseRedis;

  constructor(options: LeaseOptions) {
    if (!options.key) throw new ConfigError('lease key must not be empty');
    if (!Number.isSafeInteger(options.ttlMs) || options.ttlMs <= 0) {
      throw new ConfigError('lease ttlMs must be a positive integer');
    }
    this.#redis = options.redis;
    this.key = options.key;
    this.ttlMs = options.ttlMs;
    this.owner = options.owner ?? randomUUID();
  }

  /** `SET key owner NX PX ttl`: true when this holder now owns the lease. Throws `UserCacheError` on Redis failure. */
  async acquire(): Promise<boolean> {
    const reply = await this.#call(() =>
      this.#redis.exec<string | null>(['SET', this.key, this.owner, 'NX', 'PX', String(this.ttlMs)]),
    );
    return reply === 'OK';
  }

  /** Extends the TTL to `ttlMs` from now, only while still the owner. False means the lease was lost. */
  async renew(): Promise<boolean> {
    const reply = await this.#call(() =>
      runScript(this.#redis, RENEW, [this.key], [this.owner, String(this.ttlMs)]),
    );
    return Number(reply) === 1;
  }

  /** Deletes the lease, only while still the owner. */
  async release(): Promise<boolean> {
    const reply = await this.#call(() => runScript(this.#redis, RELEASE, [this.key], [this.owner]));
    return Number(reply) === 1;
  }

  async #call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw new UserCacheError('CACHE_UNAVAILABLE', `lease ${this.key}: ${safeErrorText(error)}`, {
        cause: error,
      });
    }
  }
}

/**
 * Runs `fn` while holding `lease`: throws `LeaseHeldError` (nothing ran) when another holder has it, and
 * releases it afterwards whatever `fn` did. A failed release is ignored: the TTL frees the lease anyway.
 */
export async function withLease<T>(lease: LeasePort, fn: () => Promise<T>): Promise<T> {
  if (!(await lease.acquire())) {
    throw new LeaseHeldError('another run holds the lease; this one did nothing', {
      details: lease instanceof Lease ? { key: lease.key } : undefined,
    });
  }
  try {
    return await fn();
  } finally {
    await lease.release().catch(() => false);
  }
}
