/**
 * The real Lambda bundles, synthesized as `npm run synth` does (infra/lambdaBundles.ts); then each
 * bundle is measured, checked for what it must not contain, loaded in a fresh Node process (no vitest,
 * no TypeScript) and invoked there against real servers: Redis through the Upstash REST gateway, and
 * PostgreSQL (DATABASE_URL's server in a fresh schema, else PGlite served over the wire protocol by
 * pglite-socket, so the bundled `pg` talks to it like to RDS).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FUNCTIONS, type FunctionName } from '../infra/functionTable.js';
import { type LambdaBundle, synthLambdaBundles } from '../infra/lambdaBundles.js';
import { migrate } from '../shared/db/migrate.js';
import { createPgSql } from '../shared/db/pgSql.js';
import { ProfileRepository } from '../shared/db/profileRepository.js';
import type { Sql } from '../shared/db/sql.js';
import { UserCache } from '../shared/userCache.js';
import { type ApiEventInput, apiEvent } from './support/apiEvents.js';
import { useTestDb } from './support/db.js';
import { fields, newId } from './support/fixtures.js';
import { type TestRedis, useTestRedis } from './support/redis.js';

const run = promisify(execFile);
/** Scheduled functions. API functions are held to 225 KB: their cold start is paid by the routes' p99. */
const MAX_BUNDLE_BYTES = 300 * 1024;
const MAX_API_BUNDLE_BYTES = 225 * 1024;
const API_FUNCTIONS = new Set<string>(FUNCTIONS.filter((f) => f.trigger.kind === 'route').map((f) => f.name));

/**
 * Runs in a fresh `node`: imports one bundle, calls its handler once per event (in order, in one
 * environment, like warm Lambda invocations), writes what happened to BUNDLE_RESULT and exits (the
 * pg pool and keep-alive sockets would otherwise keep the process alive).
 */
const RUNNER = `
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
// pg reads NODE_PG_FORCE_NATIVE when its module is evaluated: the read tells whether (and when) it was.
let pgEvaluated = false;
process.env = new Proxy(process.env, {
  get(target, key) {
    if (key === 'NODE_PG_FORCE_NATIVE') pgEvaluated = true;
    return Reflect.get(target, key);
  },
});
const mod = await import(pathToFileURL(process.argv[2]).href);
const loadedPg = pgEvaluated;
const context = {
  functionName: 'bundle-test', awsRequestId: 'req-bundle-test', invokedFunctionArn: 'arn:aws:lambda:eu-west-1:111111111111:function:bundle-test',
  getRemainingTimeInMillis: () => 60000, callbackWaitsForEmptyEventLoop: false,
};
const results = [];
for (const event of JSON.parse(process.env.BUNDLE_EVENTS ?? '[]')) {
  try {
    results.push({ ok: true, value: (await mod.handler(event, context)) ?? null, pgEvaluated });
  } catch (error) {
    results.push({ ok: false, error: String(error?.stack ?? error), pgEvaluated });
  }
}
writeFileSync(process.env.BUNDLE_RESULT, JSON.stringify({ exports: Object.keys(mod), handler: typeof mod.handler, loadedPg, results }));
process.exit(0);
`;

// biome-ignore lint/suspicious/noExplicitAny: handler results and the template are JSON, read by path.
type Json = any;

type Outcome = ({ ok: true; value: Json } | { ok: false; error: string }) & { pgEvaluated: boolean };

interface RunResult {
  exports: string[];
  handler: string;
  /** Whether importing the bundle evaluated pg. */
  loadedPg: boolean;
  results: Outcome[];
}

/** The handler's return value (fails the test with the error when the call threw). */
function value(outcome: Outcome | undefined): Json {
  if (!outcome?.ok) throw new Error(`handler failed: ${outcome?.error ?? 'no result'}`);
  return outcome.value;
}

let outdir: string;
let cdkOut: string;
const bundles = new Map<FunctionName, LambdaBundle>();

/** Runs `name`'s bundle in a fresh Node with only `env` (plus PATH), one handler call per event. */
async function runBundle(name: FunctionName, env: Record<string, string>, events: unknown[] = []) {
  const resultFile = join(outdir, `result-${randomBytes(4).toString('hex')}.json`);
  await run(process.execPath, ['--enable-source-maps', join(outdir, 'runner.mjs'), bundles.get(name)!.file], {
    env: {
      PATH: process.env.PATH ?? '',
      ...env,
      BUNDLE_EVENTS: JSON.stringify(events),
      BUNDLE_RESULT: resultFile,
    },
    timeout: 60_000,
  });
  return JSON.parse(readFileSync(resultFile, 'utf8')) as RunResult;
}

