/**
 * The local stack end to end over real HTTP: real redis-server (through the Upstash gateway), real
 * PostgreSQL (PGlite, or DATABASE_URL in a fresh schema), the real handler modules.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { APIGatewayProxyEventV2WithJWTAuthorizer } from 'aws-lambda';
import fc from 'fast-check';
import { base64url, createRemoteJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type ApiServer, type HttpHandler, startApiServer } from '../local/apiServer.js';
import { createDevAuth, type DevAuth } from '../local/devAuth.js';
import { type LocalStack, startLocalStack } from '../local/localStack.js';
import type { HttpHandlerName } from '../local/routes.js';
import { type TestDb, useTestDb } from './support/db.js';
import { type TestRedis, useTestRedis } from './support/redis.js';

const HOUR_MS = 3_600_000;
const VALID_FIELDS = { fullName: 'NANA Paul', avatar: '', matricule: '123456-A', ministere: 'MINFOP' };

let dir: string;
let db: TestDb;
let redis: TestRedis;
let stack: LocalStack;
const accessLog: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'api-server-'));
  [db, redis] = await Promise.all([useTestDb(), useTestRedis()]);
  stack = await startLocalStack({
    port: 0,
    dataDir: dir,
    seedUsers: 50,
    sql: db.sql,
    redisUrl: redis.redisUrl,
    keyPrefix: redis.keyPrefix,
    prewarm: false,
    logLevel: 'SILENT',
    log: (line) => accessLog.push(line),
  });
});

afterAll(async () => {
  await stack?.stop();
  await Promise.all([redis?.cleanup(), db?.cleanup()]);
  await rm(dir, { recursive: true, force: true });
});

interface Reply {
  status: number;
  headers: Headers;
  body: unknown;
}

async function call(
  method: string,
  path: string,
  opts: { token?: string | null; body?: string | object; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const token = opts.token === undefined ? stack.token : opts.token;
  const headers: Record<string, string> = { ...opts.headers };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  let body: string | undefined;
  if (opts.body !== undefined) {
    body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    headers['content-type'] ??= 'application/json';
  }
  const response = await fetch(`${stack.apiUrl}${path}`, { method, headers, body });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
}

async function storedVersion(id: string): Promise<number | undefined> {
  const { rows } = await db.sql.query<{ version: unknown }>('SELECT version FROM personnel WHERE id = $1', [
    id,
  ]);
  return rows[0] === undefined ? undefined : Number(rows[0].version);
}

async function outboxCount(): Promise<number> {
  const { rows } = await db.sql.query<{ n: unknown }>('SELECT count(*)::int AS n FROM outbox');
  return Number(rows[0]?.n);
}

describe('startLocalStack()', () => {
  it('seeds the requested number of profiles on first start', async () => {
    const { rows } = await db.sql.query<{ n: unknown }>('SELECT count(*)::int AS n FROM personnel');
    expect(stack.seeded).toBe(50);
    expect(Number(rows[0]?.n)).toBeGreaterThanOrEqual(50);
  });

  it('refuses a second stack on the same data directory', async () => {
    await expect(
      startLocalStack({ port: 0, dataDir: dir, sql: db.sql, redisUrl: redis.redisUrl, log: () => {} }),
    ).rejects.toThrow(/in use by another local stack/);
  });
});

describe('stream poller', () => {
  it('consumes the event of every write (the group reads and acknowledges it)', async () => {
    const reply = await call('PUT', '/users/u000045', { body: VALID_FIELDS });
    expect(reply.status).toBe(200);
    const lastId = (await redis.redis.exec(['XREVRANGE', stack.stream, '+', '-', 'COUNT', '1'])) as [
      string,
      string[],
    ][];
    const entryId = lastId[0]?.[0];
    expect(entryId).toMatch(/^\d+-\d+$/);

    await vi.waitFor(
      async () => {
        const groups = (await redis.redis.exec(['XINFO', 'GROUPS', stack.stream])) as unknown[][];
        const group = groups.find((g) => g[1] === stack.config.events.group);
        const field = (name: string) => group?.[group.indexOf(name) + 1];
        expect(field('last-delivered-id')).toBe(entryId);
        expect(field('pending')).toBe(0);
      },
      { timeout: 15_000, interval: 100 },
    );
  });
});

describe('GET /users/{id}', () => {
  it('reads a profile from PostgreSQL first, then from the cache', async () => {
    const first = await call('GET', '/users/u000003');
    const second = await call('GET', '/users/u000003');

    expect(first.status).toBe(200);
    expect(first.headers.get('x-cache')).toBe('MISS');
    expect(second.headers.get('x-cache')).toBe('HIT');
    expect(second.headers.get('etag')).toBe('"1"');
    expect(second.body).toEqual(first.body);
    expect(first.body).toMatchObject({ userId: 'u000003', version: 1 });
  });

  it('answers 404 USER_NOT_FOUND for an unknown id', async () => {
    const reply = await call('GET', '/users/nobody-here');
    expect(reply.status).toBe(404);
    expect(reply.body).toMatchObject({ error: { code: 'USER_NOT_FOUND' } });
  });

  it('answers 400 INVALID_USER_ID for a malformed id', async () => {
    const encoded = await call('GET', '/users/bad%20id');
    const tooLong = await call('GET', `/users/${'x'.repeat(65)}`);
    expect(encoded.status).toBe(400);
    expect(encoded.body).toMatchObject({ error: { code: 'INVALID_USER_ID' } });
    expect(tooLong.status).toBe(400);
  });
});

describe('GET /users/batch', () => {
  it('returns profiles in request order, duplicates once, unknown ids in notFound', async () => {
    const reply = await call('GET', '/users/batch?ids=u000005,ghost,u000002,u000005');

    expect(reply.status).toBe(200);
    const body = reply.body as { users: Array<{ userId: string }>; notFound: string[] };
    expect(body.users.map((u) => u.userId)).toEqual(['u000005', 'u000002']);
    expect(body.notFound).toEqual(['ghost']);
  });

  it('joins repeated ids= parameters with commas, as API Gateway does', async () => {
    const reply = await call('GET', '/users/batch?ids=u000006&ids=u000007');
    const body = reply.body as { users: Array<{ userId: string }> };
    expect(body.users.map((u) => u.userId)).toEqual(['u000006', 'u000007']);
  });

  it('answers 400 for more than 100 ids and for a missing ids parameter', async () => {
    const ids = Array.from({ length: 101 }, (_, i) => `x${i}`).join(',');
    const tooMany = await call('GET', `/users/batch?ids=${ids}`);
    const none = await call('GET', '/users/batch');

    expect(tooMany.status).toBe(400);
    expect(tooMany.body).toMatchObject({ error: { code: 'BATCH_TOO_LARGE' } });
    expect(none.status).toBe(400);
    expect(none.body).toMatchObject({ error: { code: 'INVALID_QUERY' } });
  });
});

describe('PUT /users/{id}', () => {
  it('updates with If-Match and returns the new version as ETag', async () => {
    const reply = await call('PUT', '/users/u000010', { body: VALID_FIELDS, headers: { 'if-match': '"1"' } });
    const read = await call('GET', '/users/u000010');

    expect(reply.status).toBe(200);
    expect(reply.headers.get('etag')).toBe('"2"');
    expect(read.body).toMatchObject({ ...VALID_FIELDS, version: 2 });
  });

  it('answers 412 VERSION_MISMATCH for a stale If-Match and changes nothing', async () => {
    const reply = await call('PUT', '/users/u000011', {
      body: { ...VALID_FIELDS, fullName: 'Never Written' },
      headers: { 'if-match': '"7"' },
    });

    expect(reply.status).toBe(412);
    expect(reply.body).toMatchObject({ error: { code: 'VERSION_MISMATCH' } });
    expect(await storedVersion('u000011')).toBe(1);
  });

  it('answers 413 for a body over 16 KiB and changes nothing', async () => {
    const outboxBefore = await outboxCount();
    const reply = await call('PUT', '/users/u000012', {
      body: { ...VALID_FIELDS, fullName: 'x'.repeat(17_000) },
    });

    expect(reply.status).toBe(413);
    expect(reply.body).toMatchObject({ error: { code: 'PAYLOAD_TOO_LARGE' } });
    expect(await storedVersion('u000012')).toBe(1);
    expect(await outboxCount()).toBe(outboxBefore);
  });

  it('answers 400 INVALID_PROFILE for an unknown field', async () => {
    const reply = await call('PUT', '/users/u000012', { body: { ...VALID_FIELDS, role: 'admin' } });
    expect(reply.status).toBe(400);
    expect(reply.body).toMatchObject({ error: { code: 'INVALID_PROFILE' } });
  });
});

describe('POST /users', () => {
  it('creates a profile: 201 with Location, then readable', async () => {
    const reply = await call('POST', '/users', { body: { ...VALID_FIELDS, id: 'created-1' } });
    const read = await call('GET', '/users/created-1');

    expect(reply.status).toBe(201);
    expect(reply.headers.get('location')).toBe('/users/created-1');
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ userId: 'created-1', version: 1 });
  });

  it('answers 409 USER_EXISTS for an existing id', async () => {
    const reply = await call('POST', '/users', { body: { ...VALID_FIELDS, id: 'u000001' } });
    expect(reply.status).toBe(409);
  });
});

describe('DELETE /users/{id}', () => {
  it('answers 204, after which the profile is gone', async () => {
    const reply = await call('DELETE', '/users/u000020');
    const read = await call('GET', '/users/u000020');
    const again = await call('DELETE', '/users/u000020');

    expect(reply.status).toBe(204);
    expect(read.status).toBe(404);
    expect(again.status).toBe(404);
  });
});

describe('GET /cache/stats', () => {
  it('reports the counters of every instance', async () => {
    const reply = await call('GET', '/cache/stats');
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ hits: expect.any(Number), hitRate: expect.any(Number) });
    expect((reply.body as { lookups: number }).lookups).toBeGreaterThan(0);
  });
});

describe('routing', () => {
  it('answers 404 ROUTE_NOT_FOUND for an unknown route, before any auth', async () => {
    const reply = await call('GET', '/admin', { token: null });
    expect(reply.status).toBe(404);
    expect(reply.body).toEqual({ error: { code: 'ROUTE_NOT_FOUND', message: expect.any(String) } });
  });

  it('answers 405 with Allow for a known path and a wrong method', async () => {
    const reply = await call('PATCH', '/users/u000001');
    expect(reply.status).toBe(405);
    expect(reply.headers.get('allow')).toBe('GET, PUT, DELETE');
    expect(reply.body).toMatchObject({ error: { code: 'METHOD_NOT_ALLOWED' } });
  });

  it('prefers the literal /users/batch over /users/{id}', async () => {
    const reply = await call('GET', '/users/batch?ids=u000001');
    expect(reply.body).toHaveProperty('users');
  });
});

describe('JWT authorizer', () => {
  const forge = async (opts: {
    issuer?: string;
    audience?: string;
    clockOffsetMs?: number;
    scopes?: string[];
  }) => {
    const auth = await createDevAuth({
      keyDir: join(dir, 'jwt'),
      issuer: opts.issuer ?? stack.auth.issuer,
      audience: opts.audience ?? stack.auth.audience,
      clock: () => Date.now() + (opts.clockOffsetMs ?? 0),
    });
    return auth.issueToken({ scopes: opts.scopes ?? ['users.read', 'users.write'] });
  };
  const unsigned = () =>
    [
      base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' })),
      base64url.encode(
        JSON.stringify({
          iss: stack.auth.issuer,
          aud: stack.auth.audience,
          exp: Math.floor(Date.now() / 1000) + 600,
          scope: 'users.read users.write',
        }),
      ),
      '',
    ].join('.');
  const tampered = async () => {
    const [header, payload, signature] = stack.token.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString('utf8'));
    return `${header}.${base64url.encode(JSON.stringify({ ...claims, sub: 'someone-else' }))}.${signature}`;
  };

  const cases: Array<[string, () => Promise<string | null> | string | null]> = [
    ['no token', () => null],
    ['an expired token', () => forge({ clockOffsetMs: -2 * HOUR_MS })],
    ['a token not valid yet', () => forge({ clockOffsetMs: HOUR_MS })],
    ['a token from another issuer', () => forge({ issuer: 'https://evil.example/' })],
    ['a token for another audience', () => forge({ audience: 'another-api' })],
    ['an unsigned token (alg none)', unsigned],
    ['a token with a bad signature', tampered],
  ];

  it.each(cases)('answers 401 Unauthorized for %s and writes nothing', async (_name, makeToken) => {
    const token = await makeToken();
    const outboxBefore = await outboxCount();

    const put = await call('PUT', '/users/u000030', {
      token,
      body: { ...VALID_FIELDS, fullName: 'Intruder' },
    });
    const post = await call('POST', '/users', { token, body: { ...VALID_FIELDS, id: 'intruder' } });

    expect(put.status).toBe(401);
    expect(put.body).toEqual({ message: 'Unauthorized' });
    expect(put.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(post.status).toBe(401);
    expect(await storedVersion('u000030')).toBe(1);
    expect(await storedVersion('intruder')).toBeUndefined();
    expect(await outboxCount()).toBe(outboxBefore);
  });

  it('answers 403 Forbidden for a token without the route scope and writes nothing', async () => {
    const readOnly = await forge({ scopes: ['users.read'] });

    const read = await call('GET', '/users/u000031', { token: readOnly });
    const put = await call('PUT', '/users/u000031', { token: readOnly, body: VALID_FIELDS });
    const del = await call('DELETE', '/users/u000031', { token: readOnly });

    expect(read.status).toBe(200);
    expect(put.status).toBe(403);
    expect(put.body).toEqual({ message: 'Forbidden' });
    expect(put.headers.get('www-authenticate')).toContain('insufficient_scope');
    expect(del.status).toBe(403);
    expect(await storedVersion('u000031')).toBe(1);
  });

  it('accepts the bare token without the Bearer prefix, as API Gateway does', async () => {
    const reply = await fetch(`${stack.apiUrl}/users/u000001`, { headers: { authorization: stack.token } });
    expect(reply.status).toBe(200);
  });

  it('serves a JWKS that a standard remote verifier accepts', async () => {
    const jwks = createRemoteJWKSet(new URL(`${stack.apiUrl}/.well-known/jwks.json`));
    const { payload } = await jwtVerify(stack.token, jwks, {
      issuer: stack.auth.issuer,
      audience: 'ngomna-user-cache',
      algorithms: ['RS256'],
    });
    expect(payload.scope).toBe('users.read users.write');
  });
});

describe('access log', () => {
  it('logs method, path and status per request, never tokens, queries or bodies', async () => {
    await call('PUT', '/users/u000040', { body: { ...VALID_FIELDS, fullName: 'Secret Name' } });
    await call('GET', '/users/batch?ids=u000040');

    const lines = accessLog.join('\n');
    expect(lines).toMatch(/^PUT \/users\/u000040 200 [\d.]+ms \S+$/m);
    expect(lines).toMatch(/^GET \/users\/batch 200 /m);
    expect(lines).not.toContain(stack.token.split('.')[2]);
    expect(lines).not.toContain('Secret Name');
    expect(lines).not.toContain('ids=');
  });
});

describe('any request over HTTP (property)', () => {
  /** Every profile row: a refused request must leave it exactly as it was. */
  const rows = async () =>
    JSON.stringify(
      (
        await db.sql.query(
          'SELECT id, version, full_name, avatar_url, matricule, ministere, deleted_at FROM personnel ORDER BY id',
        )
      ).rows,
    );
  // Path segments as a client could percent-encode them: a lone surrogate's CESU-8 bytes (%ED%A0%80),
  // an overlong "/" (%C0%AF), NUL, a double-encoded slash, bidi marks, astral and combining characters.
  const segment = fc.oneof(
    fc.constantFrom(
      'u000001',
      'u000002',
      'batch',
      'nobody',
      '%ED%A0%80',
      '%C0%AF',
      '%00',
      '%252F',
      '%E2%80%AE',
      '%F0%9F%98%80',
      'e%CC%81',
      '%',
      'a%2Cb',
    ),
    fc.string({ unit: 'grapheme', maxLength: 12 }).map(encodeURIComponent),
    fc.integer({ min: 63, max: 66 }).map((k) => 'v'.repeat(k)),
  );
  const printable = fc.string({
    unit: fc.constantFrom('"', 'W', '/', ',', ' ', '*', '1', '2', 'x', '\t'),
    maxLength: 12,
  });
  const body = fc.oneof(
    fc.constant(JSON.stringify(VALID_FIELDS)),
    fc
      .constantFrom('\\ud800', '\\udfff', '\\u0000', '\\u202e', 'e\\u0301', '\\ud83d\\ude00')
      .map((jsonEscape) =>
        JSON.stringify({ ...VALID_FIELDS, fullName: 'N' }).replace('"N"', `"N${jsonEscape}"`),
      ),
    fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)),
    // Raw bytes, invalid UTF-8 included (a lone surrogate encoded as ED A0 80).
    fc
      .uint8Array({ maxLength: 64 })
      .map((bytes) => Buffer.concat([Buffer.from('{"fullName":"'), Buffer.from(bytes), Buffer.from('"}')])),
  );

  it('always answers 2xx or 4xx through the local API server, and a 4xx changes no row', async () => {
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'PUT', 'POST', 'DELETE'),
        segment,
        fc.option(
          fc.array(segment, { maxLength: 4 }).map((ids) => ids.join(',')),
          { nil: undefined },
        ),
        body,
        fc.option(fc.oneof(fc.constantFrom('*', '"1"', 'W/"1"', '"1", "2"', '"9"'), printable), {
          nil: undefined,
        }),
        async (method, id, ids, payload, ifMatch) => {
          const path =
            method === 'POST' ? '/users' : ids === undefined ? `/users/${id}` : `/users/batch?ids=${ids}`;
          const snapshot = await rows();
          const headers: Record<string, string> = {
            authorization: `Bearer ${stack.token}`,
            'content-type': 'application/json',
          };
          if (ifMatch !== undefined) headers['if-match'] = ifMatch;
          const hasBody = method === 'PUT' || method === 'POST';
          const response = await fetch(`${stack.apiUrl}${path}`, {
            method,
            headers,
            body: hasBody ? payload : undefined,
          });
          await response.arrayBuffer();
          statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
          expect(response.status, `${method} ${path}`).toBeGreaterThanOrEqual(200);
          expect(response.status, `${method} ${path}`).toBeLessThan(500);
          if (response.status >= 400) expect(await rows()).toBe(snapshot);
        },
      ),
      { numRuns: 150 },
    );
    // Not vacuous: both successes and refusals were reached.
    expect([...statuses.keys()].some((status) => status < 300)).toBe(true);
    expect([...statuses.keys()].some((status) => status >= 400)).toBe(true);
  });
});

