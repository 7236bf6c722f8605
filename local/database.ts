/**
 * Opens the local source of truth: the PostgreSQL at `DATABASE_URL` when set, else a PGlite directory
 * (`.local/pgdata`, git-ignored). Migrations are applied before returning. Used by the local server,
 * the seed and migrate CLIs.
 */
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { migrate } from '../shared/db/migrate.js';
import { createPgSql } from '../shared/db/pgSql.js';
import type { Sql } from '../shared/db/sql.js';
import { createPgliteSql } from './pgliteSql.js';

/** `<repo>/.local/pgdata`, whatever the current directory. */
export const DEFAULT_PGLITE_DIR = fileURLToPath(new URL('../.local/pgdata', import.meta.url));

export interface LocalDatabase {
  sql: Sql;
  kind: 'postgres' | 'pglite';
  /** Where the data lives, safe to print (the password is masked). */
  describe: string;
  /** Migrations applied by this open (empty when the schema was up to date). */
  applied: string[];
}

export async function openLocalDatabase(
  opts: { env?: NodeJS.ProcessEnv; dataDir?: string } = {},
): Promise<LocalDatabase> {
  const env = opts.env ?? process.env;
  const url = env.DATABASE_URL?.trim();
  let database: Omit<LocalDatabase, 'applied'>;
  if (url) {
    // Local tools run more work at once than one Lambda request, and seeding runs long statements.
    database = {
      sql: createPgSql({ connectionString: url, max: 5, statementTimeoutMs: 60_000 }),
      kind: 'postgres',
      describe: maskPassword(url),
    };
  } else {
    const dataDir = opts.dataDir ?? DEFAULT_PGLITE_DIR;
    await mkdir(dataDir, { recursive: true });
    database = { sql: await createPgliteSql({ dataDir }), kind: 'pglite', describe: `PGlite at ${dataDir}` };
  }
  try {
    const { applied } = await migrate(database.sql);
    return { ...database, applied };
  } catch (error) {
    await database.sql.close();
    throw error;
  }
}

function maskPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'postgres (unparseable DATABASE_URL)';
  }
}
