/**
 * The consumer-group commands the poller sends, with their raw RESP2 replies decoded (the client's
 * automatic deserialization is off). Every Redis failure comes out as `UserCacheError`, so the poller can
 * tell "Redis had trouble, retry" from a bug.
 * @see https://redis.io/docs/latest/develop/data-types/streams/#consumer-groups
 */

import type { Redis } from '@upstash/redis';
import { UserCacheError } from '../errors.js';
import { isTimeoutError, redisErrorCode, safeErrorText } from '../redis/errorText.js';
import { deadLetterFields, decodeEntries, decodeReadGroup, type StreamEntry } from './entries.js';
import { pruneConsumers, type TrimResult, trimAcknowledged } from './trim.js';

/** The Redis commands the poller needs (an `@upstash/redis` client built by `createRedisClient`). */
export type StreamGroupRedis = Pick<Redis, 'exec' | 'multi' | 'evalsha' | 'eval'>;

export interface DeadLetter {
  entry: StreamEntry;
  reason: string;
  deliveries: number;
}

type Command = [string, ...string[]];

export class StreamGroup {
  constructor(
    readonly redis: StreamGroupRedis,
    readonly stream: string,
    readonly group: string,
    readonly consumer: string,
  ) {}

  /** XGROUP CREATE … MKSTREAM; an existing group (BUSYGROUP) is left as it is. */
  async ensure(startId: string): Promise<void> {
    try {
      await this.#cmd(['XGROUP', 'CREATE', this.stream, this.group, startId, 'MKSTREAM']);
    } catch (error) {
      if (!(error instanceof UserCacheError && error.redisCode === 'BUSYGROUP')) throw error;
    }
  }

  /** XREADGROUP … `>` without BLOCK (Upstash REST cannot block): new entries, or none. */
  async readNew(count: number): Promise<StreamEntry[]> {
    const { group, consumer, stream } = this;
    const args: Command = [
      'XREADGROUP',
      'GROUP',
      group,
      consumer,
      'COUNT',
      String(count),
      'STREAMS',
      stream,
      '>',
    ];
    return decodeReadGroup(await this.#cmd(args));
  }

  /**
   * Copies each of `dead` to `deadStream` (XADD … MAXLEN ~), then XACKs `ack` and the dead letters whose
   * copy was written. Never in one MULTI: Redis does not roll back, so a MULTI whose XADD fails at EXEC
   * (Upstash's record or request size limit, a wrong-type key) still runs its XACK and the entry is gone
   * without a copy (issue 9). A copy that fails is tried once more without the original fields (only
   * the metadata, `reason` and `userId`); when that fails too, the entry is not acknowledged and stays
   * pending for a later claim. A retry after a lost XACK reply may copy an entry twice: dead letters are
   * at least once, never lost.
   * Returns the dead letters left pending, with the error text of their copy.
   */
  async settle(
    ack: readonly string[],
    dead: readonly DeadLetter[],
    deadStream: string,
    deadMaxLen: number,
    now: number,
  ): Promise<Map<string, string>> {
    const kept = new Map<string, string>();
    const copied: string[] = [];
    for (const d of dead) {
      const meta = { reason: d.reason, stream: this.stream, deliveries: d.deliveries, now };
      const error = await this.#copy(deadStream, deadMaxLen, deadLetterFields(d.entry, meta)).catch(
        async () => {
          const { userId } = d.entry.fields ?? {};
          const slim = { id: d.entry.id, fields: { copy: 'partial', ...(userId ? { userId } : {}) } };
          return this.#copy(deadStream, deadMaxLen, deadLetterFields(slim, meta)).catch((e: unknown) =>
            e instanceof Error ? e.message : 'XADD failed',
          );
        },
      );
      if (typeof error === 'string') kept.set(d.entry.id, error);
      else copied.push(d.entry.id);
    }
    const ids = [...ack, ...copied];
    if (ids.length > 0) await this.#cmd(['XACK', this.stream, this.group, ...ids]);
    return kept;
  }

  /** One dead-letter XADD; resolves to undefined once Redis has it. */
  async #copy(deadStream: string, deadMaxLen: number, fields: Record<string, string>): Promise<undefined> {
    const flat = Object.entries(fields).flat();
    await this.#cmd(['XADD', deadStream, 'MAXLEN', '~', String(deadMaxLen), '*', ...flat]);
    return undefined;
  }

  /** Pending entries idle at least `minIdleMs`, from `start` (`-` or `(id`), with delivery counts. */
  async idlePending(
    minIdleMs: number,
    start: string,
    count: number,
  ): Promise<Array<{ id: string; deliveries: number }>> {
    const args: Command = [
      'XPENDING',
      this.stream,
      this.group,
      'IDLE',
      String(minIdleMs),
      start,
      '+',
      String(count),
    ];
    const rows = await this.#cmd(args);
    if (!Array.isArray(rows)) return [];
    return rows.map((row) => ({ id: String(row[0]), deliveries: Number(row[3]) }));
  }

  /**
   * XCLAIM with the same min-idle guard: an entry another poller claimed meanwhile is not taken. Entries
   * deleted from the stream are dropped from the pending list by Redis and not returned.
   */
  async claim(ids: readonly string[], minIdleMs: number): Promise<StreamEntry[]> {
    const args: Command = ['XCLAIM', this.stream, this.group, this.consumer, String(minIdleMs), ...ids];
    return decodeEntries(await this.#cmd(args));
  }

  /** Entries delivered to the group and not yet acknowledged. */
  async pendingCount(): Promise<number> {
    const summary = await this.#cmd(['XPENDING', this.stream, this.group]);
    return Array.isArray(summary) ? Number(summary[0]) || 0 : 0;
  }

  /** Trims what every live group acknowledged, this one always among them (see streamTrim.ts). */
  trim(): Promise<TrimResult> {
    return this.#call(() => trimAcknowledged(this.redis, this.stream, { group: this.group }));
  }

  /** Deletes consumers holding nothing: idle ones, and this one when `self` is set. */
  prune(minIdleMs: number, self = false): Promise<number> {
    const opts = { minIdleMs, ...(self ? { self: this.consumer } : {}) };
    return this.#call(() => pruneConsumers(this.redis, this.stream, this.group, opts));
  }

  #cmd(args: Command): Promise<unknown> {
    return this.#call(() => this.redis.exec<unknown>(args));
  }

  async #call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      // The text of a failed dead-letter XADD would otherwise carry the event's profile (PII), and the
      // poller logs this message.
      const message = safeErrorText(error, 1000);
      const timeout = isTimeoutError(error);
      throw new UserCacheError(timeout ? 'CACHE_TIMEOUT' : 'CACHE_UNAVAILABLE', message, {
        redisCode: redisErrorCode(error),
      });
    }
  }
}
