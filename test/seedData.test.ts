import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateProfiles, seedProfiles } from '../local/seedData.js';
import { ProfileRepository } from '../shared/db/profileRepository.js';
import { LIMITS, profileFieldsSchema } from '../shared/profile/schemas.js';
import { type TestDb, useTestDb } from './support/db.js';

const MINISTRIES = new Set([
  'MINFOP',
  'MINSANTE',
  'MINESEC',
  'MINEDUB',
  'MINFI',
  'MINTP',
  'MINADER',
  'MINJUSTICE',
  'MINDEF',
  'MINREX',
  'MINEPAT',
  'MINCOM',
  'MINESUP',
  'MINAT',
  'MINPOSTEL',
  'MINTSS',
  'MINEE',
  'MINHDU',
  'MINCOMMERCE',
  'MINMIDT',
]);

describe('generateProfiles()', () => {
  const tenThousand = generateProfiles(10_000, { seed: 7 });

  it('returns the same profiles for the same seed', () => {
    expect(generateProfiles(200, { seed: 7 })).toEqual(tenThousand.slice(0, 200));
  });

  it('returns different profiles for a different seed', () => {
    const other = generateProfiles(200, { seed: 8 });
    expect(other.map((p) => p.fullName)).not.toEqual(tenThousand.slice(0, 200).map((p) => p.fullName));
  });

  it('makes 10,000 profiles that all pass profileFieldsSchema unchanged', () => {
    for (const { id: _id, ...fields } of tenThousand) {
      const parsed = profileFieldsSchema.safeParse(fields);
      expect(parsed.success ? parsed.data : parsed.error.issues).toEqual(fields);
    }
  });

  it('makes valid, unique ids that start with idPrefix and continue from startIndex', () => {
    const ids = generateProfiles(50, { idPrefix: 'seed_', startIndex: 100 }).map((p) => p.id);

    expect(new Set(ids).size).toBe(50);
    expect(ids[0]).toBe('seed_000101');
    expect(ids.every((id) => LIMITS.userIdPattern.test(id))).toBe(true);
  });

  it('passes the schema for any seed, prefix and count (property)', () => {
    fc.assert(
      fc.property(
        fc.integer(),
        fc.stringMatching(/^[A-Za-z0-9_-]{0,20}$/),
        fc.integer({ min: 0, max: 100 }),
        (seed, idPrefix, count) => {
          for (const { id, ...fields } of generateProfiles(count, { seed, idPrefix })) {
            expect(LIMITS.userIdPattern.test(id)).toBe(true);
            expect(profileFieldsSchema.safeParse(fields).success).toBe(true);
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it("uses only real ministry acronyms, teachers' ministries most", () => {
    const counts = new Map<string, number>();
    for (const p of tenThousand) counts.set(p.ministere, (counts.get(p.ministere) ?? 0) + 1);

    expect([...counts.keys()].every((m) => MINISTRIES.has(m))).toBe(true);
    expect(counts.size).toBe(MINISTRIES.size);
    const top = [...counts.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 2)
      .map(([m]) => m);
    expect(top.sort()).toEqual(['MINEDUB', 'MINESEC']);
  });

  it('gives about 10% of profiles no avatar and the others an avatars.ngomna.cm URL named after the id', () => {
    const empty = tenThousand.filter((p) => p.avatar === '').length / tenThousand.length;

    expect(empty).toBeGreaterThan(0.08);
    expect(empty).toBeLessThan(0.12);
    const withAvatar = tenThousand.find((p) => p.avatar !== '')!;
    expect(withAvatar.avatar).toBe(`https://avatars.ngomna.cm/${withAvatar.id}.jpg`);
  });

  it('writes Cameroonian names with their accents and apostrophes, and 712345-B style matricules', () => {
    const names = tenThousand.map((p) => p.fullName);

    expect(names.some((n) => n.includes('é'))).toBe(true);
    expect(names.some((n) => n.startsWith("Eto'o "))).toBe(true);
    expect(names.some((n) => n.startsWith('Bello '))).toBe(true);
    expect(names.some((n) => n.startsWith('Ndifor '))).toBe(true);
    expect(tenThousand.every((p) => /^[1-9][0-9]{5}-[A-Z]$/.test(p.matricule))).toBe(true);
  });
});

describe('seedProfiles()', () => {
  let db: TestDb;
  const prefix = `s${randomBytes(3).toString('hex')}_`;
  const now = Date.UTC(2026, 0, 15);
  const DAY = 86_400_000;

  beforeAll(async () => {
    db = await useTestDb();
  });
  afterAll(async () => {
    await db?.cleanup();
  });

  it('inserts 20,000 rows at version 1 without writing outbox rows', async () => {
    const { inserted } = await seedProfiles(db.sql, 20_000, {
      idPrefix: prefix,
      nowMs: now,
      activeShare: 0.3,
    });

    expect(inserted).toBe(20_000);
    const { rows } = await db.sql.query<{ n: number; v: number; o: number }>(
      `SELECT count(*)::int AS n, max(version)::int AS v, (SELECT count(*)::int FROM outbox) AS o
         FROM personnel WHERE id LIKE $1`,
      [`${prefix}%`],
    );
    expect(rows[0]).toEqual({ n: 20_000, v: 1, o: 0 });
  });

  it('gives about activeShare of the rows a last_active_at in the 7 days before nowMs', async () => {
    const { rows } = await db.sql.query<{ recent: number; future: number }>(
      `SELECT count(*) FILTER (WHERE last_active_at >= to_timestamp($2::float8 / 1000))::int AS recent,
              count(*) FILTER (WHERE last_active_at > to_timestamp($3::float8 / 1000))::int AS future
         FROM personnel WHERE id LIKE $1`,
      [`${prefix}%`, now - 7 * DAY, now],
    );

    expect(rows[0]!.recent / 20_000).toBeGreaterThan(0.28);
    expect(rows[0]!.recent / 20_000).toBeLessThan(0.32);
    expect(rows[0]!.future).toBe(0);
  });

  it('stores exactly the generated fields, readable through ProfileRepository', async () => {
    const generated = generateProfiles(20_000, { idPrefix: prefix });
    const sample = [generated[0]!, generated[9_999]!, generated[19_999]!];

    const found = await new ProfileRepository({ sql: db.sql }).getMany(sample.map((p) => p.id));

    for (const { id, ...fields } of sample) {
      expect(found.get(id)).toMatchObject({ userId: id, ...fields, version: 1, deletedAt: null });
    }
  });

  it('keeps existing ids when run again, inserting only new ones', async () => {
    const { inserted } = await seedProfiles(db.sql, 20_010, {
      idPrefix: prefix,
      nowMs: now,
      chunkSize: 7_000,
    });

    expect(inserted).toBe(10);
  });

  it('rejects an activeShare outside [0, 1]', async () => {
    await expect(seedProfiles(db.sql, 1, { activeShare: 1.5 })).rejects.toBeInstanceOf(RangeError);
  });
});
