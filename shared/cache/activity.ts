/**
 * Which reads to record in the activity sorted set (the prewarmer's source). A ZADD for every read would
 * double the bill; remembering, per instance, when each user was last recorded keeps it to at most one per
 * user per interval, riding on the read's own pipeline.
 */
import type { Clock } from '../ports.js';

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
