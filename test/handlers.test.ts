import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import fc from 'fast-check';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createHandler as batchGetUsers } from '../functions/batchGetUsers.js';
import { lazyRoute } from '../functions/commons/lazy.js';
import type { ApiDeps, ApiHandler } from '../functions/commons/route.js';
import { createHandler as createUser } from '../functions/createUser.js';
import { createHandler as deleteUser } from '../functions/deleteUser.js';
import { createHandler as getCacheStats } from '../functions/getCacheStats.js';
import { createHandler as getUser } from '../functions/getUser.js';
import { createHandler as putUser } from '../functions/putUser.js';
import { ConfigError } from '../shared/errors.js';
import { LIMITS, type ProfileFields } from '../shared/profile/schemas.js';
import { type ApiEventInput, apiEvent, bodyOf } from './support/apiEvents.js';
import { bodyFields, fields, newId } from './support/fixtures.js';
import { type TestStack, useTestStack } from './support/stack.js';

let s: TestStack;
let h: Record<'get' | 'batch' | 'put' | 'create' | 'remove' | 'stats', ApiHandler>;

const READ = ['users.read'];
const WRITE = ['users.write'];

/** Everything a write could change, to prove a refused request changed nothing. */
async function dbSnapshot(): Promise<string> {
  const people = await s.db.sql.query('SELECT id, version, full_name, deleted_at FROM personnel ORDER BY id');
  const outbox = await s.db.sql.query('SELECT count(*)::int AS n FROM outbox');
  return JSON.stringify([people.rows, outbox.rows]);
}

function handlers(deps: ApiDeps) {
  return {
    get: getUser(deps),
    batch: batchGetUsers(deps),
    put: putUser(deps),
    create: createUser(deps),
    remove: deleteUser(deps),
    stats: getCacheStats(deps),
  };
}

async function seed(overrides: Partial<ProfileFields> = {}): Promise<string> {
  const id = newId();
  await s.repository.create(id, fields(overrides));
  return id;
}

beforeAll(async () => {
  s = await useTestStack();
  h = handlers(s.deps);
});
afterAll(async () => {
  await s?.cleanup();
});
beforeEach(() => {
  s.redis.gateway.setFaults({});
  s.sql.before = undefined;
  s.metrics.reset();
  s.logger.entries.length = 0;
});

const BAD_IDS: Array<[string, string]> = [
  ['a colon', 'a:b'],
  ['a glob star', '*'],
  ['a newline', 'a\nb'],
  ['65 characters', 'x'.repeat(65)],
  ['non-ASCII', 'élodie'],
  ['a space', 'a b'],
  ['a slash', 'a/b'],
  ['braces', '{a}'],
];

