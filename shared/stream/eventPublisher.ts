/**
 * Publishes outbox events to the `events:users` stream. The outbox row is written in the same PostgreSQL
 * statement as the profile change; this class moves it to Redis afterwards. It runs twice per event at
 * most in practice: right after the API's commit, and (if that failed) from the poller's relay step.
 * A duplicate stream entry is harmless: consumers apply events through the version fence.
 */

import type { Redis } from '@upstash/redis';
import { argsBytes, byteRanges, itemBudget, MAX_REQUEST_BYTES } from '../cache/requestSize.js';
import type { OutboxEvent, ProfileRepository } from '../db/profileRepository.js';
import { DEFAULT_EVENTS_STREAM } from '../defaults.js';
import { ConfigError, UserCacheError } from '../errors.js';
import { integerOption } from '../options.js';
import { isTimeoutError, redisErrorCode, safeErrorText } from '../redis/errorText.js';
import { DEFAULT_STREAM_MAX_LEN } from './bounds.js';
import { toStreamFields } from './events.js';

export { DEFAULT_STREAM_MAX_LEN, MAX_EVENT_ENTRY_BYTES, streamMaxLen } from './bounds.js';

/** The Redis commands the publisher needs (an `@upstash/redis` client built by `createRedisClient`). */
export type EventPublisherRedis = Pick<Redis, 'pipeline'>;

/** The outbox side of the repository. */
export type OutboxRepository = Pick<ProfileRepository, 'listUnpublished' | 'markPublished'>;

export interface EventPublisherOptions {
  redis: EventPublisherRedis;
  /**
   * Stream key (already prefixed for tests/tenants).
   * @default {@link DEFAULT_EVENTS_STREAM}
   */
  stream?: string;
  /**
   * Hard cap sent with every XADD as `MAXLEN ~`: the stream's bound whatever its consumers do (the poller
   * trims by MINID once every live group has read past an entry, which never drops unread events). Sized
   * in bytes: a stream is ONE Upstash record, refused past 100 MB (see DEFAULT_STREAM_MAX_LEN).
   * @default {@link DEFAULT_STREAM_MAX_LEN}
   */
  maxLen?: number;
  /** When set, `publish` marks the outbox rows it published. @default undefined (no marking) */
  repository?: OutboxRepository;
  /**
   * Largest HTTP request to send: a page of events is split into pipelines that fit (Upstash refuses
   * requests over 1 MB with `ERR max request size exceeded`).
   * @default 1000000 (MAX_REQUEST_BYTES)
   */
  maxRequestBytes?: number;
}

/** `"xadd","<stream>","MAXLEN","~","<n>","*",` and the brackets: generous for any stream name used here. */
const XADD_HEAD_BYTES = 256;

type PipelineReply = Array<{ result: unknown; error?: string }>;

export class EventPublisher {
  readonly stream: string;
  readonly #redis: EventPublisherRedis;
  readonly #maxLen: number;
  readonly #repository: OutboxRepository | undefined;
  readonly #maxRequestBytes: number;

  constructor(options: EventPublisherOptions) {
    this.#maxRequestBytes = options.maxRequestBytes ?? MAX_REQUEST_BYTES;
    this.#redis = options.redis;
    this.stream = options.stream ?? DEFAULT_EVENTS_STREAM;
    this.#maxLen = options.maxLen ?? DEFAULT_STREAM_MAX_LEN;
    this.#repository = options.repository;
    if (this.stream.length === 0) throw new ConfigError('stream must not be empty');
    integerOption('maxLen', this.#maxLen, { min: 1 });
    integerOption('maxRequestBytes', this.#maxRequestBytes, { min: 1 });
  }

  /**
   * XADDs every event in ONE pipelined request, in order, then marks the published outbox rows (when a
   * repository was given). Returns the stream ids, in event order. Throws `UserCacheError` when Redis
   * fails; rows that did not make it stay unpublished for the relay.
   */
  async publish(events: readonly OutboxEvent[]): Promise<string[]> {
    return this.#publish(events, this.#repository);
  }

  /**
   * The relay step (run by the poller): publishes unpublished outbox events, oldest first, in pages of
   * `limit` (one pipeline and one UPDATE each), and marks them. It keeps going while pages come back full,
   * up to `maxPages`: after a Redis outage the outbox holds every write of the outage, and the cache serves
   * their old versions until they are relayed, so draining 100 a second (one page per poller pause) would
   * stretch a 10 s outage into many more seconds of stale reads (the chaos run measured it). Each page
   * starts only before `until` (default: no limit).
   * Returns how many were published.
   */
  async publishPending(
    repository: OutboxRepository,
    limit: number,
    opts: { maxPages?: number; until?: number; clock?: () => number } = {},
  ): Promise<number> {
    const { maxPages = 20, until = Number.POSITIVE_INFINITY, clock = Date.now } = opts;
    let published = 0;
    // `until`: the poller's deadline. No new page starts after it, so a backlog never runs a Lambda past
    // its timeout (what is left waits for the next run).
    for (let page = 0; page < maxPages && clock() < until; page++) {
      const pending = await repository.listUnpublished(limit);
      published += (await this.#publish(pending, repository)).length;
      if (pending.length < limit) break;
    }
    return published;
  }

  async #publish(
    events: readonly OutboxEvent[],
    repository: OutboxRepository | undefined,
  ): Promise<string[]> {
    if (events.length === 0) return [];
    const fieldsOf = events.map((event) => toStreamFields({ ...event, eventId: event.outboxId }));
    // One pipeline per request-sized run of events (Upstash refuses requests over 1 MB), in order.
    const sizes = fieldsOf.map((fields) => argsBytes(Object.entries(fields).flat()) + XADD_HEAD_BYTES);
    const replies: PipelineReply = [];
    let failure: UserCacheError | undefined;
    for (const [start, end] of byteRanges(sizes, itemBudget(this.#maxRequestBytes))) {
      try {
        const p = this.#redis.pipeline();
        for (const fields of fieldsOf.slice(start, end)) {
          p.xadd(this.stream, '*', fields, {
            trim: { type: 'MAXLEN', threshold: this.#maxLen, comparison: '~' },
          });
        }
        replies.push(...((await p.exec({ keepErrors: true })) as PipelineReply));
      } catch (error) {
        const timeout = isTimeoutError(error);
        failure = new UserCacheError(
          timeout ? 'CACHE_TIMEOUT' : 'CACHE_UNAVAILABLE',
          // The text, not the error as `cause`: the client's error embeds the command, profiles included.
          `XADD to the events stream failed: ${safeErrorText(error)}`,
          {
            details: { stream: this.stream, events: events.length - start },
            redisCode: redisErrorCode(error),
          },
        );
        break;
      }
    }
    if (failure && replies.length === 0) throw failure;

    const published: Array<{ outboxId: string; streamId: string }> = [];
    let firstError: string | undefined;
    events.forEach((event, i) => {
      const reply = replies[i];
      if (reply === undefined && failure) return;
      if (!reply?.error && typeof reply?.result === 'string') {
        published.push({ outboxId: event.outboxId, streamId: reply.result });
      } else {
        firstError ??= reply?.error ?? 'XADD returned no stream id';
      }
    });
    // Mark what did reach the stream even when some entries failed, so the relay does not re-send them.
    if (repository) await repository.markPublished(published);
    if (failure) throw failure;
    if (firstError !== undefined) {
      throw new UserCacheError('CACHE_PROTOCOL', 'some events were not added to the stream', {
        details: { stream: this.stream, failed: events.length - published.length, error: firstError },
      });
    }
    return published.map((item) => item.streamId);
  }
}
