/**
 * Options and report of `StreamConsumer`: documented once, defaults applied and validated in one place.
 */
import { randomUUID } from 'node:crypto';
import { maxSafeEventAgeMs } from '../cache/ttl.js';
import type { ProfileRepository } from '../db/profileRepository.js';
import {
  DEAD_LETTER_SUFFIX,
  DEFAULT_EVENTS_GROUP,
  DEFAULT_EVENTS_STREAM,
  DEFAULT_TOMBSTONE_TTL_SECONDS,
  DEFAULT_TTL_JITTER,
  DEFAULT_TTL_SECONDS,
} from '../defaults.js';
import { ConfigError } from '../errors.js';
import { integerOption } from '../options.js';
import type { Clock, LoggerPort } from '../ports.js';
import { LIMITS } from '../profile/schemas.js';
import type { HandoverLeasePort } from '../redis/lease.js';
import type { UserCache } from '../userCache.js';
import { DEFAULT_STREAM_MAX_LEN } from './bounds.js';
import type { StreamGroupRedis } from './group.js';

/** The Redis commands the consumer needs (an `@upstash/redis` client built by `createRedisClient`). */
export type StreamConsumerRedis = StreamGroupRedis;

export interface StreamConsumerOptions {
  redis: StreamConsumerRedis;
  /** Where events are applied: one `write` call per batch. */
  cache: Pick<UserCache, 'write'>;
  /** @default {@link DEFAULT_EVENTS_STREAM} */
  stream?: string;
  /** @default {@link DEFAULT_EVENTS_GROUP} */
  group?: string;
  /** Consumer name, unique per invocation (finished consumers are deleted). @default `poller-<uuid>` */
  consumer?: string;
  /** @default `${stream}${DEAD_LETTER_SUFFIX}` ({@link DEAD_LETTER_SUFFIX}) */
  deadLetterStream?: string;
  /**
   * Cap of the dead-letter stream (`MAXLEN ~`), one Upstash record too: the events stream's byte-sized cap.
   * @default {@link DEFAULT_STREAM_MAX_LEN}
   */
  deadLetterMaxLen?: number;
  /** Entries per XREADGROUP (and per claim page). At most 1000. @default 100 */
  count?: number;
  /** Entries pending longer than this belong to a dead consumer and are claimed. Redis' clock. @default 30000 */
  claimIdleMs?: number;
  /** An entry delivered this many times without an ack is dead-lettered at its next claim. @default 5 */
  maxDeliveries?: number;
  /**
   * Events older than this are applied as invalidations: the newer version's fence may have expired. Pass
   * `maxSafeEventAgeMs(ttls)` (cache/ttl.ts) of the cache's TTL settings; a larger value lets an aged
   * event roll a profile back. @default `maxSafeEventAgeMs` of the default TTLs (7 d × 0.95 minus 1 h)
   */
  maxEventAgeMs?: number;
  /**
   * Where a brand-new group starts. `0`: every entry already in the stream is applied (nothing published
   * before the first run is missed; the fence makes replays harmless). `$`: only new entries. @default '0'
   */
  startId?: '0' | '$';
  /** First idle pause; doubles up to `maxPauseMs` while nothing arrives. @default 50 */
  minPauseMs?: number;
  /** @default 1000 */
  maxPauseMs?: number;
  /** How often stale entries are claimed (and the lease renewed when due). @default 5000 */
  claimEveryMs?: number;
  /** How often acknowledged entries are trimmed and finished consumers pruned. @default 30000 */
  trimEveryMs?: number;
  /**
   * When set, `runFor` holds this lease: it waits (until its deadline) while another run holds it, hands
   * it over when a successor waits, and fences every cache write with it. `LeaseHeldError` when the
   * wait ends without it.
   */
  lease?: HandoverLeasePort;
  /**
   * The scheduler's period: the next run is due this long after this one started. From 90% of it on,
   * every step checks for a waiting successor (before, only each lease renewal does). Needs `lease`.
   * @default 0 (only at renewals)
   */
  periodMs?: number;
  /**
   * PostgreSQL, for events without a version: their rows are read (one query per batch) and written at
   * the database's version. Without it such events only invalidate, which leaves a window for an older
   * in-flight write (see streamEntries.ts). While PostgreSQL fails, those entries stay pending.
   * @default undefined
   */
  repository?: Pick<ProfileRepository, 'getMany'>;
  /** @default Date.now */
  clock?: Clock;
  /** @default a logger that drops everything */
  logger?: LoggerPort;
  /** @default setTimeout from node:timers/promises */
  sleep?: (ms: number) => Promise<void>;
}

