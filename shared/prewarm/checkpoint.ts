/**
 * The prewarm's daily cycle and its checkpoint. 350,000 active users at the seed's pacing (500 per batch,
 * 1.5 s apart) is 700 batches, 17.5 minutes of pauses alone: more than one Lambda invocation (900 s). So
 * a cycle is walked by several invocations, each resuming at the cursor the previous one saved.
 *
 * The checkpoint is a Redis hash (`user:prewarm:checkpoint`). Writes are FENCED by the prewarm lease: the
 * save script compares the lease's token first and renews the lease in the same step, so a run that lost
 * its lease (it stalled past the TTL and another run took over) can never move the cursor back or
 * overwrite the newer run's counts. Its next save is refused and it stops.
 */
import type { Redis } from '@upstash/redis';
import { KEY_LOCKING, runScript, script } from '../cache/scripts.js';
import { ConfigError } from '../errors.js';

/** Where one day's walk stands. Counters are cycle totals across invocations. */
export interface PrewarmCycle {
  /** The cycle's id: its UTC day, e.g. `2026-12-01`. A new id starts a new walk from the top. */
  cycle: string;
  /** Window start fixed when the cycle began, so every invocation walks the same population. */
  sinceMs: number;
  startedAt: number;
  /** Source cursor after the last completed batch; undefined at the start. */
  cursor: string | undefined;
  complete: boolean;
  /** What the source counted when the cycle began (null when it cannot count). */
  active: number | null;
  walked: number;
  cached: number;
  skippedFresh: number;
  notFound: number;
  errors: number;
  batches: number;
  invocations: number;
  /** The cycle's outcome was reported (PrewarmUncovered emitted): at completion or at its deadline. */
  closed: boolean;
}

/** Load and fenced save of the cycle state. */
export interface PrewarmCheckpointStore {
  load(): Promise<PrewarmCycle | undefined>;
  /** Saves only while the store's lease is still ours, renewing it. False: lease lost, nothing saved. */
  save(state: PrewarmCycle): Promise<boolean>;
}

/** The lease whose token fences the checkpoint (a `Lease`). */
export interface FencingLease {
  readonly key: string;
  readonly owner: string;
  readonly ttlMs: number;
}

export interface RedisPrewarmCheckpointOptions {
  redis: Pick<Redis, 'exec' | 'evalsha' | 'eval'>;
  /** The checkpoint hash, e.g. `user:prewarm:checkpoint` (prefixed by the caller). */
  key: string;
  /** The prewarm lease of this run: saves are refused once another holder has it. */
  lease: FencingLease;
  /**
   * Lifetime of the hash after its last save: long enough to outlive the day it describes.
   * @default 259200000 (3 days)
   */
  ttlMs?: number;
}

/**
 * KEYS[1] lease, KEYS[2] checkpoint; ARGV[1] token, ARGV[2] lease TTL, ARGV[3] checkpoint TTL, then
 * field/value pairs. Compare-and-set on the lease token, then renew and replace the hash in one step.
 */
const SAVE = script(`${KEY_LOCKING}if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], unpack(ARGV, 4))
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1
`);

const COUNTERS = [
  'sinceMs',
  'startedAt',
  'walked',
  'cached',
  'skippedFresh',
  'notFound',
  'errors',
  'batches',
  'invocations',
] as const;

export class RedisPrewarmCheckpoint implements PrewarmCheckpointStore {
  readonly #o: Required<RedisPrewarmCheckpointOptions>;

  constructor(options: RedisPrewarmCheckpointOptions) {
    this.#o = { ttlMs: 3 * 86_400_000, ...options };
    if (!options.key) throw new ConfigError('checkpoint key must not be empty');
  }

  async load(): Promise<PrewarmCycle | undefined> {
    const flat = await this.#o.redis.exec<unknown>(['HGETALL', this.#o.key]);
    if (!Array.isArray(flat) || flat.length === 0) return undefined;
    const f = new Map<string, string>();
    for (let i = 0; i + 1 < flat.length; i += 2) f.set(String(flat[i]), String(flat[i + 1]));
    const cycle = f.get('cycle');
    if (!cycle) return undefined;
    // Every counter is overwritten from the hash below; newCycle gives the shape once.
    const state: PrewarmCycle = {
      ...newCycle(cycle, 0, 0, f.has('active') && f.get('active') !== '' ? Number(f.get('active')) : null),
      cursor: f.get('cursor') || undefined,
      complete: f.get('complete') === '1',
      closed: f.get('closed') === '1',
    };
    for (const name of COUNTERS) {
      const value = Number(f.get(name));
      // An unreadable checkpoint (a hand edit, a foreign writer) restarts the cycle rather than crash it.
      if (!Number.isSafeInteger(value)) return undefined;
      state[name] = value;
    }
    return state;
  }

  async save(state: PrewarmCycle): Promise<boolean> {
    const { lease, redis, key, ttlMs } = this.#o;
    const fields: string[] = [
      'cycle',
      state.cycle,
      'cursor',
      state.cursor ?? '',
      'complete',
      state.complete ? '1' : '0',
      'closed',
      state.closed ? '1' : '0',
      'active',
      state.active === null ? '' : String(state.active),
      'updatedAt',
      new Date().toISOString(),
    ];
    // Whole milliseconds: a clock built on performance.now() reads fractions, which load() would refuse.
    for (const name of COUNTERS) fields.push(name, String(Math.round(state[name])));
    const reply = await runScript(
      redis,
      SAVE,
      [lease.key, key],
      [lease.owner, String(lease.ttlMs), String(ttlMs), ...fields],
    );
    return Number(reply) === 1;
  }
}

/** A checkpoint that lives for one run only (benchmarks, tests, one-off runs): every run starts fresh. */
export class MemoryPrewarmCheckpoint implements PrewarmCheckpointStore {
  #state: PrewarmCycle | undefined;
  async load(): Promise<PrewarmCycle | undefined> {
    return this.#state;
  }
  async save(state: PrewarmCycle): Promise<boolean> {
    this.#state = { ...state };
    return true;
  }
}

/** The UTC day of `nowMs`: one cycle per day, starting with the first run of the day. */
export function utcDay(nowMs: number): string {
  return new Date(nowMs).toISOString().slice(0, 10);
}

export function newCycle(
  cycle: string,
  startedAt: number,
  sinceMs: number,
  active: number | null,
): PrewarmCycle {
  return {
    cycle,
    sinceMs,
    startedAt,
    cursor: undefined,
    complete: false,
    active,
    walked: 0,
    cached: 0,
    skippedFresh: 0,
    notFound: 0,
    errors: 0,
    batches: 0,
    invocations: 0,
    closed: false,
  };
}

/** Active users not walked yet: 0 once complete, null when the source could not count. */
export function remainingOf(state: PrewarmCycle): number | null {
  if (state.complete) return 0;
  return state.active === null ? null : Math.max(0, state.active - state.walked);
}

/**
 * Users of the cycle not warmed: failed ones plus those not reached. Ids PostgreSQL does not have are not
 * users and count neither way.
 */
export function uncoveredOf(state: PrewarmCycle): number {
  return state.errors + (remainingOf(state) ?? 0);
}

/** Warmed / (warmed + not warmed), in [0, 1]; 1 for an empty window. */
export function coverageOf(state: PrewarmCycle): number {
  const warmed = state.cached + state.skippedFresh;
  const denominator = warmed + uncoveredOf(state);
  return denominator === 0 ? 1 : warmed / denominator;
}
