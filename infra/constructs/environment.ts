/**
 * Non-secret runtime settings, typed for the stack and mapped to the env vars that
 * `functions/commons/config.ts` parses, by the names in `functions/commons/settings.ts`. Only settings given
 * here are set: the functions apply the table's defaults, so they live in one place.
 */
import type { LogLevel } from '../../functions/commons/config.js';
import { SCHEDULED_REDIS_TIMEOUT_MS, SETTINGS, type SettingName } from '../../functions/commons/settings.js';
// For the {@link defaults.…} tags below: the values live in shared/defaults.ts only.
import type * as defaults from '../../shared/defaults.js';
import { ConfigError } from '../../shared/errors.js';

/**
 * Tuning knobs of the cache, the event stream, the prewarm and the audit. Every field is optional; each
 * maps to the `SETTINGS` entry of the same name (its variable, default and allowed values).
 */
export interface CacheSettings {
  /** Prefix of every Redis key (to share one Upstash database between stages). @default the stage's `<stage>:` */
  readonly keyPrefix?: string;
  /**
   * Per-request Redis timeout in ms, for the API functions: the scheduled ones keep their
   * {@link SCHEDULED_REDIS_TIMEOUT_MS}. @default {@link defaults.DEFAULT_REDIS_TIMEOUT_MS}
   */
  readonly redisTimeoutMs?: number;
  /** Profile TTL in seconds. @default {@link defaults.DEFAULT_TTL_SECONDS} (7 days) */
  readonly ttlSeconds?: number;
  /** Random TTL spread as a fraction, so entries written together do not expire together. @default {@link defaults.DEFAULT_TTL_JITTER} */
  readonly ttlJitter?: number;
  /** TTL of "user does not exist" entries in seconds. @default {@link defaults.DEFAULT_NEGATIVE_TTL_SECONDS} */
  readonly negativeTtlSeconds?: number;
  /** TTL of deletion tombstones in seconds. @default {@link defaults.DEFAULT_TOMBSTONE_TTL_SECONDS} */
  readonly tombstoneTtlSeconds?: number;
  /** Redis stream of user events. @default the stage's `<stage>:` + {@link defaults.DEFAULT_EVENTS_STREAM} */
  readonly eventsStream?: string;
  /** Consumer group of the poller. @default {@link defaults.DEFAULT_EVENTS_GROUP} + `-<stage>` */
  readonly eventsGroup?: string;
  /** Approximate hard cap of the stream (XADD MAXLEN ~). @default {@link defaults.DEFAULT_STREAM_MAX_LEN} */
  readonly eventsStreamMaxLen?: number;
  /** Profiles per prewarm batch. @default {@link defaults.DEFAULT_PREWARM_BATCH_SIZE} */
  readonly prewarmBatchSize?: number;
  /** Pause between prewarm batches in ms (keeps Upstash throughput for live traffic). @default {@link defaults.DEFAULT_PREWARM_PAUSE_MS} */
  readonly prewarmPauseMs?: number;
  /** Prewarm users active in the last N days. @default {@link defaults.DEFAULT_PREWARM_WINDOW_DAYS} */
  readonly prewarmWindowDays?: number;
  /** Where prewarm finds active users. @default `SETTINGS.prewarmSource.default` */
  readonly prewarmSource?: (typeof SETTINGS.prewarmSource.values)[number];
  /** A prewarm cycle not complete this many minutes after it began raises the alarm. @default {@link defaults.DEFAULT_PREWARM_DEADLINE_MINUTES} */
  readonly prewarmDeadlineMinutes?: number;
  /** Cached profiles the hourly audit compares with PostgreSQL per run. @default `SETTINGS.auditSampleSize.default` */
  readonly auditSampleSize?: number;
  /** Published outbox rows older than this many days are purged (hourly). @default {@link defaults.DEFAULT_OUTBOX_RETENTION_DAYS} */
  readonly outboxRetentionDays?: number;
  /** Powertools log level. @default {@link defaults.DEFAULT_LOG_LEVEL} */
  readonly logLevel?: LogLevel;
}

// Every knob is a row of the settings table (a key that is not fails to compile).
const KNOBS = [
  'keyPrefix',
  'redisTimeoutMs',
  'ttlSeconds',
  'ttlJitter',
  'negativeTtlSeconds',
  'tombstoneTtlSeconds',
  'eventsStream',
  'eventsGroup',
  'eventsStreamMaxLen',
  'prewarmBatchSize',
  'prewarmPauseMs',
  'prewarmWindowDays',
  'prewarmSource',
  'prewarmDeadlineMinutes',
  'auditSampleSize',
  'outboxRetentionDays',
  'logLevel',
] as const satisfies readonly (keyof CacheSettings & SettingName)[];

/**
 * Variables that would carry a secret value. Functions get secret ARNs and fetch values at init, so
 * these must never reach a function's configuration (readable by anyone with lambda:GetFunction).
 */
export const FORBIDDEN_ENV = [
  SETTINGS.upstashToken.env,
  SETTINGS.upstashUrl.env,
  SETTINGS.databaseUrl.env,
] as const;

export function settingsToEnvironment(settings: CacheSettings = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of KNOBS) {
    const value = settings[key];
    if (value !== undefined) env[SETTINGS[key].env] = String(value);
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
