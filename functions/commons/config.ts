/**
 * The ONE parser of environment variables (see the README's configuration table). Values are trimmed; an
 * empty value means "unset". Every error is a `ConfigError` naming the variable, never echoing its value
 * (URLs may carry passwords). `shared/` never reads `process.env`: handlers pass what they need down.
 */
import * as z from 'zod/mini';
import { shortestProfileTtlSeconds } from '../../shared/cache/ttl.js';
import { ConfigError } from '../../shared/errors.js';
import { LIMITS } from '../../shared/profile/schemas.js';
import { DEFAULT_STREAM_MAX_LEN } from '../../shared/stream/bounds.js';
import { POLLER_SCHEDULE } from '../../shared/stream/pollerSchedule.js';
import { STAGE_PATTERN, stageNames } from './stage.js';

export type Env = Readonly<Record<string, string | undefined>>;

/** Where PostgreSQL's credentials come from, once they are known to be set. */
export type DatabaseSource = { source: 'env'; url: string } | { source: 'secret'; secretArn: string };

export type LogLevel = 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'CRITICAL' | 'SILENT';

export interface Config {
  /**
   * Deployment stage (STAGE). When set, it supplies the defaults of the key prefix, the events stream,
   * the consumer group, the service name and the metrics namespace (see `commons/stage.ts`).
   */
  stage: string | undefined;
  /** Upstash credentials: from env (local/dev) or a Secrets Manager secret `{"url","token"}` (AWS). */
  upstash: { source: 'env'; url: string; token: string } | { source: 'secret'; secretArn: string };
  /**
   * PostgreSQL: a URL (local/dev), an RDS-style secret (host/port/username/password/dbname), or `none`
   * for functions that never query it (GET /cache/stats). `requireDatabase()` resolves it at first use.
   */
  database: (DatabaseSource | { source: 'none' }) & { ssl: 'require' | 'disable' };
  redisTimeoutMs: number;
  /**
   * The AWS Parameters and Secrets Lambda Extension, which serves the `*_SECRET_ARN` secrets on
   * localhost. The Lambda runtime sets AWS_SESSION_TOKEN; the extension checks it on every request.
   */
  secretsExtension: { port: number; sessionToken: string | undefined };
  cache: {
    keyPrefix: string;
    ttlSeconds: number;
    ttlJitter: number;
    negativeTtlSeconds: number;
    tombstoneTtlSeconds: number;
  };
  events: { stream: string; group: string; maxLen: number };
  poller: { budgetMs: number };
  prewarm: {
    batchSize: number;
    pauseMs: number;
    windowDays: number;
    source: 'activity' | 'sql';
    deadlineMinutes: number;
  };
  auth: { readScope: string; writeScope: string };
  audit: { sampleSize: number };
  outbox: { retentionDays: number };
  powertools: { logLevel: LogLevel; serviceName: string; metricsNamespace: string; metricsDisabled: boolean };
}

const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.pipe(
    z.string().check(z.regex(/^\d{1,15}$/, 'must be a whole number')),
    z.pipe(
      z.transform(Number),
      z.number().check(z.gte(min, `must be at least ${min}`), z.lte(max, `must be at most ${max}`)),
    ),
  );
const fraction = z.pipe(
  z.string().check(z.regex(/^(0(\.\d+)?|\.\d+)$/, 'must be a decimal number in [0, 1)')),
  z.transform(Number),
);
/** Redis key / stream / group names and OAuth scopes: no whitespace (scope claims are space-separated). */
const name = z
  .string()
  .check(z.regex(/^[\x21-\x7e]{1,200}$/, 'must be 1-200 printable ASCII characters without spaces'));
