/**
 * Which reads to record in the activity sorted set (the prewarmer's source). A ZADD for every read would
 * double the bill; remembering, per instance, when each user was last recorded keeps it to at most one per
 * user per interval, riding on the read's own pipeline. Only profiles that exist are recorded: a hit, or
 * a miss once its read-fill from PostgreSQL has written the profile (MARK_LIVE).
 */
import type { Redis } from '@upstash/redis';
import type { Clock } from '../ports.js';
import { KEY_LOCKING, script } from './scripts.js';

/** Users remembered per instance; the oldest are forgotten beyond this (bounded memory on warm Lambdas). */
const MAX_REMEMBERED = 50_000;

export class ActivityMarks {
  readonly #intervalMs: number | undefined;
  readonly #clock: Clock;
  readonly #seen = new Map<string, number>();

  /** `intervalMs` undefined: tracking is off and `take` returns nothing. */
  constructor(intervalMs: number | undefined, clock: Clock) {
    this.#intervalMs = intervalMs;
    this.#clock = clock;
  }

  /** `[userId, now]` for the ids not recorded within the interval; they count as recorded from now on. */
  take(ids: readonly string[]): Array<[string, number]> {
    if (this.#intervalMs === undefined) return [];
    const now = this.#clock();
    const marks: Array<[string, number]> = [];
    for (const id of ids) {
      const last = this.#seen.get(id);
      if (last !== undefined && now - last < this.#intervalMs) continue;
      this.#seen.set(id, now);
      marks.push([id, now]);
    }
    // Map keeps insertion order: the first keys are the oldest marks.
    while (this.#seen.size > MAX_REMEMBERED) {
      const oldest = this.#seen.keys().next().value;
      if (oldest === undefined) break;
      this.#seen.delete(oldest);
    }
    return marks;
  }

  /** Forgets marks whose ZADD did not reach Redis, so the next read records them again. */
  giveBack(marks: ReadonlyArray<[string, number]>): void {
    for (const [id] of marks) this.#seen.delete(id);
  }
}

/**
 * KEYS[1] the activity set, KEYS[2..] profile hashes; ARGV[1] the time (ms), ARGV[2..] their ids.
 * ZADDs only the ids whose hash is a live profile (`fullName` and `version`: never a negative entry, a
 * tombstone or a fence marker), so ids that do not exist never enter the set. Queued after the reads
 * (or after a read-fill's fenced write) in the same pipeline, it costs no extra round trip; Upstash bills
 * it as one command, like the variadic ZADD it replaces. Returns one 1/0 per id.
 */
export const MARK_LIVE = script(`${KEY_LOCKING}local out = {}
for i = 2, #KEYS do
  if redis.call('HEXISTS', KEYS[i], 'fullName') == 1 and redis.call('HEXISTS', KEYS[i], 'version') == 1 then
    redis.call('ZADD', KEYS[1], ARGV[1], ARGV[i])
    out[i - 1] = 1
  else
    out[i - 1] = 0
  end
end
return out
`);

/** The EVAL arguments of MARK_LIVE for `marks` (all taken at one `now`). */
export function markLiveArgs(
  activityKey: string,
  profileKey: (userId: string) => string,
  marks: ReadonlyArray<[string, number]>,
): { keys: string[]; args: string[] } {
  return {
    keys: [activityKey, ...marks.map(([id]) => profileKey(id))],
    args: [String(marks[0]?.[1] ?? 0), ...marks.map(([id]) => id)],
  };
}

/** The marks MARK_LIVE did not record (its reply `flags`), to give back; all of them on an error. */
export function unrecorded(
  marks: ReadonlyArray<[string, number]>,
  reply: { result: unknown; error?: string } | undefined,
): Array<[string, number]> {
  const flags = reply?.result;
  if (reply?.error || !Array.isArray(flags)) return [...marks];
  return marks.filter((_, i) => Number(flags[i]) !== 1);
}

/**
 * Removes members last read before `sinceMs` (ZREMRANGEBYSCORE), so the set holds at most one window of
 * users. The prewarm calls it at the start of every daily cycle whatever its source: with
 * `PREWARM_SOURCE=sql` nothing else would ever prune it, and one sorted set is one Upstash record
 * (100 MB cap). Returns how many were removed.
 */
export async function pruneActivity(
  redis: Pick<Redis, 'exec'>,
  key: string,
  sinceMs: number,
): Promise<number> {
  return Number(await redis.exec(['ZREMRANGEBYSCORE', key, '-inf', `(${sinceMs}`])) || 0;
}
