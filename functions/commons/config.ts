/**
 * The ONE parser of environment variables: `settings.ts` names them, with their defaults and allowed values
 * (the README's configuration table is rendered from it). Values are trimmed; an
 * empty value means "unset". Every error is a `ConfigError` naming the variable, never echoing its value
 * (URLs may carry passwords). `shared/` never reads `process.env`: handlers pass what they need down.
 */
import { shortestProfileTtlSeconds } from '../../shared/cache/ttl.js';
import { ConfigError } from '../../shared/errors.js';
import type { LogLevel } from '../../shared/observability/jsonLogger.js';
import { describeInteger, isIntegerIn } from '../../shared/options.js';
import {
  type ChoiceSetting,
  type FractionSetting,
  type IntSetting,
  SETTINGS,
  type Setting,
  type TextSetting,
} from './settings.js';
import { stageNames } from './stage.js';

export type Env = Readonly<Record<string, string | undefined>>;

/** Where PostgreSQL's credentials come from, once they are known to be set. */
export type DatabaseSource = { source: 'env'; url: string } | { source: 'secret'; secretArn: string };

export type { LogLevel };

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

/** Reads and validates every setting. Throws `ConfigError` (with `details.variable`) on the first bad one. */
export function loadConfig(env: Env = process.env): Config {
  const get = reader(env);
  const S = SETTINGS;
  const upstashUrl = get(S.upstashUrl);
  const upstashToken = get(S.upstashToken);
  const upstashArn = get(S.upstashSecretArn);
  const databaseUrl = get(S.databaseUrl);
  const databaseArn = get(S.databaseSecretArn);
  const stage = get(S.stage);
  // Without a stage: the names of a single-stage setup (local stack, tests, older deployments).
  const names = stage === undefined ? undefined : stageNames(stage);

  return {
    stage,
    upstash: eitherSource(
      S.upstashSecretArn.env,
      upstashArn,
      [S.upstashUrl.env, upstashUrl],
      [S.upstashToken.env, upstashToken],
    ),
    database: {
      ...databaseSource(databaseArn, databaseUrl),
      // RDS behind a secret is reached over the VPC: require TLS there; a local URL usually has none.
      ssl: get(S.databaseSsl) ?? (databaseArn ? 'require' : 'disable'),
    },
    redisTimeoutMs: get(S.redisTimeoutMs) ?? S.redisTimeoutMs.default,
    secretsExtension: {
      port: get(S.secretsExtensionPort) ?? S.secretsExtensionPort.default,
      sessionToken: get(S.sessionToken),
    },
    cache: fenced({
      keyPrefix: get(S.keyPrefix) ?? names?.keyPrefix ?? S.keyPrefix.default,
      ttlSeconds: get(S.ttlSeconds) ?? S.ttlSeconds.default,
      ttlJitter: get(S.ttlJitter) ?? S.ttlJitter.default,
      negativeTtlSeconds: get(S.negativeTtlSeconds) ?? S.negativeTtlSeconds.default,
      tombstoneTtlSeconds: get(S.tombstoneTtlSeconds) ?? S.tombstoneTtlSeconds.default,
    }),
    events: {
      stream: get(S.eventsStream) ?? names?.eventsStream ?? S.eventsStream.default,
      group: get(S.eventsGroup) ?? names?.eventsGroup ?? S.eventsGroup.default,
      maxLen: get(S.eventsStreamMaxLen) ?? S.eventsStreamMaxLen.default,
    },
    poller: { budgetMs: get(S.pollerBudgetMs) ?? S.pollerBudgetMs.default },
    prewarm: {
      batchSize: get(S.prewarmBatchSize) ?? S.prewarmBatchSize.default,
      pauseMs: get(S.prewarmPauseMs) ?? S.prewarmPauseMs.default,
      windowDays: get(S.prewarmWindowDays) ?? S.prewarmWindowDays.default,
      source: get(S.prewarmSource) ?? S.prewarmSource.default,
      deadlineMinutes: get(S.prewarmDeadlineMinutes) ?? S.prewarmDeadlineMinutes.default,
    },
    audit: { sampleSize: get(S.auditSampleSize) ?? S.auditSampleSize.default },
    outbox: { retentionDays: get(S.outboxRetentionDays) ?? S.outboxRetentionDays.default },
    auth: {
      readScope: get(S.readScope) ?? S.readScope.default,
      writeScope: get(S.writeScope) ?? S.writeScope.default,
    },
    powertools: {
      logLevel: get(S.logLevel) ?? S.logLevel.default,
      serviceName: get(S.serviceName) ?? names?.serviceName ?? S.serviceName.default,
      metricsNamespace: get(S.metricsNamespace) ?? names?.metricsNamespace ?? S.metricsNamespace.default,
      metricsDisabled: /^(true|1)$/.test(get(S.metricsDisabled) ?? S.metricsDisabled.default),
    },
  };
}

/** The value of one setting, parsed by its kind; `undefined` when unset (absent, empty or blank). */
interface Read {
  (setting: IntSetting | FractionSetting): number | undefined;
  <V extends string>(setting: ChoiceSetting<V>): V | undefined;
  (setting: TextSetting): string | undefined;
}

function reader(env: Env): Read {
  return ((setting: Setting) => {
    const raw = env[setting.env]?.trim();
    if (raw === undefined || raw === '') return undefined;
    const value = parse(setting, raw);
    if (value !== undefined) return value;
    throw configError(setting.env, `${setting.env} must be ${allowedValues(setting)}`);
  }) as Read;
}

function parse(setting: Setting, raw: string): string | number | undefined {
  switch (setting.kind) {
    case 'int': {
      // Digits only: Number() would also take '1e3', '0x10' and '1.0'.
      const value = /^\d{1,16}$/.test(raw) ? Number(raw) : Number.NaN;
      return isIntegerIn(value, setting) ? value : undefined;
    }
    case 'fraction':
      return /^(0(\.\d+)?|\.\d+)$/.test(raw) ? Number(raw) : undefined;
    case 'choice':
      return setting.values.find((v) => v.toLowerCase() === raw.toLowerCase());
    case 'text':
      return setting.pattern.test(raw) ? raw : undefined;
  }
}

/** What a setting accepts, in words: error messages and the README's Meaning column say it the same way. */
export function allowedValues(setting: Setting): string {
  switch (setting.kind) {
    case 'int':
      return describeInteger(setting);
    case 'fraction':
      return 'a decimal number in [0, 1)';
    case 'choice':
      return `one of ${setting.values.join(', ')}`;
    case 'text':
      return setting.rule;
  }
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
