/** What a chaos run sets up and leaves behind: its private database, the stats it reads, its result files. */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createPgliteSql } from '../../local/pgliteSql.js';
import { migrate } from '../../shared/db/migrate.js';
import { createPgSql } from '../../shared/pgSql.js';
import type { Sql } from '../../shared/sql.js';
import type { CacheStats } from '../../shared/userCache.js';
import type { ChaosReport } from './report.js';

/** `GET /cache/stats` over the API; null when it cannot answer. */
export async function fetchStats(apiUrl: string, token: string): Promise<CacheStats | null> {
  try {
    const response = await fetch(`${apiUrl}/cache/stats`, { headers: { authorization: `Bearer ${token}` } });
    return response.ok ? ((await response.json()) as CacheStats) : null;
  } catch {
    return null;
  }
}

/** PGlite in `dataDir`, or a fresh schema on `url` (dropped by cleanup). Migrated either way. */
export async function openDatabase(
  dataDir: string,
  url: string | undefined,
): Promise<{ sql: Sql; kind: string; describe: string; cleanup: () => Promise<void> }> {
  if (!url) {
    await mkdir(dataDir, { recursive: true });
    const sql = await createPgliteSql({ dataDir });
    await migrate(sql);
    return { sql, kind: 'pglite', describe: `PGlite at ${dataDir}`, cleanup: () => sql.close() };
  }
  // A fresh schema on the given server: never the tables of anyone else.
  const schema = `chaos_${randomBytes(6).toString('hex')}`;
  const admin = createPgSql({ connectionString: url, max: 1 });
  await admin.query(`CREATE SCHEMA ${schema}`);
  const sql = createPgSql({ connectionString: url, searchPath: schema, max: 10, statementTimeoutMs: 10_000 });
  const cleanup = async () => {
    await sql.close();
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).finally(() => admin.close());
  };
  await migrate(sql).catch(async (error: unknown) => {
    await cleanup();
    throw error;
  });
  return { sql, kind: 'postgres', describe: `PostgreSQL schema ${schema}`, cleanup };
}

/** `chaos-latest.json` and `chaos-latest.svg` in `dir`. */
export async function writeResults(dir: string, report: ChaosReport, svg: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const json = join(dir, 'chaos-latest.json');
  const chart = join(dir, 'chaos-latest.svg');
  await writeFile(json, `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(chart, svg);
  return [json, chart];
}
