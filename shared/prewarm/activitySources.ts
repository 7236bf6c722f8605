/**
 * Where the prewarmer learns who is active, MOST RECENTLY ACTIVE FIRST: when a day's prewarm cannot
 * finish, what it leaves out must be the users least likely to read the next morning, never the most
 * likely. Sources page by an opaque cursor, so a run can stop, checkpoint the cursor and a later
 * invocation resume after it (see `prewarm/checkpoint.ts`).
 *
 * An adapter for the seed's MongoDB conversations is about 20 lines: `$match` on `lastMessageAt >= since`,
 * `$unwind` participants, `$group` by participant with `$max: '$lastMessageAt'`, `$sort` by that time
 * then `_id` descending, keyset `$match` on `(time, _id) < cursor`, `$limit`; the cursor is the last
 * row's `time|_id`.
 */
import type { Redis } from '@upstash/redis';
import type { SqlQueryable } from '../db/sql.js';
import { ConfigError } from '../errors.js';

/** One page of a source's walk. */
export interface ActivePage {
  /** Ids, most recently active first. May repeat an id of an earlier page (writes are idempotent). */
  ids: string[];
  /** Where the next page starts; undefined when this was the last page. */
  next: string | undefined;
}

/** Ids of users active since a time, most recently active first, page by page. */
export interface ActiveUserSource {
  /** The page after `cursor` (undefined: the most recently active users), at most `limit` ids. */
  page(sinceMs: number, cursor: string | undefined, limit: number): Promise<ActivePage>;
  /** How many ids the walk will yield, about (progress and coverage). Optional. */
  countActive?(sinceMs: number): Promise<number>;
}

/**
 * A fixed list of ids, in its order: to warm a known set (after a restore or a migration, or in a
 * benchmark). The cursor is an index into the list, so a cycle resumed by a later invocation must be
 * given the same list. `sinceMs` is ignored: the list is the selection.
 */
export class IdListSource implements ActiveUserSource {
  readonly #ids: readonly string[];

  constructor(ids: readonly string[]) {
    this.#ids = [...ids];
  }