const keyPrefix = z
  .string()
  .check(z.regex(/^[A-Za-z0-9:_.-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 : _ . -'));
const stageName = z
  .string()
  .check(z.regex(STAGE_PATTERN, 'must be 1-20 characters of a-z 0-9 -, starting with a letter'));
const httpUrl = z.string().check(z.regex(/^https?:\/\/[^\s]+$/, 'must be an http(s) URL'));
const postgresUrl = z.string().check(z.regex(/^postgres(ql)?:\/\/[^\s]+$/, 'must be a postgres:// URL'));
const arn = z
  .string()
  .check(z.regex(/^arn:aws[a-z-]*:secretsmanager:[^\s]+$/, 'must be a Secrets Manager ARN'));
const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.pipe(z.string().check(z.toLowerCase()), z.enum(values, `must be one of: ${values.join(', ')}`));
const logLevel = z.pipe(
  z.string().check(z.toUpperCase()),
  z.enum(
    ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'CRITICAL', 'SILENT'],
    'must be one of TRACE, DEBUG, INFO, WARN, ERROR, CRITICAL, SILENT',
  ),
);

/** Reads and validates every setting. Throws `ConfigError` (with `details.variable`) on the first bad one. */
export function loadConfig(env: Env = process.env): Config {
  const get = <T>(variable: string, schema: z.ZodMiniType<T, string>): T | undefined => {
    const raw = env[variable]?.trim();
    if (raw === undefined || raw === '') return undefined;
    const parsed = schema.safeParse(raw);
    if (parsed.success) return parsed.data;
    throw configError(variable, `${variable} ${parsed.error.issues[0]?.message ?? 'is invalid'}`);
  };

  const upstashUrl = get('UPSTASH_REDIS_REST_URL', httpUrl);
  const upstashToken = get('UPSTASH_REDIS_REST_TOKEN', z.string());
  const upstashArn = get('UPSTASH_SECRET_ARN', arn);
  const databaseUrl = get('DATABASE_URL', postgresUrl);
  const databaseArn = get('DATABASE_SECRET_ARN', arn);
  const stage = get('STAGE', stageName);
  // Without a stage: the names of a single-stage setup (local stack, tests, older deployments).
  const names = stage === undefined ? undefined : stageNames(stage);

  return {
    stage,
    upstash: eitherSource(
      'UPSTASH_SECRET_ARN',
      upstashArn,
      ['UPSTASH_REDIS_REST_URL', upstashUrl],
      ['UPSTASH_REDIS_REST_TOKEN', upstashToken],
    ),
    database: {
      ...databaseSource(databaseArn, databaseUrl),
      // RDS behind a secret is reached over the VPC: require TLS there; a local URL usually has none.
      ssl: get('DATABASE_SSL', oneOf(['require', 'disable'])) ?? (databaseArn ? 'require' : 'disable'),
    },
    redisTimeoutMs: get('REDIS_TIMEOUT_MS', int(1, 60_000)) ?? 250,
    secretsExtension: {
      port: get('PARAMETERS_SECRETS_EXTENSION_HTTP_PORT', int(1, 65_535)) ?? 2773,
      sessionToken: get('AWS_SESSION_TOKEN', z.string()),
    },
    cache: fenced({
      keyPrefix: get('CACHE_KEY_PREFIX', keyPrefix) ?? names?.keyPrefix ?? '',
      ttlSeconds: get('CACHE_TTL_SECONDS', int(1)) ?? 604_800,
      ttlJitter: get('CACHE_TTL_JITTER', fraction) ?? 0.05,
      negativeTtlSeconds: get('CACHE_NEGATIVE_TTL_SECONDS', int(1)) ?? 60,
      tombstoneTtlSeconds: get('CACHE_TOMBSTONE_TTL_SECONDS', int(7_200)) ?? 604_800,
    }),
    events: {
      stream: get('EVENTS_STREAM', name) ?? names?.eventsStream ?? 'events:users',
      group: get('EVENTS_GROUP', name) ?? names?.eventsGroup ?? 'user-cache',
      maxLen: get('EVENTS_STREAM_MAX_LEN', int(1)) ?? DEFAULT_STREAM_MAX_LEN,
    },
    poller: { budgetMs: get('POLLER_BUDGET_MS', int(1, 900_000)) ?? POLLER_SCHEDULE.budgetMs },
    prewarm: {
      batchSize: get('PREWARM_BATCH_SIZE', int(1, LIMITS.cacheBatchMax)) ?? 500,
      pauseMs: get('PREWARM_PAUSE_MS', int(0, 900_000)) ?? 1500,
      windowDays: get('PREWARM_WINDOW_DAYS', int(1, 365)) ?? 7,
      source: get('PREWARM_SOURCE', oneOf(['activity', 'sql'])) ?? 'activity',
      deadlineMinutes: get('PREWARM_DEADLINE_MINUTES', int(1, 1_440)) ?? 150,
    },
    // 15,000 an hour: every one of 350,000 cached profiles is audited within a day (docs/scale.md).
    audit: { sampleSize: get('AUDIT_SAMPLE_SIZE', int(1, 100_000)) ?? 15_000 },
    outbox: { retentionDays: get('OUTBOX_RETENTION_DAYS', int(1, 3_650)) ?? 7 },
    auth: {
      readScope: get('AUTH_READ_SCOPE', name) ?? 'users.read',
      writeScope: get('AUTH_WRITE_SCOPE', name) ?? 'users.write',
    },
    powertools: {
      logLevel: get('POWERTOOLS_LOG_LEVEL', logLevel) ?? 'INFO',
      serviceName: get('POWERTOOLS_SERVICE_NAME', name) ?? names?.serviceName ?? 'user-cache',
      metricsNamespace:
        get('POWERTOOLS_METRICS_NAMESPACE', name) ?? names?.metricsNamespace ?? 'NgomnaUserCache',
      metricsDisabled:
        (get('POWERTOOLS_METRICS_DISABLED', oneOf(['true', 'false', '1', '0'])) ?? 'false').match(
          /^(true|1)$/,
        ) !== null,
    },
  };
}

/**
 * Refuses TTLs that leave the poller no safe window. Events older than the shortest fence lifetime minus
 * a margin are applied as invalidations (`maxSafeEventAgeMs` in shared/cache/ttl.ts), so no TTL, jitter or
 * tombstone setting lets an older version land after a newer one expired. Below 2 h (margin + 1 h) every
 * delayed event would only invalidate, the same floor as the tombstone TTL's. (The old threshold, tombstone
 * TTL − 1 h clamped to 60 s, let a 1-hour profile TTL roll profiles back: issue 9.)
 */
function fenced<T extends Config['cache']>(cache: T): T {
  const shortest = shortestProfileTtlSeconds(cache);
  if (shortest < MIN_FENCE_SECONDS) {
    throw configError(
      'CACHE_TTL_SECONDS',
      `CACHE_TTL_SECONDS × (1 − CACHE_TTL_JITTER) must be at least ${MIN_FENCE_SECONDS} s (the shortest profile TTL fences aged events)`,
    );
  }
  return cache;
}

/** Same floor as CACHE_TOMBSTONE_TTL_SECONDS: the aged-event margin (1 h) plus one hour of window. */
const MIN_FENCE_SECONDS = 7_200;

/** The secret ARN, or both env values; never both sources (which one would win is a silent surprise). */
function eitherSource(
  arnName: string,
  arnValue: string | undefined,
  [urlName, url]: [string, string | undefined],
  [tokenName, token]: [string, string | undefined],
): Config['upstash'] {
  if (arnValue !== undefined) {
    if (url !== undefined || token !== undefined)
      return conflict(arnName, url !== undefined ? urlName : tokenName);
    return { source: 'secret', secretArn: arnValue };
  }
  if (url === undefined && token === undefined) return missing(arnName, `${urlName} + ${tokenName}`);
  if (url === undefined) throw configError(urlName, `${urlName} is required when ${tokenName} is set`);
  if (token === undefined) throw configError(tokenName, `${tokenName} is required when ${urlName} is set`);
  return { source: 'env', url, token };
}

/**
 * Neither variable is an error only when PostgreSQL is first needed (`requireDatabase`): a Redis-only
 * function is deployed without the database secret. Both at once is wrong whatever the function does.
 */
function databaseSource(
  arnValue: string | undefined,
  url: string | undefined,
): DatabaseSource | { source: 'none' } {
  if (arnValue !== undefined) {
    if (url !== undefined) return conflict('DATABASE_SECRET_ARN', 'DATABASE_URL');
    return { source: 'secret', secretArn: arnValue };
  }
  if (url === undefined) return { source: 'none' };
  return { source: 'env', url };
}

/**
 * The database settings, or the `ConfigError` naming the variables to set. Called where PostgreSQL is
 * first used, so the error surfaces there, with the same message a load-time check would give.
 */
export function requireDatabase(db: Config['database']): DatabaseSource & { ssl: 'require' | 'disable' } {
  if (db.source === 'none') return missing('DATABASE_SECRET_ARN', 'DATABASE_URL');
  return db;
}

function missing(a: string, b: string): never {
  throw configError(a, `${a} or ${b} is required`);
}

function conflict(a: string, b: string): never {
  throw configError(a, `set ${a} or ${b}, not both`);
}

function configError(variable: string, message: string): ConfigError {
  return new ConfigError(message, { details: { variable } });
}
