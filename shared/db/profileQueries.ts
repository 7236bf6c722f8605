/**
 * The repository's SQL. Each write is ONE statement: a data-modifying CTE changes `personnel` and inserts
 * the matching `outbox` row, so both commit or neither does, in one round trip and without an explicit
 * transaction (a statement is atomic on its own).
 */
import { OUTBOX_COLUMNS, PERSONNEL_COLUMNS } from './rows.js';

/** Joins the changed row with its outbox row; `ch.version` and `ev.version` are equal by construction. */
const SELECT_ROW_AND_EVENT = `SELECT ch.*, ev.outbox_id, ev.event_type, ev.user_id, ev.occurred_at, ev.payload
  FROM ch CROSS JOIN ev`;

/** $1 id, $2 matricule, $3 full_name, $4 avatar_url, $5 ministere, $6 payload (jsonb text). */
export const CREATE_PROFILE = `
WITH ch AS (
  INSERT INTO personnel (id, matricule, full_name, avatar_url, ministere)
  VALUES ($1, $2, $3, $4, $5)
  -- A soft-deleted row still holds its id, so it conflicts too: ids are never reused (a cache or a
  -- consumer may still hold its tombstone at a higher version than a fresh row would get).
  ON CONFLICT (id) DO NOTHING
  RETURNING ${PERSONNEL_COLUMNS}
), ev AS (
  INSERT INTO outbox (event_type, user_id, version, occurred_at, payload)
  SELECT 'user.profile.created', id, version, updated_at, $6::jsonb FROM ch
  RETURNING ${OUTBOX_COLUMNS}
)
${SELECT_ROW_AND_EVENT}`;

/**
 * $1 id, $2…$5 fields, $6 payload, $7 the If-Match versions (bigint[]) or NULL. The version test sits in the UPDATE's WHERE: under
 * READ COMMITTED a concurrent writer makes this one wait for the row lock, then re-check the WHERE against
 * the new row, so two writers with the same If-Match can never both succeed.
 */
export const UPDATE_PROFILE = `
WITH ch AS (
  UPDATE personnel
     SET matricule = $2, full_name = $3, avatar_url = $4, ministere = $5,
         version = version + 1, updated_at = now()
   WHERE id = $1 AND deleted_at IS NULL AND ($7::bigint[] IS NULL OR version = ANY($7::bigint[]))
  RETURNING ${PERSONNEL_COLUMNS}
), ev AS (
  INSERT INTO outbox (event_type, user_id, version, occurred_at, payload)
  SELECT 'user.profile.updated', id, version, updated_at, $6::jsonb FROM ch
  RETURNING ${OUTBOX_COLUMNS}
)
${SELECT_ROW_AND_EVENT}`;

/** $1 id, $2 the If-Match versions (bigint[]) or NULL. Fields stay (soft delete); the tombstone event carries no payload. */
export const SOFT_DELETE_PROFILE = `
WITH ch AS (
  UPDATE personnel
     SET deleted_at = now(), updated_at = now(), version = version + 1
   WHERE id = $1 AND deleted_at IS NULL AND ($2::bigint[] IS NULL OR version = ANY($2::bigint[]))
  RETURNING ${PERSONNEL_COLUMNS}
), ev AS (
  INSERT INTO outbox (event_type, user_id, version, occurred_at, payload)
  SELECT 'user.profile.deleted', id, version, deleted_at, NULL FROM ch
  RETURNING ${OUTBOX_COLUMNS}
)
${SELECT_ROW_AND_EVENT}`;

/** Why a conditional write matched nothing: missing, deleted or another version. */
export const SELECT_WRITE_STATE = 'SELECT version, deleted_at FROM personnel WHERE id = $1';

export const SELECT_PROFILE = `SELECT ${PERSONNEL_COLUMNS} FROM personnel WHERE id = $1`;

export const SELECT_PROFILES = `SELECT ${PERSONNEL_COLUMNS} FROM personnel WHERE id = ANY($1::text[])`;

// Ordered by id, not by time: bigserial values are taken at INSERT but become visible at COMMIT, so a
// lower id can appear after a higher one. Nothing is lost, because the poller asks for "unpublished",
// not "after id N"; consumers fence on `version`, so the rare reordering across users is harmless.
export const LIST_UNPUBLISHED = `SELECT ${OUTBOX_COLUMNS} FROM outbox
  WHERE published_at IS NULL ORDER BY id LIMIT $1`;

/** $1 outbox ids (text[] of bigints), $2 stream ids. Already-published rows keep their first stream id. */
export const MARK_PUBLISHED = `UPDATE outbox AS o
   SET published_at = now(), stream_id = u.stream_id
  FROM unnest($1::bigint[], $2::text[]) AS u(id, stream_id)
 WHERE o.id = u.id AND o.published_at IS NULL`;

/** $1 since (epoch ms), $2 limit, $3 last id of the previous page or NULL. Keyset pagination on id. */
export const LIST_ACTIVE_SINCE = `SELECT id FROM personnel
  WHERE last_active_at >= to_timestamp($1::float8 / 1000) AND deleted_at IS NULL
    AND ($3::text IS NULL OR id > $3::text)
  ORDER BY id LIMIT $2`;

/** $1 ids, $2 epoch ms. Activity is not a profile change: no version bump, no outbox row. */
export const TOUCH_ACTIVITY = `UPDATE personnel SET last_active_at = to_timestamp($2::float8 / 1000)
  WHERE id = ANY($1::text[])`;

/** $1 ids. The change-capture floors (migration 0003): where each id's current incarnation starts. */
export const SELECT_VERSION_FLOORS = `SELECT id, version, changed_at FROM personnel_versions
  WHERE id = ANY($1::text[])`;
