/**
 * Non-secret runtime settings, typed for the stack and mapped to the env vars that
 * `functions/commons/config.ts` parses. Only settings given here are set: config.ts owns the defaults, so
 * they live in one place.
 */
import type { LogLevel } from '../../functions/commons/config.js';
import { ConfigError } from '../../shared/errors.js';

/** Tuning knobs of the cache, the event stream, the prewarm and the audit. Every field is optional. */
export interface CacheSettings {
  /** Prefix of every Redis key (to share one Upstash database between stages). @default '' */
  readonly keyPrefix?: string;
  /**
   * Per-request Redis timeout in ms, for the API functions: the scheduled ones keep the 2000 their
   * rows in `FUNCTIONS` set. @default 250
   */
  readonly redisTimeoutMs?: number;
  /** Profile TTL in seconds. @default 604800 (7 days) */
  readonly ttlSeconds?: number;
  /** Random TTL spread as a fraction, so entries written together do not expire together. @default 0.05 */
  readonly ttlJitter?: number;
  /** TTL of "user does not exist" entries in seconds. @default 60 */
  readonly negativeTtlSeconds?: number;
  /** TTL of deletion tombstones in seconds. @default 604800 */
  readonly tombstoneTtlSeconds?: number;
  /** Redis stream of user events. @default 'events:users' */
  readonly eventsStream?: string;
  /** Consumer group of the poller. @default 'user-cache' */
  readonly eventsGroup?: string;
  /** Approximate hard cap of the stream (XADD MAXLEN ~). @default 1000000 */
  readonly eventsStreamMaxLen?: number;
  /** Profiles per prewarm batch. @default 500 */
  readonly prewarmBatchSize?: number;
  /** Pause between prewarm batches in ms (keeps Upstash throughput for live traffic). @default 1500 */
  readonly prewarmPauseMs?: number;
  /** Prewarm users active in the last N days. @default 7 */
  readonly prewarmWindowDays?: number;
  /** Where prewarm finds active users. @default 'activity' */
  readonly prewarmSource?: 'activity' | 'sql';
  /** A prewarm cycle not complete this many minutes after it began raises the alarm. @default 150 */
  readonly prewarmDeadlineMinutes?: number;
  /** Cached profiles the hourly audit compares with PostgreSQL per run. @default 15000 */
  readonly auditSampleSize?: number;
  /** Published outbox rows older than this many days are purged (hourly). @default 7 */
  readonly outboxRetentionDays?: number;
  /** Powertools log level. @default 'INFO' */
  readonly logLevel?: LogLevel;
}

const ENV_NAMES = {
  keyPrefix: 'CACHE_KEY_PREFIX',
  redisTimeoutMs: 'REDIS_TIMEOUT_MS',
  ttlSeconds: 'CACHE_TTL_SECONDS',
  ttlJitter: 'CACHE_TTL_JITTER',
  negativeTtlSeconds: 'CACHE_NEGATIVE_TTL_SECONDS',
  tombstoneTtlSeconds: 'CACHE_TOMBSTONE_TTL_SECONDS',
  eventsStream: 'EVENTS_STREAM',
  eventsGroup: 'EVENTS_GROUP',
  eventsStreamMaxLen: 'EVENTS_STREAM_MAX_LEN',
  prewarmBatchSize: 'PREWARM_BATCH_SIZE',
  prewarmPauseMs: 'PREWARM_PAUSE_MS',
  prewarmWindowDays: 'PREWARM_WINDOW_DAYS',
  prewarmSource: 'PREWARM_SOURCE',
  prewarmDeadlineMinutes: 'PREWARM_DEADLINE_MINUTES',
  auditSampleSize: 'AUDIT_SAMPLE_SIZE',
  outboxRetentionDays: 'OUTBOX_RETENTION_DAYS',
  logLevel: 'POWERTOOLS_LOG_LEVEL',
} as const satisfies Record<keyof CacheSettings, string>;

/**
 * Variables that would carry a secret value. Functions get secret ARNs and fetch values at init, so
 * these must never reach a function's configuration (readable by anyone with lambda:GetFunction).
 */
export const FORBIDDEN_ENV = ['UPSTASH_REDIS_REST_TOKEN', 'UPSTASH_REDIS_REST_URL', 'DATABASE_URL'] as const;

export function settingsToEnvironment(settings: CacheSettings = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, name] of Object.entries(ENV_NAMES)) {
    const value = settings[key as keyof CacheSettings];
    if (value !== undefined) env[name] = String(value);
  }
  return env;
}

/** Throws ConfigError when an environment would carry a secret value. */
export function assertNoSecretValues(env: Record<string, string>): void {
  for (const name of FORBIDDEN_ENV) {
    if (name in env) {
      throw new ConfigError(`${name} must not be set on a Lambda function: pass the secret's ARN instead`, {
        details: { variable: name },
      });
    }
  }
}
