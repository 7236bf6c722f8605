/**
 * UserCache: the one profile cache every function uses (hash `user:profile:{userId}`, TTL 7 days).
 *
 * Correctness rests on one rule: every write is fenced by the profile's PostgreSQL `version` inside a Lua
 * script, so late events, slow read-fills and prewarm batches can never overwrite newer data or resurrect
 * a deleted profile. Redis trouble never throws out of a read: it comes back as `unknown` and the caller
 * asks PostgreSQL.
 */

import { ActivityMarks, unrecorded } from './cache/activity.js';
import { type CacheLookup, decodeEntry } from './cache/codec.js';
import { type CacheKeys, cacheKeys } from './cache/keys.js';
import type { UserCacheOptions } from './cache/options.js';
import { fencedWriteRanges, MAX_REQUEST_BYTES } from './cache/requestSize.js';
import { FENCE_REFUSED, FENCED_WRITE, FENCED_WRITE_SLOTS, fencedByLease } from './cache/scripts.js';
import {
  type CacheStats,
  COUNTERS,
  type Counter,
  LOOKUP_COUNTER,
  StatsBuffer,
  toCacheStats,
  zeroCounters,
} from './cache/stats.js';
import { CacheTransport, type PipelineReply } from './cache/transport.js';
import { TtlPolicy } from './cache/ttl.js';
import { type CacheWrite, encodeWrites, OUTCOME_OF_CODE, type WriteOutcome } from './cache/writes.js';
import {
  DEFAULT_ACTIVITY_INTERVAL_MS,
  DEFAULT_NEGATIVE_TTL_SECONDS,
  DEFAULT_TOMBSTONE_TTL_SECONDS,
  DEFAULT_TTL_JITTER,
  DEFAULT_TTL_SECONDS,
} from './defaults.js';
import { LeaseLostError, UserCacheError, ValidationError } from './errors.js';
import { integerOption } from './options.js';
import { type Clock, type LoggerPort, silentLogger, systemClock } from './ports.js';
import { assertUserId, LIMITS, parseUserProfile, type UserProfile } from './profile/model.js';
import { CircuitBreaker } from './redis/circuitBreaker.js';
import { safeErrorText } from './redis/errorText.js';
import type { LeaseFence } from './redis/lease.js';

export type { CacheLookup } from './cache/codec.js';
export type { UserCacheOptions } from './cache/options.js';
export type { CacheStats } from './cache/stats.js';
export type { UserCacheRedis } from './cache/transport.js';
export type { CacheWrite, WriteOutcome } from './cache/writes.js';

/** FENCED_WRITE checked against the poller's lease in the same step (see `write`'s `fence`). */
const FENCED_WRITE_UNDER_LEASE = fencedByLease(FENCED_WRITE);

export class UserCache {
  readonly keys: CacheKeys;
  readonly #io: CacheTransport;
  readonly #breaker: CircuitBreaker;
  readonly #stats: StatsBuffer;
  readonly #clock: Clock;
  readonly #logger: LoggerPort;
  readonly #ttl: TtlPolicy;
  readonly #activity: ActivityMarks;
  readonly #maxRequestBytes: number;

