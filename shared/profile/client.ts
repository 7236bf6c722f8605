/**
 * ProfileClient: how another service (the chat file service) reads senders' profiles. It asks Redis first
 * (one pipelined request for a whole page of messages) and asks the API only for what the cache could not
 * answer, one `GET /users/batch` per 100 ids, all under one deadline. It never writes the cache: the API's
 * read-fill does, fenced by version, so a consumer can never cache stale data.
 */
import { ConfigError } from '../errors.js';
import { integerOption } from '../options.js';
import { type LoggerPort, silentLogger } from '../ports.js';
import type { UserCache } from '../userCache.js';
import { assertUserId, LIMITS, parseUserProfile, type UserProfile } from './model.js';

export interface ProfileClientOptions {
  /** The shared cache (read-only use: only `batchGet` is called). */
  cache: Pick<UserCache, 'batchGet'>;
  /** Base URL of the users API, e.g. `https://api.example.cm` or `http://127.0.0.1:8001`. */
  apiBaseUrl: string;
  /** Bearer token with the read scope; called once per API request, so it may refresh. */
  getToken: () => Promise<string> | string;
  /**
   * Deadline for all API requests of one call, in ms. Ids still unanswered then are `unavailable`.
   * @default 1500
   */
  timeoutMs?: number;
  /** @default globalThis.fetch */
  fetch?: typeof globalThis.fetch;
  /** @default a logger that drops everything */
  logger?: LoggerPort;
}

export interface ProfilesResult {
  /** Found profiles by id. */
  profiles: Map<string, UserProfile>;
  /** Ids that do not exist or were deleted (known for sure, from the cache or the API). */
  notFound: string[];
  /** Ids neither the cache nor the API could answer (API down, timeout, refusal): retry later. */
  unavailable: string[];
}

export type ProfileResult =
  | { status: 'found'; profile: UserProfile }
  | { status: 'not_found' }
  | { status: 'unavailable' };

export class ProfileClient {
  readonly #cache: Pick<UserCache, 'batchGet'>;
  readonly #base: string;
  readonly #getToken: () => Promise<string> | string;
  readonly #timeoutMs: number;
  readonly #fetch: typeof globalThis.fetch;
  readonly #logger: LoggerPort;

  constructor(options: ProfileClientOptions) {
    if (!/^https?:\/\/\S+$/.test(options.apiBaseUrl))
      throw new ConfigError('apiBaseUrl must be an http(s) URL');
    const timeoutMs = integerOption('timeoutMs', options.timeoutMs ?? 1500, { min: 1 });
    this.#cache = options.cache;
    this.#base = options.apiBaseUrl.replace(/\/+$/, '');
    this.#getToken = options.getToken;
    this.#timeoutMs = timeoutMs;
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#logger = options.logger ?? silentLogger;
  }

  /** One profile: `found`, `not_found` or `unavailable`. Throws `ValidationError` for a malformed id. */
  async getProfile(userId: string): Promise<ProfileResult> {
    const { profiles, notFound } = await this.getProfiles([userId]);
    const profile = profiles.get(userId);
    if (profile) return { status: 'found', profile };
    return notFound.includes(userId) ? { status: 'not_found' } : { status: 'unavailable' };
  }

  /**
   * Profiles for many ids (duplicates read once). Throws `ValidationError` before any I/O for a malformed
   * id; never throws for cache or API trouble: those ids come back in `unavailable`.
   */
  async getProfiles(userIds: readonly string[]): Promise<ProfilesResult> {
    const ids = [...new Set(userIds)];
    for (const id of ids) assertUserId(id);
    const result: ProfilesResult = { profiles: new Map(), notFound: [], unavailable: [] };
    const pending: string[] = [];
    for (let i = 0; i < ids.length; i += LIMITS.cacheBatchMax) {
      const lookups = await this.#cache.batchGet(ids.slice(i, i + LIMITS.cacheBatchMax));
      for (const [id, lookup] of lookups) {
        if (lookup.status === 'hit') result.profiles.set(id, lookup.profile);
        else if (lookup.status === 'negative' || lookup.status === 'deleted') result.notFound.push(id);
        else pending.push(id);
      }
    }
    if (pending.length === 0) return result;

    // One deadline for the whole call: a page of messages must render within it, however many chunks.
    const signal = AbortSignal.timeout(this.#timeoutMs);
    const chunks: string[][] = [];
    for (let i = 0; i < pending.length; i += LIMITS.httpBatchMax)
      chunks.push(pending.slice(i, i + LIMITS.httpBatchMax));
    const answers = await Promise.all(chunks.map((chunk) => this.#fetchChunk(chunk, signal)));
    chunks.forEach((chunk, i) => {
      const answer = answers[i];
      for (const id of chunk) {
        const profile = answer?.profiles.get(id);
        if (profile) result.profiles.set(id, profile);
        else if (answer?.notFound.has(id)) result.notFound.push(id);
        else result.unavailable.push(id);
      }
    });
    // Request order, whichever source answered: callers render lists in that order.
    const order = new Map(ids.map((id, i) => [id, i]));
    const byRequest = (a: string, b: string) => order.get(a)! - order.get(b)!;
    result.notFound.sort(byRequest);
    result.unavailable.sort(byRequest);
    return result;
  }

  /** One `GET /users/batch`; undefined when the API could not answer (logged, never thrown). */
  async #fetchChunk(
    ids: readonly string[],
    signal: AbortSignal,
  ): Promise<{ profiles: Map<string, UserProfile>; notFound: Set<string> } | undefined> {
    try {
      const token = await this.#getToken();
      // Ids are `A-Za-z0-9_-` only (checked above): nothing to escape, and commas stay readable in logs.
      const response = await this.#fetch(`${this.#base}/users/batch?ids=${ids.join(',')}`, {
        headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
        signal,
      });
      if (!response.ok) {
        await response.body?.cancel();
        this.#logger.warn('profile API refused a batch', { status: response.status, ids: ids.length });
        return undefined;
      }
      return parseBatchBody(await response.json());
    } catch (error) {
      this.#logger.warn('profile API unavailable', {
        ids: ids.length,
        error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
      });
      return undefined;
    }
  }
}

/** `{ users: UserProfile[], notFound: string[] }` (the batch route's body); a profile that fails validation is left unanswered. */
function parseBatchBody(body: unknown): { profiles: Map<string, UserProfile>; notFound: Set<string> } {
  const { users = [], notFound = [] } = (body ?? {}) as { users?: unknown; notFound?: unknown };
  const found = new Map<string, UserProfile>();
  for (const candidate of Array.isArray(users) ? users : []) {
    try {
      const profile = parseUserProfile(candidate);
      found.set(profile.userId, profile);
    } catch {
      // Skipped: the id then counts as unavailable, which is honest for an answer we cannot read.
    }
  }
  const missing = new Set(
    Array.isArray(notFound) ? notFound.filter((id): id is string => typeof id === 'string') : [],
  );
  return { profiles: found, notFound: missing };
}
