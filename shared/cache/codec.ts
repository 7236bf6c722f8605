/**
 * Hash layout of `user:profile:{userId}` and its decoding. The five seed fields keep their names and string
 * encodings so readers written for the original layout keep working; `version` is added beside them.
 *
 * | entry        | fields                                                         |
 * |--------------|----------------------------------------------------------------|
 * | profile      | fullName, avatar, matricule, ministere, updatedAt, version     |
 * | tombstone    | version, deletedAt                                             |
 * | negative     | version (= 0), missing (= "1")                                 |
 * | invalidated  | version, invalidatedAt                                         |
 */
import type { UserProfile } from '../profile/model.js';

/** What a cache lookup found. Expected outcomes are data, not exceptions. */
export type CacheLookup =
  | { status: 'hit'; profile: UserProfile }
  /**
   * Nothing usable cached (absent, invalidated, a legacy entry without a version, or an undecodable one,
   * then `corrupt: true`): ask PostgreSQL and refill. The fenced refill repairs a corrupt entry.
   */
  | { status: 'miss'; corrupt?: true }
  /** Cached knowledge that the id does not exist in PostgreSQL. */
  | { status: 'negative' }
  /** A versioned tombstone: the profile was deleted. Reported as absent to API callers. */
  | { status: 'deleted'; version: number }
  /** Redis failed, timed out, the circuit is open, or the entry was undecodable: the cache cannot say. */
  | { status: 'unknown'; reason: string };

/** Turns an HGETALL reply (flat `[field, value, …]`, `[]` when the key is absent) into a lookup. */
export function decodeEntry(userId: string, reply: unknown): CacheLookup {
  if (!Array.isArray(reply)) return { status: 'unknown', reason: 'HGETALL reply is not an array' };
  if (reply.length === 0) return { status: 'miss' };
  const fields = new Map<string, string>();
  for (let i = 0; i + 1 < reply.length; i += 2) {
    const field = reply[i];
    const value = reply[i + 1];
    if (typeof field !== 'string' || typeof value !== 'string') {
      return { status: 'miss', corrupt: true };
    }
    fields.set(field, value);
  }
  const version = toInt(fields.get('version'));
  // A hash written before versioning (or by a foreign writer) cannot be fenced: refill it from PostgreSQL.
  if (version === undefined) return { status: 'miss' };
  if (fields.has('deletedAt')) return { status: 'deleted', version };
  if (fields.get('missing') === '1') return { status: 'negative' };
  const fullName = fields.get('fullName');
  const avatar = fields.get('avatar');
  const matricule = fields.get('matricule');
  const ministere = fields.get('ministere');
  const updatedAt = toInt(fields.get('updatedAt'));
  if (fullName === undefined || avatar === undefined || matricule === undefined || ministere === undefined) {
    return { status: 'miss' };
  }
  if (updatedAt === undefined) return { status: 'miss', corrupt: true };
  return { status: 'hit', profile: { userId, fullName, avatar, matricule, ministere, updatedAt, version } };
}

function toInt(value: string | undefined): number | undefined {
  if (value === undefined || !/^-?\d{1,16}$/.test(value)) return undefined;
  return Number(value);
}
