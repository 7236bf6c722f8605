/**
 * PostgreSQL access for profiles and their outbox: the source of truth. Every write bumps `version` by
 * exactly one and writes its outbox event in the same statement (see `db/profileQueries.ts`). Driver
 * errors never escape: they are mapped to `shared/errors.ts` types here.
 */

import { AlreadyExistsError, NotFoundError, ValidationError, VersionConflictError } from '../errors.js';
import { assertNewUserId, assertUserId, LIMITS, type ProfileFields } from '../profile/schemas.js';
import { mapDbError } from './dbErrors.js';
import {
  CREATE_PROFILE,
  LIST_ACTIVE_SINCE,
  LIST_UNPUBLISHED,
  MARK_PUBLISHED,
  SELECT_PROFILE,
  SELECT_PROFILES,
  SELECT_VERSION_FLOORS,
  SELECT_WRITE_STATE,
  SOFT_DELETE_PROFILE,
  TOUCH_ACTIVITY,
  UPDATE_PROFILE,
} from './profileQueries.js';
import { assertEpochMs, assertPageSize, columnsOf, parseFields, parseIfMatch } from './repositoryInputs.js';
import {
  type OutboxRow,
  type PersonnelRow,
  toEpochMs,
  toInt,
  toOutboxEvent,
  toStoredProfile,
  toUserProfile,
} from './rows.js';
import type { Sql } from './sql.js';
import type { IfMatch, OutboxEvent, StoredProfile, VersionFloor, WriteResult } from './types.js';

export type { UserEventType } from '../stream/events.js';
export type { IfMatch, OutboxEvent, StoredProfile, VersionFloor, WriteResult } from './types.js';

export interface ProfileRepositoryOptions {
  /** The pool (`createPgSql`) or PGlite (`createPgliteSql`). */
  sql: Sql;
}

type ChangeRow = PersonnelRow & OutboxRow;

export class ProfileRepository {
  readonly #sql: Sql;

  constructor(opts: ProfileRepositoryOptions) {
    this.#sql = opts.sql;
  }

  /** The row, soft-deleted or not; `null` when the id never existed. */
  async getById(id: string): Promise<StoredProfile | null> {
    assertUserId(id);
    const rows = await this.#run<PersonnelRow>('getById', SELECT_PROFILE, [id], id);
    return rows[0] ? toStoredProfile(rows[0]) : null;
  }

  /** One query for all ids; missing ids are absent from the map. At most `LIMITS.cacheBatchMax` ids. */
  async getMany(ids: readonly string[]): Promise<Map<string, StoredProfile>> {
    if (ids.length > LIMITS.cacheBatchMax) {
      throw new ValidationError('BATCH_TOO_LARGE', `at most ${LIMITS.cacheBatchMax} ids per call`);
    }
    for (const id of ids) assertUserId(id);
    const result = new Map<string, StoredProfile>();
    if (ids.length === 0) return result;
    const rows = await this.#run<PersonnelRow>('getMany', SELECT_PROFILES, [[...new Set(ids)]]);
    for (const row of rows) result.set(row.id, toStoredProfile(row));
    return result;
  }

  /**
   * Inserts version 1 and its `user.profile.created` event. Throws `AlreadyExistsError` when the id
   * exists, soft-deleted included: ids are never reused, so an old tombstone can never shadow a new user.
   * `ValidationError('INVALID_USER_ID')` for an id a route shadows (`RESERVED_USER_IDS`).
   */
  async create(id: string, fields: ProfileFields): Promise<WriteResult> {
    assertNewUserId(id);
    const valid = parseFields(fields);
    const rows = await this.#run<ChangeRow>('create', CREATE_PROFILE, [id, ...columnsOf(valid)], id);
    // ON CONFLICT DO NOTHING returned no row: the id is taken (a 23505 from a race maps the same way).
    if (!rows[0])
      throw new AlreadyExistsError('a profile with this id already exists', { details: { userId: id } });
    return { profile: toUserProfile(rows[0]), event: toOutboxEvent(rows[0]) };
  }

  /**
   * Replaces the fields, bumps the version by one and writes `user.profile.updated`, atomically.
   * `NotFoundError` when missing or deleted (checked before `ifMatch`, as RFC 9110 section 13.2.1 wants);
   * `VersionConflictError` when the current version is not `ifMatch` (not among them, for a list).
   */
  async update(id: string, fields: ProfileFields, opts: { ifMatch?: IfMatch } = {}): Promise<WriteResult> {
    assertUserId(id);
    const valid = parseFields(fields);
    const ifMatch = parseIfMatch(opts.ifMatch);
    const params = [id, ...columnsOf(valid), ifMatch];
    const rows = await this.#run<ChangeRow>('update', UPDATE_PROFILE, params, id);
    if (!rows[0]) throw await this.#whyNoMatch(id, ifMatch);
    return { profile: toUserProfile(rows[0]), event: toOutboxEvent(rows[0]) };
  }

