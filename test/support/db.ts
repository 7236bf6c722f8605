/**
 * A private, migrated database per call. With DATABASE_URL: a fresh random schema on that server
 * (isolated through `search_path`, dropped in cleanup). Without: an in-memory PGlite (about 3-4 s to
 * start, so call this once per test file, in `beforeAll`).
 */
import { randomBytes } from 'node:crypto';
import { createPgliteSql } from '../../local/pgliteSql.js';
import { migrate } from '../../shared/db/migrate.js';
import { createPgSql } from '../../shared/pgSql.js';
import type { Sql } from '../../shared/sql.js';

export interface TestDb {
  sql: Sql;
  kind: 'postgres' | 'pglite';
  /** The schema created for this run (`postgres` only). */
  schema?: string;
  cleanup(): Promise<void>;
}

export interface TestDbOptions {
  /** Apply the project's migrations. @default true */
  migrate?: boolean;
  /** Pool size on real PostgreSQL (concurrency tests need several connections). @default 12 */
  max?: number;
}

export async function useTestDb(opts: TestDbOptions = {}): Promise<TestDb> {
  const url = process.env.DATABASE_URL?.trim();
  if (!url) {
    const sql = await createPgliteSql();
    if (opts.migrate ?? true) await migrate(sql);
    return { sql, kind: 'pglite', cleanup: () => sql.close() };
  }
  const schema = `test_${randomBytes(6).toString('hex')}`;
  const admin = createPgSql({ connectionString: url, max: 1 });
  await admin.query(`CREATE SCHEMA ${schema}`);
  const sql = createPgSql({
    connectionString: url,
    searchPath: schema,
    max: opts.max ?? 12,
    statementTimeoutMs: 10_000,
  });
  const cleanup = async () => {
    await sql.close();
    try {
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    } finally {
      await admin.close();
    }
  };
  try {
    if (opts.migrate ?? true) await migrate(sql);
  } catch (error) {
    await cleanup();
    throw error;
  }
  return { sql, kind: 'postgres', schema, cleanup };
}

/** Wraps a real `Sql` and counts statements, to assert "one query" without imitating the database. */
export function countingSql(inner: Sql): Sql & { readonly statements: string[] } {
  const statements: string[] = [];
  return {
    statements,
    query(text, params) {
      statements.push(text);
      return inner.query(text, params);
    },
    transaction: (fn) =>
      inner.transaction((tx) =>
        fn({
          query(text, params) {
            statements.push(text);
            return tx.query(text, params);
          },
        }),
      ),
    close: () => inner.close(),
  };
}
