/**
 * `@chatapp-ngomna/shared` as another service gets it: `npm pack` of `shared/` (its prepack builds
 * `dist/`), installed from the tarball into a fresh `npm init -y` project OUTSIDE this repository (so
 * nothing resolves from our node_modules), type-checked there with our `tsc`, run there with plain
 * `node` against the real local stack (API over HTTP, Redis through the Upstash gateway, PostgreSQL),
 * and bundled there the way a consumer Lambda would be.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalStack, startLocalStack } from '../local/localStack.js';
import { type TestDb, useTestDb } from './support/db.js';
import { type TestRedis, useTestRedis } from './support/redis.js';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('..', import.meta.url));
const TSC = join(REPO, 'node_modules/typescript/bin/tsc');
/** The budget for a Lambda that reads profiles (ProfileClient + UserCache + @upstash/redis). */
const MAX_CONSUMER_BUNDLE_BYTES = 100 * 1024;
/** What a read-only consumer must never get: database drivers, PGlite, the CDK, Powertools. */
const FORBIDDEN = ['pg', '@electric-sql', 'aws-cdk-lib', 'aws-cdk', 'constructs', '@aws-lambda-powertools'];

let work: string;
let app: string;
let tarball: string;
let packed: string[];
let db: TestDb;
let redis: TestRedis;
let stack: LocalStack;

/**
 * The consumer: every public entry point, as a TypeScript service would write it. The ts-expect-error
 * lines are part of the check: tsc fails if a deep import into `dist/` ever resolves.
 */
const CONSUMER_TS = `
import {
  type CacheLookup,
  createRedisClient,
  LIMITS,
  ProfileClient,
  type ProfilesResult,
  UserCache,
  UserCacheError,
  type UserProfile,
  ValidationError,
} from '@chatapp-ngomna/shared';
import {
  DEFAULT_EVENTS_STREAM,
  EventProducer,
  type ProfileChange,
  USER_EVENT_TYPES,
} from '@chatapp-ngomna/shared/producer';
import type { StreamConsumerOptions } from '@chatapp-ngomna/shared/server';
// @ts-expect-error internal files are not part of the package's surface
import type { UserCache as Deep } from '@chatapp-ngomna/shared/dist/userCache.js';

export type Unused = Deep | StreamConsumerOptions;
const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined) throw new Error(name + ' is not set');
  return value;
};

const redis = createRedisClient({ url: env('GATEWAY_URL'), token: env('GATEWAY_TOKEN'), timeoutMs: 2000 });
const cache = new UserCache({ redis, keyPrefix: env('KEY_PREFIX') });
const client = new ProfileClient({ cache, apiBaseUrl: env('API_URL'), getToken: () => env('API_TOKEN') });
const ids: string[] = JSON.parse(env('IDS'));

const viaApi: ProfilesResult = await client.getProfiles([...ids, 'ghost-1']);
const cached: Map<string, CacheLookup> = await cache.batchGet(ids);
const viaCache: ProfilesResult = await client.getProfiles(ids);

let invalid = '';
try {
  await client.getProfiles(['not an id']);
} catch (error) {
  if (error instanceof ValidationError) invalid = error.code;
}

// An outside producer: the row was changed in PostgreSQL (by the test); announce it, wait for the poller.
const changed: UserProfile = JSON.parse(env('CHANGED_PROFILE'));
const producer = new EventProducer({ redis, stream: env('STREAM') });
const change: ProfileChange = { type: 'user.profile.updated', profile: changed };
const streamId = await producer.publish(change);
let applied: CacheLookup = { status: 'unknown', reason: 'not read' };
for (const until = Date.now() + 15_000; Date.now() < until; ) {
  applied = await cache.get(changed.userId);
  if (applied.status === 'hit' && applied.profile.version === changed.version) break;
  await new Promise((resolve) => setTimeout(resolve, 50));
}

console.log(JSON.stringify({
  viaApi: { found: [...viaApi.profiles.keys()], notFound: viaApi.notFound, unavailable: viaApi.unavailable },
  cached: Object.fromEntries([...cached].map(([id, lookup]) => [id, lookup.status])),
  viaCache: { found: [...viaCache.profiles.keys()], unavailable: viaCache.unavailable },
  sample: viaCache.profiles.get(ids[0] as string) ?? null,
  invalid,
  streamId,
  applied,
  cacheErrorIsClass: typeof UserCacheError === 'function',
  limits: LIMITS.httpBatchMax,
  types: USER_EVENT_TYPES,
  stream: DEFAULT_EVENTS_STREAM,
}));
process.exit(0);
`;

