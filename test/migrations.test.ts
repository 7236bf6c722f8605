import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../shared/db/migrate.js';
import { type Migration, migrations } from '../shared/db/migrations.js';
import { ConfigError } from '../shared/errors.js';
import { LIMITS } from '../shared/profile/schemas.js';
import { instrumentSql, type TestDb, useTestDb } from './support/db.js';

const ids = migrations.map((m) => m.id);

async function recorded(db: TestDb): Promise<string[]> {
  const { rows } = await db.sql.query<{ id: string }>('SELECT id FROM schema_migrations ORDER BY id');
  return rows.map((row) => row.id);
}

async function tableExists(db: TestDb, name: string): Promise<boolean> {
  // to_regclass follows search_path, so this sees the test's own schema only.
  const { rows } = await db.sql.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [name]);
  return rows[0]?.t !== null;
}

describe('migrate()', () => {
  describe('on an empty database', () => {
    let db: TestDb;
    beforeAll(async () => {
      db = await useTestDb({ migrate: false });
    });
    afterAll(async () => {
      await db?.cleanup();
    });

    it('applies every migration in order and records each one', async () => {
      expect(await tableExists(db, 'personnel')).toBe(false);

      const { applied } = await migrate(db.sql);

      expect(applied).toEqual(ids);
      expect(await recorded(db)).toEqual(ids);
      expect(await tableExists(db, 'personnel')).toBe(true);
      expect(await tableExists(db, 'outbox')).toBe(true);
    });

    it('applies nothing when run again', async () => {
      const { applied } = await migrate(db.sql);

      expect(applied).toEqual([]);
      expect(await recorded(db)).toEqual(ids);
    });

    it('applies only a migration added since the last run, several statements included', async () => {
      const extra: Migration = {
        id: '9001_test_extra',
        sql: 'CREATE TABLE test_extra (x int); CREATE INDEX test_extra_x ON test_extra (x);',
      };

      const { applied } = await migrate(db.sql, { migrations: [...migrations, extra] });

      expect(applied).toEqual(['9001_test_extra']);
      expect(await tableExists(db, 'test_extra_x')).toBe(true);
    });

    it('rolls back the whole run when one migration fails', async () => {
      const good: Migration = { id: '9002_test_good', sql: 'CREATE TABLE test_good (x int)' };
      const bad: Migration = { id: '9003_test_bad', sql: 'CREATE TABLE test_bad (x no_such_type)' };

      await expect(migrate(db.sql, { migrations: [...migrations, good, bad] })).rejects.toThrow(
        /no_such_type/,
      );

      expect(await tableExists(db, 'test_good')).toBe(false);
      expect(await recorded(db)).not.toContain('9002_test_good');
    });

    it('rejects unordered or duplicate ids with ConfigError before sending any statement', async () => {
      const counting = instrumentSql(db.sql);
      const a: Migration = { id: '0002_b', sql: 'SELECT 1' };
      const b: Migration = { id: '0001_a', sql: 'SELECT 1' };

      await expect(migrate(counting, { migrations: [a, b] })).rejects.toBeInstanceOf(ConfigError);
      await expect(migrate(counting, { migrations: [b, b] })).rejects.toBeInstanceOf(ConfigError);
      expect(counting.statements).toEqual([]);
    });
  });

  describe('when several processes start at once', () => {
    let db: TestDb;
    beforeAll(async () => {
      db = await useTestDb({ migrate: false });
    });
    afterAll(async () => {
      await db?.cleanup();
    });

    it('applies each migration exactly once across four concurrent runs', async () => {
      // On real PostgreSQL each run takes its own pooled connection, so they truly race for the lock.
      const runs = await Promise.all([migrate(db.sql), migrate(db.sql), migrate(db.sql), migrate(db.sql)]);

      expect(runs.flatMap((r) => r.applied).sort()).toEqual(ids);
      expect(runs.filter((r) => r.applied.length > 0)).toHaveLength(1);
      expect(await recorded(db)).toEqual(ids);
    });
  });

  describe('the personnel CHECK constraints', () => {
    let db: TestDb;
    beforeAll(async () => {
      db = await useTestDb();
    });
    afterAll(async () => {
      await db?.cleanup();
    });

    const valid = {
      id: 'chk_ok',
      matricule: '712345-B',
      full_name: 'Fotso Blaise',
      avatar_url: '',
      ministere: 'MINFOP',
    };
    const insert = (row: typeof valid & { version?: number }) =>
      db.sql.query(
        'INSERT INTO personnel (id, matricule, full_name, avatar_url, ministere, version) VALUES ($1, $2, $3, $4, $5, $6)',
        [row.id, row.matricule, row.full_name, row.avatar_url, row.ministere, row.version ?? 1],
      );

    it('accept a row that satisfies profileFieldsSchema', async () => {
      await expect(insert(valid)).resolves.toBeDefined();
    });

    it.each([
      ['an id with a colon', { id: 'a:b' }],
      ['an id over the limit', { id: 'x'.repeat(LIMITS.userIdMaxLength + 1) }],
      ['an empty full name', { full_name: '' }],
      ['a full name over the limit', { full_name: 'a'.repeat(LIMITS.fullNameMaxLength + 1) }],
      ['a full name with a control character', { full_name: 'Fotso\u0007Blaise' }],
      ['a full name with surrounding spaces', { full_name: ' Fotso ' }],
      ['a non-http avatar', { avatar_url: 'ftp://example.org/a.jpg' }],
      ['an avatar over the limit', { avatar_url: `https://a.cm/${'a'.repeat(LIMITS.avatarMaxLength)}` }],
      ['a matricule with a space', { matricule: '712 345' }],
      ['a lower-case ministry', { ministere: 'minfop' }],
    ])('reject %s', async (_label, change) => {
      const row = { ...valid, id: `chk_${Math.random().toString(36).slice(2, 10)}`, ...change };

      await expect(insert(row)).rejects.toMatchObject({ code: '23514' });
    });
  });
});
