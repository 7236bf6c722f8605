/**
 * PostgreSQL connections are bounded (issue 10, section 3). Fifty Lambda "environments", each built as
 * `functions/commons/dependencies.ts` builds one (its own Upstash client and its own lazy `pg` pool from
 * `createDatabaseSql`), hit a database that admits only 10 connections at once.
 *
 * With DATABASE_URL the limit is PostgreSQL's own: a role created with `CONNECTION LIMIT 10`, refused
 * connections are SQLSTATE 53300 "too many connections". Without it (PGlite has no roles), the same
 * test runs against PGlite served over the wire protocol by pglite-socket with `maxConnections: 10`,
 * which drops the eleventh socket: the bound and every outcome below are checked the same way, but the
 * 53300 mapping itself is only exercised on a real server (and by the injected-53300 test).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler as batchGetUsers } from '../functions/batchGetUsers.js';
import { loadConfig } from '../functions/commons/config.js';
import { createDatabaseSql } from '../functions/commons/dependencies.js';
import type { ApiHandler } from '../functions/commons/route.js';
import { buildProfileServices } from '../functions/commons/services.js';
import { createHandler as getUser } from '../functions/getUser.js';
import { createHandler as putUser } from '../functions/putUser.js';
import { FUNCTIONS } from '../infra/functionTable.js';
import { openScratchDatabase, type ScratchDatabase } from '../local/scratchDatabase.js';
import { migrate } from '../shared/db/migrate.js';
import { createPgSql, PG_POOL_DEFAULTS } from '../shared/db/pgSql.js';
import { ProfileRepository } from '../shared/db/profileRepository.js';
import type { Sql } from '../shared/db/sql.js';
import { createRedisClient } from '../shared/redis/client.js';
import { apiEvent, bodyOf } from './support/apiEvents.js';
import { instrumentSql } from './support/db.js';
import { type TestRedis, useTestRedis } from './support/redis.js';
import {
  type CapturingLogger,
  type CapturingMetrics,
  capturingLogger,
  capturingMetrics,
} from './support/stack.js';

const CONNECTION_LIMIT = 10;
const ENVIRONMENTS = 50;
const ROUNDS = 4;
const FUNCTION_TIMEOUT_MS = FUNCTIONS.find((f) => f.name === 'getUser')!.timeoutSeconds * 1000;
const FIELDS = { fullName: 'Abena Marie', avatar: '', matricule: '55-A', ministere: 'MINFOP' };

interface Target {
  kind: 'postgres' | 'pglite-socket';
  /** What an environment connects with (the limited role, or the socket server). */
  url: string;
  /** Outside the limit: seeding and checks. */
  admin: Sql;
  /**
   * Open connections of environments built with `?application_name=<tag>` (PostgreSQL), or every open
   * socket of the server (pglite-socket, which knows no application names).
   */
  connections(tag: string): Promise<number>;
  close(): Promise<void>;
}

async function openTarget(): Promise<Target> {
  if (process.env.DATABASE_URL?.trim()) {
    const db: ScratchDatabase = await openScratchDatabase({
      name: 'conn',
      roleConnectionLimit: CONNECTION_LIMIT,
    });
    return {
      kind: 'postgres',
      url: db.roleUrl!,
      admin: db.sql,
      async connections(tag) {
        const { rows } = await db.sql.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1',
          [tag],
        );
        return rows[0]?.n ?? 0;
      },
      close: () => db.close(),
    };
  }
  const pglite = await PGlite.create();
  const server = new PGLiteSocketServer({
    db: pglite,
    port: 0,
    host: '127.0.0.1',
    maxConnections: CONNECTION_LIMIT,
  });
  await server.start();
  const url = `postgres://postgres@${server.getServerConn()}/postgres`;
  // One of the ten slots while seeding and checking; it closes as soon as it is idle, so environments
  // get all ten during a burst.
  const admin = createPgSql({ connectionString: url, statementTimeoutMs: 0, idleTimeoutMs: 1 });
  await migrate(admin);
  return {
    kind: 'pglite-socket',
    url,
    admin,
    connections: async () => server.getStats().activeConnections,
    async close() {
      await admin.close();
      await server.stop();
      await pglite.close();
    },
  };
}

interface Environment {
  sql: Sql;
  logger: CapturingLogger;
  metrics: CapturingMetrics;
  get: ApiHandler;
  put: ApiHandler;
  batch: ApiHandler;
}