beforeAll(async () => {
  outdir = mkdtempSync(join(tmpdir(), 'user-cache-cdk-'));
  writeFileSync(join(outdir, 'runner.mjs'), RUNNER);
  const synth = await synthLambdaBundles(outdir);
  cdkOut = synth.cdkOut;
  for (const [name, bundle] of synth.bundles) bundles.set(name, bundle);
}, 240_000);

afterAll(() => {
  if (bundles.size > 0) {
    console.info(
      'Bundle sizes (minified ESM, KB):\n' +
        [...bundles].map(([name, b]) => `  ${name.padEnd(16)} ${(b.bytes / 1024).toFixed(1)}`).join('\n'),
    );
  }
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

describe('Lambda bundles (cdk synth)', () => {
  it('synthesizes offline, cdk-nag included, with one bundled asset per function', () => {
    expect([...bundles.keys()].sort()).toEqual(FUNCTIONS.map((f) => f.name).sort());
    const report = JSON.parse(readFileSync(join(cdkOut, 'validation-report.json'), 'utf8'));
    expect(report.pluginReports.flatMap((r: Json) => r.violations ?? [])).toEqual([]);
  });

  describe.each(FUNCTIONS.map((f) => f.name))('%s', (name) => {
    it(`is one minified ESM file under ${API_FUNCTIONS.has(name) ? 225 : 300} KB, with its source map`, () => {
      const bundle = bundles.get(name)!;
      expect(readdirSync(bundle.dir).sort()).toEqual(['index.mjs', 'index.mjs.map']);
      expect(bundle.bytes).toBeLessThanOrEqual(
        API_FUNCTIONS.has(name) ? MAX_API_BUNDLE_BYTES : MAX_BUNDLE_BYTES,
      );
      const code = readFileSync(bundle.file, 'utf8');
      // The createRequire banner comes first, so CommonJS dependencies can `require` in ESM.
      expect(code.startsWith("import { createRequire } from 'module';")).toBe(true);
    });

    it('neither bundles nor imports PGlite, the AWS SDK or Powertools: secrets come over HTTP', () => {
      const map = JSON.parse(readFileSync(`${bundles.get(name)!.file}.map`, 'utf8')) as { sources: string[] };
      expect(map.sources.some((s) => s.includes(`functions/${name}.ts`))).toBe(true);
      expect(
        map.sources.filter((s) => /@electric-sql\/|@aws-sdk\/|@aws-lambda-powertools\/|\/local\//.test(s)),
      ).toEqual([]);
      // External imports leave no source behind: the code itself must not name the SDK either.
      const code = readFileSync(bundles.get(name)!.file, 'utf8');
      expect(code).not.toMatch(/@aws-sdk\/|@aws-lambda-powertools\//);
      expect(code).toContain('/secretsmanager/get?secretId=');
    });

    it('loads in a fresh Node process without any configuration, without evaluating pg, and exports an async handler', async () => {
      const loaded = await runBundle(name, {});
      expect(loaded.exports).toContain('handler');
      expect(loaded.handler).toBe('function');
      expect(loaded.loadedPg).toBe(false);
    });
  });
});

describe('bundled handlers against real Redis and PostgreSQL', () => {
  let redis: TestRedis;
  let db: { url: string; sql: Sql; cleanup(): Promise<void> };
  let repository: ProfileRepository;
  let env: Record<string, string>;
  const profileFields = fields('Ngono Ébénézer');

  beforeAll(async () => {
    redis = await useTestRedis();
    db = await startDatabase();
    repository = new ProfileRepository({ sql: db.sql });
    // The same variables functions/commons/config.ts reads on Lambda, with env sources instead of secret ARNs.
    env = {
      UPSTASH_REDIS_REST_URL: redis.gateway.url,
      UPSTASH_REDIS_REST_TOKEN: redis.gateway.token,
      DATABASE_URL: db.url,
      DATABASE_SSL: 'disable',
      CACHE_KEY_PREFIX: redis.keyPrefix,
      EVENTS_STREAM: `${redis.keyPrefix}events:users`,
      POWERTOOLS_LOG_LEVEL: 'ERROR',
      POWERTOOLS_METRICS_DISABLED: 'true',
      // Generous, as in test/support/redis.ts: a fresh process's first request on a loaded CI machine can
      // exceed the API's 250 ms and fall back to PostgreSQL, which is correct but not what a test checks.
      REDIS_TIMEOUT_MS: '2000',
      NODE_OPTIONS: '--enable-source-maps',
    };
  }, 60_000);

  afterAll(async () => {
    await redis?.cleanup();
    await db?.cleanup();
  });

  it('createUser stores the profile in PostgreSQL and answers 201', async () => {
    const id = newId('bundle-');
    const { results } = await runBundle('createUser', env, [
      authorized({ method: 'POST', route: '/users', body: { id, ...profileFields } }),
    ]);
    expect(results[0]).toMatchObject({ ok: true, value: { statusCode: 201 } });
    expect(await repository.getById(id)).toMatchObject({ userId: id, ...profileFields, version: 1 });
  });

  it('getUser answers from PostgreSQL on a miss and fills the cache', async () => {
    const id = newId('bundle-');
    await repository.create(id, profileFields);
    const { results } = await runBundle('getUser', env, [
      authorized({ route: '/users/{id}', id }),
      authorized({ route: '/users/{id}', id }),
    ]);
    for (const result of results) {
      expect(result).toMatchObject({ ok: true, value: { statusCode: 200 } });
      expect(JSON.parse(value(result).body)).toMatchObject({ userId: id, ...profileFields, version: 1 });
    }
    const cache = new UserCache({ redis: redis.redis, keyPrefix: redis.keyPrefix });
    expect(await cache.get(id)).toMatchObject({ status: 'hit', profile: { userId: id, version: 1 } });
  });

  it('getUser answers a cache hit without evaluating pg, and evaluates it on the first miss', async () => {
    const [hit, miss] = [newId('bundle-'), newId('bundle-')];
    const cache = new UserCache({ redis: redis.redis, keyPrefix: redis.keyPrefix });
    await cache.set((await repository.create(hit, profileFields)).profile);
    await repository.create(miss, profileFields);
    const { results } = await runBundle('getUser', env, [
      authorized({ route: '/users/{id}', id: hit }),
      authorized({ route: '/users/{id}', id: miss }),
    ]);
    expect(results.map((r) => [value(r).headers['x-cache'], r.pgEvaluated])).toEqual([
      ['HIT', false],
      ['MISS', true],
    ]);
  });

  it('batchGetUsers returns the profiles found and lists the ids not found', async () => {
    const [a, missing] = [newId('bundle-'), newId('bundle-')];
    await repository.create(a, profileFields);
    const { results } = await runBundle('batchGetUsers', env, [
      authorized({ route: '/users/batch', query: { ids: `${a},${missing}` } }),
    ]);
    expect(results[0]).toMatchObject({ ok: true, value: { statusCode: 200 } });
    const body = JSON.parse(value(results[0]).body);
    expect(body.users.map((u: { userId: string }) => u.userId)).toEqual([a]);
    expect(body.notFound).toEqual([missing]);
  });

  it('putUser updates the profile when If-Match names the current version', async () => {
    const id = newId('bundle-');
    await repository.create(id, profileFields);
    const { results } = await runBundle('putUser', env, [
      authorized({
        method: 'PUT',
        route: '/users/{id}',
        id,
        headers: { 'if-match': '"1"' },
        body: { ...profileFields, fullName: 'Ngono É. Ébénézer' },
      }),
    ]);
    expect(results[0]).toMatchObject({ ok: true, value: { statusCode: 200 } });
    expect(await repository.getById(id)).toMatchObject({ fullName: 'Ngono É. Ébénézer', version: 2 });
  });

  it('deleteUser soft-deletes the profile and answers 204', async () => {
    const id = newId('bundle-');
    await repository.create(id, profileFields);
    const { results } = await runBundle('deleteUser', env, [
      authorized({ method: 'DELETE', route: '/users/{id}', id }),
    ]);
    expect(results[0]).toMatchObject({ ok: true, value: { statusCode: 204 } });
    expect((await repository.getById(id))?.deletedAt).toEqual(expect.any(Number));
  });

  it('getCacheStats answers 200 with the counters of the cache, without any DATABASE_* variable', async () => {
    const cache = new UserCache({ redis: redis.redis, keyPrefix: redis.keyPrefix });
    await cache.get(newId('bundle-'));
    await cache.flushStats();
    // Its function has no database secret (infra/functionTable.ts): it must run on Redis settings alone.
    const redisOnly = Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith('DATABASE_')));
    const { results } = await runBundle('getCacheStats', redisOnly, [authorized({ route: '/cache/stats' })]);
    expect(results[0]).toMatchObject({ ok: true, value: { statusCode: 200 } });
    const stats = JSON.parse(value(results[0]).body);
    expect(stats.lookups).toBeGreaterThan(0);
    expect(stats.hitRate).toBeGreaterThanOrEqual(0);
    expect(stats.hitRate).toBeLessThanOrEqual(1);
  });

  it('streamPoller relays unpublished outbox rows to the stream within its budget', async () => {
    const id = newId('bundle-');
    await repository.create(id, profileFields);
    // EventBridge Scheduler sends `{}` when the target has no input. A short budget ends the loop early.
    const { results } = await runBundle('streamPoller', { ...env, POLLER_BUDGET_MS: '2000' }, [{}]);
    expect(results[0]).toMatchObject({ ok: true, value: { status: 'done', report: { errors: 0 } } });
    expect(value(results[0]).report.relayed).toBeGreaterThanOrEqual(1);
    expect(await redis.redis.xlen(env.EVENTS_STREAM!)).toBeGreaterThanOrEqual(1);
  });

  it('audit reports a cached entry that disagrees with PostgreSQL, and only that one', async () => {
    const [consistent, ahead] = [newId('bundle-'), newId('bundle-')];
    const cache = new UserCache({ redis: redis.redis, keyPrefix: redis.keyPrefix });
    await cache.set((await repository.create(consistent, profileFields)).profile);
    // A version PostgreSQL never had (a rolled-back write): "ahead" is reported without a grace period.
    const { profile } = await repository.create(ahead, profileFields);
    await cache.set({ ...profile, version: 3 });
    // As deployed: the row's REDIS_TIMEOUT_MS, and a sample larger than this file's cached entries.
    const { results } = await runBundle(
      'audit',
      { ...env, REDIS_TIMEOUT_MS: '2000', AUDIT_SAMPLE_SIZE: '500' },
      [{}],
    );
    const report = value(results[0]);
    expect(report.checked).toBeGreaterThanOrEqual(2);
    expect(report.unknown).toBe(0);
    // Everything else this file cached went through the handlers, so it must agree with PostgreSQL.
    expect(report.findings).toEqual([
      { userId: ahead, kind: 'ahead', cachedVersion: 3, dbVersion: 1, ageMs: expect.any(Number) },
    ]);
    expect(report).toMatchObject({ inconsistent: 1, byKind: { ahead: 1 } });
  });

  it('prewarm loads recently active profiles in a scheduled run', async () => {
    const id = newId('bundle-');
    await repository.create(id, profileFields);
    await repository.touchActivity([id], Date.now());
    const cache = new UserCache({ redis: redis.redis, keyPrefix: redis.keyPrefix });
    await cache.invalidate(id);
    const { results } = await runBundle('prewarm', { ...env, PREWARM_SOURCE: 'sql', PREWARM_PAUSE_MS: '0' }, [
      {},
    ]);
    expect(results[0]).toMatchObject({
      ok: true,
      value: { status: 'done', report: { complete: true, errors: 0, failedBatches: 0 } },
    });
    expect(value(results[0]).report.cached).toBeGreaterThanOrEqual(1);
    expect(await cache.get(id)).toMatchObject({ status: 'hit', profile: { userId: id } });
  });
});

/** A per-file PostgreSQL reachable over TCP by the bundled `pg`, migrated, with a `Sql` for the test. */
async function startDatabase(): Promise<{ url: string; sql: Sql; cleanup(): Promise<void> }> {
  const databaseUrl = process.env.DATABASE_URL?.trim();
  if (databaseUrl) {
    const testDb = await useTestDb({ max: 2 });
    // The handler's pool gets the test schema through the URL (pg passes `options` at startup).
    const url = new URL(databaseUrl);
    url.searchParams.set('options', `-c search_path=${testDb.schema}`);
    return { url: url.toString(), sql: testDb.sql, cleanup: testDb.cleanup };
  }
  const pglite = await PGlite.create();
  const server = new PGLiteSocketServer({ db: pglite, host: '127.0.0.1', port: 0, maxConnections: 8 });
  await server.start();
  const url = `postgres://postgres@${server.getServerConn()}/postgres`;
  const sql = createPgSql({ connectionString: url, max: 1 });
  await migrate(sql);
  return {
    url,
    sql,
    async cleanup() {
      await sql.close();
      await server.stop();
      await pglite.close();
    },
  };
}

/** An event as the JWT authorizer passes it on for a token whose `scope` claim has both scopes. */
const authorized = (input: ApiEventInput) =>
  apiEvent({ scopes: null, scopeClaim: 'users.read users.write', ...input });
