/**
 * Deterministic, realistic test data: civil servants with Cameroonian names, matricules and ministries.
 * Same `seed` and `count` → same profiles, so benchmarks and bug reports can be replayed.
 */

import type { Sql } from '../shared/db/sql.js';
import type { ProfileFields } from '../shared/profile/schemas.js';
import { AREAS, MINISTRIES } from './seedNames.js';

const MINISTRY_TOTAL = MINISTRIES.reduce((sum, [, weight]) => sum + weight, 0);
const MATRICULE_LETTERS = 'ABCDEFGHJKLMNPRSTVWXYZ';

export interface GenerateOptions {
  /** PRNG seed. @default 42 */
  seed?: number;
  /** Prefix of every id (`<prefix>000001`…); use a random one in tests. @default 'u' */
  idPrefix?: string;
  /** Index of the first id, to extend an existing data set. @default 0 */
  startIndex?: number;
}

export type GeneratedProfile = { id: string } & ProfileFields;

/** `count` profiles, identical for identical options. Every one passes `profileFieldsSchema`. */
export function generateProfiles(count: number, opts: GenerateOptions = {}): GeneratedProfile[] {
  const random = mulberry32(opts.seed ?? 42);
  const prefix = opts.idPrefix ?? 'u';
  const start = opts.startIndex ?? 0;
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const profiles: GeneratedProfile[] = [];
  for (let i = 0; i < count; i++) {
    const id = `${prefix}${String(start + i + 1).padStart(6, '0')}`;
    const area = pick(AREAS);
    const family = pick(area.families);
    const first = pick(area.firsts);
    const second = random() < 0.25 ? pick(area.firsts) : first;
    // Civil-service lists write the family name first, as on the payslip.
    const names = [family, first, ...(second === first ? [] : [second])].filter(
      (n, k, all) => all.indexOf(n) === k,
    );
    const fullName = names.join(' ');
    const digits = String(100000 + Math.floor(random() * 900000));
    const matricule = `${digits}-${pick([...MATRICULE_LETTERS])}`;
    const avatar = random() < 0.1 ? '' : `https://avatars.ngomna.cm/${id}.jpg`;
    profiles.push({ id, fullName, avatar, matricule, ministere: pickWeighted(random()) });
  }
  return profiles;
}

export interface SeedOptions extends GenerateOptions {
  /** Share of rows with `last_active_at` in the last 7 days; the rest are older or never active. @default 0.3 */
  activeShare?: number;
  /** "Now" for `last_active_at`, epoch ms. @default Date.now() */
  nowMs?: number;
  /** Rows per INSERT statement. @default 5000 */
  chunkSize?: number;
}

const DAY_MS = 86_400_000;

/**
 * Bulk-inserts `count` generated profiles (version 1). Existing ids are left alone, so re-running is
 * harmless. Returns the number of rows inserted. The database's change capture writes a `created` outbox
 * row for each (every writer's change gets one); the seed deletes those at once, since seeding is not a
 * user change: its ids are new (nothing can be cached for them but a negative entry, which expires within
 * a minute) and relaying 20,000 events would only make the poller re-cache what the prewarm writes.
 */
export async function seedProfiles(
  sql: Sql,
  count: number,
  opts: SeedOptions = {},
): Promise<{ inserted: number }> {
  const activeShare = opts.activeShare ?? 0.3;
  if (!(activeShare >= 0 && activeShare <= 1)) throw new RangeError('activeShare must be between 0 and 1');
  const now = opts.nowMs ?? Date.now();
  const chunkSize = opts.chunkSize ?? 5000;
  const profiles = generateProfiles(count, opts);
  // A separate stream so activity does not shift the profiles generated for a given seed.
  const random = mulberry32((opts.seed ?? 42) ^ 0x5eed);
  let inserted = 0;
  for (let offset = 0; offset < profiles.length; offset += chunkSize) {
    const chunk = profiles.slice(offset, offset + chunkSize);
    const activeAt = chunk.map(() => {
      if (random() < activeShare) return now - Math.floor(random() * 7 * DAY_MS);
      return random() < 0.5 ? null : now - 8 * DAY_MS - Math.floor(random() * 180 * DAY_MS);
    });
    // One statement per chunk: arrays as parameters keep the SQL constant (no giant VALUES list).
    const { rows } = await sql.query<{ n: unknown }>(
      `WITH ins AS (
         INSERT INTO personnel (id, full_name, avatar_url, matricule, ministere, last_active_at)
         SELECT id, full_name, avatar_url, matricule, ministere, to_timestamp(active_ms / 1000)
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::float8[])
             AS t(id, full_name, avatar_url, matricule, ministere, active_ms)
         ON CONFLICT (id) DO NOTHING
         RETURNING 1
       ) SELECT count(*)::int AS n FROM ins`,
      [
        chunk.map((p) => p.id),
        chunk.map((p) => p.fullName),
        chunk.map((p) => p.avatar),
        chunk.map((p) => p.matricule),
        chunk.map((p) => p.ministere),
        activeAt,
      ],
    );
    inserted += Number(rows[0]?.n ?? 0);
    await sql.query(
      `DELETE FROM outbox WHERE published_at IS NULL
          AND event_type = 'user.profile.created' AND version = 1 AND user_id = ANY($1::text[])`,
      [chunk.map((p) => p.id)],
    );
  }
  return { inserted };
}

function pickWeighted(r: number): string {
  let threshold = r * MINISTRY_TOTAL;
  for (const [name, weight] of MINISTRIES) {
    threshold -= weight;
    if (threshold < 0) return name;
  }
  return MINISTRIES[0]![0];
}

/** Small, fast, seedable PRNG (32-bit state); `Math.random` cannot be seeded. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
