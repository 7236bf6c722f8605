/**
 * Migration 0003: change capture in the database, so that no writer can bypass the cache (issue 9).
 *
 * Triggers on `personnel` give every change a version and its outbox row, in the writer's transaction,
 * whoever the writer is (our API, another service's SQL, psql):
 * - INSERT: version = 1 + the id's floor in `personnel_versions` (0 for a new id), so a re-created id
 *   always outranks every version its previous incarnation had, tombstones included. A `created` event.
 * - UPDATE of a profile column (or of `version`): version = old + 1 and `updated_at` = now(), whatever
 *   the writer set; an `updated` event (`deleted` while `deleted_at` is set). An UPDATE that changes no
 *   profile column (activity marks: `last_active_at`) changes nothing and emits nothing. Ids are immutable.
 * - DELETE (a hard delete): the floor becomes old version + 1, and a `deleted` event at that version.
 * - TRUNCATE is refused: it fires no row trigger, so the cache would never hear of it.
 * Our API's statements still insert their own outbox row in the same statement (to return it in one round
 * trip); the AFTER trigger runs at the end of that statement and skips it through the unique
 * (user_id, version) index. Writers under REPEATABLE READ that race a delete of the same id get a
 * serialization failure from the floor's ON CONFLICT (retry), never a stale version.
 */

/** Largest version a consumer can compare exactly (JavaScript numbers). */
const MAX_VERSION = '9007199254740991';

export const CHANGE_CAPTURE_SQL = `
  -- One row per id created or hard-deleted since this migration (and per id deleted before it): the
  -- version its current incarnation started above (0 for a first one), or, while the id has no row, the
  -- version of its deletion. Only INSERT and DELETE touch it, never an UPDATE. The auditor reads it to
  -- tell a previous incarnation's profile from a stale one.
  CREATE TABLE personnel_versions (
    id         text        PRIMARY KEY,
    version    bigint      NOT NULL CHECK (version BETWEEN 0 AND ${MAX_VERSION}),
    changed_at timestamptz NOT NULL DEFAULT now()
  );
  -- Existing rows keep their versions (and count as first incarnations); an id deleted by hand before
  -- this migration, whose events are still in the outbox, is re-created above them.
  INSERT INTO personnel_versions (id, version)
    SELECT user_id, max(version) FROM outbox
     WHERE NOT EXISTS (SELECT 1 FROM personnel p WHERE p.id = outbox.user_id)
     GROUP BY user_id;

  -- The event of a version, once: lets the trigger skip the row our API's statement already wrote.
  CREATE UNIQUE INDEX outbox_user_version_idx ON outbox (user_id, version);

  CREATE FUNCTION personnel_assign_version() RETURNS trigger LANGUAGE plpgsql AS $fn$
  DECLARE
    floor_version bigint;
  BEGIN
    IF TG_OP = 'INSERT' THEN
      -- An upsert, not a SELECT: it waits for a concurrent DELETE of this id to commit (and then reads
      -- its floor) instead of missing its uncommitted row.
      INSERT INTO personnel_versions AS pv (id, version) VALUES (NEW.id, 0)
        ON CONFLICT (id) DO UPDATE SET version = pv.version, changed_at = now()
        RETURNING pv.version INTO floor_version;
      NEW.version := floor_version + 1;
      NEW.updated_at := now();
      RETURN NEW;
    END IF;
    IF NEW.id IS DISTINCT FROM OLD.id THEN
      RAISE EXCEPTION 'personnel.id is immutable: delete the row and insert the new id'
        USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.version IS NOT DISTINCT FROM OLD.version
       AND (NEW.matricule, NEW.full_name, NEW.avatar_url, NEW.ministere, NEW.deleted_at)
           IS NOT DISTINCT FROM (OLD.matricule, OLD.full_name, OLD.avatar_url, OLD.ministere, OLD.deleted_at)
    THEN
      RETURN NEW;
    END IF;
    NEW.version := OLD.version + 1;
    NEW.updated_at := now();
    RETURN NEW;
  END
  $fn$;

  CREATE FUNCTION personnel_capture_change() RETURNS trigger LANGUAGE plpgsql AS $fn$
  DECLARE
    deleted_version bigint;
  BEGIN
    IF TG_OP = 'DELETE' THEN
      INSERT INTO personnel_versions AS pv (id, version) VALUES (OLD.id, OLD.version + 1)
        ON CONFLICT (id) DO UPDATE SET version = greatest(pv.version, EXCLUDED.version), changed_at = now()
        RETURNING pv.version INTO deleted_version;
      INSERT INTO outbox (event_type, user_id, version, occurred_at, payload)
        VALUES ('user.profile.deleted', OLD.id, deleted_version, now(), NULL)
        ON CONFLICT (user_id, version) DO NOTHING;
      RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.version = OLD.version THEN
      RETURN NULL;
    END IF;
    INSERT INTO outbox (event_type, user_id, version, occurred_at, payload)
      VALUES (
        CASE
          WHEN NEW.deleted_at IS NOT NULL THEN 'user.profile.deleted'
          WHEN TG_OP = 'INSERT' THEN 'user.profile.created'
          ELSE 'user.profile.updated'
        END,
        NEW.id,
        NEW.version,
        NEW.updated_at,
        CASE WHEN NEW.deleted_at IS NULL THEN jsonb_build_object(
          'fullName', NEW.full_name, 'avatar', NEW.avatar_url,
          'matricule', NEW.matricule, 'ministere', NEW.ministere)
        END)
      ON CONFLICT (user_id, version) DO NOTHING;
    RETURN NULL;
  END
  $fn$;

  CREATE FUNCTION personnel_refuse_truncate() RETURNS trigger LANGUAGE plpgsql AS $fn$
  BEGIN
    RAISE EXCEPTION 'TRUNCATE personnel would bypass the cache''s change capture: DELETE the rows instead'
      USING ERRCODE = 'feature_not_supported';
  END
  $fn$;

  CREATE TRIGGER personnel_assign_version BEFORE INSERT OR UPDATE ON personnel
    FOR EACH ROW EXECUTE FUNCTION personnel_assign_version();
  CREATE TRIGGER personnel_capture_change AFTER INSERT OR UPDATE OR DELETE ON personnel
    FOR EACH ROW EXECUTE FUNCTION personnel_capture_change();
  CREATE TRIGGER personnel_refuse_truncate BEFORE TRUNCATE ON personnel
    FOR EACH STATEMENT EXECUTE FUNCTION personnel_refuse_truncate();
`;
