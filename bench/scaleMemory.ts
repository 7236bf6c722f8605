/**
 * Redis bytes per cached profile, by `MEMORY USAGE` (SAMPLES 0: every field counted) on real hashes
 * written by `UserCache`. Redis keeps a small hash as a listpack only while every value is at most
 * `hash-max-listpack-value` (64) bytes: a longer avatar URL moves the hash to a hashtable, which costs
 * several times more. Upstash bills its own measure of data size, close to but not exactly this one.
 */
import type { Redis } from '@upstash/redis';
import type { createClient } from 'redis';
import { LIMITS } from '../shared/profile/schemas.js';
import { UserCache } from '../shared/userCache.js';
import { round } from './measure.js';

export interface MemoryRow {
  label: string;
  encoding: string;
  bytes: number;
  mbFor350k: number;
}

export async function measureProfileMemory(opts: {
  redis: Redis;
  raw: ReturnType<typeof createClient>;
  sample: number;
}): Promise<{ rows: MemoryRow[]; activityBytesPerMember: number; activityMembers: number }> {
  const { redis, raw, sample } = opts;
  const rows: MemoryRow[] = [];
  const seeded = Array.from({ length: sample }, (_, i) => `user:profile:a${String(i + 1).padStart(6, '0')}`);
  rows.push(await usage(raw, 'seed-sized (as seeded: ~37-char avatar URL)', seeded));

  const variants: Array<[string, (i: number) => { fullName: string; avatar: string }]> = [
    [
      'realistic (120-char avatar URL)',
      (i) => ({ fullName: 'Mbarga Atangana Jean-Pierre', avatar: avatarOf(i, 120) }),
    ],
    [
      `field limits (${LIMITS.fullNameMaxLength}-char name, ${LIMITS.avatarMaxLength}-char avatar URL)`,
      (i) => ({
        fullName: 'N'.repeat(LIMITS.fullNameMaxLength),
        avatar: avatarOf(i, LIMITS.avatarMaxLength),
      }),
    ],
  ];
  for (const [index, [label, fields]] of variants.entries()) {
    const cache = new UserCache({ redis, keyPrefix: `mem${index}:`, trackActivity: false });
    const ids = Array.from({ length: sample }, (_, i) => `m${String(i).padStart(6, '0')}`);
    // At the field limits 500 profiles are over Upstash's 1 MB request limit: 100 per write.
    for (let i = 0; i < ids.length; i += 100) {
      await cache.setMany(
        ids.slice(i, i + 100).map((userId, k) => ({
          userId,
          ...fields(i + k),
          matricule: '654321-K',
          ministere: 'MINFI',
          updatedAt: 1_764_000_000_000,
          version: 3,
        })),
      );
    }
    rows.push(
      await usage(
        raw,
        label,
        ids.map((id) => cache.keys.profile(id)),
      ),
    );
  }
  const activityMembers = Number(await raw.zCard('user:activity'));
  const activityBytes = Number(await raw.sendCommand(['MEMORY', 'USAGE', 'user:activity', 'SAMPLES', '0']));
  return {
    rows,
    activityBytesPerMember: activityMembers > 0 ? round(activityBytes / activityMembers, 1) : 0,
    activityMembers,
  };
}

function avatarOf(i: number, length: number): string {
  const base = `https://avatars.ngomna.cm/agents/${String(i).padStart(6, '0')}/photo-`;
  return `${base}${'x'.repeat(Math.max(0, length - base.length - 4))}.jpg`.slice(0, length);
}

async function usage(
  raw: ReturnType<typeof createClient>,
  label: string,
  keys: string[],
): Promise<MemoryRow> {
  let total = 0;
  for (const key of keys) total += Number(await raw.sendCommand(['MEMORY', 'USAGE', key, 'SAMPLES', '0']));
  const encoding = String(await raw.sendCommand(['OBJECT', 'ENCODING', keys[0] as string]));
  const bytes = Math.round(total / keys.length);
  return { label, encoding, bytes, mbFor350k: round((bytes * 350_000) / 1_000_000, 1) };
}