describe('API handlers', () => {
  describe('GET /users/{id}', () => {
    it('returns the profile with exactly its seven fields, an ETag and no-store', async () => {
      const id = await seed();
      const res = await h.get(apiEvent({ id, scopes: READ }));
      expect(res.statusCode).toBe(200);
      expect(bodyOf(res)).toEqual({ userId: id, ...bodyFields(), updatedAt: expect.any(Number), version: 1 });
      expect(res.headers).toMatchObject({ etag: '"1"', 'cache-control': 'no-store', 'x-cache': 'MISS' });
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect((await h.get(apiEvent({ id, scopes: READ }))).headers['x-cache']).toBe('HIT');
    });

    it('returns 404 USER_NOT_FOUND for an unknown id and for a deleted one', async () => {
      const unknown = await h.get(apiEvent({ id: newId(), scopes: READ }));
      expect(unknown.statusCode).toBe(404);
      expect(bodyOf(unknown)).toEqual({
        error: { code: 'USER_NOT_FOUND', message: expect.any(String), details: expect.any(Object) },
      });
      const id = await seed();
      await s.repository.softDelete(id);
      expect((await h.get(apiEvent({ id, scopes: READ }))).statusCode).toBe(404);
    });

    it.each(BAD_IDS)('returns 400 INVALID_USER_ID for an id with %s', async (_what, id) => {
      const res = await h.get(apiEvent({ id, scopes: READ }));
      expect(res.statusCode).toBe(400);
      expect(bodyOf(res).error.code).toBe('INVALID_USER_ID');
    });

    it('returns 400 when the path parameter is missing', async () => {
      expect((await h.get(apiEvent({ scopes: READ }))).statusCode).toBe(400);
    });

    it('returns 401 without authorizer claims', async () => {
      const res = await h.get(apiEvent({ id: newId(), anonymous: true }));
      expect(res.statusCode).toBe(401);
      expect(bodyOf(res).error.code).toBe('UNAUTHORIZED');
      expect(res.headers['www-authenticate']).toBe('Bearer');
    });

    it('returns 403 when the token lacks the read scope', async () => {
      const res = await h.get(apiEvent({ id: newId(), scopes: WRITE }));
      expect(res.statusCode).toBe(403);
      expect(bodyOf(res).error).toMatchObject({
        code: 'FORBIDDEN',
        details: { requiredScope: 'users.read' },
      });
      expect((await h.get(apiEvent({ id: newId(), scopes: null }))).statusCode).toBe(403);
    });

    it('accepts the scope from the space-separated scope claim', async () => {
      const id = await seed();
      const res = await h.get(apiEvent({ id, scopes: null, scopeClaim: 'openid users.read' }));
      expect(res.statusCode).toBe(200);
    });

    it('returns 405 with Allow for another method', async () => {
      const res = await h.get(apiEvent({ method: 'POST', id: newId(), scopes: READ }));
      expect(res.statusCode).toBe(405);
      expect(res.headers.allow).toBe('GET');
      expect(bodyOf(res).error.code).toBe('METHOD_NOT_ALLOWED');
    });

    it('returns 503 DATABASE_UNAVAILABLE without internals when PostgreSQL fails', async () => {
      s.sql.before = () => {
        throw Object.assign(new Error('connect ECONNREFUSED 10.0.0.5:5432'), { code: 'ECONNREFUSED' });
      };
      const res = await h.get(apiEvent({ id: newId(), scopes: READ }));
      expect(res.statusCode).toBe(503);
      expect(bodyOf(res).error).toEqual({
        code: 'DATABASE_UNAVAILABLE',
        message: expect.any(String),
        details: {},
      });
      expect(res.body).not.toContain('10.0.0.5');
      expect(s.logger.entries.some((e) => e.level === 'error')).toBe(true);
    });

    it('returns 500 INTERNAL_ERROR for an unexpected failure and logs it', async () => {
      const broken = getUser({
        ...s.deps,
        service: {
          ...s.deps.service,
          getProfile: async () => {
            throw new TypeError('boom');
          },
        },
      });
      const res = await broken(apiEvent({ id: newId(), scopes: READ }));
      expect(res.statusCode).toBe(500);
      expect(bodyOf(res)).toEqual({
        error: { code: 'INTERNAL_ERROR', message: 'internal error', details: {} },
      });
      expect(s.logger.entries.find((e) => e.level === 'error')?.extra).toMatchObject({
        code: 'INTERNAL_ERROR',
      });
    });

    it('records Latency and cache metrics and publishes them once per request', async () => {
      const id = await seed();
      await h.get(apiEvent({ id, scopes: READ }));
      const names = s.metrics.added.map((m) => m.name);
      expect(names).toEqual(expect.arrayContaining(['Latency', 'CacheMiss']));
      expect(s.metrics.added.find((m) => m.name === 'CacheMiss')?.value).toBe(1);
      expect(s.metrics.published).toBe(1);
    });

    it('adds no zero-valued metric and builds no debug line on a hit when debug is off', async () => {
      let debugCalls = 0;
      const quiet = getUser({
        ...s.deps,
        logger: { ...s.logger, debug: () => void debugCalls++, isDebugEnabled: () => false },
      });
      const id = await seed();
      await quiet(apiEvent({ id, scopes: READ }));
      s.metrics.added.length = 0;
      const res = await quiet(apiEvent({ id, scopes: READ }));
      expect(res.headers?.['x-cache']).toBe('HIT');
      expect(s.metrics.added.map((m) => m.name).sort()).toEqual(['CacheHit', 'Latency']);
      expect(debugCalls).toBe(0);
    });
  });

  describe('GET /users/batch', () => {
    it('returns users in request order (deduplicated) and the ids not found', async () => {
      const [a, b] = [await seed({ matricule: 'A1' }), await seed({ matricule: 'B1' })];
      const missing = newId();
      const res = await h.batch(apiEvent({ query: { ids: `${b},${missing},${a},${b}` }, scopes: READ }));
      expect(res.statusCode).toBe(200);
      const body = bodyOf(res);
      expect(body.users.map((u: { userId: string }) => u.userId)).toEqual([b, a]);
      expect(body.users[0]).toEqual({
        userId: b,
        ...bodyFields({ matricule: 'B1' }),
        updatedAt: expect.any(Number),
        version: 1,
      });
      expect(body.notFound).toEqual([missing]);
    });

    it('accepts exactly 100 distinct ids and refuses 101 with BATCH_TOO_LARGE', async () => {
      const ids = Array.from({ length: LIMITS.httpBatchMax + 1 }, (_, i) => `bulk${i}`);
      const ok = await h.batch(
        apiEvent({ query: { ids: [...ids.slice(0, 100), 'bulk0'].join(',') }, scopes: READ }),
      );
      expect(ok.statusCode).toBe(200);
      expect(bodyOf(ok).notFound).toHaveLength(100);
      const tooMany = await h.batch(apiEvent({ query: { ids: ids.join(',') }, scopes: READ }));
      expect(tooMany.statusCode).toBe(400);
      expect(bodyOf(tooMany).error).toMatchObject({
        code: 'BATCH_TOO_LARGE',
        details: { max: 100, received: 101 },
      });
    });

    it.each([
      ['no ids parameter', undefined, 'INVALID_QUERY'],
      ['an empty ids parameter', '', 'INVALID_QUERY'],
      ['an empty segment', 'a,,b', 'INVALID_USER_ID'],
      ['a malformed id', 'a,b:c', 'INVALID_USER_ID'],
      ['a newline', 'a,b\nc', 'INVALID_USER_ID'],
    ])('returns 400 for %s', async (_what, ids, code) => {
      const res = await h.batch(
        apiEvent({ query: ids === undefined ? { other: '1' } : { ids }, scopes: READ }),
      );
      expect(res.statusCode).toBe(400);
      expect(bodyOf(res).error.code).toBe(code);
    });

    it('returns 403 without the read scope', async () => {
      expect((await h.batch(apiEvent({ query: { ids: 'a' }, scopes: WRITE }))).statusCode).toBe(403);
    });
  });

  describe('PUT /users/{id}', () => {
    it('updates PostgreSQL and the cache and returns the new version as ETag', async () => {
      const id = await seed();
      const res = await h.put(
        apiEvent({ method: 'PUT', id, body: bodyFields({ fullName: 'Nouveau Nom' }), scopes: WRITE }),
      );
      expect(res.statusCode).toBe(200);
      expect(bodyOf(res)).toMatchObject({ userId: id, fullName: 'Nouveau Nom', version: 2 });
      expect(res.headers.etag).toBe('"2"');
      expect((await s.repository.getById(id))?.fullName).toBe('Nouveau Nom');
      expect(await s.cache.get(id)).toMatchObject({ status: 'hit', profile: { version: 2 } });
    });

    it.each([
      ['the ETag form', '"1"'],
      ['a bare number', '1'],
    ])('honours If-Match in %s', async (_what, ifMatch) => {
      const id = await seed();
      const ok = await h.put(
        apiEvent({ method: 'PUT', id, body: bodyFields(), headers: { 'if-match': ifMatch }, scopes: WRITE }),
      );
      expect(ok.statusCode).toBe(200);
      const stale = await h.put(
        apiEvent({ method: 'PUT', id, body: bodyFields(), headers: { 'If-Match': ifMatch }, scopes: WRITE }),
      );
      expect(stale.statusCode).toBe(412);
      expect(bodyOf(stale).error).toMatchObject({ code: 'VERSION_MISMATCH', details: { current: 2 } });
    });

    it.each(['abc', '"1', '0', '1, 2', '-1', '99999999999999999'])(
      'returns 400 INVALID_VERSION for If-Match %j',
      async (ifMatch) => {
        const id = await seed();
        const before = await dbSnapshot();
        const res = await h.put(
          apiEvent({
            method: 'PUT',
            id,
            body: bodyFields(),
            headers: { 'if-match': ifMatch },
            scopes: WRITE,
          }),
        );
        expect(res.statusCode).toBe(400);
        expect(bodyOf(res).error.code).toBe('INVALID_VERSION');
        expect(await dbSnapshot()).toBe(before);
      },
    );

    it('treats If-Match * as unconditional', async () => {
      const id = await seed();
      const res = await h.put(
        apiEvent({ method: 'PUT', id, body: bodyFields(), headers: { 'if-match': '*' }, scopes: WRITE }),
      );
      expect(res.statusCode).toBe(200);
    });

    it('returns 404 for an unknown id', async () => {
      expect(
        (await h.put(apiEvent({ method: 'PUT', id: newId(), body: bodyFields(), scopes: WRITE }))).statusCode,
      ).toBe(404);
    });

    it('accepts a base64-encoded JSON body', async () => {
      const id = await seed();
      const res = await h.put(
        apiEvent({
          method: 'PUT',
          id,
          body: bodyFields({ fullName: 'Base Soixante' }),
          base64: true,
          scopes: WRITE,
        }),
      );
      expect(res.statusCode).toBe(200);
      expect(bodyOf(res).fullName).toBe('Base Soixante');
    });

    const badBodies: Array<[string, Partial<ApiEventInput>, string]> = [
      ['no body', {}, 'INVALID_BODY'],
      ['malformed JSON', { rawBody: '{"fullName": ' }, 'INVALID_BODY'],
      ['a JSON array', { body: [bodyFields()] }, 'INVALID_BODY'],
      ['a JSON string', { body: 'hello' }, 'INVALID_BODY'],
      ['an unknown field', { body: { ...bodyFields(), role: 'admin' } }, 'INVALID_PROFILE'],
      [
        'a __proto__ field',
        { rawBody: `{"__proto__":{"x":1},${JSON.stringify(bodyFields()).slice(1)}` },
        'INVALID_PROFILE',
      ],
      ['a missing field', { body: { fullName: 'A', avatar: '', matricule: 'M1' } }, 'INVALID_PROFILE'],
      ['a number for fullName', { body: bodyFields({ fullName: 42 }) }, 'INVALID_PROFILE'],
      ['null for avatar', { body: bodyFields({ avatar: null }) }, 'INVALID_PROFILE'],
      ['an over-long fullName', { body: bodyFields({ fullName: 'x'.repeat(201) }) }, 'INVALID_PROFILE'],
      ['an over-long matricule', { body: bodyFields({ matricule: '1'.repeat(33) }) }, 'INVALID_PROFILE'],
      ['a control character', { body: bodyFields({ fullName: 'A\u0000B' }) }, 'INVALID_PROFILE'],
      ['a javascript: avatar', { body: bodyFields({ avatar: 'javascript:alert(1)' }) }, 'INVALID_PROFILE'],
      [
        'a NUL inside the avatar URL',
        { body: bodyFields({ avatar: 'https://a\u0000b' }) },
        'INVALID_PROFILE',
      ],
      [
        'a control character in the avatar URL',
        { body: bodyFields({ avatar: 'https://a\u0001b' }) },
        'INVALID_PROFILE',
      ],
      ['a lower-case ministere', { body: bodyFields({ ministere: 'minfop' }) }, 'INVALID_PROFILE'],
    ];

    it.each(badBodies)('returns 400 for %s and changes nothing', async (_what, input, code) => {
      const id = await seed();
      const before = await dbSnapshot();
      const res = await h.put(apiEvent({ method: 'PUT', id, scopes: WRITE, ...input }));
      expect(res.statusCode).toBe(400);
      expect(bodyOf(res).error.code).toBe(code);
      expect(await dbSnapshot()).toBe(before);
    });

    it('returns 400 for invalid UTF-8 inside a base64 body', async () => {
      const id = await seed();
      const e = apiEvent({ method: 'PUT', id, scopes: WRITE });
      Object.assign(e, {
        body: Buffer.from([0x7b, 0xc3, 0x28, 0x7d]).toString('base64'),
        isBase64Encoded: true,
      });
      const res = await h.put(e);
      expect(res.statusCode).toBe(400);
      expect(bodyOf(res).error.code).toBe('INVALID_BODY');
    });

    it('lists field paths in the 400 details, never the values', async () => {
      const id = await seed();
      const res = await h.put(
        apiEvent({ method: 'PUT', id, body: bodyFields({ fullName: 'x'.repeat(300) }), scopes: WRITE }),
      );
      expect(bodyOf(res).error.details.issues).toEqual([{ path: 'fullName', message: expect.any(String) }]);
      expect(res.body).not.toContain('xxxxxxxxxx');
    });

    it.each([
      ['plain', false],
      ['base64', true],
    ])('returns 413 PAYLOAD_TOO_LARGE for a %s body over 16 KiB', async (_what, base64) => {
      const id = await seed();
      const before = await dbSnapshot();
      const big = { ...bodyFields(), padding: 'x'.repeat(LIMITS.bodyMaxBytes) };
      const res = await h.put(apiEvent({ method: 'PUT', id, body: big, base64, scopes: WRITE }));
      expect(res.statusCode).toBe(413);
      expect(bodyOf(res).error.code).toBe('PAYLOAD_TOO_LARGE');
      expect(await dbSnapshot()).toBe(before);
    });

    it('returns 415 for a non-JSON content type', async () => {
      const id = await seed();
      const res = await h.put(
        apiEvent({
          method: 'PUT',
          id,
          body: bodyFields(),
          headers: { 'content-type': 'text/plain' },
          scopes: WRITE,
        }),
      );
      expect(res.statusCode).toBe(415);
    });

    it('returns 403 with only the read scope and changes nothing', async () => {
      const id = await seed();
      const before = await dbSnapshot();
      const res = await h.put(
        apiEvent({ method: 'PUT', id, body: bodyFields({ fullName: 'Pirate' }), scopes: READ }),
      );
      expect(res.statusCode).toBe(403);
      expect(await dbSnapshot()).toBe(before);
    });

    it('returns 401 without claims and changes nothing', async () => {
      const id = await seed();
      const before = await dbSnapshot();
      const res = await h.put(
        apiEvent({ method: 'PUT', id, body: bodyFields({ fullName: 'Pirate' }), anonymous: true }),
      );
      expect(res.statusCode).toBe(401);
      expect(await dbSnapshot()).toBe(before);
    });

    it.each(BAD_IDS)('returns 400 for an id with %s', async (_what, id) => {
      const res = await h.put(apiEvent({ method: 'PUT', id, body: bodyFields(), scopes: WRITE }));
      expect(res.statusCode).toBe(400);
    });
  });

  describe('POST /users', () => {
    it('creates the profile: 201 with Location and ETag', async () => {
      const id = newId();
      const res = await h.create(apiEvent({ method: 'POST', body: { id, ...bodyFields() }, scopes: WRITE }));
      expect(res.statusCode).toBe(201);
      expect(res.headers).toMatchObject({ location: `/users/${id}`, etag: '"1"' });
      expect(bodyOf(res)).toMatchObject({ userId: id, version: 1 });
      expect((await h.get(apiEvent({ id, scopes: READ }))).headers['x-cache']).toBe('HIT');
    });

    it('generates an id when none is given', async () => {
      const res = await h.create(apiEvent({ method: 'POST', body: bodyFields(), scopes: WRITE }));
      expect(res.statusCode).toBe(201);
      const { userId } = bodyOf(res);
      expect(res.headers.location).toBe(`/users/${userId}`);
      expect((await s.repository.getById(userId))?.version).toBe(1);
    });

    it('returns 409 USER_EXISTS for an existing id', async () => {
      const id = await seed();
      const res = await h.create(apiEvent({ method: 'POST', body: { id, ...bodyFields() }, scopes: WRITE }));
      expect(res.statusCode).toBe(409);
      expect(bodyOf(res).error.code).toBe('USER_EXISTS');
    });

    it.each(BAD_IDS)('returns 400 for a body id with %s and creates nothing', async (_what, id) => {
      const before = await dbSnapshot();
      const res = await h.create(apiEvent({ method: 'POST', body: { id, ...bodyFields() }, scopes: WRITE }));
      expect(res.statusCode).toBe(400);
      expect(await dbSnapshot()).toBe(before);
    });

    it('returns 405 for GET', async () => {
      expect((await h.create(apiEvent({ method: 'GET', scopes: WRITE }))).statusCode).toBe(405);
    });
  });

  describe('DELETE /users/{id}', () => {
    it('soft-deletes: 204, then GET answers 404', async () => {
      const id = await seed();
      const res = await h.remove(apiEvent({ method: 'DELETE', id, scopes: WRITE }));
      expect(res.statusCode).toBe(204);
      expect(res.body).toBeUndefined();
      expect((await h.get(apiEvent({ id, scopes: READ }))).statusCode).toBe(404);
      expect((await s.repository.getById(id))?.deletedAt).not.toBeNull();
    });

    it('returns 404 for an unknown id and 412 for a stale If-Match', async () => {
      expect((await h.remove(apiEvent({ method: 'DELETE', id: newId(), scopes: WRITE }))).statusCode).toBe(
        404,
      );
      const id = await seed();
      const stale = await h.remove(
        apiEvent({ method: 'DELETE', id, headers: { 'if-match': '"3"' }, scopes: WRITE }),
      );
      expect(stale.statusCode).toBe(412);
      expect((await s.repository.getById(id))?.deletedAt).toBeNull();
    });

    it('returns 403 with only the read scope', async () => {
      const id = await seed();
      expect((await h.remove(apiEvent({ method: 'DELETE', id, scopes: READ }))).statusCode).toBe(403);
      expect((await s.repository.getById(id))?.deletedAt).toBeNull();
    });
  });

  describe('GET /cache/stats', () => {
    it('returns the shared counters with hitRate and dbFallbackShare', async () => {
      const id = await seed();
      await h.get(apiEvent({ id, scopes: READ }));
      const res = await h.stats(apiEvent({ scopes: READ }));
      expect(res.statusCode).toBe(200);
      const stats = bodyOf(res);
      expect(stats).toMatchObject({ hitRate: expect.any(Number), dbFallbackShare: expect.any(Number) });
      expect(stats.dbReads).toBeGreaterThan(0);
    });

    it('returns 503 when Redis is down', async () => {
      const stats = getCacheStats(s.build().deps);
      s.redis.gateway.setFaults({ mode: 'http503' });
      const res = await stats(apiEvent({ scopes: READ }));
      expect(res.statusCode).toBe(503);
      expect(bodyOf(res).error.code).toBe('CACHE_UNAVAILABLE');
    });
  });

  describe('with Redis down', () => {
    it('still reads and writes through PostgreSQL', async () => {
      const down = handlers(s.build().deps);
      s.redis.gateway.setFaults({ mode: 'http503' });
      const id = newId();
      expect(
        (await down.create(apiEvent({ method: 'POST', body: { id, ...bodyFields() }, scopes: WRITE })))
          .statusCode,
      ).toBe(201);
      expect((await down.get(apiEvent({ id, scopes: READ }))).statusCode).toBe(200);
      const put = await down.put(
        apiEvent({ method: 'PUT', id, body: bodyFields({ fullName: 'Hors Ligne' }), scopes: WRITE }),
      );
      expect(bodyOf(put)).toMatchObject({ fullName: 'Hors Ligne', version: 2 });
      expect((await down.batch(apiEvent({ query: { ids: id }, scopes: READ }))).statusCode).toBe(200);
      expect((await down.remove(apiEvent({ method: 'DELETE', id, scopes: WRITE }))).statusCode).toBe(204);
    });
  });

  describe('handler (the Lambda entry point)', () => {
    let pg: { server: PGLiteSocketServer; db: PGlite } | undefined;
    const saved = { ...process.env };

    beforeAll(async () => {
      // The entry point builds a `pg` pool from DATABASE_URL: serve a private PGlite over the wire protocol.
      const db = await PGlite.create();
      const server = new PGLiteSocketServer({ db, port: 0, host: '127.0.0.1', maxConnections: 8 });
      await server.start();
      pg = { server, db };
      Object.assign(process.env, {
        UPSTASH_REDIS_REST_URL: s.redis.gateway.url,
        UPSTASH_REDIS_REST_TOKEN: s.redis.gateway.token,
        DATABASE_URL: `postgres://postgres@${server.getServerConn()}/postgres`,
        CACHE_KEY_PREFIX: s.redis.keyPrefix,
        // The stream too: the real handler XADDs, and nothing outside the prefix may be touched.
        EVENTS_STREAM: `${s.redis.keyPrefix}events:users`,
        REDIS_TIMEOUT_MS: '2000',
        POWERTOOLS_LOG_LEVEL: 'SILENT',
        POWERTOOLS_METRICS_DISABLED: 'true',
      });
      const { migrate } = await import('../shared/db/migrate.js');
      const { createPgSql } = await import('../shared/db/pgSql.js');
      const admin = createPgSql({ connectionString: process.env.DATABASE_URL as string });
      await migrate(admin);
      await admin.close();
    });
    afterAll(async () => {
      process.env = saved;
      const { getDependencies } = await import('../functions/commons/dependencies.js');
      await (await getDependencies().catch(() => undefined))?.sql.close();
      await pg?.server.stop();
      await pg?.db.close();
    });

    it('builds its dependencies from the environment once and serves every route', async () => {
      const [{ handler: create }, { handler: get }, { handler: stats }, { getDependencies }] =
        await Promise.all([
          import('../functions/createUser.js'),
          import('../functions/getUser.js'),
          import('../functions/getCacheStats.js'),
          import('../functions/commons/dependencies.js'),
        ]);
      const id = newId();
      const created = await create(
        apiEvent({ method: 'POST', body: { id, ...bodyFields() }, scopes: WRITE }),
      );
      expect(created.statusCode).toBe(201);
      const read = await get(apiEvent({ id, scopes: READ }));
      expect(read.statusCode).toBe(200);
      expect(read.headers['x-cache']).toBe('HIT');
      expect((await stats(apiEvent({ scopes: READ }))).statusCode).toBe(200);
      // The same clients for every handler module of this environment.
      expect(await getDependencies()).toBe(await getDependencies());
      expect((await getDependencies()).cache.keys.profile(id)).toBe(`${s.redis.keyPrefix}user:profile:${id}`);
    });
  });

  describe('fuzzing bad input', () => {
    const badId = fc.string({ unit: 'binary', maxLength: 80 }).filter((id) => !LIMITS.userIdPattern.test(id));
    const invalidBody = fc.oneof(
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.string({ unit: 'binary', maxLength: 200 }),
      // A valid body with one field broken, or one field too many: the nearest misses.
      fc
        .tuple(
          fc.constantFrom('fullName', 'avatar', 'matricule', 'ministere', 'extra'),
          fc.oneof(
            fc.integer(),
            fc.constant(null),
            fc.constant('\u0007'),
            fc.constant('x'.repeat(2049)),
            fc.array(fc.string()),
          ),
        )
        .map(([key, value]) => JSON.stringify({ ...bodyFields(), [key]: value })),
    );

    it('never answers 5xx and never changes PostgreSQL for bad ids', async () => {
      const id = await seed();
      const before = await dbSnapshot();
      await fc.assert(
        fc.asyncProperty(badId, fc.constantFrom('get', 'put', 'remove', 'batch'), async (bad, route) => {
          const input: ApiEventInput =
            route === 'batch'
              ? {
                  query: {
                    ids: `${id},${bad.split(',').some((p) => !LIMITS.userIdPattern.test(p)) ? bad : '*'}`,
                  },
                  scopes: READ,
                }
              : {
                  id: bad,
                  method: { get: 'GET', put: 'PUT', remove: 'DELETE' }[route],
                  body: bodyFields(),
                  scopes: [...READ, ...WRITE],
                };
          const res = await h[route as 'get'](apiEvent(input));
          expect(res.statusCode).toBe(400);
        }),
        { numRuns: 150 },
      );
      expect(await dbSnapshot()).toBe(before);
    });

    it('never answers 5xx and never changes PostgreSQL for bad bodies', async () => {
      const id = await seed();
      const before = await dbSnapshot();
      await fc.assert(
        fc.asyncProperty(
          invalidBody,
          fc.boolean(),
          fc.constantFrom('put', 'create'),
          async (raw, base64, route) => {
            const res = await h[route](
              apiEvent({
                id: route === 'put' ? id : undefined,
                method: route === 'put' ? 'PUT' : 'POST',
                rawBody: raw,
                base64,
                scopes: WRITE,
              }),
            );
            expect(res.statusCode).toBeGreaterThanOrEqual(400);
            expect(res.statusCode).toBeLessThan(500);
          },
        ),
        { numRuns: 200 },
      );
      expect(await dbSnapshot()).toBe(before);
    });
  });
});

describe('lazyRoute() (the Lambda entry points of the API)', () => {
  it('answers 503 in the API error shape when the dependencies cannot be built, and retries the build', async () => {
    let builds = 0;
    const failing = lazyRoute(async () => {
      builds++;
      throw new ConfigError('UPSTASH_SECRET_ARN: the secret is missing fields: token');
    });
    const errors = console.error;
    console.error = () => {};
    try {
      for (let i = 0; i < 2; i++) {
        const res = await failing(apiEvent({ method: 'GET', id: 'u1', scopes: READ }));
        expect(res.statusCode).toBe(503);
        expect(bodyOf(res).error.code).toBe('SERVICE_UNAVAILABLE');
        expect(JSON.stringify(res)).not.toContain('token');
      }
    } finally {
      console.error = errors;
    }
    expect(builds).toBe(2);
  });
});
