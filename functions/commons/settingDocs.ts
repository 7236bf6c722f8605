/**
 * The README's words for each setting of `settings.ts`: its Meaning column and, where the value alone does
 * not say it (derived or per-function), its Default column. Kept apart from the table so Lambda bundles do
 * not carry prose; `satisfies` makes a setting without words (or words without a setting) a compile error.
 */
import {
  DEFAULT_EVENTS_GROUP,
  DEFAULT_EVENTS_STREAM,
  DEFAULT_REDIS_TIMEOUT_MS,
  DEFAULT_STREAM_MAX_LEN,
} from '../../shared/defaults.js';
import { POLLER_SCHEDULE } from '../../shared/stream/pollerSchedule.js';
import { SCHEDULED_REDIS_TIMEOUT_MS, type SettingName } from './settings.js';
import { DEFAULT_METRICS_NAMESPACE, DEFAULT_SERVICE_NAME } from './stage.js';

export interface SettingDoc {
  /** One line for the README's Meaning column (its Allowed column comes from the setting's kind and limits). */
  readonly meaning: string;
  /** The README's Default column when the value alone does not say it. @default the setting's value */
  readonly defaultText?: string;
}

export const SETTING_DOCS = {
  upstashUrl: {
    meaning: 'Upstash REST URL (local/dev); with the token, or `UPSTASH_SECRET_ARN` instead',
  },
  upstashToken: {
    meaning: 'Upstash REST token (local/dev)',
  },
  upstashSecretArn: {
    meaning: 'Upstash secret (AWS; JSON `{"url","token"}`): one of ARN or URL+token',
  },
  databaseUrl: {
    defaultText: '— (PGlite in `.local/` for `npm start`)',
    meaning: 'PostgreSQL URL (local/dev)',
  },
  databaseSecretArn: {
    meaning:
      'PostgreSQL secret (AWS; RDS-style JSON): one of ARN or URL (not needed by `GET /cache/stats`: the pool is built on first use)',
  },
  databaseSsl: {
    defaultText: '`require` with a secret, else `disable`',
    meaning: 'PostgreSQL TLS',
  },
  redisTimeoutMs: {
    defaultText: `${DEFAULT_REDIS_TIMEOUT_MS} (${SCHEDULED_REDIS_TIMEOUT_MS} on scheduled functions)`,
    meaning: 'Redis per-request timeout (ms)',
  },
  stage: {
    meaning: `Deployment stage (set by the stack); when set, the defaults of the key prefix (\`<stage>:\`), events stream (\`<stage>:${DEFAULT_EVENTS_STREAM}\`), consumer group (\`${DEFAULT_EVENTS_GROUP}-<stage>\`), service name (\`${DEFAULT_SERVICE_NAME}-<stage>\`) and metrics namespace (\`${DEFAULT_METRICS_NAMESPACE}/<stage>\`) follow it (\`functions/commons/stage.ts\`)`,
  },
  keyPrefix: {
    defaultText: "`''` (`<stage>:` with `STAGE`)",
    meaning: 'Cache key prefix',
  },
  ttlSeconds: {
    meaning:
      'Profile TTL (s); TTL × (1 − jitter) must be at least 7200 (it bounds how late an event may be applied as data)',
  },
  ttlJitter: {
    meaning: 'TTL jitter (fraction of the TTL)',
  },
  negativeTtlSeconds: {
    meaning: 'Negative entry TTL (s)',
  },
  tombstoneTtlSeconds: {
    meaning:
      'Tombstone TTL (s); events older than the shorter of this and the shortest profile TTL, minus 1 h, are applied as invalidations',
  },
  eventsStream: {
    defaultText: `\`${DEFAULT_EVENTS_STREAM}\` (\`<stage>:${DEFAULT_EVENTS_STREAM}\` with \`STAGE\`)`,
    meaning: 'Events stream name',
  },
  eventsGroup: {
    defaultText: `\`${DEFAULT_EVENTS_GROUP}\` (\`${DEFAULT_EVENTS_GROUP}-<stage>\` with \`STAGE\`)`,
    meaning: 'Consumer group name',
  },
  eventsStreamMaxLen: {
    defaultText: `${DEFAULT_STREAM_MAX_LEN} (50 MB of the largest entries)`,
    meaning: 'Stream safety cap (`MAXLEN ~`)',
  },
  pollerBudgetMs: {
    defaultText: `${POLLER_SCHEDULE.budgetMs} (the stack sets it from \`shared/stream/pollerSchedule.ts\`)`,
    meaning: 'Poller loop budget (ms)',
  },
  prewarmBatchSize: {
    meaning: 'Prewarm batch size',
  },
  prewarmPauseMs: {
    meaning: 'Prewarm pause between batches (ms)',
  },
  prewarmWindowDays: {
    meaning: 'Prewarm activity window (days)',
  },
  prewarmSource: {
    meaning: 'Prewarm source',
  },
  prewarmDeadlineMinutes: {
    meaning: 'Prewarm cycle deadline (minutes after its first run; then `PrewarmUncovered` is reported)',
  },
  auditSampleSize: {
    meaning: 'Audit sample size (per hourly run)',
  },
  outboxRetentionDays: {
    meaning: 'Outbox retention of published rows (days)',
  },
  readScope: {
    meaning: 'Read scope name',
  },
  writeScope: {
    meaning: 'Write scope name',
  },
  logLevel: {
    meaning:
      'Log level (same names as Powertools; the functions print its JSON log and EMF shapes themselves)',
  },
  serviceName: {
    defaultText: `\`${DEFAULT_SERVICE_NAME}\` (\`${DEFAULT_SERVICE_NAME}-<stage>\` with \`STAGE\`)`,
    meaning: 'Service name',
  },
  metricsNamespace: {
    defaultText: `\`${DEFAULT_METRICS_NAMESPACE}\` (\`${DEFAULT_METRICS_NAMESPACE}/<stage>\` with \`STAGE\`)`,
    meaning: 'Metrics namespace',
  },
  metricsDisabled: {
    meaning: 'Metrics off (tests, local)',
  },
  secretsExtensionPort: {
    meaning: "Secrets extension port (AWS; the stack's layer sets it)",
  },
  sessionToken: {
    meaning:
      'Session token the secrets extension checks (set by the Lambda runtime); required with a `*_SECRET_ARN`',
  },
} as const satisfies Record<SettingName, SettingDoc>;
