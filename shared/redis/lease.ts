/**
 * A Redis lease: at most one stream poller, and at most one prewarm, run at a time across every Lambda
 * environment. EventBridge Scheduler may fire a run while the previous one is still going (a slow run,
 * an at-least-once re-delivery), and reserved concurrency is not always available on new accounts.
 *
 * The lease is a key holding its owner's random token with a TTL. Renew and release are Lua scripts that
 * compare the token first: a holder that overran its TTL must never extend or delete a lease that has
 * since been taken by someone else (the classic "GET then DEL" race).
 *
 * The poller's runs overlap and hand over (see docs/poller.md): a run that finds the lease held queues
 * a request under `<key>:next` and polls; the holder sees it at its next heartbeat, finishes its batch,
 * acknowledges and releases. A lease alone cannot stop a holder that stalled past its TTL from writing
 * afterwards, so the poller's cache writes carry `fence` and the write script itself checks it.
 * @see https://redis.io/docs/latest/develop/use/patterns/distributed-locks/
 */

import { randomUUID } from 'node:crypto';
import type { Redis } from '@upstash/redis';
import { KEY_LOCKING, runScript, script } from '../cache/scripts.js';
import { ConfigError, LeaseHeldError, UserCacheError } from '../errors.js';
import { integerOption } from '../options.js';
import type { Clock } from '../ports.js';
import { redisErrorCode, safeErrorText } from './errorText.js';

/** The Redis commands a lease needs (an `@upstash/redis` client built by `createRedisClient`). */
export type LeaseRedis = Pick<Redis, 'exec' | 'evalsha' | 'eval'>;

/** What the poller and the prewarmer need from a lease (tests may pass their own). */
export interface LeasePort {
  readonly ttlMs: number;
  acquire(): Promise<boolean>;
  renew(): Promise<boolean>;
  release(): Promise<boolean>;
}

/** What a fenced write checks inside Redis: the lease `key` still holds `token`. */
export interface LeaseFence {
  readonly key: string;
  readonly token: string;
}

/** What one poller run sees at a heartbeat. */
export type Heartbeat = 'held' | 'successor' | 'lost';

/** A lease that runs hand over (the stream poller's). */
export interface HandoverLeasePort extends LeasePort {
  readonly fence: LeaseFence;
  /** Takes the lease, or leaves a short-lived request that the holder hands it over. */
  acquireOrQueue(): Promise<boolean>;
  /** Renews; `successor` when another run waits for the lease, `lost` when another run holds it. */
  heartbeat(): Promise<Heartbeat>;
  /** Takes back this run's own request (a waiter giving up), so the holder does not hand over to nobody. */
  withdraw(): Promise<void>;
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
const RENEW = script(`${KEY_LOCKING}if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`);

/** DEL only when the caller still owns the key. Returns 1 when released, 0 when already gone or taken. */
const RELEASE = script(`${KEY_LOCKING}if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`);

/**
 * Takes the lease, or queues for it: the request lives `ARGV[3]` ms, so a waiter that died stops asking
 * within that time and never makes a holder hand over to nobody. A waiter that gets the lease clears
 * its own request (a newer waiter's stays). Returns 1 when acquired.
 */
const ACQUIRE_OR_QUEUE =
  script(`${KEY_LOCKING}if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
  return 1
end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[3])
return 0
`);

/**
 * Renews while the owner; takes back a lease that expired (a stall) when nobody else took it, since
 * writes are fenced anyway. Returns 0 when lost, 2 when another run queued for it, 1 otherwise.
 */
const HEARTBEAT = script(`${KEY_LOCKING}local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
elseif not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
  return 0
end
local waiting = redis.call('GET', KEYS[2])
if waiting and waiting ~= ARGV[1] then return 2 end
return 1
`);

/** How long a queued request lives unless its waiter polls again (it polls every 250 ms at most). */
const REQUEST_TTL_MS = 1_000;

export class Lease implements HandoverLeasePort {
  readonly key: string;
  readonly owner: string;
  readonly ttlMs: number;
  readonly #redis: LeaseRedis;

  constructor(options: LeaseOptions) {
    if (!options.key) throw new ConfigError('lease key must not be empty');
    integerOption('lease ttlMs', options.ttlMs, { min: 1 });
    this.#redis = options.redis;
    this.key = options.key;
    this.ttlMs = options.ttlMs;
    this.owner = options.owner ?? randomUUID();
  }

  get fence(): LeaseFence {
    return { key: this.key, token: this.owner };
  }

  /** Where a waiting run asks for a handover. */
  get requestKey(): string {
    return `${this.key}:next`;
  }

  async acquireOrQueue(): Promise<boolean> {
    const reply = await this.#call(() =>
      runScript(
        this.#redis,
        ACQUIRE_OR_QUEUE,
        [this.key, this.requestKey],
        [this.owner, String(this.ttlMs), String(REQUEST_TTL_MS)],
      ),
    );
    return Number(reply) === 1;
  }

  async withdraw(): Promise<void> {
    // Same compare-and-delete as RELEASE, on the request key: a newer waiter's request stays.
    await this.#call(() => runScript(this.#redis, RELEASE, [this.requestKey], [this.owner]));
  }

  async heartbeat(): Promise<Heartbeat> {
    const reply = await this.#call(() =>
      runScript(this.#redis, HEARTBEAT, [this.key, this.requestKey], [this.owner, String(this.ttlMs)]),
    );
    const code = Number(reply);
    return code === 1 ? 'held' : code === 2 ? 'successor' : 'lost';
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
        redisCode: redisErrorCode(error),
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

/**
 * Waits for a handover: queues for the lease and polls it, every 50 ms for the first 2 s (a live holder
 * hands over within one of its steps), then every 250 ms (a killed holder's lease must expire first).
 * Gives up at `until`. Redis failures while waiting are retried at the same pace.
 */
export async function waitForLease(
  lease: HandoverLeasePort,
  opts: { until: number; clock: Clock; sleep: (ms: number) => Promise<void> },
): Promise<{ acquired: boolean; waitedMs: number }> {
  const started = opts.clock();
  for (;;) {
    const acquired = await lease.acquireOrQueue().catch(() => false);
    const now = opts.clock();
    if (!acquired && now >= opts.until) await lease.withdraw().catch(() => {});
    if (acquired || now >= opts.until) return { acquired, waitedMs: now - started };
    await opts.sleep(Math.min(now - started < 2_000 ? 50 : 250, opts.until - now));
  }
}