/** A consumer Lambda that reads profiles: what the 100 KB budget is about. */
const LAMBDA_MJS = `
import { createRedisClient, ProfileClient, UserCache } from '@chatapp-ngomna/shared';
const redis = createRedisClient({ url: process.env.UPSTASH_REDIS_REST_URL, token: process.env.UPSTASH_REDIS_REST_TOKEN });
const client = new ProfileClient({ cache: new UserCache({ redis }), apiBaseUrl: process.env.USERS_API_URL, getToken: () => process.env.USERS_API_TOKEN });
export const handler = async (event) => {
  const { profiles, notFound, unavailable } = await client.getProfiles(event.senderIds);
  return { profiles: Object.fromEntries(profiles), notFound, unavailable };
};
`;

const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    lib: ['ES2023'],
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    noUncheckedIndexedAccess: true,
    // As most projects set it (checking every .d.ts of @types/node, zod and @upstash/redis takes ~30 s
    // here). What it would hide, a .d.ts importing a package that is not installed, is checked below.
    skipLibCheck: true,
    types: ['node'],
    // @types/node from this repository: the fresh project installs only our tarball.
    typeRoots: [join(REPO, 'node_modules/@types')],
    outDir: 'out',
  },
  files: ['consumer.ts'],
};

/** Names of every package under `dir/node_modules`, nested ones included. */
async function installedPackages(dir: string): Promise<string[]> {
  const names: string[] = [];
  const walk = async (nodeModules: string): Promise<void> => {
    if (!existsSync(nodeModules)) return;
    for (const entry of await readdir(nodeModules)) {
      if (entry.startsWith('.')) continue;
      const scoped = entry.startsWith('@');
      const dirs = scoped
        ? (await readdir(join(nodeModules, entry))).map((name) => `${entry}/${name}`)
        : [entry];
      for (const name of dirs) {
        names.push(name);
        await walk(join(nodeModules, name, 'node_modules'));
      }
    }
  };
  await walk(join(dir, 'node_modules'));
  return names.sort();
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'shared-package-'));
  app = join(work, 'consumer-app');
  await mkdir(app);
  const npm = (args: string[], cwd: string) =>
    run('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, maxBuffer: 16 << 20 });

  const initialized = (async () => {
    await npm(['init', '-y'], app);
    // The package is ESM only (like the services that use it: Node 20+, top-level await).
    const manifest = join(app, 'package.json');
    await writeFile(
      manifest,
      JSON.stringify({ ...JSON.parse(await readFile(manifest, 'utf8')), type: 'module' }),
    );
  })();
  const packing = (async () => {
    const { stdout } = await npm(['pack', './shared', '--json', '--pack-destination', work], REPO);
    // prepack's build output precedes npm's JSON report.
    const report = JSON.parse(stdout.slice(stdout.indexOf('['))) as Array<{
      filename: string;
      files: Array<{ path: string }>;
    }>;
    tarball = join(work, report[0]!.filename);
    packed = report[0]!.files.map((f) => f.path).sort();
    await initialized;
    await npm(['install', tarball, '--prefer-offline'], app);
  })();
  [db, redis] = await Promise.all([useTestDb(), useTestRedis()]);
  stack = await startLocalStack({
    port: 0,
    dataDir: join(work, 'stack'),
    seedUsers: 20,
    sql: db.sql,
    redisUrl: redis.redisUrl,
    keyPrefix: redis.keyPrefix,
    prewarm: false,
    logLevel: 'SILENT',
    log: () => {},
  });
  await packing;
  await writeFile(join(app, 'consumer.ts'), CONSUMER_TS);
  await writeFile(join(app, 'tsconfig.json'), JSON.stringify(TSCONFIG, null, 2));
  await writeFile(join(app, 'lambda.mjs'), LAMBDA_MJS);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await Promise.all([redis?.cleanup(), db?.cleanup()]);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('@chatapp-ngomna/shared (the packed tarball)', () => {
  it('holds the built ESM, its .d.ts types and the exports map, and no sources or tests', async () => {
    for (const entry of ['index', 'producer', 'server', 'pg']) {
      expect(packed).toContain(`dist/${entry}.js`);
      expect(packed).toContain(`dist/${entry}.d.ts`);
    }
    expect(packed).toContain('CHANGELOG.md');
    for (const path of packed) expect(path).toMatch(/^(dist\/.+\.(js|d\.ts)|package\.json|CHANGELOG\.md)$/);

    const manifest = JSON.parse(
      await readFile(join(app, 'node_modules/@chatapp-ngomna/shared/package.json'), 'utf8'),
    );
    expect(manifest.type).toBe('module');
    expect(Object.keys(manifest.exports)).toEqual(['.', './producer', './server', './pg', './package.json']);
    expect(manifest.version).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('declares types that need only its dependencies (pg types only in the ./pg entry)', async () => {
    const root = join(app, 'node_modules/@chatapp-ngomna/shared');
    const manifest = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
    const allowed = new Set(Object.keys(manifest.dependencies));
    const pgOnly = new Set(['dist/pg.d.ts', 'dist/db/pgSql.d.ts']);
    const declarations = packed.filter((path) => path.endsWith('.d.ts'));
    expect(declarations.length).toBeGreaterThan(10);
    for (const path of declarations) {
      const text = await readFile(join(root, path), 'utf8');
      const specifiers = [...text.matchAll(/(?:from\s+|import\()['"]([^'"]+)['"]/g)].map((m) => m[1]!);
      for (const spec of specifiers) {
        if (spec.startsWith('.') || spec.startsWith('node:')) continue;
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
        expect({ path, name, ok: allowed.has(name) || (pgOnly.has(path) && name === 'pg') }).toEqual({
          path,
          name,
          ok: true,
        });
      }
    }
  });

  it('declares the dependency ranges the app is built and tested with', async () => {
    const root = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8'));
    const pkg = JSON.parse(await readFile(join(REPO, 'shared/package.json'), 'utf8'));
    const tested = { ...root.dependencies, ...root.devDependencies };
    for (const [name, range] of Object.entries({ ...pkg.dependencies, ...pkg.peerDependencies }))
      expect({ name, range }).toEqual({ name, range: tested[name] });
    expect(pkg.peerDependenciesMeta).toEqual({ pg: { optional: true } });
  });

  it('installs for a read-only consumer without pg, PGlite, the CDK or Powertools', async () => {
    const installed = await installedPackages(app);
    expect(installed).toContain('@chatapp-ngomna/shared');
    expect(installed).toContain('@upstash/redis');
    for (const name of installed) {
      for (const forbidden of FORBIDDEN)
        expect(name === forbidden || name.startsWith(`${forbidden}/`)).toBe(false);
    }
  });

  it('type-checks a consumer of the public entry points with tsc, and refuses deep imports', async () => {
    // Fails on any type error, or if the deep import resolved (then the ts-expect-error is unused).
    const tsc = await run(process.execPath, [TSC, '-p', join(app, 'tsconfig.json')], { cwd: app }).then(
      () => '',
      (error: { stdout?: string }) => error.stdout ?? String(error),
    );
    expect(tsc).toBe('');
    expect(existsSync(join(app, 'out/consumer.js'))).toBe(true);

    const deep = run(
      process.execPath,
      ['--input-type=module', '-e', "await import('@chatapp-ngomna/shared/dist/userCache.js')"],
      { cwd: app },
    );
    await expect(deep).rejects.toThrow(/ERR_PACKAGE_PATH_NOT_EXPORTED/);
  }, 90_000);

  it('loads ./server and ./producer without pg installed; only ./pg needs it', async () => {
    const load = (entry: string) =>
      run(process.execPath, ['--input-type=module', '-e', `await import('${entry}')`], { cwd: app });
    await load('@chatapp-ngomna/shared');
    await load('@chatapp-ngomna/shared/producer');
    await load('@chatapp-ngomna/shared/server');
    await expect(load('@chatapp-ngomna/shared/pg')).rejects.toThrow(/Cannot find package 'pg'/);
  });

  it('reads profiles through ProfileClient and UserCache, and publishes an event the poller applies', async () => {
    const ids = ['u000001', 'u000002', 'u000003'];
    // An outside service changes a row in PostgreSQL (no outbox row: it is not our API) ...
    const { rows } = await db.sql.query<{ version: string; updated_at: Date }>(
      `UPDATE personnel SET full_name = 'Changed Elsewhere', version = version + 1, updated_at = now()
       WHERE id = 'u000004' RETURNING version, updated_at`,
    );
    const current = await stack.cache.batchGet(['u000004']);
    expect(current.get('u000004')?.status).not.toBe('hit');
    const row = (
      await db.sql.query<Record<string, string>>(
        `SELECT id, full_name, avatar_url, matricule, ministere FROM personnel WHERE id = 'u000004'`,
      )
    ).rows[0]!;
    const changed = {
      userId: row.id,
      fullName: row.full_name,
      avatar: row.avatar_url,
      matricule: row.matricule,
      ministere: row.ministere,
      version: Number(rows[0]!.version),
      updatedAt: rows[0]!.updated_at.getTime(),
    };

    // ... and the consumer (plain node, in its own project) does the rest.
    const { stdout } = await run(process.execPath, [join(app, 'out/consumer.js')], {
      cwd: app,
      env: {
        PATH: process.env.PATH,
        GATEWAY_URL: stack.gatewayUrl,
        GATEWAY_TOKEN: stack.gatewayToken,
        KEY_PREFIX: stack.keyPrefix,
        API_URL: stack.apiUrl,
        API_TOKEN: stack.token,
        STREAM: stack.stream,
        IDS: JSON.stringify(ids),
        CHANGED_PROFILE: JSON.stringify(changed),
      },
    });
    const out = JSON.parse(stdout);

    expect(out.viaApi).toEqual({ found: ids, notFound: ['ghost-1'], unavailable: [] });
    // The API's read-fill cached them: the consumer's own UserCache now hits, and so does the client.
    expect(out.cached).toEqual({ u000001: 'hit', u000002: 'hit', u000003: 'hit' });
    expect(out.viaCache).toEqual({ found: ids, unavailable: [] });
    expect(out.sample).toMatchObject({ userId: 'u000001', version: 1 });
    expect(out.invalid).toBe('INVALID_USER_ID');
    expect(out.streamId).toMatch(/^\d+-\d+$/);
    expect(out.applied).toMatchObject({ status: 'hit', profile: changed });
    expect(out.types).toEqual(['user.profile.created', 'user.profile.updated', 'user.profile.deleted']);
    expect(out.stream).toBe('events:users');
  });

  it('bundles a ProfileClient + UserCache Lambda (esbuild, ESM, minified) in at most 100 KB', async () => {
    const result = await build({
      absWorkingDir: app,
      entryPoints: ['lambda.mjs'],
      bundle: true,
      minify: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const bytes = result.outputFiles[0]!.contents.byteLength;
    const inputs = Object.keys(result.metafile.inputs);
    console.log(`consumer Lambda bundle (ProfileClient + UserCache): ${bytes} bytes minified`);

    expect(bytes).toBeLessThanOrEqual(MAX_CONSUMER_BUNDLE_BYTES);
    expect(inputs.some((path) => path.includes('node_modules/@chatapp-ngomna/shared/dist/'))).toBe(true);
    // zod too: a bare zod/mini object schema alone is ~15 KB, and @upstash/redis already takes ~80 KB.
    for (const path of inputs) {
      for (const forbidden of [...FORBIDDEN, 'zod']) expect(path).not.toContain(`node_modules/${forbidden}/`);
    }
  });
});
