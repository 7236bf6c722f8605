/**
 * Row → domain mapping. The two drivers disagree on types: `pg` returns `bigint` as a string, PGlite as
 * a number (or a BigInt past 2^53); both return `timestamptz` as a Date unless a parser was overridden.
 * Everything leaving the repository goes through these functions, so callers always get numbers.
 */
import type { ProfileFields, UserProfile } from '../profile/schemas.js';
import type { UserEventType } from '../stream/events.js';
import type { OutboxEvent, StoredProfile } from './types.js';

/** Columns selected for a profile (the SQL lists them in this shape). */
export interface PersonnelRow {
  id: string;
  matricule: string;
  full_name: string;
  avatar_url: string;
  ministere: string;
  version: unknown;
  updated_at: unknown;
  deleted_at: unknown;
}

export interface OutboxRow {
  outbox_id: unknown;
  event_type: string;
  user_id: string;
  version: unknown;
  occurred_at: unknown;
  payload: unknown;
}

export const PERSONNEL_COLUMNS =
  'id, matricule, full_name, avatar_url, ministere, version, updated_at, deleted_at';
export const OUTBOX_COLUMNS = 'id AS outbox_id, event_type, user_id, version, occurred_at, payload';

/** A safe integer from `bigint`/`int` columns, whatever the driver returned. */
export function toInt(value: unknown): number {
  const n = typeof value === 'string' || typeof value === 'bigint' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) {
    throw new TypeError(`expected a safe integer column, got ${typeof value}`);
  }
  return n;
}

/** Epoch milliseconds from a `timestamptz` column (Date, ISO string or number). */
export function toEpochMs(value: unknown): number {
  const ms =
    value instanceof Date ? value.getTime() : typeof value === 'string' ? Date.parse(value) : Number(value);
  if (!Number.isFinite(ms)) throw new TypeError('expected a timestamptz column');
  return ms;
}

export function toStoredProfile(row: PersonnelRow): StoredProfile {
  return {
    userId: row.id,
    fullName: row.full_name,
    avatar: row.avatar_url,
    matricule: row.matricule,
    ministere: row.ministere,
    updatedAt: toEpochMs(row.updated_at),
    version: toInt(row.version),
    deletedAt: row.deleted_at === null || row.deleted_at === undefined ? null : toEpochMs(row.deleted_at),
  };
}

export function toUserProfile(row: PersonnelRow): UserProfile {
  const { deletedAt: _deletedAt, ...profile } = toStoredProfile(row);
  return profile;
}

/** The jsonb payload written for created/updated events: the editable fields, nothing else. */
export function toPayload(fields: ProfileFields): ProfileFields {
  return {
    fullName: fields.fullName,
    avatar: fields.avatar,
    matricule: fields.matricule,
    ministere: fields.ministere,
  };
}

export function toOutboxEvent(row: OutboxRow): OutboxEvent {
  const version = toInt(row.version);
  const occurredAt = toEpochMs(row.occurred_at);
  // pg parses jsonb itself; a driver with the parser disabled would hand over the text.
  const payload = (
    typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload
  ) as ProfileFields | null;
  return {
    outboxId: String(row.outbox_id),
    type: row.event_type as UserEventType,
    userId: row.user_id,
    version,
    occurredAt,
    // updatedAt = occurredAt: both are the writing transaction's now().
    profile:
      payload === null
        ? null
        : { userId: row.user_id, ...toPayload(payload), updatedAt: occurredAt, version },
  };
}
