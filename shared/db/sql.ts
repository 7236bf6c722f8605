/**
 * The narrow SQL port every PostgreSQL consumer takes. Two adapters implement it: `db/pgSql.ts` (the `pg`
 * pool, used in Lambda and against a real server) and `local/pgliteSql.ts` (embedded PGlite, local only).
 */

/** Anything that runs one statement: the pool itself or a transaction's connection. */
export interface SqlQueryable {
  /**
   * Runs `text` with `$1…` placeholders bound to `params`. Without params, `text` may hold several
   * statements separated by `;` (migrations need this); `rows` are then those of the last statement.
   * Column types are the driver's: callers convert `bigint`/`timestamptz` themselves (see `db/rows.ts`).
   */
  query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<{ rows: R[] }>;
}

export interface Sql extends SqlQueryable {
  /** BEGIN … COMMIT; ROLLBACK on throw. Every query in `fn` must go through `tx`, never the outer `Sql`. */
  transaction<T>(fn: (tx: SqlQueryable) => Promise<T>): Promise<T>;
  /** Ends the pool or the embedded database. Idempotent. */
  close(): Promise<void>;
}

/** The SQLSTATE of a PostgreSQL error (`23505`…) or a Node socket error code (`ECONNREFUSED`…). */
export function sqlErrorCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = (error as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}
