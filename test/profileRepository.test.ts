import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createPgSql } from '../shared/db/pgSql.js';
import { ProfileRepository } from '../shared/db/profileRepository.js';
import {
  AlreadyExistsError,
  DatabaseError,
  NotFoundError,
  ValidationError,
  VersionConflictError,
} from '../shared/errors.js';
import { instrumentSql, type TestDb, useTestDb } from './support/db.js';
import { fields, newId } from './support/fixtures.js';

let db: TestDb;
let repo: ProfileRepository;
const prefix = `r${randomBytes(3).toString('hex')}_`;

async function outboxRows(userId: string) {
  const { rows } = await db.sql.query<{ event_type: string; version: unknown; payload: unknown }>(
    'SELECT event_type, version, payload FROM outbox WHERE user_id = $1 ORDER BY id',
    [userId],
  );
  return rows.map((row) => ({ type: row.event_type, version: Number(row.version), payload: row.payload }));
}

/** Publishes everything so the outbox tests only see their own events. */
async function drainOutbox() {
  for (;;) {
    const events = await repo.listUnpublished(1000);
    if (events.length === 0) return;
    await repo.markPublished(events.map((e) => ({ outboxId: e.outboxId, streamId: '0-0' })));
  }
}

beforeAll(async () => {
  db = await useTestDb();
  repo = new ProfileRepository({ sql: db.sql });
});

afterAll(async () => {
  await db?.cleanup();
});

