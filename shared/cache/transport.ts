/**
 * How `UserCache` talks to Redis: every call is ONE pipeline (one HTTP request) through the circuit
 * breaker, with due counters and activity marks riding along, and transport failures mapped to
 * `UserCacheError`. The fenced-write call (EVALSHA, EVAL again on NOSCRIPT) lives here too.
 */
import type { Redis } from '@upstash/redis';
import { UserCacheError } from '../errors.js';
import type { LoggerPort } from '../ports.js';
import type { CircuitBreaker } from '../redis/circuitBreaker.js';
import { isTimeoutError, redisErrorCode, safeErrorText } from '../redis/errorText.js';
import { type ActivityMarks, MARK_LIVE, markLiveArgs, unrecorded } from './activity.js';
import type { CacheKeys } from './keys.js';
import type { LuaScript } from './scripts.js';
import type { StatsBuffer } from './stats.js';

/** The Redis commands the cache needs (an `@upstash/redis` client built by `createRedisClient`). */
export type UserCacheRedis = Pick<Redis, 'pipeline'>;

export type PipelineReply = Array<{ result: unknown; error?: string }>;
export type Pipeline = ReturnType<UserCacheRedis['pipeline']>;

export interface CacheTransportDeps {
  redis: UserCacheRedis;
  keys: CacheKeys;
  breaker: CircuitBreaker;
  stats: StatsBuffer;
  activity: ActivityMarks;
  logger: LoggerPort;
}

export class CacheTransport {
  readonly #d: CacheTransportDeps;

  constructor(deps: CacheTransportDeps) {
    this.#d = deps;
  }

  /** Queues MARK_LIVE for `marks` (EVAL: its 400 bytes of source save the NOSCRIPT round trip). */
  queueMarks(p: Pipeline, marks: ReadonlyArray<[string, number]>): void {
    if (marks.length === 0) return;
    const { keys, args } = markLiveArgs(this.#d.keys.activity, (id) => this.#d.keys.profile(id), marks);
    p.eval(MARK_LIVE.source, keys, args);
  }

  /**
   * One fenced-write call, with `marks` (MARK_LIVE) riding in the same pipeline: its reply (per-key
   * codes, or FENCE_REFUSED), undefined when Redis failed (logged). Marks not recorded are given back.
   */
  async fencedWrite(
    lua: LuaScript,
    keys: string[],
    args: string[],
    marks: ReadonlyArray<[string, number]>,
  ): Promise<unknown> {
    let reply: PipelineReply[number] | undefined;
    let markReply: PipelineReply[number] | undefined;
    try {
      [reply, markReply] = await this.exec((p) => {
        p.evalsha(lua.sha1, keys, args);
        this.queueMarks(p, marks);
      });
      // NOSCRIPT: the server lost its script cache (restart, failover). EVAL runs and re-caches it.
      if (redisErrorCode(reply?.error) === 'NOSCRIPT')
        [reply, markReply] = await this.exec((p) => {
          p.eval(lua.source, keys, args);
          this.queueMarks(p, marks);
        });
      if (reply?.error) throw new UserCacheError('CACHE_PROTOCOL', safeErrorText(new Error(reply.error)));
    } catch (error) {
      this.#d.activity.giveBack(marks);
      this.#d.logger.warn('cache write failed', { entries: keys.length, error: safeErrorText(error) });
      return undefined;
    }
    if (marks.length > 0) this.#d.activity.giveBack(unrecorded(marks, markReply));
    return reply?.result;
  }

  /**
   * Runs one pipeline (one HTTP request) through the breaker, with due counters appended. Throws
   * UserCacheError on transport failure; per-command errors come back in the replies.
   */
  async exec(
    build: (p: Pipeline) => void,
    opts: { flush?: boolean; readStatsLast?: boolean } = {},
  ): Promise<PipelineReply> {
    return this.#direct(async () => {
      const p = this.#d.redis.pipeline();
      build(p);
      const own = p.length();
      this.#d.stats.sent(own);
      const counts = opts.flush || this.#d.stats.due ? this.#d.stats.take() : {};
      for (const [field, n] of Object.entries(counts)) p.hincrby(this.#d.keys.stats, field, n);
      // getStats reads the hash after the increments, so its answer includes them.
      if (opts.readStatsLast) p.hgetall(this.#d.keys.stats);
      if (p.length() === 0) return [];
      try {
        const replies = (await p.exec({ keepErrors: true })) as PipelineReply;
        return opts.readStatsLast ? replies.slice(-1) : replies.slice(0, own);
      } catch (error) {
        this.#d.stats.restore(counts);
        throw error;
      }
    });
  }

  async #direct<T>(call: () => Promise<T>): Promise<T> {
    if (!this.#d.breaker.tryAcquire()) {
      throw new UserCacheError('CACHE_CIRCUIT_OPEN', 'Redis circuit is open; skipping the cache');
    }
    try {
      const result = await call();
      this.#d.breaker.onSuccess();
      return result;
    } catch (error) {
      this.#d.breaker.onFailure();
      this.#d.stats.add('errors');
      const timeout = isTimeoutError(error);
      // No `cause`: the client's error text embeds the command, profile fields included.
      throw new UserCacheError(timeout ? 'CACHE_TIMEOUT' : 'CACHE_UNAVAILABLE', safeErrorText(error), {
        redisCode: redisErrorCode(error),
      });
    }
  }
}
