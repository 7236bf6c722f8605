/**
 * EventProducer: how a service outside this app (the seed's auth-user-service) announces a profile change
 * on `events:users` itself, after committing it to PostgreSQL.
 *
 * Every event it sends is VERSIONED: it carries the row's PostgreSQL `version` after the change (and, for
 * created/updated, the whole profile), so the poller applies it through the cache's version fence. A
 * versionless seed-style event (`event updated userId x`) makes the poller read the row back from
 * PostgreSQL instead; that works, but costs a query per batch and needs the poller to have a repository.
 *
 * Before anything is sent, the event is checked by the very function the poller uses to plan an entry
 * (`planEntry`): what this class accepts, the poller applies; what it refuses would have been
 * dead-lettered. The XADD itself is `EventPublisher`'s (one pipelined request, `MAXLEN ~` cap).
 */
import { randomUUID } from 'node:crypto';
import type { OutboxEvent } from '../db/profileRepository.js';
import { ValidationError } from '../errors.js';
import { describeInteger, isIntegerIn } from '../options.js';
import type { Clock } from '../ports.js';
import type { UserProfile } from '../profile/schemas.js';
import { planEntry } from './entries.js';
import { EventPublisher, type EventPublisherRedis } from './eventPublisher.js';
import { toStreamFields, type UserEventType } from './events.js';

/** One committed change. `version` is the row's version AFTER the change (PostgreSQL's `version` column). */
export type ProfileChange =
  | {
      type: Extract<UserEventType, 'user.profile.created' | 'user.profile.updated'>;
      /** The row as committed: every field, its new `version` and `updatedAt`. */
      profile: UserProfile;
      /** Commit time, epoch ms (the poller's lag metric). @default the clock's now */
      occurredAt?: number;
      /** Your id for the change, for tracing (dead letters keep it). @default a random UUID */
      eventId?: string;
    }
  | {
      type: Extract<UserEventType, 'user.profile.deleted'>;
      userId: string;
      /** The row's version after the delete (a delete increments it too). */
      version: number;
      /** @default the clock's now */
      occurredAt?: number;
      /** @default a random UUID */
      eventId?: string;
    };

export interface EventProducerOptions {
  /** An `@upstash/redis` client (`createRedisClient`); only `pipeline` is used. */
  redis: EventPublisherRedis;
  /**
   * Stream key: the one the poller reads.
   * @default {@link DEFAULT_EVENTS_STREAM} (shared/defaults.ts)
   */
  stream?: string;
  /**
   * `MAXLEN ~` cap sent with every XADD (a safety net; the poller trims what every group has read).
   * @default {@link DEFAULT_STREAM_MAX_LEN} (shared/defaults.ts)
   */
  maxLen?: number;
  /** Source of `occurredAt` when a change has none. @default Date.now */
  clock?: Clock;
}

export class EventProducer {
  readonly #publisher: EventPublisher;
  readonly #clock: Clock;

  constructor(options: EventProducerOptions) {
    // Stream and cap defaults (and their validation) are EventPublisher's: written once.
    this.#publisher = new EventPublisher({
      redis: options.redis,
      ...(options.stream === undefined ? {} : { stream: options.stream }),
      ...(options.maxLen === undefined ? {} : { maxLen: options.maxLen }),
    });
    this.#clock = options.clock ?? Date.now;
  }

  /** The stream this producer writes to. */
  get stream(): string {
    return this.#publisher.stream;
  }

  /** Validates and XADDs one change; returns its stream id. */
  async publish(change: ProfileChange): Promise<string> {
    const [id] = await this.publishMany([change]);
    return id as string;
  }

  /**
   * Validates every change, then XADDs them all in ONE request, in order; returns their stream ids.
   * Throws `ValidationError` before sending anything when one change is invalid, and `UserCacheError`
   * when Redis fails (then nothing, or only a prefix, was added: publishing again is harmless, the
   * version fence drops duplicates).
   */
  async publishMany(changes: readonly ProfileChange[]): Promise<string[]> {
    const now = this.#clock();
    const events = changes.map((change, index) => toOutboxEvent(change, now, index));
    return this.#publisher.publish(events);
  }
}

function toOutboxEvent(change: ProfileChange, now: number, index: number): OutboxEvent {
  const deleted = change.type === 'user.profile.deleted';
  const userId = deleted ? change.userId : change.profile?.userId;
  const version = deleted ? change.version : change.profile?.version;
  // The stream carries decimal text; beyond 2^53 two versions would share one text and the fence
  // could no longer order them.
  if (!isIntegerIn(version, { min: 1 })) {
    throw new ValidationError('INVALID_VERSION', `version must be ${describeInteger({ min: 1 })}`, { index });
  }
  const event: OutboxEvent = {
    outboxId: change.eventId ?? randomUUID(),
    type: change.type,
    userId: userId as string,
    version: version as number,
    occurredAt: change.occurredAt ?? now,
    profile: deleted ? null : change.profile,
  };
  const fields = toStreamFields({ ...event, eventId: event.outboxId });
  // Exactly what the poller will do with the entry (maxEventAgeMs Infinity: age is the poller's call).
  const plan = planEntry({ id: `${now}-0`, fields }, Number.POSITIVE_INFINITY, now);
  if (plan.action === 'deadLetter')
    throw new ValidationError('INVALID_EVENT', plan.reason, { index, type: change.type });
  if (plan.action !== 'write' || plan.write.kind === 'invalidate')
    throw new ValidationError('INVALID_EVENT', 'the poller would not apply this event as a fenced write', {
      index,
      type: change.type,
    });
  return event;
}