/** One Lambda environment: `buildDependencies` minus Powertools (whose EMF output would flood the run). */
function environment(database: string | Sql, redis: TestRedis): Environment {
  const config = loadConfig({
    DATABASE_URL: typeof database === 'string' ? database : 'postgres://unused@127.0.0.1/none',
    UPSTASH_REDIS_REST_URL: redis.gateway.url,
    UPSTASH_REDIS_REST_TOKEN: redis.gateway.token,
    CACHE_KEY_PREFIX: redis.keyPrefix,
    EVENTS_STREAM: `${redis.keyPrefix}events:users`,
    // Generous: the gateway (and PGlite, without DATABASE_URL) share this process's event loop with
    // fifty environments, and this test is about PostgreSQL's limit, not Redis timeouts.
    REDIS_TIMEOUT_MS: '10000',
  });
  const logger = capturingLogger();
  const metrics = capturingMetrics();
  const sql = typeof database === 'string' ? createDatabaseSql(config, logger) : database;
  const { service } = buildProfileServices({
    redis: createRedisClient({
      url: config.upstash.source === 'env' ? config.upstash.url : '',
      token: redis.gateway.token,
      timeoutMs: config.redisTimeoutMs,
    }),
    repository: new ProfileRepository({ sql }),
    cache: config.cache,
    stream: config.events.stream,
    logger,
    metrics,
  });
  const deps = { service, logger, metrics, auth: config.auth };
  return { sql, logger, metrics, get: getUser(deps), put: putUser(deps), batch: batchGetUsers(deps) };
}

interface Outcome {
  kind: 'hit' | 'miss' | 'write' | 'batch';
  status: number;
  ms: number;
  headers: Record<string, string>;
  body: { error?: { code: string } } | null;
  /** A hot read whose Redis lookup failed (timeout or open circuit) and fell back to PostgreSQL. */
  redisFailed?: boolean;
}

async function timed(kind: Outcome['kind'], run: () => ReturnType<ApiHandler>): Promise<Outcome> {
  const started = performance.now();
  const res = await run();
  return {
    kind,
    status: res.statusCode,
    ms: performance.now() - started,
    headers: res.headers,
    body: bodyOf(res),
  };
}

let target: Target;
let redis: TestRedis;
const hot = Array.from({ length: ENVIRONMENTS }, (_, i) => `hot${i}`);
const cold = Array.from({ length: ENVIRONMENTS }, (_, i) => `cold${i}`);

beforeAll(async () => {
  [target, redis] = await Promise.all([openTarget(), useTestRedis()]);
  // One statement (PGlite is slow per round trip); these rows need no outbox event.
  await target.admin.query(
    `INSERT INTO personnel (id, matricule, full_name, avatar_url, ministere)
     SELECT id, $2, $3, $4, $5 FROM unnest($1::text[]) AS id`,
    [[...hot, ...cold], FIELDS.matricule, FIELDS.fullName, FIELDS.avatar, FIELDS.ministere],
  );
  // Warm the hot ids (one batch read fills them all) through an environment that is then shut down.
  const primer = environment(target.url, redis);
  const warm = await primer.batch(apiEvent({ query: { ids: hot.join(',') } }));
  expect(bodyOf(warm).users).toHaveLength(hot.length);
  // The fill is best effort: make sure it landed, or "hits" below would be misses.
  expect(await redis.redis.exists(...hot.map((id) => `${redis.keyPrefix}user:profile:${id}`))).toBe(
    hot.length,
  );
  await primer.sql.close();
}, 120_000);
afterAll(async () => {
  await Promise.allSettled([target?.close(), redis?.cleanup()]);
});

