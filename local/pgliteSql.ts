/**
 * `Sql` over embedded PGlite (PostgreSQL compiled to WASM). Local development and tests only: never
 * import this from `shared/` or `functions/`, its WASM is megabytes and would bloat every Lambda bundle.
 */
import { PGlite, type Transaction } from '@electric-sql/pglite';
import type { Sql, SqlQueryable } from '../shared/db/sql.js';

export interface PgliteSqlOptions {
  /** Directory to persist to (created if missing). @default undefined (in memory, gone on close) */
  dataDir?: string;
}

/** Starts PGlite (about 3-4 s: share one per test file) and wraps it in the `Sql` port. */
export async function createPgliteSql(opts: PgliteSqlOptions = {}): Promise<Sql> {
  const db =
    opts.dataDir === undefined ? await PGlite.create() : await PGlite.create({ dataDir: opts.dataDir });
  let closed = false;
  return {
    query: (text, params) => runQuery(db, text, params),
    // PGlite is one connection behind a mutex: while `fn` runs, other callers' queries wait, which is
    // the isolation a real pool would give. Calling the outer `Sql` inside `fn` would deadlock.
    transaction: (fn) => db.transaction((tx) => fn(wrap(tx))),
    async close() {
      if (closed) return;
      closed = true;
      await db.close();
    },
  };
}

function wrap(tx: Transaction): SqlQueryable {
  return { query: (text, params) => runQuery(tx, text, params) };
}

async function runQuery<R>(
  runner: PGlite | Transaction,
  text: string,
  params?: readonly unknown[],
): Promise<{ rows: R[] }> {
  if (params === undefined || params.length === 0) {
    // `query` uses the extended protocol (one statement only); `exec` is the simple protocol, which
    // runs the several statements a migration may hold, like `pg` does without values.
    const results = await runner.exec(text);
    return { rows: (results[results.length - 1]?.rows ?? []) as R[] };
  }
  const result = await runner.query<R>(text, params as unknown[]);
  return { rows: result.rows };
}
