/**
 * Applies pending migrations in one transaction. Safe to call from every cold start and from several
 * processes at once: a transaction-scoped advisory lock serialises runners, and the loser then sees the
 * winner's `schema_migrations` rows and applies nothing.
 */
import { ConfigError } from '../errors.js';
import { migrations as defaultMigrations, type Migration } from './migrations.js';
import type { Sql } from './sql.js';

export interface MigrateOptions {
  /** Migrations to apply, in order. @default the project's `migrations` */
  migrations?: readonly Migration[];
}

/** Applies what is missing and returns the ids it applied (empty when up to date). */
export async function migrate(sql: Sql, opts: MigrateOptions = {}): Promise<{ applied: string[] }> {
  const list = opts.migrations ?? defaultMigrations;
  assertOrdered(list);
  return sql.transaction(async (tx) => {
    // Keyed by schema so parallel test runs in different schemas do not queue behind each other.
    // The xact lock is released by COMMIT/ROLLBACK, so a crashed runner cannot leave it held.
    await tx.query(
      `SELECT pg_advisory_xact_lock(hashtext('ngomna-user-cache:migrate:' || coalesce(current_schema(), '')))`,
    );
    await tx.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      id         text        PRIMARY KEY,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const { rows } = await tx.query<{ id: string }>('SELECT id FROM schema_migrations');
    const done = new Set(rows.map((row) => row.id));
    const applied: string[] = [];
    for (const migration of list) {
      if (done.has(migration.id)) continue;
      await tx.query(migration.sql);
      await tx.query('INSERT INTO schema_migrations (id) VALUES ($1)', [migration.id]);
      applied.push(migration.id);
    }
    return { applied };
  });
}

function assertOrdered(list: readonly Migration[]): void {
  for (let i = 1; i < list.length; i++) {
    const previous = list[i - 1]!.id;
    const current = list[i]!.id;
    if (!(previous < current)) {
      throw new ConfigError(`migration ids must be unique and ascending: "${previous}" then "${current}"`);
    }
  }
}