  constructor(options: UserCacheOptions) {
    this.#maxRequestBytes = integerOption('maxRequestBytes', options.maxRequestBytes ?? MAX_REQUEST_BYTES, {
      min: 1,
    });
    this.keys = cacheKeys(options.keyPrefix ?? '');
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? silentLogger;
    this.#ttl = new TtlPolicy(
      {
        profileSeconds: options.ttlSeconds ?? DEFAULT_TTL_SECONDS,
        jitter: options.ttlJitter ?? DEFAULT_TTL_JITTER,
        negativeSeconds: options.negativeTtlSeconds ?? DEFAULT_NEGATIVE_TTL_SECONDS,
        tombstoneSeconds: options.tombstoneTtlSeconds ?? DEFAULT_TOMBSTONE_TTL_SECONDS,
      },
      options.random ?? Math.random,
    );
    this.#breaker = new CircuitBreaker({ clock: this.#clock, ...options.circuitBreaker });
    this.#stats = new StatsBuffer({ clock: this.#clock, ...options.stats });
    this.#activity = new ActivityMarks(
      options.trackActivity === false
        ? undefined
        : integerOption('activityIntervalMs', options.activityIntervalMs ?? DEFAULT_ACTIVITY_INTERVAL_MS, {
            min: 1,
          }),
      this.#clock,
    );
    this.#io = new CacheTransport({
      redis: options.redis,
      keys: this.keys,
      breaker: this.#breaker,
      stats: this.#stats,
      activity: this.#activity,
      logger: this.#logger,
    });
  }

  /** Reads one profile (one HTTP request: HGETALL plus any due counters and activity mark). */
  async get(userId: string): Promise<CacheLookup> {
    assertUserId(userId);
    const found = await this.#read([userId], true);
    return found.get(userId) ?? { status: 'unknown', reason: 'no reply' };
  }

  /**
   * Reads many profiles in ONE pipelined HTTP request. Duplicate ids are read once. Throws
   * `ValidationError` (before any I/O) for a malformed id or more than `LIMITS.cacheBatchMax` ids.
   * `observe: false` (default true) leaves counters and the activity set untouched.
   */
  async batchGet(
    userIds: readonly string[],
    options: { observe?: boolean } = {},
  ): Promise<Map<string, CacheLookup>> {
    // Audits and tooling read with observe=false so they skew neither the hit rate nor the activity set.
    return this.#read(uniqueValidIds(userIds), options.observe ?? true);
  }

  /** `ids` are distinct and valid (checked once by the public caller). */
  async #read(ids: readonly string[], observe: boolean): Promise<Map<string, CacheLookup>> {
    const found = new Map<string, CacheLookup>();
    if (ids.length === 0) return found;
    const marks = observe ? this.#activity.take(ids) : [];
    let replies: PipelineReply;
    try {
      replies = await this.#io.exec((p) => {
        for (const id of ids) p.hgetall(this.keys.profile(id));
        this.#io.queueMarks(p, marks);
      });
    } catch (error) {
      this.#activity.giveBack(marks);
      const reason = error instanceof UserCacheError ? error.code : 'CACHE_UNAVAILABLE';
      for (const id of ids) found.set(id, { status: 'unknown', reason });
      if (observe) this.#stats.add('unknown', ids.length);
      return found;
    }
    // Misses, negatives, tombstones: not recorded now; a miss is recorded by its read-fill instead.
    if (marks.length > 0) this.#activity.giveBack(unrecorded(marks, replies[ids.length]));
    ids.forEach((id, i) => {
      const reply = replies[i];
      const lookup: CacheLookup = reply?.error
        ? { status: 'unknown', reason: reply.error }
        : decodeEntry(id, reply?.result);
      if (lookup.status === 'unknown')
        this.#logger.warn('cache entry unreadable', { userId: id, reason: lookup.reason });
      if (observe) this.#stats.add(LOOKUP_COUNTER[lookup.status]);
      found.set(id, lookup);
    });
    return found;
  }

  /** Caches a profile unless a newer version (or a newer tombstone) is already cached. */
  async set(profile: UserProfile): Promise<WriteOutcome> {
    const [outcome] = await this.write([{ kind: 'profile', profile }]);
    return outcome ?? 'unavailable';
  }

  /** Caches many profiles in one command (prewarm, batch read-fill). */
  async setMany(profiles: readonly UserProfile[]): Promise<WriteOutcome[]> {
    return this.write(profiles.map((profile) => ({ kind: 'profile', profile })));
  }

  /**
   * Drops the cached profile but keeps its version fence, so the next read refills from PostgreSQL while
   * an older event or fill still cannot land. (A plain DEL would forget the fence.)
   */
  async invalidate(userId: string): Promise<WriteOutcome> {
    const [outcome] = await this.write([{ kind: 'invalidate', userId }]);
    return outcome ?? 'unavailable';
  }

  /**
   * Applies fenced writes in one Redis command (several when the batch passes the request size limit):
   * profiles, tombstones (`deleted`), negative entries and invalidations. Never throws for Redis trouble:
   * each entry reports `unavailable` instead.
   * With `fence` (the poller), the same command first checks that the lease still holds the caller's
   * token, and throws `LeaseLostError` (nothing written) when it does not.
   */
  async write(
    entries: readonly CacheWrite[],
    options: { fence?: LeaseFence; recordActivity?: boolean } = {},
  ): Promise<WriteOutcome[]> {
    if (entries.length === 0) return [];
    if (entries.length > LIMITS.cacheBatchMax) {
      throw new ValidationError('BATCH_TOO_LARGE', `at most ${LIMITS.cacheBatchMax} writes per call`);
    }
    // Validate everything before sending anything: a bad entry must not leave a partial batch behind.
    const checked = entries.map((e) =>
      e.kind === 'profile' ? { ...e, profile: parseUserProfile(e.profile) } : e,
    );
    const { keys, args } = encodeWrites(checked, {
      key: (id) => this.keys.profile(id),
      now: this.#clock(),
      ttl: (kind) => this.#ttl.secondsFor(kind),
    });
    const { fence } = options;
    const lua = fence ? FENCED_WRITE_UNDER_LEASE : FENCED_WRITE;
    // One script call per request-sized run of entries (Upstash refuses requests over 1 MB); each entry
    // is fenced on its own, so splitting changes nothing but the number of calls. Under a lease fence every
    // call checks the lease: a run that loses it mid-batch stops at the first refused call (the calls
    // before it were made while it still held the lease).
    // A read-fill records its profiles as active: MARK_LIVE runs after the last write call, in the same
    // pipeline (so it sees every profile this call wrote); its ids are given back when it did not run.
    const marks = options.recordActivity
      ? this.#activity.take(checked.flatMap((e) => (e.kind === 'profile' ? [e.profile.userId] : [])))
      : [];
    const ranges = fencedWriteRanges(keys, args, this.#maxRequestBytes);
    const codes: unknown[] = [];
    for (const [n, [start, end]] of ranges.entries()) {
      const k = keys.slice(start, end);
      const a = args.slice(start * FENCED_WRITE_SLOTS, end * FENCED_WRITE_SLOTS);
      if (fence) {
        k.unshift(fence.key);
        a.unshift(fence.token);
      }
      const last = n === ranges.length - 1;
      const result = await this.#io.fencedWrite(lua, k, a, last ? marks : []);
      if (fence && Number(result) === FENCE_REFUSED) {
        if (!last) this.#activity.giveBack(marks);
        throw new LeaseLostError(
          `lease ${fence.key} is no longer held by this run; the rest was not written`,
        );
      }
      for (let i = start; i < end; i++) codes.push(Array.isArray(result) ? result[i - start] : undefined);
    }
    return entries.map((entry, i) => {
      const code = Number(codes[i] ?? Number.NaN);
      const outcome: WriteOutcome = OUTCOME_OF_CODE[code] ?? 'unavailable';
      if (outcome === 'written') this.#stats.add(entry.kind === 'invalidate' ? 'invalidations' : 'sets');
      if (outcome === 'stale') this.#stats.add('staleRejected');
      return outcome;
    });
  }

  /**
   * Counters of every instance (flushed) plus this instance's pending counts. Throws `UserCacheError`
   * when Redis cannot answer.
   */
  async getStats(): Promise<CacheStats> {
    const [reply] = await this.#io.exec((p) => p.hgetall(this.keys.stats), {
      flush: true,
      readStatsLast: true,
    });
    const flat = reply?.result;
    const values = zeroCounters();
    if (Array.isArray(flat)) {
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const name = flat[i] as Counter;
        if ((COUNTERS as readonly string[]).includes(name)) values[name] = Number(flat[i + 1]) || 0;
      }
    }
    const pending = this.#stats.peek();
    for (const c of COUNTERS) values[c] += pending[c];
    return toCacheStats(values);
  }

  /** Sends pending counters now (end of a poller or prewarm run). Never throws. */
  async flushStats(): Promise<void> {
    if (Object.values(this.#stats.peek()).every((n) => n === 0)) return;
    try {
      await this.#io.exec(() => {}, { flush: true });
    } catch (error) {
      this.#logger.warn('cache stats flush failed', { error: safeErrorText(error) });
    }
  }

  /**
   * Counts profiles the caller had to read from PostgreSQL, so `getStats()` can report the database
   * fallback share across instances. Rides on the next flush like every counter.
   */
  recordDatabaseReads(count: number): void {
    this.#stats.add('dbReads', count);
  }

  /** State of the circuit breaker, for health checks and logs. */
  get circuitState() {
    return this.#breaker.state;
  }
}

function uniqueValidIds(userIds: readonly string[]): string[] {
  if (!Array.isArray(userIds)) throw new ValidationError('INVALID_QUERY', 'userIds must be an array');
  const ids = [...new Set(userIds)];
  if (ids.length > LIMITS.cacheBatchMax) {
    throw new ValidationError('BATCH_TOO_LARGE', `at most ${LIMITS.cacheBatchMax} ids per batch`, {
      max: LIMITS.cacheBatchMax,
      received: ids.length,
    });
  }
  for (const id of ids) assertUserId(id);
  return ids;
}
