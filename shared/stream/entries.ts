/**
 * Pure helpers of the stream consumer: decoding raw RESP2 stream replies (the client's automatic
 * deserialization is off, so replies are nested arrays of strings) and turning one entry into the cache
 * write that applies it.
 */
import { assertWritable, type CacheWrite } from '../cache/writes.js';
import { ValidationError } from '../errors.js';
import { parseUserProfile } from '../profile/schemas.js';
import { parseStreamEntry } from './events.js';

/** One stream entry. `fields` is null when the entry was deleted from the stream while pending. */
export interface StreamEntry {
  id: string;
  fields: Record<string, string> | null;
}

/** What to do with one entry. */
export type EntryPlan =
  /**
   * `fromDatabase`: the event carries no version, so its content cannot be fenced; the consumer asks
   * PostgreSQL for the row and writes that instead (`write` is the invalidation used without a repository).
   */
  | { action: 'write'; write: CacheWrite; eventTimeMs: number; fromDatabase?: true }
  | { action: 'deadLetter'; reason: string }
  /** Well-formed but of a type we do not handle: acknowledge and count. */
  | { action: 'skip' }
  /** Deleted from the stream while pending: nothing left to apply, acknowledge. */
  | { action: 'gone' };

/** Entries of `[[id, [f1, v1, …]], …]` (XRANGE, XCLAIM, and each stream of XREADGROUP). */
export function decodeEntries(reply: unknown): StreamEntry[] {
  if (!Array.isArray(reply)) return [];
  const entries: StreamEntry[] = [];
  for (const item of reply) {
    if (!Array.isArray(item) || typeof item[0] !== 'string') continue;
    const flat: unknown = item[1];
    if (!Array.isArray(flat)) {
      entries.push({ id: item[0], fields: null });
      continue;
    }
    const fields: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) fields[String(flat[i])] = String(flat[i + 1]);
    entries.push({ id: item[0], fields });
  }
  return entries;
}

/** XREADGROUP's `[[stream, entries]]`, or null when nothing was delivered. */
export function decodeReadGroup(reply: unknown): StreamEntry[] {
  if (!Array.isArray(reply)) return [];
  return reply.flatMap((stream: unknown) => (Array.isArray(stream) ? decodeEntries(stream[1]) : []));
}

/** The millisecond part of a stream id: when Redis added the entry (an upper bound of the event's age). */
export function entryTimeMs(id: string): number {
  const ms = Number(id.split('-', 1)[0]);
  return Number.isSafeInteger(ms) ? ms : 0;
}

/**
 * Decides how to apply one entry:
 * - created/updated with version and payload → fenced profile write;
 * - deleted with version → tombstone;
 * - no version (producers such as the seed's auth service) → `fromDatabase`: the consumer writes the row
 *   PostgreSQL has now, at its version. A bare invalidation would keep only the OLD fence, and a write of
 *   an intermediate version still in flight (an outbox relay, a slow read-fill) could then land and stay
 *   for the whole TTL: the chaos run caught exactly that.
 * - older than `maxEventAgeMs` → invalidation that keeps the version fence. Tombstones and invalidation
 *   markers expire after the tombstone TTL, so an older event could otherwise resurrect a deleted profile.
 * Event time is `occurredAt`, or the entry id's time when the producer sent none (never earlier than the
 * real event, so the age check errs towards invalidating).
 */
export function planEntry(entry: StreamEntry, maxEventAgeMs: number, now: number): EntryPlan {
  if (entry.fields === null) return { action: 'gone' };
  try {
    const plan = planEvent(entry.id, entry.fields, maxEventAgeMs, now);
    // The cache's own checks, entry by entry: UserCache.write refuses a whole batch when one write is
    // invalid, and one bad entry must never hold up (or crash) the others (issue 9: an unsafe version).
    if (plan.action === 'write') assertWritable(plan.write);
    return plan;
  } catch (error) {
    if (error instanceof ValidationError)
      return { action: 'deadLetter', reason: `malformed: ${error.message}` };
    throw error;
  }
}

function planEvent(
  entryId: string,
  fields: Record<string, string>,
  maxEventAgeMs: number,
  now: number,
): EntryPlan {
  const event = parseStreamEntry(fields);
  if (event.type === 'unknown') return { action: 'skip' };
  const eventTimeMs = event.occurredAt ?? entryTimeMs(entryId);
  const { userId, version } = event;
  if (version !== undefined && now - eventTimeMs > maxEventAgeMs) {
    return { action: 'write', write: { kind: 'invalidate', userId, version }, eventTimeMs };
  }
  if (version === undefined) {
    return { action: 'write', write: { kind: 'invalidate', userId }, eventTimeMs, fromDatabase: true };
  }
  if (event.type === 'user.profile.deleted') {
    return {
      action: 'write',
      write: { kind: 'deleted', userId, version, deletedAt: eventTimeMs },
      eventTimeMs,
    };
  }
  // Validated here, one by one (a version of 0 passes the event parser but not this).
  const profile = parseUserProfile(event.profile);
  return { action: 'write', write: { kind: 'profile', profile }, eventTimeMs };
}

const META_FIELDS = new Set(['reason', 'sourceStream', 'sourceId', 'deliveries', 'deadLetteredAt']);

/**
 * Dead-letter entry: `reason`, `sourceStream`, `sourceId`, `deliveries`, `deadLetteredAt`, then the
 * original fields (one that collides with a meta field is kept as `orig.<name>`), so it can be replayed.
 */
export function deadLetterFields(
  entry: StreamEntry,
  meta: { reason: string; stream: string; deliveries: number; now: number },
): Record<string, string> {
  const fields: Record<string, string> = {
    reason: meta.reason.slice(0, 500),
    sourceStream: meta.stream,
    sourceId: entry.id,
    deliveries: String(meta.deliveries),
    deadLetteredAt: String(meta.now),
  };
  for (const [name, value] of Object.entries(entry.fields ?? {})) {
    fields[META_FIELDS.has(name) ? `orig.${name}` : name] = value;
  }
  return fields;
}

/** Nearest-rank percentile of `values` (sorted in place), or null when empty. */
export function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  values.sort((a, b) => a - b);
  const rank = Math.min(values.length, Math.max(1, Math.ceil((p / 100) * values.length)));
  return values[rank - 1] ?? null;
}

/** At most `max` values, evenly spread over `values` (kept in order). */
export function thin(values: readonly number[], max: number): number[] {
  if (values.length <= max) return [...values];
  const step = values.length / max;
  return Array.from({ length: max }, (_, i) => values[Math.floor(i * step)] as number);
}
