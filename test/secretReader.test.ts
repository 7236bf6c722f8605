/**
 * Secrets without the AWS SDK: `SecretReader` against the local stand-in of the AWS Parameters and
 * Secrets Lambda Extension (`local/secretsExtension.ts`), and the stand-in's own contract (paths, token
 * check, status codes, GetSecretValue JSON, TTL cache), so code that would break on Lambda breaks here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import { loadConfig } from '../functions/commons/config.js';
import { buildDependencies } from '../functions/commons/dependencies.js';
import { SECRETS_TOKEN_HEADER, SecretReader } from '../functions/commons/secretReader.js';
import { createHandler as getCacheStats } from '../functions/getCacheStats.js';
import { type SecretsExtension, startSecretsExtension } from '../local/secretsExtension.js';
import { ConfigError } from '../shared/errors.js';
import { apiEvent } from './support/apiEvents.js';
import { type TestRedis, useTestRedis } from './support/redis.js';

const TOKEN = 'session-token-of-this-environment';
const ARN = 'arn:aws:secretsmanager:eu-west-1:111111111111:secret:user-cache/upstash-AbC123';
const schema = z.object({ url: z.string(), token: z.string() });

let ext: SecretsExtension;
let now = 1_750_000_000_000;

beforeAll(async () => {
  ext = await startSecretsExtension({ sessionToken: TOKEN, ttlMs: 30_000, clock: () => now });
  ext.putSecret(ARN, { url: 'https://one.upstash.io', token: 'one' });
});
afterAll(async () => {
  await ext.close();
});

const get = (query: string, headers: Record<string, string> = { [SECRETS_TOKEN_HEADER]: TOKEN }) =>
  fetch(`${ext.url}/secretsmanager/get${query}`, { headers });

describe('the secrets extension stand-in', () => {
  it('answers GetSecretValue JSON for a secret by ARN or by name', async () => {
    for (const id of [ARN, 'user-cache/upstash']) {
      const res = await get(`?secretId=${encodeURIComponent(id)}`);
      expect(res.status).toBe(200);
      const body = (await res.json()) as { SecretString: string };
      expect(body).toMatchObject({
        ARN,
        Name: 'user-cache/upstash',
        VersionId: expect.any(String),
        VersionStages: ['AWSCURRENT'],
        CreatedDate: expect.any(String),
      });
      expect(JSON.parse(body.SecretString)).toEqual({ url: 'https://one.upstash.io', token: 'one' });
    }
  });

  it('refuses a missing or wrong X-Aws-Parameters-Secrets-Token with 403', async () => {
    expect((await get(`?secretId=${ARN}`, {})).status).toBe(403);
    expect((await get(`?secretId=${ARN}`, { [SECRETS_TOKEN_HEADER]: 'other' })).status).toBe(403);
  });

  it('answers 400 without secretId or with an unknown parameter, 404 for an unknown secret, 405 for POST', async () => {
    expect((await get('')).status).toBe(400);
    expect((await get(`?secretId=${ARN}&maxAge=1`)).status).toBe(400);
    expect((await get('?secretId=nope')).status).toBe(404);
    const post = await fetch(`${ext.url}/secretsmanager/get?secretId=${ARN}`, {
      method: 'POST',
      headers: { [SECRETS_TOKEN_HEADER]: TOKEN },
    });
    expect(post.status).toBe(405);
    expect(await (await fetch(`${ext.url}/ping`)).text()).toBe('healthy');
  });
});

describe('SecretReader', () => {
  const reader = () =>
    new SecretReader({
      baseUrl: ext.url,
      sessionToken: TOKEN,
      clock: () => now,
      minRefreshIntervalMs: 5_000,
    });

  it('reads a secret once and keeps it across warm invocations', async () => {
    const r = reader();
    const before = ext.requests;
    const values: Array<{ token: string }> = [];
    for (let i = 0; i < 5; i++) values.push(await r.get(ARN, schema, 'UPSTASH_SECRET_ARN'));
    expect(ext.requests - before).toBe(1);
    expect(values.every((v) => v.token === values[0]!.token)).toBe(true);
  });

  it('sees a rotation after refresh(), once the extension cache (its TTL) let go of the old value', async () => {
    const arn = 'arn:aws:secretsmanager:eu-west-1:111111111111:secret:rotating-XyZ987';
    ext.putSecret(arn, { url: 'https://a.upstash.io', token: 'old' });
    const r = reader();
    expect((await r.get(arn, schema, 'V')).token).toBe('old');
    ext.putSecret(arn, { url: 'https://a.upstash.io', token: 'new' });
    now += 6_000;
    expect(r.refresh(arn)).toBe(true);
    // Still inside the extension's 30 s TTL: it serves its cached copy, as the real one does.
    expect((await r.get(arn, schema, 'V')).token).toBe('old');
    now += 30_000;
    expect(r.refresh(arn)).toBe(true);
    expect((await r.get(arn, schema, 'V')).token).toBe('new');
  });

  it('re-reads at most once per minRefreshIntervalMs, whatever the number of failures asking', async () => {
    const r = reader();
    await r.get(ARN, schema, 'V');
    expect(r.refresh(ARN)).toBe(false);
    now += 5_000;
    expect(r.refresh(ARN)).toBe(true);
  });

  it('throws a ConfigError naming the variable, never the value, for a refused or malformed secret', async () => {
    const wrong = new SecretReader({ baseUrl: ext.url, sessionToken: 'stolen' });
    await expect(wrong.get(ARN, schema, 'UPSTASH_SECRET_ARN')).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      details: { variable: 'UPSTASH_SECRET_ARN', status: 403 },
    });
    const arn = 'arn:aws:secretsmanager:eu-west-1:111111111111:secret:partial-QwE456';
    ext.putSecret(arn, { url: 'https://secret-url.upstash.io' });
    const error = await reader()
      .get(arn, schema, 'UPSTASH_SECRET_ARN')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect(String((error as Error).message)).toContain('token');
    expect(String((error as Error).message)).not.toContain('secret-url');
  });

  it('does not keep a failed read: the next call tries again', async () => {
    const arn = 'arn:aws:secretsmanager:eu-west-1:111111111111:secret:late-RtY654';
    const r = reader();
    await expect(r.get(arn, schema, 'V')).rejects.toMatchObject({ details: { status: 404 } });
    ext.putSecret(arn, { url: 'https://late.upstash.io', token: 'late' });
    now += 31_000;
    expect((await r.get(arn, schema, 'V')).token).toBe('late');
  });
});

describe('buildDependencies() with secret ARNs', () => {
  let t: TestRedis;
  const upstashArn = 'arn:aws:secretsmanager:eu-west-1:111111111111:secret:user-cache/gateway-PoI321';

  beforeAll(async () => {
    t = await useTestRedis();
    ext.putSecret(upstashArn, { url: t.gateway.url, token: t.gateway.token });
  });
  afterAll(async () => {
    await t.cleanup();
  });

  const env = (extra: Record<string, string>) => ({
    UPSTASH_SECRET_ARN: upstashArn,
    CACHE_KEY_PREFIX: t.keyPrefix,
    REDIS_TIMEOUT_MS: '2000',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_METRICS_DISABLED: 'true',
    PARAMETERS_SECRETS_EXTENSION_HTTP_PORT: String(ext.port),
    ...extra,
  });

  it('reads the Upstash secret through the extension and answers GET /cache/stats', async () => {
    const deps = await buildDependencies(loadConfig(env({ AWS_SESSION_TOKEN: TOKEN })));
    const res = await getCacheStats(deps)(
      apiEvent({ route: '/cache/stats', scopes: null, scopeClaim: 'users.read' }),
    );
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body as string)).toHaveProperty('hitRate');
  });

  it('names AWS_SESSION_TOKEN when it is missing (outside Lambda)', async () => {
    await expect(buildDependencies(loadConfig(env({})))).rejects.toMatchObject({
      details: { variable: 'AWS_SESSION_TOKEN' },
    });
  });
});
