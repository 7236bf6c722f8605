/**
 * Migration 0003 (shared/db/changeCapture.ts): every writer's change to `personnel`, our API's or plain
 * SQL, gets its version and its outbox row from the database. Runs on real PostgreSQL with DATABASE_URL,
 * on PGlite without.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../shared/db/migrate.js';
import { migrations } from '../shared/db/migrations.js';
import { ProfileRepository } from '../shared/db/profileRepository.js';
import { type TestDb, useTestDb } from './support/db.js';
import { fields, newId } from './support/fixtures.js';

let db: TestDb;
let repository: ProfileRepository;

async function insertSql(id: string, version = 1): Promise<void> {
  await db.sql.query(
    `INSERT INTO personnel (id, matricule, full_name, avatar_url, ministere, version)
     VALUES ($1, 'CC-2', 'Outside Writer', '', 'MINFI', $2)`,
    [id, version],
  );
}

async function versionOf(id: string): Promise<number | null> {
  const { rows } = await db.sql.query<{ version: unknown }>('SELECT version FROM personnel WHERE id = $1', [
    id,
  ]);
  return rows[0] ? Number(rows[0].version) : null;
}

async function eventsOf(id: string): Promise<Array<{ type: string; version: number; payload: unknown }>> {
  const { rows } = await db.sql.query<{ event_type: string; version: unknown; payload: unknown }>(
    'SELECT event_type, version, payload FROM outbox WHERE user_id = $1 ORDER BY id',
    [id],
  );
  return rows.map((r) => ({
    type: r.event_type.replace('user.profile.', ''),
    version: Number(r.version),
    payload: typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload,
  }));
}

beforeAll(async () => {
  db = await useTestDb();
  repository = new ProfileRepository({ sql: db.sql });
});
afterAll(async () => {
  await db.cleanup();
});

describe('change capture (migration 0003)', () => {
  it('gives an outside INSERT version 1 and a created event, whatever version the writer set', async () => {
    const id = newId();
    await insertSql(id, 41);

    expect(await versionOf(id)).toBe(1);
    expect(await eventsOf(id)).toEqual([
      {
        type: 'created',
        version: 1,
        payload: { fullName: 'Outside Writer', avatar: '', matricule: 'CC-2', ministere: 'MINFI' },
      },
    ]);
  });

  it('bumps the version and writes an updated event for an outside UPDATE of a profile column', async () => {
    const id = newId();
    await insertSql(id);
    await db.sql.query(`UPDATE personnel SET full_name = 'Renamed', version = 1 WHERE id = $1`, [id]);

    expect(await versionOf(id)).toBe(2);
    expect((await eventsOf(id)).map((e) => [e.type, e.version])).toEqual([
      ['created', 1],
      ['updated', 2],
    ]);
  });

  it('leaves activity marks and no-op updates alone: no version bump, no event', async () => {
    const id = newId();
    await insertSql(id);
    await repository.touchActivity([id], Date.now());
    await db.sql.query(`UPDATE personnel SET full_name = full_name WHERE id = $1`, [id]);

    expect(await versionOf(id)).toBe(1);
    expect(await eventsOf(id)).toHaveLength(1);
  });

  it("writes exactly one event per change made through the API (the trigger skips the API's own row)", async () => {
    const id = newId();
    await repository.create(id, fields());
    await repository.update(id, { ...fields(), fullName: 'Ndongo C.' });
    await repository.softDelete(id);

    expect((await eventsOf(id)).map((e) => [e.type, e.version])).toEqual([
      ['created', 1],
      ['updated', 2],
      ['deleted', 3],
    ]);
  });

  it('turns a hard DELETE into a deleted event at a new version, and a re-created id continues above it', async () => {
    const id = newId();
    await repository.create(id, fields());
    await repository.update(id, fields());
    await db.sql.query('DELETE FROM personnel WHERE id = $1', [id]);
    const again = await repository.create(id, { ...fields(), fullName: 'Someone Else' });

    expect(again.profile.version).toBe(4);
    expect(again.event.version).toBe(4);
    expect((await eventsOf(id)).map((e) => [e.type, e.version])).toEqual([
      ['created', 1],
      ['updated', 2],
      ['deleted', 3],
      ['created', 4],
    ]);
  });

  it('versions keep growing across a soft delete, an outside restore and a hard delete', async () => {
    const id = newId();
    await repository.create(id, fields());
    await repository.softDelete(id);
    await db.sql.query('UPDATE personnel SET deleted_at = NULL WHERE id = $1', [id]);
    await db.sql.query('DELETE FROM personnel WHERE id = $1', [id]);
    await insertSql(id);

    expect((await eventsOf(id)).map((e) => [e.type, e.version])).toEqual([
      ['created', 1],
      ['deleted', 2],
      ['updated', 3],
      ['deleted', 4],
      ['created', 5],
    ]);
  });

  it('refuses TRUNCATE (no row trigger would see it) and a change of id', async () => {
    const id = newId();
    await insertSql(id);

    await expect(db.sql.query('TRUNCATE personnel')).rejects.toMatchObject({ code: '0A000' });
    await expect(
      db.sql.query(`UPDATE personnel SET id = $2 WHERE id = $1`, [id, newId()]),
    ).rejects.toMatchObject({ code: '23514' });
    expect(await versionOf(id)).toBe(1);
  });

  it('serialises a re-create behind a concurrent hard delete of the same id (the new version still wins)', async () => {
    const id = newId();
    await repository.create(id, fields());
    await repository.update(id, fields());
    // The delete holds its transaction open while the re-create starts; the insert waits for it.
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const deleting = db.sql.transaction(async (tx) => {
      await tx.query('DELETE FROM personnel WHERE id = $1', [id]);
      await held;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const creating = repository.create(id, { ...fields(), fullName: 'Successor' }).catch((e: unknown) => e);
    await new Promise((resolve) => setTimeout(resolve, 100));
    release();
    await deleting;
    const created = await creating;

    expect(created).toMatchObject({ profile: { version: 4, fullName: 'Successor' } });
  });
});

describe('migration 0003 on a database that already has data', () => {
  let old: TestDb;
  beforeAll(async () => {
    old = await useTestDb({ migrate: false });
  });
  afterAll(async () => {
    await old.cleanup();
  });

  it('keeps existing versions, and re-creates a hard-deleted id above its outbox history', async () => {
    await migrate(old.sql, { migrations: migrations.filter((m) => m.id < '0003') });
    await old.sql.query(
      `INSERT INTO personnel (id, matricule, full_name, avatar_url, ministere, version)
       VALUES ('live', 'L-1', 'Live Row', '', 'MINFI', 7)`,
    );
    // Deleted before the migration, by hand: only its outbox history remembers version 5.
    await old.sql.query(
      `INSERT INTO outbox (event_type, user_id, version, payload) VALUES ('user.profile.deleted', 'gone', 5, NULL)`,
    );

    const { applied } = await migrate(old.sql);
    const repo = new ProfileRepository({ sql: old.sql });

    expect(applied).toEqual(migrations.slice(2).map((m) => m.id));
    expect((await repo.getById('live'))?.version).toBe(7);
    expect((await repo.update('live', fields())).profile.version).toBe(8);
    expect((await repo.create('gone', fields())).profile.version).toBe(6);
  });
});