  /** Sets `deleted_at`, bumps the version and writes `user.profile.deleted`. Same errors as `update`. */
  async softDelete(
    id: string,
    opts: { ifMatch?: IfMatch } = {},
  ): Promise<{ version: number; event: OutboxEvent }> {
    assertUserId(id);
    const ifMatch = parseIfMatch(opts.ifMatch);
    const rows = await this.#run<ChangeRow>('softDelete', SOFT_DELETE_PROFILE, [id, ifMatch], id);
    if (!rows[0]) throw await this.#whyNoMatch(id, ifMatch);
    return { version: toInt(rows[0].version), event: toOutboxEvent(rows[0]) };
  }

  /**
   * The version floor of each id (migration 0003): for an id with a row, its current incarnation's
   * versions are all above `version` (0 for a first incarnation); for a hard-deleted id, `version` is its
   * deletion's. `changedAt`: when it last changed. Ids never created since the migration are absent.
   */
  async getVersionFloors(ids: readonly string[]): Promise<Map<string, VersionFloor>> {
    if (ids.length > LIMITS.cacheBatchMax) {
      throw new ValidationError('BATCH_TOO_LARGE', `at most ${LIMITS.cacheBatchMax} ids per call`);
    }
    for (const id of ids) assertUserId(id);
    const result = new Map<string, VersionFloor>();
    if (ids.length === 0) return result;
    const rows = await this.#run<{ id: string; version: unknown; changed_at: unknown }>(
      'getVersionFloors',
      SELECT_VERSION_FLOORS,
      [[...new Set(ids)]],
    );
    for (const row of rows) {
      result.set(row.id, { version: toInt(row.version), changedAt: toEpochMs(row.changed_at) });
    }
    return result;
  }

  /** Unpublished outbox events, lowest id first. Read-only: it neither claims nor counts attempts. */
  async listUnpublished(limit: number): Promise<OutboxEvent[]> {
    assertPageSize(limit);
    const rows = await this.#run<OutboxRow>('listUnpublished', LIST_UNPUBLISHED, [limit]);
    return rows.map(toOutboxEvent);
  }

  /** Marks events published with the stream entry id they became. One statement for the whole batch. */
  async markPublished(items: ReadonlyArray<{ outboxId: string; streamId: string }>): Promise<void> {
    if (items.length === 0) return;
    for (const item of items) {
      if (!/^[1-9][0-9]{0,18}$/.test(item.outboxId)) {
        throw new ValidationError('INVALID_EVENT', 'outboxId must be a positive integer string');
      }
    }
    const ids = items.map((item) => item.outboxId);
    const streamIds = items.map((item) => item.streamId);
    await this.#run('markPublished', MARK_PUBLISHED, [ids, streamIds]);
  }

  /** Ids active at or after `sinceMs` and not deleted, ascending; pass the last id back as `afterId`. */
  async listActiveSince(sinceMs: number, limit: number, afterId?: string): Promise<string[]> {
    assertEpochMs(sinceMs);
    assertPageSize(limit);
    if (afterId !== undefined) assertUserId(afterId);
    const rows = await this.#run<{ id: string }>('listActiveSince', LIST_ACTIVE_SINCE, [
      sinceMs,
      limit,
      afterId ?? null,
    ]);
    return rows.map((row) => row.id);
  }

  /** Sets `last_active_at` of existing ids (unknown ids are ignored). Not a profile change: no version bump. */
  async touchActivity(ids: readonly string[], atMs: number): Promise<void> {
    assertEpochMs(atMs);
    for (const id of ids) assertUserId(id);
    if (ids.length === 0) return;
    await this.#run('touchActivity', TOUCH_ACTIVITY, [[...ids], atMs]);
  }

  async #run<R>(operation: string, text: string, params: readonly unknown[], userId?: string): Promise<R[]> {
    try {
      return (await this.#sql.query<R>(text, params)).rows;
    } catch (error) {
      throw mapDbError(error, operation, userId);
    }
  }

  /**
   * Explains a conditional write that matched no row. A read after the failed write, not before it: the
   * write itself was atomic, this only picks the error. A concurrent change in between can only make the
   * answer newer, never turn a failed write into a success.
   */
  async #whyNoMatch(id: string, ifMatch: readonly number[] | null): Promise<Error> {
    const rows = await this.#run<{ version: unknown; deleted_at: unknown }>(
      'write-check',
      SELECT_WRITE_STATE,
      [id],
      id,
    );
    const row = rows[0];
    if (!row || row.deleted_at !== null) {
      return new NotFoundError('profile not found', {
        details: { userId: id, ...(row ? { deletedAt: toEpochMs(row.deleted_at) } : {}) },
      });
    }
    return new VersionConflictError('profile version does not match If-Match', {
      details: {
        userId: id,
        // One version as a number (the common case), several as the list If-Match named.
        expected: ifMatch?.length === 1 ? ifMatch[0] : ifMatch,
        current: toInt(row.version),
      },
    });
  }
}
