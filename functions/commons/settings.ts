/**
 * The ONE table of the functions' environment variables: name, default and allowed values. `config.ts`
 * parses the environment from it, the stack (`infra/`) names the variables it sets from it, and the
 * README's configuration table is rendered from it and from `settingDocs.ts` (`npm run docs:config`,
 * checked by test/configTable.test.ts). Every Lambda bundle includes this file, so the README's prose
 * lives in settingDocs.ts, which only the docs import (putUser's bundle is within 2 KB of its budget).
 */
import {
  DEFAULT_EVENTS_GROUP,
  DEFAULT_EVENTS_STREAM,
  DEFAULT_LOG_LEVEL,
  DEFAULT_NEGATIVE_TTL_SECONDS,
  DEFAULT_OUTBOX_RETENTION_DAYS,
  DEFAULT_PREWARM_BATCH_SIZE,
  DEFAULT_PREWARM_DEADLINE_MINUTES,
  DEFAULT_PREWARM_PAUSE_MS,
  DEFAULT_PREWARM_WINDOW_DAYS,
  DEFAULT_REDIS_TIMEOUT_MS,
  DEFAULT_STREAM_MAX_LEN,
  DEFAULT_TOMBSTONE_TTL_SECONDS,
  DEFAULT_TTL_JITTER,
  DEFAULT_TTL_SECONDS,
} from '../../shared/defaults.js';
import { LIMITS } from '../../shared/profile/schemas.js';
import { POLLER_SCHEDULE } from '../../shared/stream/pollerSchedule.js';
import { DEFAULT_METRICS_NAMESPACE, DEFAULT_SERVICE_NAME, STAGE_PATTERN } from './stage.js';

interface Described {
  /** The environment variable. */
  readonly env: string;
}

/** A whole number within `min`-`max` (decimal digits only: no sign, no exponent, no fraction). */
export interface IntSetting extends Described {
  readonly kind: 'int';
  readonly min: number;
  readonly max?: number;
  readonly default: number | undefined;
}

/** A decimal fraction in [0, 1). */
export interface FractionSetting extends Described {
  readonly kind: 'fraction';
  readonly default: number;
}

/** One of `values`, matched case-insensitively and returned in the case of `values`. */
export interface ChoiceSetting<V extends string = string> extends Described {
  readonly kind: 'choice';
  readonly values: readonly V[];
  readonly default: V | undefined;
}

/** Free text matching `pattern`; `rule` says it in words (error messages, README). */
export interface TextSetting extends Described {
  readonly kind: 'text';
  readonly pattern: RegExp;
  readonly rule: string;
  readonly default: string | undefined;
}

export type Setting = IntSetting | FractionSetting | ChoiceSetting | TextSetting;

/** Redis key, stream and group names and OAuth scopes: no whitespace (scope claims are space-separated). */
const NAME = { pattern: /^[\x21-\x7e]{1,200}$/, rule: '1-200 printable ASCII characters without spaces' };
const ARN = { pattern: /^arn:aws[a-z-]*:secretsmanager:[^\s]+$/, rule: 'a Secrets Manager ARN' };
const ANY = { pattern: /^[\s\S]+$/, rule: 'any text' };

/** Scheduled functions wait longer for Redis: their commands are big (see infra/functionTable.ts). */
export const SCHEDULED_REDIS_TIMEOUT_MS = 2_000;