describe('PostgreSQL connection budget', () => {
  it(`keeps ${ENVIRONMENTS} environments within a ${CONNECTION_LIMIT}-connection database: hits unaffected, misses answered or 503 + Retry-After, never a 500 or a hang`, async () => {
    const envs = Array.from({ length: ENVIRONMENTS }, () => environment(target.url, redis));
    try {
      // Every environment serves one request at a time (as Lambda does), all fifty at once.
      const perEnv = await Promise.all(
        envs.map(async (env, i) => {
          const outcomes: Outcome[] = [];
          for (let round = 0; round < ROUNDS; round++) {
            env.metrics.reset();
            const hit = await timed('hit', () => env.get(apiEvent({ id: hot[i]! })));
            // Redis itself failed to answer in time (this machine's CPU, not PostgreSQL's limit).
            hit.redisFailed = env.metrics.added.some((m) => m.name === 'DbFallback' && m.value > 0);
            outcomes.push(hit);
            // A fresh cold id per round, so it is a miss every time (no fill from an earlier round).
            const miss = cold[(i + round * 7) % ENVIRONMENTS]!;
            outcomes.push(await timed('miss', () => env.get(apiEvent({ id: `${miss}` }))));
            outcomes.push(
              await timed('write', () => env.put(apiEvent({ method: 'PUT', id: cold[i]!, body: FIELDS }))),
            );
            outcomes.push(
              await timed('batch', () =>
                env.batch(apiEvent({ query: { ids: `${hot[i]},${cold[(i + 1) % ENVIRONMENTS]}` } })),
              ),
            );
          }
          return outcomes;
        }),
      );
      const all = perEnv.flat();

      // Cache hits never need PostgreSQL: every one is answered from Redis, whatever the database says.
      const hits = all.filter((o) => o.kind === 'hit');
      expect(hits).toHaveLength(ENVIRONMENTS * ROUNDS);
      // Only a Redis timeout (a starved event loop on a loaded machine) may send a hit to PostgreSQL;
      // such a read is then a fallback like any other, answered or refused as below.
      const answeredByRedis = hits.filter((o) => !o.redisFailed);
      for (const o of answeredByRedis) expect([o.status, o.headers['x-cache']]).toEqual([200, 'HIT']);
      expect(answeredByRedis.length).toBeGreaterThan(hits.length * 0.9);

      // Everything else is answered, or refused honestly and retryably; never a 500.
      for (const o of all) {
        expect([200, 503], JSON.stringify(o)).toContain(o.status);
        if (o.status === 503) {
          expect(o.body?.error?.code).toBe('DATABASE_UNAVAILABLE');
          expect(o.headers['retry-after']).toMatch(/^[1-9]\d*$/);
        }
      }
      // Never a hang past the function's timeout (the connect timeout bounds every wait).
      const slowest = Math.max(...all.map((o) => o.ms));
      expect(slowest).toBeLessThan(FUNCTION_TIMEOUT_MS);

      // Not vacuous: the limit was reached (some refusals) and the database still served others.
      const refused = all.filter((o) => o.status === 503).length;
      const answeredMisses = all.filter((o) => o.kind === 'miss' && o.status === 200).length;
      expect(refused).toBeGreaterThan(0);
      expect(answeredMisses).toBeGreaterThan(0);
      if (target.kind === 'postgres') {
        // The server's own refusal, mapped (not a timeout or a crash).
        const causes = envs
          .flatMap((env) => env.logger.entries)
          .map((e) => (e.extra?.error as { cause?: { code?: string } })?.cause?.code);
        expect(causes).toContain('53300');
      }

      // Connections back (pglite-socket counts the checking connection against the same limit).
      await Promise.all(envs.map((env) => env.sql.close()));
      if (target.kind === 'pglite-socket') {
        await expect.poll(() => target.connections('any'), { timeout: 10_000 }).toBe(0);
      }
      // A refused write changed nothing: each environment's own row moved once per answered PUT.
      const rows = await target.admin.query<{ id: string; version: string | number }>(
        'SELECT id, version FROM personnel WHERE id = ANY($1::text[])',
        [cold],
      );
      const version = new Map(rows.rows.map((r) => [r.id, Number(r.version)]));
      perEnv.forEach((outcomes, i) => {
        const written = outcomes.filter((o) => o.kind === 'write' && o.status === 200).length;
        expect(version.get(cold[i]!)).toBe(1 + written);
      });
      console.info(
        `[connections] ${target.kind}: ${all.length} requests, ${refused} × 503, ${answeredMisses} misses answered, slowest ${Math.round(slowest)} ms`,
      );
    } finally {
      await Promise.all(envs.map((env) => env.sql.close()));
    }
  }, 90_000);

  it('gives up on a server that accepts TCP but never answers within the connect timeout: 503 + Retry-After', async () => {
    const sockets: Socket[] = [];
    const blackHole: Server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
    const { port } = blackHole.address() as { port: number };
    const env = environment(`postgres://app@127.0.0.1:${port}/postgres`, redis);
    try {
      const o = await timed('miss', () => env.get(apiEvent({ id: 'nobodyHere' })));
      expect(o.status).toBe(503);
      expect(o.body?.error?.code).toBe('DATABASE_UNAVAILABLE');
      expect(o.headers['retry-after']).toMatch(/^[1-9]\d*$/);
      expect(o.ms).toBeGreaterThanOrEqual(PG_POOL_DEFAULTS.connectionTimeoutMs - 50);
      expect(o.ms).toBeLessThan(PG_POOL_DEFAULTS.connectionTimeoutMs + 2_000);
    } finally {
      await env.sql.close();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => blackHole.close(resolve));
    }
  });

  it('maps SQLSTATE 53300 from the driver to 503 DATABASE_UNAVAILABLE with Retry-After (any server)', async () => {
    const sql = instrumentSql(target.admin);
    sql.before = () => {
      throw Object.assign(new Error('sorry, too many clients already'), { code: '53300', severity: 'FATAL' });
    };
    const env = environment(sql, redis);
    const o = await timed('miss', () => env.get(apiEvent({ id: 'nobodyAtAll' })));
    expect([o.status, o.body?.error?.code, o.headers['retry-after']]).toEqual([
      503,
      'DATABASE_UNAVAILABLE',
      '1',
    ]);
    expect(o.body).toEqual({
      error: { code: 'DATABASE_UNAVAILABLE', message: expect.any(String), details: {} },
    });
  });

  it('holds one connection per environment, even when its queries overlap', async () => {
    const tag = 'probe_env';
    // Earlier environments (and the idle admin connection) are gone first.
    await expect.poll(() => target.connections(tag), { timeout: 10_000 }).toBe(0);
    const env = environment(
      `${target.url}${target.url.includes('?') ? '&' : '?'}application_name=${tag}`,
      redis,
    );
    try {
      const replies = await Promise.all(
        cold.slice(0, 5).map((id) => env.batch(apiEvent({ query: { ids: `${id},nobody${id}` } }))),
      );
      expect(replies.map((r) => r.statusCode)).toEqual([200, 200, 200, 200, 200]);
      expect(await target.connections(tag)).toBe(PG_POOL_DEFAULTS.max);
    } finally {
      await env.sql.close();
    }
  });
});