export interface PollReport {
  /** Events written to the cache (invalidations of absent keys included). */
  applied: number;
  /** Events the fence rejected: the cache already held a newer version. */
  stale: number;
  deadLettered: number;
  unknownTypes: number;
  /** Entries taken over from dead consumers. */
  claimed: number;
  /** Entries pending in the group when the run ended (delivered, not yet acknowledged). */
  pending: number;
  /** Time from the event (or its XADD) to the cache write, ms; null when nothing was applied. */
  lagMs: { p50: number | null; p99: number | null };
  /** Per-event lags for metrics: all of them, or 1,000 evenly spread over the sorted lags when more. */
  lagSamplesMs: number[];
  /** Outbox events published by the relay step. */
  relayed: number;
  batches: number;
  trimmed: number;
  /** XLEN after the run's last trim; -1 when no trim ran. */
  streamLength: number;
  /** Age of the group's oldest pending entry at the last trim, ms; -1 when none pending or no trim ran. */
  oldestPendingAgeMs: number;
  /** Other groups the last trim left out of its floor: abandoned (streamTrim.ts). */
  groupsExcluded: number;
  /** Redis or relay failures the run survived. */
  errors: number;
  /** True when the lease was taken by someone else mid-run (this run then stopped early). */
  leaseLost: boolean;
  /** True when this run stopped early to hand the lease to a waiting successor. */
  handedOver: boolean;
  /** Time spent waiting for the lease before consuming (a predecessor finishing its batch). */
  waitedMs: number;
  durationMs: number;
}

/** Every option with its default, minus the injected ports. */
export type ResolvedConsumerOptions = Required<
  Omit<StreamConsumerOptions, 'redis' | 'cache' | 'lease' | 'repository' | 'clock' | 'logger' | 'sleep'>
>;

/** Applies defaults and throws `ConfigError` for an invalid value. */
export function resolveConsumerOptions(options: StreamConsumerOptions): ResolvedConsumerOptions {
  const stream = options.stream ?? DEFAULT_EVENTS_STREAM;
  const o: ResolvedConsumerOptions = {
    stream,
    group: options.group ?? DEFAULT_EVENTS_GROUP,
    consumer: options.consumer ?? `poller-${randomUUID()}`,
    deadLetterStream: options.deadLetterStream ?? `${stream}${DEAD_LETTER_SUFFIX}`,
    deadLetterMaxLen: options.deadLetterMaxLen ?? DEFAULT_STREAM_MAX_LEN,
    count: options.count ?? 100,
    claimIdleMs: options.claimIdleMs ?? 30_000,
    maxDeliveries: options.maxDeliveries ?? 5,
    maxEventAgeMs:
      options.maxEventAgeMs ??
      maxSafeEventAgeMs({
        ttlSeconds: DEFAULT_TTL_SECONDS,
        ttlJitter: DEFAULT_TTL_JITTER,
        tombstoneTtlSeconds: DEFAULT_TOMBSTONE_TTL_SECONDS,
      }),
    startId: options.startId ?? '0',
    minPauseMs: options.minPauseMs ?? 50,
    maxPauseMs: options.maxPauseMs ?? 1_000,
    claimEveryMs: options.claimEveryMs ?? 5_000,
    trimEveryMs: options.trimEveryMs ?? 30_000,
    periodMs: options.periodMs ?? 0,
  };
  for (const k of ['stream', 'group', 'consumer', 'deadLetterStream'] as const) {
    if (!o[k]) throw new ConfigError(`${k} must not be empty`);
  }
  if (o.startId !== '0' && o.startId !== '$') throw new ConfigError("startId must be '0' or '$'");
  integerOption('count', o.count, { min: 1, max: LIMITS.cacheBatchMax });
  for (const k of ['maxDeliveries', 'deadLetterMaxLen'] as const) integerOption(k, o[k], { min: 1 });
  for (const k of [
    'claimIdleMs',
    'maxEventAgeMs',
    'minPauseMs',
    'maxPauseMs',
    'claimEveryMs',
    'trimEveryMs',
    'periodMs',
  ] as const) {
    integerOption(k, o[k], { min: 0 });
  }
  return o;
}

export function emptyReport(): PollReport {
  return {
    applied: 0,
    stale: 0,
    deadLettered: 0,
    unknownTypes: 0,
    claimed: 0,
    pending: 0,
    lagMs: { p50: null, p99: null },
    lagSamplesMs: [],
    relayed: 0,
    batches: 0,
    trimmed: 0,
    streamLength: -1,
    oldestPendingAgeMs: -1,
    groupsExcluded: 0,
    errors: 0,
    leaseLost: false,
    handedOver: false,
    waitedMs: 0,
    durationMs: 0,
  };
}
