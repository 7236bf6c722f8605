import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OutboxPurger } from '../shared/db/outboxPurge.js';
import { ProfileRepository } from '../shared/db/profileRepository.js';
import { type TestDb, useTestDb } from './support/db.js';
import { fields, newId } from './support/fixtures.js';

const DAY_MS = 86_400_000;
let db: TestDb;
let repo: ProfileRepository;

beforeAll(async () => {
  db = await useTestDb({ max: 4 });
  repo = new ProfileRepository({ sql: db.sql });
});
afterAll(async () => {
  await db?.cleanup();
});

/** Creates `count` outbox rows (one create each); `publishedDaysAgo` null leaves them unpublished. */
async function outboxRows(count: number, publishedDaysAgo: number | null): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const { event } = await repo.create(newId(), fields());
    ids.push(event.outboxId);
  }
  if (publishedDaysAgo !== null) {
    await db.sql.query(
      `UPDATE outbox SET published_at = now() - make_interval(days => $2::int), stream_id = '1-0'
        WHERE id = ANY($1::bigint[])`,
      [ids, publishedDaysAgo],
    );
  }
  return ids;
}

async function remaining(ids: readonly string[]): Promise<number> {
  const { rows } = await db.sql.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM outbox WHERE id = ANY($1::bigint[])',
    [ids],
  );
  return Number(rows[0]?.n);
}

describe('OutboxPurger', () => {
  it('deletes published rows older than the retention, never unpublished ones however old', async () => {
    const old = await outboxRows(5, 8);
    const recent = await outboxRows(3, 6);
    const unpublished = await outboxRows(2, null);
    await db.sql.query(
      `UPDATE outbox SET occurred_at = now() - interval '30 days' WHERE id = ANY($1::bigint[])`,
      [unpublished],
    );

    const report = await new OutboxPurger({ sql: db.sql, retentionDays: 7 }).purge();

    expect(report).toMatchObject({ deleted: 5, drained: true });
    expect([await remaining(old), await remaining(recent), await remaining(unpublished)]).toEqual([0, 3, 2]);
  });

  it('works in bounded batches: at most batchSize rows per statement and maxBatches per call', async () => {
    const old = await outboxRows(7, 10);
    const purger = new OutboxPurger({ sql: db.sql, retentionDays: 7, batchSize: 2, maxBatches: 3 });

    const first = await purger.purge();
    const second = await purger.purge();

    expect(first).toMatchObject({ deleted: 6, batches: 3, drained: false });
    expect(second).toMatchObject({ deleted: 1, batches: 1, drained: true });
    expect(await remaining(old)).toBe(0);
  });

  it('honours a configured retention (clock-relative)', async () => {
    const rows = await outboxRows(2, 2);
    const now = Date.now();
    await new OutboxPurger({ sql: db.sql, retentionDays: 3, clock: () => now }).purge();
    expect(await remaining(rows)).toBe(2);
    await new OutboxPurger({ sql: db.sql, retentionDays: 3, clock: () => now + 2 * DAY_MS }).purge();
    expect(await remaining(rows)).toBe(0);
  });

  it('neither blocks nor waits for concurrent writers (with DATABASE_URL; PGlite interleaves them)', async () => {
    if (db.kind !== 'postgres') {
      // PGlite runs one statement at a time on one connection: no lock can be held across two of them,
      // so what remains to check is that purges and writes interleave and unpublished rows stay.
      const pending = await outboxRows(1, null);
      await outboxRows(3, 9);
      await new OutboxPurger({ sql: db.sql, retentionDays: 7, batchSize: 1 }).purge();
      await repo.markPublished([{ outboxId: pending[0] as string, streamId: '2-0' }]);
      expect(await remaining(pending)).toBe(1);
      return;
    }
    const locked = await outboxRows(2, 9);
    const free = await outboxRows(2, 9);
    const pending = await outboxRows(1, null);
    await db.sql.transaction(async (writer) => {
      // A writer holds a lock on old published rows (here: FOR UPDATE), and keeps its transaction open.
      await writer.query('SELECT id FROM outbox WHERE id = ANY($1::bigint[]) FOR UPDATE', [locked]);
      // The purge runs on another connection meanwhile: it skips the locked rows instead of waiting.
      const purge = await new OutboxPurger({ sql: db.sql, retentionDays: 7 }).purge();
      expect(purge.deleted).toBeGreaterThanOrEqual(2);
    });
    expect([await remaining(locked), await remaining(free)]).toEqual([2, 0]);

    // And the other way round: a purge transaction left open does not hold up inserts or publishing.
    await db.sql.transaction(async (purging) => {
      await purging.query(
        `DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE published_at IS NOT NULL
           AND published_at < now() - interval '7 days' FOR UPDATE SKIP LOCKED)`,
      );
      const writes = (async () => {
        const { event } = await repo.create(newId(), fields());
        await repo.markPublished([{ outboxId: pending[0] as string, streamId: '2-0' }]);
        return event.outboxId;
      })();
      const blocked = new Promise<'blocked'>((resolve) =>
        setTimeout(() => resolve('blocked'), 2_000).unref(),
      );
      expect(await Promise.race([writes, blocked])).not.toBe('blocked');
    });
    const { rows } = await db.sql.query<{ published: boolean }>(
      'SELECT published_at IS NOT NULL AS published FROM outbox WHERE id = $1::bigint',
      [pending[0]],
    );
    expect(rows[0]?.published).toBe(true);
  });
});