describe('ProfileRepository', () => {
  describe('create()', () => {
    it('inserts version 1 and returns version and updatedAt as numbers', async () => {
      const id = newId(prefix);
      const before = Date.now();
      const { profile } = await repo.create(id, fields());

      expect(profile).toEqual({ userId: id, ...fields(), version: 1, updatedAt: expect.any(Number) });
      expect(typeof profile.version).toBe('number');
      // Clock skew between this process and the server is tiny locally; a minute is generous.
      expect(Math.abs(profile.updatedAt - before)).toBeLessThan(60_000);
      const stored = await repo.getById(id);
      expect(typeof stored?.version).toBe('number');
      expect(typeof stored?.updatedAt).toBe('number');
      expect(stored).toEqual({ ...profile, deletedAt: null });
    });

    it('writes exactly one user.profile.created outbox row carrying the fields', async () => {
      const id = newId(prefix);
      const { profile, event } = await repo.create(id, fields());

      expect(event).toEqual({
        outboxId: expect.stringMatching(/^[0-9]+$/),
        type: 'user.profile.created',
        userId: id,
        version: 1,
        occurredAt: profile.updatedAt,
        profile,
      });
      expect(await outboxRows(id)).toEqual([{ type: 'user.profile.created', version: 1, payload: fields() }]);
    });

    it('keeps text exactly as given ("007" stays a string, accents and apostrophes intact)', async () => {
      const id = newId(prefix);
      await repo.create(id, fields({ matricule: '007', fullName: "Eto'o Tchakounté Gisèle" }));

      const stored = await repo.getById(id);
      expect(stored?.matricule).toBe('007');
      expect(stored?.fullName).toBe("Eto'o Tchakounté Gisèle");
    });

    it('throws AlreadyExistsError for an existing id and writes no second outbox row', async () => {
      const id = newId(prefix);
      await repo.create(id, fields());

      const attempt = repo.create(id, fields({ fullName: 'Mbarga Serge' }));
      await expect(attempt).rejects.toBeInstanceOf(AlreadyExistsError);
      await expect(attempt).rejects.toMatchObject({ code: 'USER_EXISTS' });
      expect((await repo.getById(id))?.fullName).toBe('Ngono Marie-Claire');
      expect(await outboxRows(id)).toHaveLength(1);
    });

    it('throws AlreadyExistsError for a soft-deleted id: ids are never reused', async () => {
      const id = newId(prefix);
      await repo.create(id, fields());
      await repo.softDelete(id);

      await expect(repo.create(id, fields())).rejects.toBeInstanceOf(AlreadyExistsError);
    });

    it('lets exactly one of two concurrent creates of the same id succeed', async () => {
      const id = newId(prefix);
      const results = await Promise.allSettled([repo.create(id, fields()), repo.create(id, fields())]);

      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const rejected = results.find((r) => r.status === 'rejected');
      expect((rejected as PromiseRejectedResult).reason).toBeInstanceOf(AlreadyExistsError);
      expect(await outboxRows(id)).toHaveLength(1);
    });

    it('rejects invalid fields with INVALID_PROFILE without sending a statement', async () => {
      const counting = instrumentSql(db.sql);
      const strictRepo = new ProfileRepository({ sql: counting });

      await expect(strictRepo.create(newId(prefix), fields({ ministere: 'minsante' }))).rejects.toMatchObject(
        {
          code: 'INVALID_PROFILE',
        },
      );
      await expect(strictRepo.create('bad id!', fields())).rejects.toMatchObject({ code: 'INVALID_USER_ID' });
      expect(counting.statements).toEqual([]);
    });

    it('stores the trimmed full name, as the schema normalises it', async () => {
      const id = newId(prefix);
      const { profile } = await repo.create(id, fields({ fullName: '  Abena Thérèse  ' }));

      expect(profile.fullName).toBe('Abena Thérèse');
    });
  });

  describe('getById()', () => {
    it('returns null for an id that never existed', async () => {
      expect(await repo.getById(newId(prefix))).toBeNull();
    });

    it('returns soft-deleted rows with deletedAt set, for the caller to decide', async () => {
      const id = newId(prefix);
      await repo.create(id, fields());
      const { version } = await repo.softDelete(id);

      const stored = await repo.getById(id);
      expect(stored).toMatchObject({ userId: id, version, deletedAt: expect.any(Number) });
      expect(stored?.deletedAt).toBe(stored?.updatedAt);
    });

    it('rejects a malformed id with INVALID_USER_ID', async () => {
      await expect(repo.getById('a:b')).rejects.toMatchObject({ code: 'INVALID_USER_ID' });
    });
  });

  describe('getMany()', () => {
    it('reads every id in ONE query and leaves missing ids out of the map', async () => {
      const ids = [newId(prefix), newId(prefix), newId(prefix)];
      for (const id of ids) await repo.create(id, fields({ fullName: `Kamga ${id}` }));
      const missing = newId(prefix);
      const counting = instrumentSql(db.sql);

      const found = await new ProfileRepository({ sql: counting }).getMany([...ids, missing, ids[0]!]);

      expect(counting.statements).toHaveLength(1);
      expect(counting.statements[0]).toContain('ANY($1');
      expect([...found.keys()].sort()).toEqual([...ids].sort());
      expect(found.has(missing)).toBe(false);
      expect(found.get(ids[1]!)).toMatchObject({ userId: ids[1], fullName: `Kamga ${ids[1]}`, version: 1 });
    });

    it('returns an empty map without querying when given no ids', async () => {
      const counting = instrumentSql(db.sql);

      const found = await new ProfileRepository({ sql: counting }).getMany([]);

      expect(found.size).toBe(0);
      expect(counting.statements).toEqual([]);
    });

    it('includes soft-deleted rows with their deletedAt', async () => {
      const id = newId(prefix);
      await repo.create(id, fields());
      await repo.softDelete(id);

      const found = await repo.getMany([id]);
      expect(found.get(id)?.deletedAt).toEqual(expect.any(Number));
    });

    it('refuses more than LIMITS.cacheBatchMax ids with BATCH_TOO_LARGE', async () => {
      const ids = Array.from({ length: 1001 }, (_, i) => `x${i}`);
      await expect(repo.getMany(ids)).rejects.toMatchObject({ code: 'BATCH_TOO_LARGE' });
    });
  });

  describe('update()', () => {
    it('bumps the version by exactly one and writes exactly one user.profile.updated row', async () => {
      const id = newId(prefix);
      await repo.create(id, fields());

      const { profile, event } = await repo.update(id, fields({ ministere: 'MINFOP', avatar: '' }));

      expect(profile).toMatchObject({ userId: id, version: 2, ministere: 'MINFOP', avatar: '' });
      expect(event).toMatchObject({ type: 'user.profile.updated', userId: id, version: 2, profile });
      expect(await outboxRows(id)).toEqual([
        { type: 'user.profile.created', version: 1, payload: fields() },
        { type: 'user.profile.updated', version: 2, payload: fields({ ministere: 'MINFOP', avatar: '' }) },
      ]);
      expect((await repo.getById(id))?.version).toBe(2);
    });

    it('applies the change when ifMatch is the current version', async () => {
      const id = newId(prefix);
      await repo.create(id, fields());

      const { profile } = await repo.update(id, fields({ fullName: 'Fotso Blaise' }), { ifMatch: 1 });
      expect(profile).toMatchObject({ version: 2, fullName: 'Fotso Blaise' });
    });

    it('throws VersionConflictError with the current version when ifMatch is stale, changing nothing', async () => {
      const id = newId(prefix);
      await repo.create(id, fields());
      await repo.update(id, fields({ fullName: 'Fotso Blaise' }));

      const attempt = repo.update(id, fields({ fullName: 'Kenfack Landry' }), { ifMatch: 1 });

      await expect(attempt).rejects.toBeInstanceOf(VersionConflictError);
      await expect(attempt).rejects.toMatchObject({
        code: 'VERSION_MISMATCH',
        details: { userId: id, expected: 1, current: 2 },
      });
      expect(await repo.getById(id)).toMatchObject({ version: 2, fullName: 'Fotso Blaise' });
      expect(await outboxRows(id)).toHaveLength(2);
    });

    it('throws NotFoundError for an id that does not exist', async () => {
      await expect(repo.update(newId(prefix), fields())).rejects.toBeInstanceOf(NotFoundError);
    });

    it('throws NotFoundError for a soft-deleted id, even with a matching ifMatch', async () => {
      const id = newId(prefix);
      await repo.create(id, fields());
      const { version } = await repo.softDelete(id);

      const attempt = repo.update(id, fields(), { ifMatch: version });
      await expect(attempt).rejects.toBeInstanceOf(NotFoundError);
      await expect(attempt).rejects.toMatchObject({ code: 'USER_NOT_FOUND' });
      expect((await repo.getById(id))?.version).toBe(version);
    });

    it('rejects a non-positive ifMatch with INVALID_VERSION', async () => {
      await expect(repo.update(newId(prefix), fields(), { ifMatch: 0 })).rejects.toMatchObject({
        code: 'INVALID_VERSION',
      });
    });

    it('leaves neither the new version nor an outbox row when the outbox insert fails', async () => {
      const id = newId(prefix);
      await repo.create(id, fields());
      // Fault injection in the real database: the outbox now refuses this user's rows.
      // NOT VALID skips the existing created row and applies to new ones only.
      await db.sql.query(
        `ALTER TABLE outbox ADD CONSTRAINT poison_${id} CHECK (user_id <> '${id}') NOT VALID`,
      );
      try {
        await expect(repo.update(id, fields({ fullName: 'Mballa Joseph' }))).rejects.toThrow();
      } finally {
        await db.sql.query(`ALTER TABLE outbox DROP CONSTRAINT poison_${id}`);
      }

      expect(await repo.getById(id)).toMatchObject({ version: 1, fullName: 'Ngono Marie-Claire' });
      expect(await outboxRows(id)).toHaveLength(1);
    });

    it('gives 10 concurrent updates of one row versions 2..11, without gaps or duplicates', async () => {
      const id = newId(prefix);
      await repo.create(id, fields());

      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => repo.update(id, fields({ fullName: `Achu Emmanuel ${i}` }))),
      );

      const versions = results.map((r) => r.profile.version).sort((a, b) => a - b);
      expect(versions).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
      expect((await outboxRows(id)).map((row) => row.version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
      const winner = results.find((r) => r.profile.version === 11)!;
      expect(await repo.getById(id)).toMatchObject({ version: 11, fullName: winner.profile.fullName });
    });

    it('lets exactly one of two concurrent updates with the same ifMatch win', async () => {
      const id = newId(prefix);
      await repo.create(id, fields());

      const results = await Promise.allSettled([
        repo.update(id, fields({ fullName: 'Bello Aminatou' }), { ifMatch: 1 }),
        repo.update(id, fields({ fullName: 'Hamadou Issa' }), { ifMatch: 1 }),
      ]);

      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(rejected.reason).toBeInstanceOf(VersionConflictError);
      expect((await repo.getById(id))?.version).toBe(2);
    });
  });

  describe('softDelete()', () => {
    it('sets deletedAt, bumps the version and writes a deleted event without a profile', async () => {
      const id = newId(prefix);
      await repo.create(id, fields());

      const { version, event } = await repo.softDelete(id);

      expect(version).toBe(2);
      expect(event).toEqual({
        outboxId: expect.stringMatching(/^[0-9]+$/),
        type: 'user.profile.deleted',
        userId: id,
        version: 2,
        occurredAt: expect.any(Number),
        profile: null,
      });
      expect((await repo.getById(id))?.deletedAt).toBe(event.occurredAt);
      expect((await outboxRows(id)).at(-1)).toEqual({
        type: 'user.profile.deleted',
        version: 2,
        payload: null,
      });
    });

    it('throws NotFoundError when the profile is already deleted, writing nothing', async () => {
      const id = newId(prefix);
      await repo.create(id, fields());
      await repo.softDelete(id);

      await expect(repo.softDelete(id)).rejects.toBeInstanceOf(NotFoundError);
      expect(await outboxRows(id)).toHaveLength(2);
    });

    it('throws VersionConflictError when ifMatch is stale', async () => {
      const id = newId(prefix);
      await repo.create(id, fields());
      await repo.update(id, fields());

      await expect(repo.softDelete(id, { ifMatch: 1 })).rejects.toBeInstanceOf(VersionConflictError);
      expect((await repo.getById(id))?.deletedAt).toBeNull();
    });
  });

  describe('listUnpublished()', () => {
    beforeEach(drainOutbox);

    it('lists unpublished events oldest first, at most limit', async () => {
      const id = newId(prefix);
      await repo.create(id, fields());
      await repo.update(id, fields({ fullName: 'Tanyi Comfort' }));
      await repo.softDelete(id);

      const firstTwo = await repo.listUnpublished(2);
      const all = await repo.listUnpublished(10);

      expect(firstTwo.map((e) => [e.type, e.version])).toEqual([
        ['user.profile.created', 1],
        ['user.profile.updated', 2],
      ]);
      expect(all.map((e) => e.type)).toEqual([
        'user.profile.created',
        'user.profile.updated',
        'user.profile.deleted',
      ]);
      expect(all[1]?.profile).toMatchObject({ userId: id, fullName: 'Tanyi Comfort', version: 2 });
      expect(all.every((e) => typeof e.version === 'number' && typeof e.occurredAt === 'number')).toBe(true);
    });

    it('returns the same events as the writes that produced them', async () => {
      const { event } = await repo.create(newId(prefix), fields());

      expect(await repo.listUnpublished(10)).toEqual([event]);
    });

    it('rejects a limit outside 1..1000 with INVALID_QUERY', async () => {
      await expect(repo.listUnpublished(0)).rejects.toMatchObject({ code: 'INVALID_QUERY' });
    });
  });

  describe('markPublished()', () => {
    beforeEach(drainOutbox);

    it('removes the events from listUnpublished and records their stream ids', async () => {
      const a = await repo.create(newId(prefix), fields());
      const b = await repo.create(newId(prefix), fields());

      await repo.markPublished([{ outboxId: a.event.outboxId, streamId: '1700000000000-0' }]);

      expect((await repo.listUnpublished(10)).map((e) => e.outboxId)).toEqual([b.event.outboxId]);
      const { rows } = await db.sql.query<{ stream_id: string; published_at: unknown }>(
        'SELECT stream_id, published_at FROM outbox WHERE id = $1',
        [a.event.outboxId],
      );
      expect(rows[0]?.stream_id).toBe('1700000000000-0');
      expect(rows[0]?.published_at).not.toBeNull();
    });

    it('keeps the first stream id when an event is published twice', async () => {
      const { event } = await repo.create(newId(prefix), fields());

      await repo.markPublished([{ outboxId: event.outboxId, streamId: '1-0' }]);
      await repo.markPublished([{ outboxId: event.outboxId, streamId: '2-0' }]);

      const { rows } = await db.sql.query<{ stream_id: string }>(
        'SELECT stream_id FROM outbox WHERE id = $1',
        [event.outboxId],
      );
      expect(rows[0]?.stream_id).toBe('1-0');
    });

    it('does nothing for an empty list and rejects malformed outbox ids', async () => {
      await expect(repo.markPublished([])).resolves.toBeUndefined();
      await expect(repo.markPublished([{ outboxId: '1; DROP', streamId: '1-0' }])).rejects.toMatchObject({
        code: 'INVALID_EVENT',
      });
    });
  });

  describe('listActiveSince()', () => {
    // Far in the future, so rows other tests touched can never fall in the window.
    const since = Date.UTC(2040, 0, 1);

    it('pages through active, non-deleted ids in id order with afterId', async () => {
      const ids = Array.from({ length: 5 }, () => `${prefix}act_${randomBytes(4).toString('hex')}`);
      for (const id of ids) await repo.create(id, fields());
      await repo.touchActivity(ids, since + 1000);
      const expected = [...ids].sort();

      const page1 = await repo.listActiveSince(since, 2);
      const page2 = await repo.listActiveSince(since, 2, page1.at(-1));
      const page3 = await repo.listActiveSince(since, 2, page2.at(-1));
      const page4 = await repo.listActiveSince(since, 2, page3.at(-1));

      expect([page1, page2, page3]).toEqual([expected.slice(0, 2), expected.slice(2, 4), expected.slice(4)]);
      expect(page4).toEqual([]);
      await repo.touchActivity(ids, since - 10 * 86_400_000); // leave the window for the next test
    });

    it('leaves out deleted ids and ids last active before sinceMs', async () => {
      const [active, stale, deleted] = [newId(prefix), newId(prefix), newId(prefix)];
      for (const id of [active, stale, deleted]) await repo.create(id, fields());
      await repo.touchActivity([active, deleted], since);
      await repo.touchActivity([stale], since - 1);
      await repo.softDelete(deleted);

      expect(await repo.listActiveSince(since, 100)).toEqual([active]);
    });
  });

  describe('touchActivity()', () => {
    it('sets last_active_at without bumping the version or writing an outbox row', async () => {
      const id = newId(prefix);
      await repo.create(id, fields());
      const at = Date.UTC(2031, 5, 1, 12, 0, 0, 123);

      await repo.touchActivity([id, newId(prefix)], at);

      const { rows } = await db.sql.query<{ last_active_at: Date }>(
        'SELECT last_active_at FROM personnel WHERE id = $1',
        [id],
      );
      expect(new Date(rows[0]!.last_active_at).getTime()).toBe(at);
      expect((await repo.getById(id))?.version).toBe(1);
      expect(await outboxRows(id)).toHaveLength(1);
    });
  });

  describe('error mapping', () => {
    it('maps an unreachable database to DatabaseError DATABASE_UNAVAILABLE, keeping the cause', async () => {
      // Port 1 on loopback: nothing listens, the connection is refused at once.
      const down = createPgSql({
        connectionString: 'postgres://postgres@127.0.0.1:1/none',
        connectionTimeoutMs: 2000,
      });
      try {
        const attempt = new ProfileRepository({ sql: down }).getById('u000001');
        await expect(attempt).rejects.toBeInstanceOf(DatabaseError);
        const error = (await attempt.catch((e: unknown) => e)) as DatabaseError;
        expect(error.code).toBe('DATABASE_UNAVAILABLE');
        expect(error.cause).toBeInstanceOf(Error);
        expect(error.details).toMatchObject({ operation: 'getById', sqlState: 'ECONNREFUSED' });
      } finally {
        await down.close();
      }
    });

    it('maps a CHECK violation from the database to ValidationError INVALID_PROFILE', async () => {
      const id = newId(prefix);
      await repo.create(id, fields());
      // The constraint is stricter than the schema here, so only the database can reject the write.
      await db.sql.query(
        `ALTER TABLE personnel ADD CONSTRAINT strict_${id} CHECK (matricule <> 'X-1') NOT VALID`,
      );
      try {
        const attempt = repo.update(id, fields({ matricule: 'X-1' }));
        await expect(attempt).rejects.toBeInstanceOf(ValidationError);
        await expect(attempt).rejects.toMatchObject({
          code: 'INVALID_PROFILE',
          details: { sqlState: '23514' },
        });
      } finally {
        await db.sql.query(`ALTER TABLE personnel DROP CONSTRAINT strict_${id}`);
      }
    });
  });
});
