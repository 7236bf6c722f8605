/**
 * A private, migrated database per call (`local/scratchDatabase.ts`). With DATABASE_URL: a fresh random
 * schema on that server (isolated through `search_path`, dropped in cleanup). Without: an in-memory
 * PGlite (about 3-4 s to start, so call this once per test file, in `beforeAll`).
 */
import { openScratchDatabase, type ScratchDatabase } from '../../local/scratchDatabase.js';
import type { Sql } from '../../shared/db/sql.js';

export interface TestDb extends ScratchDatabase {
  /** The same as `close()`, named like the other test helpers' cleanup. */
  cleanup(): Promise<void>;
}

export interface TestDbOptions {
  /** Apply the project's migrations. @default true */
  migrate?: boolean;
  /** Pool size on real PostgreSQL (concurrency tests need several connections). @default 12 */
  max?: number;
}

export async function useTestDb(opts: TestDbOptions = {}): Promise<TestDb> {
  const db = await openScratchDatabase({ name: 'test', migrate: opts.migrate ?? true, max: opts.max ?? 12 });
  return { ...db, cleanup: db.close };
}

/** The real `Sql`, counting statements and able to hold one back (to stage races). */
export interface InstrumentedSql extends Sql {
  /** Every statement run so far, transactions included. Clear with `statements.length = 0`. */
  readonly statements: string[];
  /** Awaited before each statement runs; set it to delay or fail chosen statements. */
  before: SqlHook | undefined;
  /** Awaited after a statement returned, before its caller sees the rows (a "slow reply"). */
  after: SqlHook | undefined;
}

export type SqlHook = (text: string, params: readonly unknown[] | undefined) => Promise<void> | void;

export function instrumentSql(inner: Sql): InstrumentedSql {
  const statements: string[] = [];
  const wrapped: InstrumentedSql = {
    statements,
    before: undefined,
    after: undefined,
    async query<R>(text: string, params?: readonly unknown[]) {
      statements.push(text);
      await wrapped.before?.(text, params);
      const result = await inner.query<R>(text, params);
      await wrapped.after?.(text, params);
      return result;
    },
    transaction: (fn) =>
      inner.transaction((tx) =>
        fn({
          async query<R>(text: string, params?: readonly unknown[]) {
            statements.push(text);
            await wrapped.before?.(text, params);
            const result = await tx.query<R>(text, params);
            await wrapped.after?.(text, params);
            return result;
          },
        }),
      ),
    close: () => inner.close(),
  };
  return wrapped;
}