describe('startApiServer()', () => {
  let auth: DevAuth;
  let server: ApiServer;
  const seen: APIGatewayProxyEventV2WithJWTAuthorizer[] = [];
  let behaviour: 'record' | 'throw' | 'plain' = 'record';
  const recording: HttpHandler = async (event) => {
    seen.push(event);
    if (behaviour === 'throw') throw new Error('handler bug');
    if (behaviour === 'plain') return { hello: 'world' };
    return { statusCode: 202, headers: { 'X-Echo': 'yes' }, cookies: ['a=1', 'b=2'], body: 'ok' };
  };

  beforeAll(async () => {
    const names: HttpHandlerName[] = [
      'getUser',
      'batchGetUsers',
      'putUser',
      'createUser',
      'deleteUser',
      'getCacheStats',
    ];
    server = await startApiServer({
      handlers: Object.fromEntries(names.map((n) => [n, recording])) as Record<HttpHandlerName, HttpHandler>,
      auth: (origin) => {
        return createDevAuth({ keyDir: join(dir, 'jwt-unit'), issuer: `${origin}/` }).then((a) => {
          auth = a;
          return a;
        });
      },
      port: 0,
      maxBodyBytes: 1024,
      log: () => {},
    });
  });

  afterAll(() => server?.close());

  const send = async (path: string, init: RequestInit & { scopes?: string[] } = {}) => {
    const token = await auth.issueToken({
      scopes: init.scopes ?? ['users.read', 'users.write'],
      subject: 'svc',
    });
    return fetch(`${server.url}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${token}`, ...(init.headers as Record<string, string>) },
    });
  };

  it('builds a payload 2.0 event as API Gateway does', async () => {
    behaviour = 'record';
    seen.length = 0;
    const reply = await send('/users/a%2Db?x=1&x=2&y=%C3%A9', {
      method: 'PUT',
      headers: { 'Content-Type': 'application/json', 'X-Custom': 'v', cookie: 'c1=1; c2=2' },
      body: '{"k":"v"}',
    });

    const event = seen[0]!;
    expect(reply.status).toBe(202);
    expect(event).toMatchObject({
      version: '2.0',
      routeKey: 'PUT /users/{id}',
      rawPath: '/users/a%2Db',
      rawQueryString: 'x=1&x=2&y=%C3%A9',
      queryStringParameters: { x: '1,2', y: 'é' },
      pathParameters: { id: 'a-b' },
      cookies: ['c1=1', 'c2=2'],
      body: '{"k":"v"}',
      isBase64Encoded: false,
    });
    expect(event.headers).toMatchObject({ 'content-type': 'application/json', 'x-custom': 'v' });
    expect(event.headers.cookie).toBeUndefined();
    expect(event.requestContext).toMatchObject({
      routeKey: 'PUT /users/{id}',
      stage: '$default',
      http: { method: 'PUT', path: '/users/a%2Db', sourceIp: '127.0.0.1' },
      requestId: reply.headers.get('apigw-requestid'),
      timeEpoch: expect.any(Number),
    });
    // API Gateway hands claims over as strings, and scopes as an array.
    expect(event.requestContext.authorizer.jwt.scopes).toEqual(['users.read', 'users.write']);
    expect(event.requestContext.authorizer.jwt.claims).toMatchObject({ sub: 'svc', exp: expect.any(String) });
  });

  it('base64-encodes a binary body and leaves out absent parts', async () => {
    seen.length = 0;
    await send('/users', {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: 'raw',
    });
    await send('/cache/stats');

    expect(seen[0]).toMatchObject({ isBase64Encoded: true, body: Buffer.from('raw').toString('base64') });
    expect(seen[1]).not.toHaveProperty('body');
    expect(seen[1]).not.toHaveProperty('queryStringParameters');
    expect(seen[1]).not.toHaveProperty('pathParameters');
    expect(seen[1]).not.toHaveProperty('cookies');
  });

  it('writes a structured result: status, headers, cookies and body', async () => {
    behaviour = 'record';
    const reply = await send('/cache/stats');
    expect(reply.status).toBe(202);
    expect(reply.headers.get('x-echo')).toBe('yes');
    expect(reply.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    expect(await reply.text()).toBe('ok');
  });

  it('turns a result without statusCode into a 200 JSON body', async () => {
    behaviour = 'plain';
    const reply = await send('/cache/stats');
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-type')).toBe('application/json');
    expect(await reply.json()).toEqual({ hello: 'world' });
  });

  it('answers 500 Internal Server Error when the handler throws', async () => {
    behaviour = 'throw';
    const reply = await send('/cache/stats');
    expect(reply.status).toBe(500);
    expect(await reply.json()).toEqual({ message: 'Internal Server Error' });
  });

  it('answers 413 past its body limit without calling the handler', async () => {
    behaviour = 'record';
    seen.length = 0;
    const reply = await send('/users', { method: 'POST', body: 'x'.repeat(2048) });
    expect(reply.status).toBe(413);
    expect(await reply.json()).toEqual({ message: 'Request Entity Too Large' });
    expect(seen).toHaveLength(0);
  });
});
