/**
 * The profile use cases behind the API: cache-aside reads and PostgreSQL-first writes.
 *
 * Reads ask Redis first and fall back to PostgreSQL on a miss or when Redis cannot answer. A fill after a
 * miss is fenced by version in Redis, so a slow fill never overwrites a newer write. Writes commit in
 * PostgreSQL (row + outbox event in one statement) and only then touch Redis; Redis trouble after the
 * commit is logged, never returned: the outbox keeps the event and the poller's relay publishes it.
 */
import { randomUUID } from 'node:crypto';
import { writeFromRow } from '../cache/writes.js';
import type { IfMatch, OutboxEvent, ProfileRepository, StoredProfile } from '../db/profileRepository.js';
import { NotFoundError } from '../errors.js';
import { type LoggerPort, silentLogger } from '../ports.js';
import type { EventPublisher } from '../stream/eventPublisher.js';
import type { CacheLookup, CacheStats, CacheWrite, UserCache, WriteOutcome } from '../userCache.js';
import type { ProfileFields, UserProfile } from './schemas.js';
import { SingleFlight } from './singleFlight.js';

export type ProfileCache = Pick<
  UserCache,
  'get' | 'batchGet' | 'write' | 'getStats' | 'recordDatabaseReads' | 'circuitState'
>;
export type ProfileStore = Pick<
  ProfileRepository,
  'getById' | 'getMany' | 'create' | 'update' | 'softDelete'
>;
export type ProfilePublisher = Pick<EventPublisher, 'publish'>;

/** How the lookups of one call were answered (for per-request metrics). */
export interface LookupTally {
  /** Answered by Redis: a profile, a negative entry or a tombstone. */
  cacheHits: number;
  /** Redis had nothing usable: read from PostgreSQL, then filled. */
  cacheMisses: number;
  /** Redis failed, timed out or its circuit is open: read from PostgreSQL, no fill. */
  dbFallbacks: number;
}

export interface ProfileServiceOptions {
  /** The shared `UserCache`. */
  cache: ProfileCache;
  /** PostgreSQL, the source of truth. */
  repository: ProfileStore;
  /** Publishes the outbox event of each write to the events stream (and marks it published). */
  publisher: ProfilePublisher;
  /** @default a logger that drops everything */
  logger?: LoggerPort;
  /**
   * Called once per read call with how its lookups were answered (handlers turn it into metrics).
   * @default a no-op
   */
  onLookups?: (tally: LookupTally) => void;
}

export interface ProfileRead {
  profile: UserProfile;
  source: 'cache' | 'database';
}

export class ProfileService {
  readonly #cache: ProfileCache;
  readonly #repository: ProfileStore;
  readonly #publisher: ProfilePublisher;
  readonly #logger: LoggerPort;
  readonly #onLookups: (tally: LookupTally) => void;
  readonly #flights = new SingleFlight<string, StoredProfile | null>();

  constructor(options: ProfileServiceOptions) {
    this.#cache = options.cache;
    this.#repository = options.repository;
    this.#publisher = options.publisher;
    this.#logger = options.logger ?? silentLogger;
    this.#onLookups = options.onLookups ?? (() => {});
  }

