/**
 * The schema, as ordered migrations. Append only: never edit an applied migration, add a new one.
 * Table names are unqualified so tests can isolate a run with `search_path` (one schema per run).
 * The CHECK constraints mirror `LIMITS` and `profileFieldsSchema` in `../profile.ts`: the application
 * validates first, the database is the backstop for anything that writes around it (scripts, psql).
 */
import { LIMITS } from '../profile/schemas.js';
import { CHANGE_CAPTURE_SQL } from './changeCapture.js';

export interface Migration {
  /** Sortable and unique: `0001_name`. Stored in `schema_migrations.id`. */
  id: string;
  /** One or more statements, run inside the migration transaction. */
  sql: string;
}

// \u escapes are PostgreSQL regex syntax (ARE), so this is the same class as \p{Cc} in profile.ts.
const CONTROL_CHARS = String.raw`[\u0001-\u001f\u007f-\u009f]`;

export const migrations: readonly Migration[] = [
  {
    id: '0001_personnel',
    sql: `
      CREATE TABLE personnel (
        id             text        PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{1,${LIMITS.userIdMaxLength}}$'),
        matricule      text        NOT NULL CHECK (char_length(matricule) BETWEEN 1 AND ${LIMITS.matriculeMaxLength}
                                                   AND matricule ~ '^[A-Za-z0-9./-]+$'),
        full_name      text        NOT NULL CHECK (char_length(full_name) BETWEEN 1 AND ${LIMITS.fullNameMaxLength}
                                                   AND btrim(full_name) = full_name
                                                   AND full_name !~ '${CONTROL_CHARS}'),
        avatar_url     text        NOT NULL DEFAULT '' CHECK (char_length(avatar_url) <= ${LIMITS.avatarMaxLength}
                                                   AND avatar_url ~ '^(https?://\\S+)?$'),
        ministere      text        NOT NULL CHECK (char_length(ministere) BETWEEN 2 AND ${LIMITS.ministereMaxLength}
                                                   AND ministere ~ '^[A-Z][A-Z0-9-]+$'),
        -- The cache's fence: every profile update and delete does version = version + 1.
        version        bigint      NOT NULL DEFAULT 1 CHECK (version >= 1),
        updated_at     timestamptz NOT NULL DEFAULT now(),
        deleted_at     timestamptz NULL,
        -- Written by the chat backend (and the seed), read by the SQL prewarm source. Not a profile change.
        last_active_at timestamptz NULL
      );
      CREATE INDEX personnel_last_active_at_idx ON personnel (last_active_at);
    `,
  },
  {
    id: '0002_outbox',
    sql: `
      CREATE TABLE outbox (
        id           bigserial   PRIMARY KEY,
        event_type   text        NOT NULL CHECK (event_type IN
                                   ('user.profile.created', 'user.profile.updated', 'user.profile.deleted')),
        user_id      text        NOT NULL,
        version      bigint      NOT NULL,
        occurred_at  timestamptz NOT NULL DEFAULT now(),
        -- Profile fields for created/updated; NULL for deleted (a tombstone carries no PII).
        payload      jsonb       NULL,
        published_at timestamptz NULL,
        stream_id    text        NULL,
        attempts     integer     NOT NULL DEFAULT 0,
        CHECK ((event_type = 'user.profile.deleted') = (payload IS NULL))
      );
      -- The poller only ever scans unpublished rows, oldest first: keep that index tiny.
      CREATE INDEX outbox_unpublished_idx ON outbox (id) WHERE published_at IS NULL;
    `,
  },
  // Every writer's change gets a version and an outbox row in its own transaction (see changeCapture.ts).
  { id: '0003_change_capture', sql: CHANGE_CAPTURE_SQL },
  {
    id: '0004_scale_indexes',
    sql: `
      -- The prewarm walks active users most recent first with a keyset on (last_active_at, id): a
      -- backward scan of this index. It also serves every query the single-column index did.
      CREATE INDEX personnel_active_keyset_idx ON personnel (last_active_at, id);
      DROP INDEX personnel_last_active_at_idx;
      -- The outbox purge picks published rows by age; unpublished rows stay out of this index.
      CREATE INDEX outbox_published_at_idx ON outbox (published_at) WHERE published_at IS NOT NULL;
    `,
  },
];