/** Every variable the functions read, in the README's order. Keys are the stack's setting names. */
export const SETTINGS = {
  upstashUrl: {
    env: 'UPSTASH_REDIS_REST_URL',
    kind: 'text',
    pattern: /^https?:\/\/[^\s]+$/,
    rule: 'an http(s) URL',
    default: undefined,
  },
  upstashToken: {
    env: 'UPSTASH_REDIS_REST_TOKEN',
    kind: 'text',
    ...ANY,
    default: undefined,
  },
  upstashSecretArn: {
    env: 'UPSTASH_SECRET_ARN',
    kind: 'text',
    ...ARN,
    default: undefined,
  },
  databaseUrl: {
    env: 'DATABASE_URL',
    kind: 'text',
    pattern: /^postgres(ql)?:\/\/[^\s]+$/,
    rule: 'a postgres:// URL',
    default: undefined,
  },
  databaseSecretArn: {
    env: 'DATABASE_SECRET_ARN',
    kind: 'text',
    ...ARN,
    default: undefined,
  },
  databaseSsl: {
    env: 'DATABASE_SSL',
    kind: 'choice',
    values: ['require', 'disable'],
    default: undefined,
  },
  redisTimeoutMs: {
    env: 'REDIS_TIMEOUT_MS',
    kind: 'int',
    min: 1,
    max: 60_000,
    default: DEFAULT_REDIS_TIMEOUT_MS,
  },
  stage: {
    env: 'STAGE',
    kind: 'text',
    pattern: STAGE_PATTERN,
    rule: '1-20 characters of a-z 0-9 -, starting with a letter',
    default: undefined,
  },
  keyPrefix: {
    env: 'CACHE_KEY_PREFIX',
    kind: 'text',
    pattern: /^[A-Za-z0-9:_.-]{1,64}$/,
    rule: '1-64 characters of A-Z a-z 0-9 : _ . -',
    default: '',
  },
  ttlSeconds: {
    env: 'CACHE_TTL_SECONDS',
    kind: 'int',
    min: 1,
    default: DEFAULT_TTL_SECONDS,
  },
  ttlJitter: {
    env: 'CACHE_TTL_JITTER',
    kind: 'fraction',
    default: DEFAULT_TTL_JITTER,
  },
  negativeTtlSeconds: {
    env: 'CACHE_NEGATIVE_TTL_SECONDS',
    kind: 'int',
    min: 1,
    default: DEFAULT_NEGATIVE_TTL_SECONDS,
  },
  tombstoneTtlSeconds: {
    env: 'CACHE_TOMBSTONE_TTL_SECONDS',
    kind: 'int',
    min: 7_200,
    default: DEFAULT_TOMBSTONE_TTL_SECONDS,
  },
  eventsStream: {
    env: 'EVENTS_STREAM',
    kind: 'text',
    ...NAME,
    default: DEFAULT_EVENTS_STREAM,
  },
  eventsGroup: {
    env: 'EVENTS_GROUP',
    kind: 'text',
    ...NAME,
    default: DEFAULT_EVENTS_GROUP,
  },
  eventsStreamMaxLen: {
    env: 'EVENTS_STREAM_MAX_LEN',
    kind: 'int',
    min: 1,
    default: DEFAULT_STREAM_MAX_LEN,
  },
  pollerBudgetMs: {
    env: 'POLLER_BUDGET_MS',
    kind: 'int',
    min: 1,
    max: 900_000,
    default: POLLER_SCHEDULE.budgetMs,
  },
  prewarmBatchSize: {
    env: 'PREWARM_BATCH_SIZE',
    kind: 'int',
    min: 1,
    max: LIMITS.cacheBatchMax,
    default: DEFAULT_PREWARM_BATCH_SIZE,
  },
  prewarmPauseMs: {
    env: 'PREWARM_PAUSE_MS',
    kind: 'int',
    min: 0,
    max: 900_000,
    default: DEFAULT_PREWARM_PAUSE_MS,
  },
  prewarmWindowDays: {
    env: 'PREWARM_WINDOW_DAYS',
    kind: 'int',
    min: 1,
    max: 365,
    default: DEFAULT_PREWARM_WINDOW_DAYS,
  },
  prewarmSource: {
    env: 'PREWARM_SOURCE',
    kind: 'choice',
    values: ['activity', 'sql'],
    default: 'activity',
  },
  prewarmDeadlineMinutes: {
    env: 'PREWARM_DEADLINE_MINUTES',
    kind: 'int',
    min: 1,
    max: 1_440,
    default: DEFAULT_PREWARM_DEADLINE_MINUTES,
  },
  auditSampleSize: {
    env: 'AUDIT_SAMPLE_SIZE',
    kind: 'int',
    min: 1,
    max: 100_000,
    // 15,000 an hour: every one of 350,000 cached profiles is audited within a day (docs/scale.md).
    default: 15_000,
  },
  outboxRetentionDays: {
    env: 'OUTBOX_RETENTION_DAYS',
    kind: 'int',
    min: 1,
    max: 3_650,
    default: DEFAULT_OUTBOX_RETENTION_DAYS,
  },
  readScope: {
    env: 'AUTH_READ_SCOPE',
    kind: 'text',
    ...NAME,
    default: 'users.read',
  },
  writeScope: {
    env: 'AUTH_WRITE_SCOPE',
    kind: 'text',
    ...NAME,
    default: 'users.write',
  },
  logLevel: {
    env: 'POWERTOOLS_LOG_LEVEL',
    kind: 'choice',
    values: ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'CRITICAL', 'SILENT'],
    default: DEFAULT_LOG_LEVEL,
  },
  serviceName: {
    env: 'POWERTOOLS_SERVICE_NAME',
    kind: 'text',
    ...NAME,
    default: DEFAULT_SERVICE_NAME,
  },
  metricsNamespace: {
    env: 'POWERTOOLS_METRICS_NAMESPACE',
    kind: 'text',
    ...NAME,
    default: DEFAULT_METRICS_NAMESPACE,
  },
  metricsDisabled: {
    env: 'POWERTOOLS_METRICS_DISABLED',
    kind: 'choice',
    values: ['true', 'false', '1', '0'],
    default: 'false',
  },
  secretsExtensionPort: {
    env: 'PARAMETERS_SECRETS_EXTENSION_HTTP_PORT',
    kind: 'int',
    min: 1,
    max: 65_535,
    default: 2_773,
  },
  sessionToken: {
    env: 'AWS_SESSION_TOKEN',
    kind: 'text',
    ...ANY,
    default: undefined,
  },
} as const satisfies Record<string, Setting>;

export type SettingName = keyof typeof SETTINGS;
