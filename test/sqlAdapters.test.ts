import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgSql } from '../shared/db/pgSql.js';
import { ConfigError } from '../shared/errors.js';
import { type TestDb, useTestDb } from './support/db.js';

// The same contract runs against whichever adapter useTestDb picked (PGlite, or pg with DATABASE_URL).
describe('Sql adapter', () => {
  let db: TestDb;
  beforeAll(async () => {
    db = await useTestDb({ migrate: false });
    await db.sql.query('CREATE TABLE adapter_t (n int)');
  });
  afterAll(async () => {
    await db?.cleanup();
  });

  describe('query()', () => {
    it('binds $n parameters, arrays included', async () => {
      const { rows } = await db.sql.query<{ s: number }>(
        'SELECT sum(x)::int AS s FROM unnest($1::int[]) AS x',
        [[1, 2, 3]],
      );
      expect(rows).toEqual([{ s: 6 }]);
    });

    it('runs several statements without parameters and returns the rows of the last one', async () => {
      const { rows } = await db.sql.query<{ n: number }>(
        'INSERT INTO adapter_t VALUES (41); UPDATE adapter_t SET n = n + 1 WHERE n = 41; SELECT n FROM adapter_t WHERE n = 42',
      );
      expect(rows).toEqual([{ n: 42 }]);
    });

    it('rejects with the SQLSTATE in `code`', async () => {
      await expect(db.sql.query('SELECT 1 / $1::int', [0])).rejects.toMatchObject({ code: '22012' });
    });
  });

  describe('transaction()', () => {
    it('commits and returns the callback result', async () => {
      const result = await db.sql.transaction(async (tx) => {
        await tx.query('INSERT INTO adapter_t VALUES ($1)', [100]);
        return 'done';
      });

      expect(result).toBe('done');
      expect((await db.sql.query('SELECT 1 FROM adapter_t WHERE n = 100')).rows).toHaveLength(1);
    });

    it('rolls back every statement when the callback throws, and rethrows', async () => {
      const boom = new Error('boom');
      const attempt = db.sql.transaction(async (tx) => {
        await tx.query('INSERT INTO adapter_t VALUES ($1)', [200]);
        throw boom;
      });

      await expect(attempt).rejects.toBe(boom);
      expect((await db.sql.query('SELECT 1 FROM adapter_t WHERE n = 200')).rows).toHaveLength(0);
    });

    it('stays usable after a failed statement rolled a transaction back', async () => {
      await expect(
        db.sql.transaction((tx) => tx.query('SELECT no_such_column FROM adapter_t')),
      ).rejects.toThrow();

      expect((await db.sql.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    });
  });
});

describe('createPgSql()', () => {
  it.each([
    ['max 0', { max: 0 }],
    ['a negative statement timeout', { statementTimeoutMs: -1 }],
    ['a search_path with SQL in it', { searchPath: 'public; DROP TABLE x' }],
  ])('throws ConfigError for %s', (_label, opts) => {
    expect(() => createPgSql({ connectionString: 'postgres://127.0.0.1:1/x', ...opts })).toThrow(ConfigError);
  });

  it('throws ConfigError without a connection string or config', () => {
    expect(() => createPgSql({})).toThrow(ConfigError);
  });

  it('can be closed twice', async () => {
    const sql = createPgSql({ connectionString: 'postgres://127.0.0.1:1/x' });
    await sql.close();
    await expect(sql.close()).resolves.toBeUndefined();
  });

  // Server-side settings need a real server: registered only when DATABASE_URL points at one.
  const url = process.env.DATABASE_URL?.trim();
  if (url) {
    describe('against real PostgreSQL', () => {
      it('applies statementTimeoutMs on the server (57014 query_canceled)', async () => {
        const sql = createPgSql({ connectionString: url, statementTimeoutMs: 50 });
        try {
          await expect(sql.query('SELECT pg_sleep(2)')).rejects.toMatchObject({ code: '57014' });
        } finally {
          await sql.close();
        }
      });

      it('sets search_path from searchPath', async () => {
        const sql = createPgSql({ connectionString: url, searchPath: 'pg_catalog' });
        try {
          const { rows } = await sql.query<{ p: string }>('SELECT current_setting($1) AS p', ['search_path']);
          expect(rows[0]?.p).toBe('pg_catalog');
        } finally {
          await sql.close();
        }
      });
    });
  }
});
