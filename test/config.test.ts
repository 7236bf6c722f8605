import { describe, expect, it } from 'vitest';
import { type Env, loadConfig, requireDatabase } from '../functions/commons/config.js';
import { ConfigError } from '../shared/errors.js';

const LOCAL: Env = {
  UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:8079',
  UPSTASH_REDIS_REST_TOKEN: 'local-token',
  DATABASE_URL: 'postgres://app:secret@127.0.0.1:5432/ngomna',
};
const AWS: Env = {
  UPSTASH_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:upstash-AbCdEf',
  DATABASE_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds-GhIjKl',
};

/** The ConfigError thrown for `env`, or fails the test when none is. */
function errorFor(env: Env): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected loadConfig to throw');
}

describe('loadConfig()', () => {
  it('applies every documented default', () => {
    expect(loadConfig(LOCAL)).toEqual({
      upstash: { source: 'env', url: 'http://127.0.0.1:8079', token: 'local-token' },
      database: { source: 'env', url: 'postgres://app:secret@127.0.0.1:5432/ngomna', ssl: 'disable' },
      redisTimeoutMs: 250,
      secretsExtension: { port: 2773, sessionToken: undefined },
      cache: {
        keyPrefix: '',
        ttlSeconds: 604_800,
        ttlJitter: 0.05,
        negativeTtlSeconds: 60,
        tombstoneTtlSeconds: 604_800,
      },
      events: { stream: 'events:users', group: 'user-cache', maxLen: 4_545 },
      poller: { budgetMs: 80_000 },
      prewarm: { batchSize: 500, pauseMs: 1500, windowDays: 7, source: 'activity', deadlineMinutes: 150 },
      auth: { readScope: 'users.read', writeScope: 'users.write' },
      audit: { sampleSize: 15_000 },
      outbox: { retentionDays: 7 },
      powertools: {
        logLevel: 'INFO',
        serviceName: 'user-cache',
        metricsNamespace: 'NgomnaUserCache',
        metricsDisabled: false,
      },
    });
  });

  it('reads secrets ARNs and then requires TLS to PostgreSQL by default', () => {
    const config = loadConfig(AWS);
    expect(config.upstash).toEqual({ source: 'secret', secretArn: AWS.UPSTASH_SECRET_ARN });
    expect(config.database).toEqual({ source: 'secret', secretArn: AWS.DATABASE_SECRET_ARN, ssl: 'require' });
    expect(loadConfig({ ...AWS, DATABASE_SSL: 'disable' }).database.ssl).toBe('disable');
    expect(loadConfig({ ...LOCAL, DATABASE_SSL: 'REQUIRE' }).database.ssl).toBe('require');
  });

  it('reads every variable, trimmed', () => {
    const config = loadConfig({
      ...LOCAL,
      REDIS_TIMEOUT_MS: ' 400 ',
      CACHE_KEY_PREFIX: 'staging:',
      CACHE_TTL_SECONDS: '86400',
      CACHE_TTL_JITTER: '0.1',
      CACHE_NEGATIVE_TTL_SECONDS: '30',
      CACHE_TOMBSTONE_TTL_SECONDS: '86400',
      EVENTS_STREAM: 'events:staging',
      EVENTS_GROUP: 'cache-2',
      EVENTS_STREAM_MAX_LEN: '5000',
      POLLER_BUDGET_MS: '20000',
      PREWARM_BATCH_SIZE: '250',
      PREWARM_PAUSE_MS: '0',
      PREWARM_WINDOW_DAYS: '3',
      PREWARM_SOURCE: 'sql',
      AUTH_READ_SCOPE: 'profiles/read',
      AUTH_WRITE_SCOPE: 'profiles/write',
      POWERTOOLS_LOG_LEVEL: 'debug',
      POWERTOOLS_SERVICE_NAME: 'svc',
      POWERTOOLS_METRICS_NAMESPACE: 'Ns',
    });
    expect(config).toMatchObject({
      redisTimeoutMs: 400,
      cache: {
        keyPrefix: 'staging:',
        ttlSeconds: 86_400,
        ttlJitter: 0.1,
        negativeTtlSeconds: 30,
        tombstoneTtlSeconds: 86_400,
      },
      events: { stream: 'events:staging', group: 'cache-2', maxLen: 5000 },
      poller: { budgetMs: 20_000 },
      prewarm: { batchSize: 250, pauseMs: 0, windowDays: 3, source: 'sql', deadlineMinutes: 150 },
      auth: { readScope: 'profiles/read', writeScope: 'profiles/write' },
      powertools: { logLevel: 'DEBUG', serviceName: 'svc', metricsNamespace: 'Ns' },
    });
  });

  it('treats an empty or blank value as unset', () => {
    expect(loadConfig({ ...LOCAL, REDIS_TIMEOUT_MS: '   ', CACHE_KEY_PREFIX: '' }).redisTimeoutMs).toBe(250);
  });

  describe('credentials', () => {
    it('requires Upstash credentials, naming the variables', () => {
      const error = errorFor({ DATABASE_URL: LOCAL.DATABASE_URL });
      expect(error.message).toContain('UPSTASH_SECRET_ARN');
      expect(error.details).toEqual({ variable: 'UPSTASH_SECRET_ARN' });
    });

    it('requires the token with the URL, and the URL with the token', () => {
      expect(errorFor({ ...LOCAL, UPSTASH_REDIS_REST_TOKEN: undefined }).details).toEqual({
        variable: 'UPSTASH_REDIS_REST_TOKEN',
      });
      expect(errorFor({ ...LOCAL, UPSTASH_REDIS_REST_URL: '' }).details).toEqual({
        variable: 'UPSTASH_REDIS_REST_URL',
      });
    });

    // Contract change: PostgreSQL settings are optional at load (Redis-only functions such as
    // GET /cache/stats run without them); requireDatabase() raises the same error at first use.
    it('loads without PostgreSQL settings and requires them, naming the variables, on first use', () => {
      const config = loadConfig({ UPSTASH_SECRET_ARN: AWS.UPSTASH_SECRET_ARN });
      expect(config.database).toEqual({ source: 'none', ssl: 'disable' });

      const error = (() => {
        try {
          requireDatabase(config.database);
        } catch (caught) {
          return caught;
        }
      })();

      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).message).toMatch(/DATABASE_SECRET_ARN or DATABASE_URL is required/);
      expect((error as ConfigError).details).toEqual({ variable: 'DATABASE_SECRET_ARN' });
    });

    it('hands the PostgreSQL settings over on first use when they are set', () => {
      expect(requireDatabase(loadConfig(AWS).database)).toEqual({
        source: 'secret',
        secretArn: AWS.DATABASE_SECRET_ARN,
        ssl: 'require',
      });
    });

    it('refuses both sources at once rather than picking one silently', () => {
      expect(errorFor({ ...LOCAL, UPSTASH_SECRET_ARN: AWS.UPSTASH_SECRET_ARN }).message).toMatch(/not both/);
      expect(errorFor({ ...LOCAL, DATABASE_SECRET_ARN: AWS.DATABASE_SECRET_ARN }).message).toMatch(
        /not both/,
      );
    });

    it('never echoes a value in the error (URLs carry passwords)', () => {
      const error = errorFor({ ...LOCAL, DATABASE_URL: 'mysql://root:hunter2@db/x' });
      expect(error.details).toEqual({ variable: 'DATABASE_URL' });
      expect(error.message).not.toContain('hunter2');
    });
  });

  it.each([
    ['UPSTASH_REDIS_REST_URL', 'redis://127.0.0.1:6379'],
    ['UPSTASH_SECRET_ARN', 'my-secret'],
    ['DATABASE_SSL', 'verify-full'],
    ['REDIS_TIMEOUT_MS', '0'],
    ['REDIS_TIMEOUT_MS', '250ms'],
    ['REDIS_TIMEOUT_MS', '1.5'],
    ['CACHE_TTL_SECONDS', '-1'],
    ['CACHE_TTL_JITTER', '1'],
    ['CACHE_TTL_JITTER', 'abc'],
    ['CACHE_KEY_PREFIX', 'has space'],
    ['CACHE_TOMBSTONE_TTL_SECONDS', '60'],
    ['EVENTS_STREAM', 'a b'],
    ['EVENTS_STREAM_MAX_LEN', '0'],
    ['PREWARM_BATCH_SIZE', '1001'],
    ['PREWARM_SOURCE', 'redis'],
    ['PREWARM_WINDOW_DAYS', '0'],
    ['AUTH_READ_SCOPE', 'users read'],
    ['POWERTOOLS_LOG_LEVEL', 'LOUD'],
  ])('throws ConfigError naming %s for %j', (variable, value) => {
    const error = errorFor({ ...LOCAL, [variable]: value });
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.details).toEqual({ variable });
    expect(error.message.startsWith(variable)).toBe(true);
  });
});

describe('loadConfig() with STAGE', () => {
  it('derives the key prefix, stream, group, service name and namespace from the stage', () => {
    const config = loadConfig({ ...LOCAL, STAGE: 'staging' });
    expect(config.stage).toBe('staging');
    expect(config.cache.keyPrefix).toBe('staging:');
    expect(config.events).toMatchObject({ stream: 'staging:events:users', group: 'user-cache-staging' });
    expect(config.powertools).toMatchObject({
      serviceName: 'user-cache-staging',
      metricsNamespace: 'NgomnaUserCache/staging',
    });
  });

  it('lets explicit variables override what the stage derives', () => {
    const config = loadConfig({ ...LOCAL, STAGE: 'staging', CACHE_KEY_PREFIX: 'x:', EVENTS_GROUP: 'g' });
    expect(config.cache.keyPrefix).toBe('x:');
    expect(config.events.group).toBe('g');
    expect(config.events.stream).toBe('staging:events:users');
  });

  it('refuses a stage that cannot prefix keys and names', () => {
    expect(errorFor({ ...LOCAL, STAGE: 'Prod!' }).details).toEqual({ variable: 'STAGE' });
  });
});
