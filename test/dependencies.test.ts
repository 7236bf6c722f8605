import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Env, loadConfig } from '../functions/commons/config.js';
import { buildDependencies, type Dependencies } from '../functions/commons/dependencies.js';
import { createHandler as getCacheStats } from '../functions/getCacheStats.js';
import { createHandler as getUser } from '../functions/getUser.js';
import { ConfigError } from '../shared/errors.js';
import { apiEvent } from './support/apiEvents.js';
import { type TestRedis, useTestRedis } from './support/redis.js';

let t: TestRedis;
let redisEnv: Env;
const built: Dependencies[] = [];

beforeAll(async () => {
  t = await useTestRedis();
  // No DATABASE_* at all: what the getCacheStats function gets on Lambda.
  redisEnv = {
    UPSTASH_REDIS_REST_URL: t.gateway.url,
    UPSTASH_REDIS_REST_TOKEN: t.gateway.token,
    CACHE_KEY_PREFIX: t.keyPrefix,
    EVENTS_STREAM: `${t.keyPrefix}events:users`,
    REDIS_TIMEOUT_MS: '2000',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    // Without it every request prints an EMF line.
    POWERTOOLS_METRICS_DISABLED: 'true',
  };
});

afterAll(async () => {
  for (const deps of built) await deps.sql.close();
  await t.cleanup();
});

async function build(env: Env): Promise<Dependencies> {
  const deps = await buildDependencies(loadConfig(env));
  built.push(deps);
  return deps;
}

/** A GET with the read scope in the token's `scope` claim, as the JWT authorizer passes it on. */
const readEvent = (route: string, id?: string) =>
  apiEvent({ route, ...(id !== undefined && { id }), scopes: null, scopeClaim: 'users.read' });

describe('buildDependencies()', () => {
  it('builds without any PostgreSQL setting, and GET /cache/stats answers from Redis alone', async () => {
    const deps = await build(redisEnv);

    const res = await getCacheStats(deps)(readEvent('/cache/stats'));

    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body as string)).toHaveProperty('hitRate');
  });

  it('raises the ConfigError naming the missing variables at the first query, and on every retry', async () => {
    const deps = await build(redisEnv);

    for (let attempt = 0; attempt < 2; attempt++) {
      const failure = deps.sql.query('SELECT 1');
      await expect(failure).rejects.toThrow(ConfigError);
      await expect(failure).rejects.toThrow('DATABASE_SECRET_ARN or DATABASE_URL is required');
    }
  });

  it('answers 503 SERVICE_UNAVAILABLE on a route that reaches PostgreSQL without its settings', async () => {
    const deps = await build(redisEnv);

    const res = await getUser(deps)(readEvent('/users/{id}', 'u-missing-db'));

    expect(res.statusCode).toBe(503);
    expect(JSON.parse(res.body as string).error.code).toBe('SERVICE_UNAVAILABLE');
  });

  it('closes without ever opening a pool when nothing queried', async () => {
    const deps = await build(redisEnv);

    await expect(deps.sql.close()).resolves.toBeUndefined();
  });

  describe('with DATABASE_URL', () => {
    let url: string;
    let stop: () => Promise<void> = async () => {};

    beforeAll(async () => {
      // The pool speaks TCP: DATABASE_URL's server (only SELECTs without tables run there), else PGlite
      // served over the wire protocol.
      const external = process.env.DATABASE_URL?.trim();
      if (external) {
        url = external;
        return;
      }
      const pglite = await PGlite.create();
      const server = new PGLiteSocketServer({ db: pglite, host: '127.0.0.1', port: 0, maxConnections: 4 });
      await server.start();
      url = `postgres://postgres@${server.getServerConn()}/postgres`;
      stop = async () => {
        await server.stop();
        await pglite.close();
      };
    }, 60_000);

    afterAll(async () => {
      for (const deps of built.splice(0)) await deps.sql.close();
      await stop();
    });

    it('opens the pool from DATABASE_URL on the first query, for queries and transactions alike', async () => {
      const deps = await build({ ...redisEnv, DATABASE_URL: url });

      const results = await Promise.all([
        deps.sql.query<{ one: number }>('SELECT 1 AS one'),
        deps.sql.transaction((tx) => tx.query<{ two: number }>('SELECT 2 AS two')),
      ]);

      expect(results.map((r) => r.rows)).toEqual([[{ one: 1 }], [{ two: 2 }]]);
    });
  });
});
