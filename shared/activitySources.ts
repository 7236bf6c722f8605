/**
 * Where the prewarmer learns who is active. The seed read recent conversations from MongoDB; here any
 * source that can list ids page by page will do. An adapter for the seed's MongoDB is about 20 lines:
 *
 * ```ts
 * class MongoConversationSource implements ActiveUserSource {
 *   constructor(private readonly conversations: Collection, private readonly pageSize = 1000) {}
 *   async *activeUserIds(sinceMs: number): AsyncIterable<string[]> {
 *     let afterId: string | undefined;
 *     for (;;) {
 *       const page = await this.conversations.aggregate<{ _id: string }>([
 *         { $match: { lastMessageAt: { $gte: new Date(sinceMs) } } },
 *         { $unwind: '$participants' },
 *         { $group: { _id: '$participants' } },
 *         ...(afterId ? [{ $match: { _id: { $gt: afterId } } }] : []),
 *         { $sort: { _id: 1 } },
 *         { $limit: this.pageSize },
 *       ]).toArray();
 *       if (page.length > 0) yield page.map((d) => d._id);
 *       if (page.length < this.pageSize) return;
 *       afterId = page.at(-1)?._id;
 *     }
 *   }
 * }
 * ```
 */
import type { Redis } from '@upstash/redis';
import { ConfigError } from './errors.js';
import type { SqlQueryable } from './sql.js';

/** Ids of users active since a time, in pages. Duplicates across pages are allowed (writes are idempotent). */
export interface ActiveUserSource {
  activeUserIds(sinceMs: number): AsyncIterable<string[]>;
  /** How many ids `activeUserIds` will yield, about (for progress bars). Optional. */
  countActive?(sinceMs: number): Promise<number>;
}

export interface RedisActivitySourceOptions {
  redis: Pick<Redis, 'exec'>;
  /** The cache's activity sorted set (`cache.keys.activity`): member userId, score last read (ms). */
  key: string;
  /** Ids per ZRANGE. @default 1000 */
  pageSize?: number;
}

/**
 * Reads the activity sorted set that `UserCache` reads maintain. Before reading, it removes members older
 * than the window (ZREMRANGEBYSCORE), so the set holds at most one window of users and never grows
 * without bound.
 *
 * Pages walk the scores upwards (keyset on score, plus an offset among equal scores), not by rank: a user
 * read during the walk gets a newer score and moves to the end, so they are visited again instead of
 * shifting every later rank by one and making the walk skip someone.
 */
export class RedisActivitySource implements ActiveUserSource {
  readonly #redis: Pick<Redis, 'exec'>;
  readonly #key: string;
  readonly #pageSize: number;

  constructor(options: RedisActivitySourceOptions) {
    this.#redis = options.redis;
    this.#key = options.key;
    this.#pageSize = options.pageSize ?? 1000;
    if (!this.#key) throw new ConfigError('activity key must not be empty');
    if (!Number.isSafeInteger(this.#pageSize) || this.#pageSize < 1) {
      throw new ConfigError('pageSize must be a positive integer');
    }
  }

  async *activeUserIds(sinceMs: number): AsyncIterable<string[]> {
    await this.#redis.exec(['ZREMRANGEBYSCORE', this.#key, '-inf', `(${sinceMs}`]);
    let min = String(sinceMs);
    let offset = 0;
    for (;;) {
      const flat = await this.#redis.exec<unknown>([
        'ZRANGE',
        this.#key,
        min,
        '+inf',
        'BYSCORE',
        'LIMIT',
        String(offset),
        String(this.#pageSize),
        'WITHSCORES',
      ]);
      const members: string[] = [];
      const scores: string[] = [];
      if (Array.isArray(flat)) {
        for (let i = 0; i + 1 < flat.length; i += 2) {
          members.push(String(flat[i]));
          scores.push(String(flat[i + 1]));
        }
      }
      if (members.length > 0) yield members;
      if (members.length < this.#pageSize) return;
      const last = scores.at(-1) as string;
      const ties = scores.filter((s) => s === last).length;
      // Same lowest score as this page's start: every member was a tie, skip past all of them.
      if (last === min) offset += ties;
      else {
        min = last;
        offset = ties;
      }
    }
  }

  async countActive(sinceMs: number): Promise<number> {
    return Number(await this.#redis.exec(['ZCOUNT', this.#key, String(sinceMs), '+inf'])) || 0;
  }
}

/** `$1` since (timestamptz text), `$2` last id of the previous page or NULL, `$3` page size. */
export const DEFAULT_ACTIVE_USERS_QUERY = `SELECT id FROM personnel
  WHERE last_active_at >= $1::timestamptz AND deleted_at IS NULL
    AND ($2::text IS NULL OR id > $2::text)
  ORDER BY id LIMIT $3`;

/** `$1` since (timestamptz text). */
export const DEFAULT_ACTIVE_USERS_COUNT_QUERY = `SELECT count(*)::int AS n FROM personnel
  WHERE last_active_at >= $1::timestamptz AND deleted_at IS NULL`;

export interface SqlActivitySourceOptions {
  sql: SqlQueryable;
  /**
   * Page query with keyset pagination: takes `$1` since (timestamptz text), `$2` the last id of the
   * previous page (NULL at first), `$3` the page size; returns a column `id`, ascending.
   * @default DEFAULT_ACTIVE_USERS_QUERY (personnel.last_active_at in the window, not deleted)
   */
  query?: string;
  /**
   * Count query for progress (`$1` since; returns column `n`). Without it, a custom `query` has no count.
   * @default DEFAULT_ACTIVE_USERS_COUNT_QUERY when `query` is the default
   */
  countQuery?: string;
  /** @default 1000 */
  pageSize?: number;
}

/** Active users from PostgreSQL (`last_active_at`, written by the chat backend). */
export class SqlActivitySource implements ActiveUserSource {
  readonly #sql: SqlQueryable;
  readonly #query: string;
  readonly #countQuery: string | undefined;
  readonly #pageSize: number;

  constructor(options: SqlActivitySourceOptions) {
    this.#sql = options.sql;
    this.#query = options.query ?? DEFAULT_ACTIVE_USERS_QUERY;
    this.#countQuery = options.countQuery ?? (options.query ? undefined : DEFAULT_ACTIVE_USERS_COUNT_QUERY);
    this.#pageSize = options.pageSize ?? 1000;
    if (!Number.isSafeInteger(this.#pageSize) || this.#pageSize < 1) {
      throw new ConfigError('pageSize must be a positive integer');
    }
  }

  async *activeUserIds(sinceMs: number): AsyncIterable<string[]> {
    const since = new Date(sinceMs).toISOString();
    let afterId: string | null = null;
    for (;;) {
      const { rows } = await this.#sql.query<{ id: unknown }>(this.#query, [since, afterId, this.#pageSize]);
      const ids = rows.map((row) => String(row.id));
      if (ids.length > 0) yield ids;
      if (ids.length < this.#pageSize) return;
      afterId = ids.at(-1) as string;
    }
  }

  get countActive(): ((sinceMs: number) => Promise<number>) | undefined {
    const countQuery = this.#countQuery;
    if (countQuery === undefined) return undefined;
    return async (sinceMs) => {
      const { rows } = await this.#sql.query<{ n: unknown }>(countQuery, [new Date(sinceMs).toISOString()]);
      return Number(rows[0]?.n ?? 0);
    };
  }
}