  async page(_sinceMs: number, cursor: string | undefined, limit: number): Promise<ActivePage> {
    const from = cursor === undefined ? 0 : listIndex(cursor, this.#ids.length);
    const to = from + limit;
    return { ids: this.#ids.slice(from, to), next: to < this.#ids.length ? String(to) : undefined };
  }

  async countActive(_sinceMs: number): Promise<number> {
    return this.#ids.length;
  }
}

function listIndex(cursor: string, length: number): number {
  const index = /^\d{1,15}$/.test(cursor) ? Number(cursor) : Number.NaN;
  // A next cursor always points inside the list; anything else came from another source or list.
  if (!(index > 0 && index < length)) throw new ConfigError('id list cursor is malformed');
  return index;
}

export interface RedisActivitySourceOptions {
  redis: Pick<Redis, 'exec'>;
  /** The cache's activity sorted set (`cache.keys.activity`): member userId, score last read (ms). */
  key: string;
}

/** Cursor of the activity walk: the last member visited, its score, and how many visited share it. */
interface ScoreCursor {
  s: string;
  m: string;
  k: number;
}

/**
 * Reads the activity sorted set that `UserCache` reads maintain, by score descending (ZRANGE … BYSCORE
 * REV). Pruning the set is not this class's job: `pruneActivity` runs whatever the configured source.
 *
 * The cursor is a keyset on (score, member), not a rank: a user read during the walk gets a newer score
 * and moves above the cursor, which shifts no one below it (a rank cursor would then skip someone). That
 * user is not visited again in this walk, but they have just read, so their profile is in the cache.
 * Members sharing the cursor's score are ordered by member, descending; the `k` already visited are
 * over-fetched and dropped client-side, which stays exact when some of them leave (re-scored upwards).
 */
export class RedisActivitySource implements ActiveUserSource {
  readonly #redis: Pick<Redis, 'exec'>;
  readonly #key: string;

  constructor(options: RedisActivitySourceOptions) {
    this.#redis = options.redis;
    this.#key = options.key;
    if (!this.#key) throw new ConfigError('activity key must not be empty');
  }

  async page(sinceMs: number, cursor: string | undefined, limit: number): Promise<ActivePage> {
    const at = cursor === undefined ? undefined : parseScoreCursor(cursor);
    const fetch = limit + (at?.k ?? 0);
    const flat = await this.#redis.exec<unknown>([
      'ZRANGE',
      this.#key,
      at?.s ?? '+inf',
      String(sinceMs),
      'BYSCORE',
      'REV',
      'LIMIT',
      '0',
      String(fetch),
      'WITHSCORES',
    ]);
    const rows: Array<[string, string]> = [];
    if (Array.isArray(flat)) {
      for (let i = 0; i + 1 < flat.length; i += 2) rows.push([String(flat[i]), String(flat[i + 1])]);
    }
    // Visited: same score as the cursor and a member not after it (REV orders ties by member, descending).
    const fresh = at ? rows.filter(([m, s]) => !(s === at.s && m >= at.m)) : rows;
    const pageRows = fresh.slice(0, limit);
    const last = pageRows.at(-1);
    // A short reply means the set has nothing further down the window, once this page took all of it.
    if (!last || (rows.length < fetch && fresh.length <= limit)) {
      return { ids: pageRows.map(([m]) => m), next: undefined };
    }
    const [m, s] = last;
    const k = pageRows.filter(([, score]) => score === s).length + (at && at.s === s ? at.k : 0);
    return { ids: pageRows.map(([id]) => id), next: JSON.stringify({ s, m, k } satisfies ScoreCursor) };
  }

  async countActive(sinceMs: number): Promise<number> {
    return Number(await this.#redis.exec(['ZCOUNT', this.#key, String(sinceMs), '+inf'])) || 0;
  }
}

function parseScoreCursor(cursor: string): ScoreCursor {
  const parsed = JSON.parse(cursor) as Partial<ScoreCursor>;
  if (typeof parsed.s !== 'string' || typeof parsed.m !== 'string' || !Number.isSafeInteger(parsed.k)) {
    throw new ConfigError('activity cursor is malformed');
  }
  return parsed as ScoreCursor;
}

/**
 * `$1` since (timestamptz text), `$2` the previous page's last `active_at` (text, NULL at first), `$3` its
 * id, `$4` page size. Keyset on (last_active_at, id) descending: `personnel_active_keyset_idx` serves it.
 * `active_at` is returned as text because a JavaScript Date would drop PostgreSQL's microseconds and
 * make the keyset skip or repeat rows.
 */
export const DEFAULT_ACTIVE_USERS_QUERY = `SELECT id, last_active_at::text AS active_at FROM personnel
  WHERE last_active_at >= $1::timestamptz AND deleted_at IS NULL
    AND ($2::timestamptz IS NULL OR (last_active_at, id) < ($2::timestamptz, $3::text))
  ORDER BY last_active_at DESC, id DESC LIMIT $4`;

/** `$1` since (timestamptz text). */
export const DEFAULT_ACTIVE_USERS_COUNT_QUERY = `SELECT count(*)::int AS n FROM personnel
  WHERE last_active_at >= $1::timestamptz AND deleted_at IS NULL`;

export interface SqlActivitySourceOptions {
  sql: SqlQueryable;
  /**
   * Page query, keyset-paginated most recent first: `$1` since (timestamptz text), `$2` the previous
   * page's last `active_at` (NULL at first), `$3` its `id`, `$4` the page size; returns columns `id` and
   * `active_at` (text), ordered by `active_at DESC, id DESC`.
   * @default DEFAULT_ACTIVE_USERS_QUERY (personnel.last_active_at in the window, not deleted)
   */
  query?: string;
  /**
   * Count query for progress (`$1` since; returns column `n`). Without it, a custom `query` has no count.
   * @default DEFAULT_ACTIVE_USERS_COUNT_QUERY when `query` is the default
   */
  countQuery?: string;
}

/** Active users from PostgreSQL (`last_active_at`, written by the chat backend). */
export class SqlActivitySource implements ActiveUserSource {
  readonly #sql: SqlQueryable;
  readonly #query: string;
  readonly #countQuery: string | undefined;

  constructor(options: SqlActivitySourceOptions) {
    this.#sql = options.sql;
    this.#query = options.query ?? DEFAULT_ACTIVE_USERS_QUERY;
    this.#countQuery = options.countQuery ?? (options.query ? undefined : DEFAULT_ACTIVE_USERS_COUNT_QUERY);
  }

  async page(sinceMs: number, cursor: string | undefined, limit: number): Promise<ActivePage> {
    const since = new Date(sinceMs).toISOString();
    const [at, id] = cursor === undefined ? [null, null] : splitSqlCursor(cursor);
    const { rows } = await this.#sql.query<{ id: unknown; active_at: unknown }>(this.#query, [
      since,
      at,
      id,
      limit,
    ]);
    const ids = rows.map((row) => String(row.id));
    const last = rows.at(-1);
    if (!last || rows.length < limit) return { ids, next: undefined };
    return { ids, next: `${String(last.active_at)}|${String(last.id)}` };
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

/** `active_at|id`: ids never contain `|` (LIMITS.userIdPattern), timestamps never do either. */
function splitSqlCursor(cursor: string): [string, string] {
  const bar = cursor.lastIndexOf('|');
  if (bar <= 0) throw new ConfigError('sql activity cursor is malformed');
  return [cursor.slice(0, bar), cursor.slice(bar + 1)];
}
