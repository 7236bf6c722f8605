/**
 * The consumer-group commands the poller sends, with their raw RESP2 replies decoded (the client's
 * automatic deserialization is off). Every Redis failure comes out as `UserCacheError`, so the poller can
 * tell "Redis had trouble, retry" from a bug.
 * @see https://redis.io/docs/latest/develop/data-types/streams/#consumer-groups
 */

import type { Redis } from '@upstash/redis';
import { UserCacheError } from './errors.js';
import { isTimeoutError, safeErrorText } from './errorText.js';
import { deadLetterFields, decodeEntries, decodeReadGroup, type StreamEntry } from './streamEntries.js';
import { pruneConsumers, trimAcknowledged } from './streamTrim.js';

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
      if (!(error instanceof UserCacheError && error.message.includes('BUSYGROUP'))) throw error;
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
   * XACK `ack`, and moves `dead` to `deadStream` (XADD … MAXLEN ~ then XACK) in the same MULTI, so an
   * entry is never acknowledged without its dead-letter copy, nor copied twice by a retry.
   */
  async settle(
    ack: readonly string[],
    dead: readonly DeadLetter[],
    deadStream: string,
    deadMaxLen: number,
    now: number,
  ) {
    if (dead.length === 0) {
      if (ack.length > 0) await this.#cmd(['XACK', this.stream, this.group, ...ack]);
      return;
    }
    const tx = this.redis.multi();
    for (const d of dead) {
      const fields = deadLetterFields(d.entry, {
        reason: d.reason,
        stream: this.stream,
        deliveries: d.deliveries,
        now,
      });
      tx.xadd(deadStream, '*', fields, { trim: { type: 'MAXLEN', threshold: deadMaxLen, comparison: '~' } });
    }
    tx.xack(this.stream, this.group, [...ack, ...dead.map((d) => d.entry.id)]);
    await this.#call(() => tx.exec());
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

  /** Trims what every group acknowledged (see streamTrim.ts). */
  trim(): Promise<{ removed: number; floor: string | undefined }> {
    return this.#call(() => trimAcknowledged(this.redis, this.stream));
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
      throw new UserCacheError(timeout ? 'CACHE_TIMEOUT' : 'CACHE_UNAVAILABLE', message);
    }
  }
}
