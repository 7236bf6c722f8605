/** Fenced cache writes and their encoding into FENCED_WRITE's KEYS/ARGV (see scripts.ts). */

import type { StoredProfile } from '../db/profileRepository.js';
import { ValidationError } from '../errors.js';
import { describeInteger, isIntegerIn } from '../options.js';
import { assertUserId, type UserProfile } from '../profile/model.js';
import { FENCED_WRITE_SLOTS } from './scripts.js';

export type CacheWrite =
  /** Cache this profile unless a newer version is cached. */
  | { kind: 'profile'; profile: UserProfile }
  /** Replace with a tombstone: the profile was deleted at `version`. */
  | { kind: 'deleted'; userId: string; version: number; deletedAt: number }
  /** Remember that PostgreSQL has no such id (version 0: any create overrides it). */
  | { kind: 'negative'; userId: string }
  /** Drop the data, keep the fence (the larger of the cached version and `version`, when given). */
  | { kind: 'invalidate'; userId: string; version?: number };

/**
 * `written`: applied. `stale`: a newer version was cached, nothing changed (the fence worked).
 * `noop`: an invalidation of an absent key. `wrongType`: the key holds something other than a hash (a
 * legacy or foreign writer); it was left alone, deterministically, so retrying cannot help.
 * `unavailable`: Redis could not be reached; nothing is known.
 */
export type WriteOutcome = 'written' | 'stale' | 'noop' | 'wrongType' | 'unavailable';

/** FENCED_WRITE's per-key reply codes (see scripts.ts); anything else is `unavailable`. */
export const OUTCOME_OF_CODE: Readonly<Record<number, WriteOutcome>> = {
  0: 'stale',
  1: 'written',
  2: 'noop',
  3: 'wrongType',
};

const KIND_CODE = { profile: 'p', deleted: 'd', negative: 'n', invalidate: 'i' } as const;

export interface EncodeContext {
  key(userId: string): string;
  now: number;
  ttl(kind: CacheWrite['kind']): number;
}

export function encodeWrites(
  entries: readonly CacheWrite[],
  ctx: EncodeContext,
): { keys: string[]; args: string[] } {
  const keys: string[] = [];
  const args: string[] = [];
  for (const entry of entries) {
    const userId = entry.kind === 'profile' ? entry.profile.userId : entry.userId;
    assertUserId(userId);
    keys.push(ctx.key(userId));
    const slots = slotsFor(entry, ctx.now);
    args.push(KIND_CODE[entry.kind], String(slots.version), String(ctx.ttl(entry.kind)), ...slots.fields);
  }
  return { keys, args };
}

function slotsFor(entry: CacheWrite, now: number): { version: number; fields: string[] } {
  switch (entry.kind) {
    case 'profile': {
      const p = entry.profile;
      return {
        version: p.version,
        fields: [p.fullName, p.avatar, p.matricule, p.ministere, String(p.updatedAt)],
      };
    }
    case 'deleted':
      // A tombstone below version 1 would slip under every fence and hide a live row: refuse it.
      return { version: checkVersion(entry.version, 1), fields: ['', '', '', '', String(entry.deletedAt)] };
    case 'negative':
      return { version: 0, fields: ['', '', '', '', String(now)] };
    case 'invalidate':
      return {
        version: entry.version === undefined ? -1 : checkVersion(entry.version, 0),
        fields: ['', '', '', '', String(now)],
      };
  }
}

/**
 * Throws the `ValidationError` that `encodeWrites` (and so `UserCache.write`) would throw for this entry,
 * without encoding anything: the poller checks entries one by one, so one bad entry cannot fail a batch.
 */
export function assertWritable(entry: CacheWrite): void {
  assertUserId(entry.kind === 'profile' ? entry.profile.userId : entry.userId);
  slotsFor(entry, 0);
}

function checkVersion(version: number, min: number): number {
  if (!isIntegerIn(version, { min })) {
    throw new ValidationError('INVALID_VERSION', `version must be ${describeInteger({ min })}`);
  }
  return version;
}

/** Keeps FENCED_WRITE's slot count and this encoder in step (5 field slots after kind, version, ttl). */
export const ENCODED_SLOTS = 3 + 5;
if (ENCODED_SLOTS !== FENCED_WRITE_SLOTS) throw new Error('FENCED_WRITE slot layout changed');

/**
 * The fenced write that makes the cache tell what PostgreSQL said about `userId`: the profile, a
 * tombstone for a soft-deleted row, a negative entry when there is no row. Written at the row's version,
 * so it is safe whenever it lands (the same reasoning as a read-fill).
 */
export function writeFromRow(userId: string, row: StoredProfile | null | undefined): CacheWrite {
  if (!row) return { kind: 'negative', userId };
  if (row.deletedAt !== null)
    return { kind: 'deleted', userId, version: row.version, deletedAt: row.deletedAt };
  const { deletedAt: _deletedAt, ...profile } = row;
  return { kind: 'profile', profile };
}

/**
 * The fenced write for a versionless event, from the row PostgreSQL has now. Like `writeFromRow`, except
 * for an id with no row: a negative entry is version 0 and the fence would reject it, leaving a
 * hard-deleted profile cached for its whole TTL (issue 9). An invalidation without a version drops
 * whatever is cached and keeps its fence; the deletion's own versioned event (written by the database's
 * change capture) follows through the outbox.
 */
export function eventWriteFromRow(userId: string, row: StoredProfile | null | undefined): CacheWrite {
  return row ? writeFromRow(userId, row) : { kind: 'invalidate', userId };
}