  /**
   * One profile, cache first. Throws `NotFoundError` for unknown and deleted ids, and the cache's
   * `ValidationError` (before any I/O) for a malformed one: the id is checked once, there.
   */
  async getProfile(userId: string): Promise<ProfileRead> {
    const lookup = await this.#cache.get(userId);
    this.#onLookups(tally([lookup]));
    if (lookup.status === 'hit') return { profile: lookup.profile, source: 'cache' };
    if (lookup.status === 'negative' || lookup.status === 'deleted') throw notFound(userId);
    // Concurrent misses for one id share one PostgreSQL read and one fill. The fill is skipped when
    // Redis just failed: its circuit is opening, and a fill attempt would only add a timeout.
    const stored = await this.#flights.run(userId, async () => {
      const row = await this.#repository.getById(userId);
      this.#cache.recordDatabaseReads(1);
      if (lookup.status === 'miss') await this.#fill([writeFromRow(userId, row)]);
      return row;
    });
    if (!stored || stored.deletedAt !== null) throw notFound(userId);
    return { profile: withoutDeletedAt(stored), source: 'database' };
  }

  /**
   * Many profiles in at most three round trips: one Redis pipeline, one PostgreSQL query for everything
   * the cache could not answer, one fenced Redis write for the fills. Ids are deduplicated; `profiles`
   * and `notFound` keep the request order.
   */
  async getProfiles(userIds: readonly string[]): Promise<{ profiles: UserProfile[]; notFound: string[] }> {
    const ids = [...new Set(userIds)];
    const lookups = await this.#cache.batchGet(ids);
    this.#onLookups(tally([...lookups.values()]));
    const toRead = ids.filter((id) => {
      const status = lookups.get(id)?.status;
      return status === 'miss' || status === 'unknown' || status === undefined;
    });
    const rows =
      toRead.length > 0 ? await this.#repository.getMany(toRead) : new Map<string, StoredProfile>();
    if (toRead.length > 0) this.#cache.recordDatabaseReads(toRead.length);
    await this.#fill(
      toRead
        .filter((id) => lookups.get(id)?.status === 'miss')
        .map((id) => writeFromRow(id, rows.get(id) ?? null)),
    );

    const profiles: UserProfile[] = [];
    const notFound: string[] = [];
    for (const id of ids) {
      const lookup = lookups.get(id);
      const row = rows.get(id);
      if (lookup?.status === 'hit') profiles.push(lookup.profile);
      else if (row && row.deletedAt === null) profiles.push(withoutDeletedAt(row));
      else notFound.push(id);
    }
    return { profiles, notFound };
  }

  /**
   * Replaces a profile's fields. `ifMatch` makes it conditional: the current version must be it (or one
   * of them, for a list; `[]` never matches).
   */
  async updateProfile(
    userId: string,
    fields: ProfileFields,
    opts: { ifMatch?: IfMatch } = {},
  ): Promise<UserProfile> {
    const { profile, event } = await this.#repository.update(userId, fields, opts);
    await this.#afterCommit([{ kind: 'profile', profile }], event);
    return profile;
  }

  /** Creates a profile; without an id, a random UUID is used (it matches the user-id pattern). */
  async createProfile(userId: string | undefined, fields: ProfileFields): Promise<UserProfile> {
    const id = userId ?? randomUUID();
    const { profile, event } = await this.#repository.create(id, fields);
    // Version 1 overrides a negative entry (version 0) left by an earlier lookup of this id.
    await this.#afterCommit([{ kind: 'profile', profile }], event);
    return profile;
  }

  /** Soft-deletes a profile and caches its tombstone. Returns the deletion's version. */
  async deleteProfile(userId: string, opts: { ifMatch?: IfMatch } = {}): Promise<{ version: number }> {
    const { version, event } = await this.#repository.softDelete(userId, opts);
    await this.#afterCommit([{ kind: 'deleted', userId, version, deletedAt: event.occurredAt }], event);
    return { version };
  }

  /** Cluster-wide cache counters. Throws `UserCacheError` when Redis cannot answer. */
  stats(): Promise<CacheStats> {
    return this.#cache.getStats();
  }

  /** Fenced fills after a read; Redis trouble is logged, never thrown. */
  async #fill(writes: CacheWrite[]): Promise<void> {
    if (writes.length === 0) return;
    // Only a fill records activity: its row was just confirmed by PostgreSQL (never a negative entry).
    const outcomes = await this.#write(writes, { recordActivity: true });
    const unavailable = outcomes.filter((o) => o === 'unavailable').length;
    if (unavailable > 0) this.#logger.warn('cache fill skipped: Redis unavailable', { entries: unavailable });
  }

  /**
   * `write` reports Redis trouble as `unavailable`; anything it throws (a row the cache's schema refuses)
   * is treated the same way: the cache is never allowed to fail a read or a committed write.
   */
  async #write(writes: CacheWrite[], opts?: { recordActivity?: boolean }): Promise<WriteOutcome[]> {
    try {
      return await this.#cache.write(writes, opts);
    } catch (error) {
      this.#logger.error('cache write rejected', { entries: writes.length, error: codeOf(error) });
      return writes.map(() => 'unavailable');
    }
  }

  /**
   * After a commit: the fenced cache write and the stream publish go out in parallel (different keys,
   * no ordering needed: the fence orders them). Neither may fail the request: the data is committed.
   */
  async #afterCommit(writes: CacheWrite[], event: OutboxEvent): Promise<void> {
    const ids = { userId: event.userId, version: event.version, outboxId: event.outboxId };
    const [outcomes] = await Promise.all([this.#write(writes), this.#publish(event, ids)]);
    if (outcomes.some((o) => o === 'unavailable')) {
      // Readers may see the previous version until the poller applies the outbox event.
      this.#logger.warn('cache not updated after commit', ids);
    }
  }

  async #publish(event: OutboxEvent, ids: Record<string, unknown>): Promise<void> {
    // With the circuit open Redis is known to be down: leave the event to the relay rather than pay a
    // timeout (the cache write checks the same breaker and answers at once).
    if (this.#cache.circuitState === 'open') {
      this.#logger.warn('event left in outbox: Redis circuit open', ids);
      return;
    }
    try {
      await this.#publisher.publish([event]);
    } catch (error) {
      this.#logger.warn('event left in outbox for the relay', { ...ids, error: codeOf(error) });
    }
  }
}

function withoutDeletedAt(row: StoredProfile): UserProfile {
  const { deletedAt: _deletedAt, ...profile } = row;
  return profile;
}

function tally(lookups: readonly CacheLookup[]): LookupTally {
  const t: LookupTally = { cacheHits: 0, cacheMisses: 0, dbFallbacks: 0 };
  for (const l of lookups) {
    if (l.status === 'miss') t.cacheMisses += 1;
    else if (l.status === 'unknown') t.dbFallbacks += 1;
    else t.cacheHits += 1;
  }
  return t;
}

function notFound(userId: string): NotFoundError {
  return new NotFoundError('profile not found', { details: { userId } });
}

/** Only a code or error name: messages of driver errors may quote values. */
function codeOf(error: unknown): string {
  if (typeof error === 'object' && error !== null && 'code' in error)
    return String((error as { code: unknown }).code);
  return error instanceof Error ? error.name : 'unknown';
}
