/**
 * A throwaway, private database for tests and benchmarks. With a PostgreSQL URL: a fresh schema with a
 * random name on that server, reached through `search_path` and dropped on `close()`, so nobody else's
 * tables are ever touched. Without: PGlite (in memory unless `dataDir` is given; about 3-4 s to start).
 * Never used by `npm start`, whose database must outlive the process (see `database.ts`).
 */
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { migrate } from '../shared/db/migrate.js';
import { createPgSql } from '../shared/db/pgSql.js';
import type { Sql } from '../shared/db/sql.js';
import { ConfigError } from '../shared/errors.js';
import { integerOption } from '../shared/options.js';
import { createPgliteSql } from './pgliteSql.js';

export interface ScratchDatabaseOptions {
  /**
   * The PostgreSQL server to create the schema on; empty or blank means PGlite.
   * @default process.env.DATABASE_URL
   */
  url?: string;
  /** Prefix of the schema's name, before a random suffix (`<name>_<12 hex>`). @default 'scratch' */
  name?: string;
  /** Apply the project's migrations. @default true */
  migrate?: boolean;
  /** Directory PGlite persists to, when there is no URL. @default undefined (in memory) */
  dataDir?: string;
  /** Pool size on PostgreSQL (concurrency tests need several connections). @default 10 */
  max?: number;
  /** `statement_timeout` on PostgreSQL; seeding runs long statements. @default 10000 */
  statementTimeoutMs?: number;
  /**
   * Also create a login role `<schema>_app` limited to this many connections (`CONNECTION LIMIT`), with
   * the schema as its `search_path` and rights on its tables: connection-budget tests log in as it
   * exactly as a Lambda would (no startup options). PostgreSQL only; PGlite has no roles.
   * @default undefined (no role)
   */
  roleConnectionLimit?: number;
}

export interface ScratchDatabase {
  sql: Sql;
  kind: 'postgres' | 'pglite';
  /** The schema created for this database (`postgres` only). */
  schema?: string;
  /** `postgres://…` of the limited role (`roleConnectionLimit`, after migrations). */
  roleUrl?: string;
  /** Where the data lives, safe to print (no credentials). */
  describe: string;
  /** Closes the pool and drops the schema (PostgreSQL), or closes PGlite. Idempotent. */
  close(): Promise<void>;
}

/** An identifier that needs no quoting; the random suffix keeps it one. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]*$/;

/** Opens the database; on any failure (migrations included) it is closed and its schema dropped first. */
export async function openScratchDatabase(opts: ScratchDatabaseOptions = {}): Promise<ScratchDatabase> {
  const url = (opts.url ?? process.env.DATABASE_URL)?.trim();
  const database = url ? await createSchema(url, opts) : await openPglite(opts.dataDir);
  try {
    if (opts.migrate ?? true) await migrate(database.sql);
    if (opts.roleConnectionLimit !== undefined) {
      if (database.kind !== 'postgres' || !url) throw new ConfigError('roleConnectionLimit needs PostgreSQL');
      database.roleUrl = await createLimitedRole(database, url, opts.roleConnectionLimit);
    }
  } catch (error) {
    await database.close();
    throw error;
  }
  return database;
}

/** The role is dropped with the schema (see `createSchema`'s `drop`). */
async function createLimitedRole(db: ScratchDatabase, url: string, limit: number): Promise<string> {
  integerOption('roleConnectionLimit', limit, { min: 1 });
  const role = `${db.schema}_app`;
  await db.sql.query(`CREATE ROLE ${role} LOGIN CONNECTION LIMIT ${limit};
    GRANT USAGE ON SCHEMA ${db.schema} TO ${role};
    GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${db.schema} TO ${role};
    GRANT USAGE ON ALL SEQUENCES IN SCHEMA ${db.schema} TO ${role};
    ALTER ROLE ${role} SET search_path = ${db.schema}`);
  const roleUrl = new URL(url);
  roleUrl.username = role;
  roleUrl.password = '';
  return roleUrl.toString();
}

async function openPglite(dataDir: string | undefined): Promise<ScratchDatabase> {
  if (dataDir !== undefined) await mkdir(dataDir, { recursive: true });
  const sql = await createPgliteSql(dataDir === undefined ? {} : { dataDir });
  const describe = dataDir === undefined ? 'PGlite in memory' : `PGlite at ${dataDir}`;
  return { sql, kind: 'pglite', describe, close: () => sql.close() };
}

async function createSchema(url: string, opts: ScratchDatabaseOptions): Promise<ScratchDatabase> {
  const schema = `${opts.name ?? 'scratch'}_${randomBytes(6).toString('hex')}`;
  // Interpolated into DDL below: only a plain identifier may get there.
  if (!SCHEMA_NAME.test(schema)) throw new ConfigError('name must be a lower-case SQL identifier');
  const admin = createPgSql({ connectionString: url, max: 1 });
  try {
    await admin.query(`CREATE SCHEMA ${schema}`);
  } catch (error) {
    await admin.close();
    throw error;
  }
  const sql = createPgSql({
    connectionString: url,
    searchPath: schema,
    max: opts.max ?? 10,
    statementTimeoutMs: opts.statementTimeoutMs ?? 10_000,
  });
  let closing: Promise<void> | undefined;
  const drop = async () => {
    try {
      await sql.close();
    } finally {
      try {
        await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        // The limited role of `roleConnectionLimit`, if any: its sessions first, or DROP ROLE refuses.
        const role = `${schema}_app`;
        await admin.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '${role}';
           DROP ROLE IF EXISTS ${role}`,
        );
      } finally {
        await admin.close();
      }
    }
  };
  return {
    sql,
    kind: 'postgres',
    schema,
    describe: `PostgreSQL schema ${schema}`,
    close: () => {
      closing ??= drop();
      return closing;
    },
  };
}
