/**
 * The security suite ("Proof under fire", section 3), end to end over real HTTP on the local stack: its
 * own redis-server (so a test can stop it, and every key in it can be inspected), PGlite or a fresh
 * schema on DATABASE_URL, the real handler modules behind the local API Gateway.
 *
 * Covered elsewhere, not repeated here: token checks (devAuth.test.ts, and the 401/403 matrix over HTTP
 * in apiServer.test.ts), the access log's own format (apiServer.test.ts), handler-level fuzzing of ids and
 * bodies (handlers.test.ts), a 17 000-byte PUT → 413 and a 101-id batch → 400 (apiServer.test.ts).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { format } from 'node:util';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type LocalStack, startLocalStack } from '../local/localStack.js';
import { type RedisServerHandle, startRedisServer } from '../local/redisServer.js';
import { LIMITS } from '../shared/profile/schemas.js';
import { type TestDb, useTestDb } from './support/db.js';
import { type DirectRedisClient, withRedisClient } from './support/redis.js';

const SEED_USERS = 40;
/** Profile values distinctive enough that any occurrence in the output is a leak. */
const SECRET_FIELDS = {
  fullName: 'Zzsecret Ndzana',
  avatar: 'https://pii.example/avatars/zz-777.png',
  matricule: 'SECRET-777',
  ministere: 'MINZZSECRET',
};
const PLAIN_FIELDS = { fullName: 'NANA Paul', avatar: '', matricule: '123456-A', ministere: 'MINFOP' };

let dir: string;
let db: TestDb;
let redisServer: RedisServerHandle;
let stack: LocalStack;
let output: OutputCapture;
const agent = new Agent({ keepAlive: true });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'security-'));
  // Installed before the stack starts, so seeding, prewarm and poller output is captured too.
  output = captureProcessOutput();
  [db, redisServer] = await Promise.all([useTestDb(), startRedisServer({ dataDir: join(dir, 'redis') })]);
  stack = await startLocalStack({
    port: 0,
    dataDir: dir,
    seedUsers: SEED_USERS,
    sql: db.sql,
    redisUrl: redisServer.url,
    keyPrefix: `sec:${randomBytes(4).toString('hex')}:`,
    logLevel: 'DEBUG',
    log: (line) => output.push(`${line}\n`),
    // Only what the test sets: a developer's CACHE_*, AUTH_* or JWT_* must not change what is checked.
    env: {},
  });
});

afterAll(async () => {
  await stack?.stop();
  output?.restore();
  agent.destroy();
  await Promise.allSettled([redisServer?.stop(), db?.cleanup()]);
  await rm(dir, { recursive: true, force: true });
});

interface Reply {
  status: number;
  text: string;
}

/**
 * One request with node:http rather than fetch: the path goes out byte for byte (WHATWG URLs would
 * resolve `..` and re-encode), which is what a hostile client sends.
 */
function send(
  method: string,
  path: string,
  opts: { token?: string | null; authorization?: string; body?: string | object } = {},
): Promise<Reply> {
  const token = opts.token === undefined ? stack.token : opts.token;
  const headers: Record<string, string> = {};
  if (opts.authorization !== undefined) headers.authorization = opts.authorization;
  else if (token !== null) headers.authorization = `Bearer ${token}`;
  const body =
    opts.body === undefined
      ? undefined
      : typeof opts.body === 'string'
        ? opts.body
        : JSON.stringify(opts.body);
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(Buffer.byteLength(body));
  }
  const { port } = new URL(stack.apiUrl);
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const errorCode = (reply: Reply): unknown =>
  (JSON.parse(reply.text) as { error?: { code?: unknown } }).error?.code;

/** Everything a write could change (not `last_active_at`, which reads maintain). */
async function dbSnapshot(): Promise<string> {
  const people = await db.sql.query(
    'SELECT id, version, full_name, avatar_url, matricule, ministere, updated_at, deleted_at FROM personnel ORDER BY id',
  );
  const outbox = await db.sql.query('SELECT count(*)::int AS n FROM outbox');
  return JSON.stringify([people.rows, outbox.rows]);
}

async function outboxCount(): Promise<number> {
  const { rows } = await db.sql.query<{ n: unknown }>('SELECT count(*)::int AS n FROM outbox');
  return Number(rows[0]?.n);
}

async function personnelRow(id: string): Promise<Record<string, unknown> | undefined> {
  const { rows } = await db.sql.query<Record<string, unknown>>('SELECT * FROM personnel WHERE id = $1', [id]);
  return rows[0];
}

/** A direct client on this file's own redis-server (not through the gateway, whose faults may be on). */
const withRedis = <T>(fn: (client: DirectRedisClient) => Promise<T>) => withRedisClient(redisServer.url, fn);

/** Every key of the stack's Redis (the server is this file's own: nothing else writes to it). */
async function allKeys(): Promise<string[]> {
  return withRedis(async (client) => {
    const keys: string[] = [];
    for await (const batch of client.scanIterator({ MATCH: '*', COUNT: 1_000 })) keys.push(...batch);
    return keys.sort();
  });
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The documented key families, each under the stack's key prefix. Ids: `LIMITS.userIdPattern`. */
function undocumentedKeys(keys: readonly string[]): string[] {
  const p = escapeRegExp(stack.keyPrefix);
  const id = LIMITS.userIdPattern.source.slice(1, -1);
  const stream = escapeRegExp(stack.stream);
  const families = new RegExp(
    `^(?:${p}user:profile:${id}|${p}user:cache:stats|${p}user:activity|${p}user:(?:poller|prewarm):lease|${p}user:poller:lease:next|${p}user:prewarm:checkpoint|${p}user:audit:rotation|${stream}|${stream}:dead)$`,
  );
  return keys.filter((key) => !families.test(key));
}

/** Asserts that only documented keys exist, and that the ids kept inside the activity set are valid. */
async function expectOnlyDocumentedKeys(): Promise<string[]> {
  const keys = await allKeys();
  expect(undocumentedKeys(keys)).toEqual([]);
  const members = await withRedis((c) => c.zRange(stack.cache.keys.activity, 0, -1));
  expect(members.filter((m) => !LIMITS.userIdPattern.test(m))).toEqual([]);
  return keys;
}

describe('HTTP API security', () => {
  describe('ids carrying key syntax', () => {
    const HOSTILE: Array<[string, string]> = [
      ['a colon', 'a:b'],
      ['a whole key name', 'user:profile:u000001'],
      ['a glob star', '*'],
      ['a trailing star', 'u00000*'],
      ['a question mark', 'u00000?'],
      ['a character class', 'u00000[1-9]'],
      ['an opening bracket', '['],
      ['a newline', 'a\nb'],
      ['CR LF and a command', 'x\r\nFLUSHALL'],
      ['a NUL byte', 'a\u0000b'],
      ['a space', 'a b'],
      ['a slash', 'a/b'],
      ['a percent sign', '100%'],
      ['65 characters', 'x'.repeat(65)],
      ['10 000 characters', 'x'.repeat(10_000)],
      ['an accented letter', 'élodie'],
      ['an emoji', 'user😀'],
      ['a dot-dot segment', '..'],
      ['a single dot', '.'],
    ];

    it.each(HOSTILE)('refuses an id with %s on every route and changes nothing', async (_what, id) => {
      const before = await dbSnapshot();
      const enc = encodeURIComponent(id);

      const replies = {
        get: await send('GET', `/users/${enc}`),
        put: await send('PUT', `/users/${enc}`, { body: PLAIN_FIELDS }),
        delete: await send('DELETE', `/users/${enc}`),
        batch: await send('GET', `/users/batch?ids=u000001,${enc}`),
        post: await send('POST', '/users', { body: { ...PLAIN_FIELDS, id } }),
      };

      for (const [route, reply] of Object.entries(replies)) {
        // In a POST body the id is one more profile field: the schema refuses it as INVALID_PROFILE.
        expect({ route, status: reply.status, code: errorCode(reply) }).toEqual({
          route,
          status: 400,
          code: route === 'post' ? 'INVALID_PROFILE' : 'INVALID_USER_ID',
        });
      }
      expect(await dbSnapshot()).toBe(before);
      await expectOnlyDocumentedKeys();
    });

    it('refuses ids sent unencoded (raw `..`, `:`, `*`, `[`) without a 2xx or a 5xx', async () => {
      const before = await dbSnapshot();
      const paths = ['/users/..', '/users/.', '/users/a:b', '/users/*', '/users/u00000[1]', '/users/%2e%2e'];

      for (const path of paths) {
        for (const method of ['GET', 'PUT', 'DELETE']) {
          const reply = await send(method, path, method === 'PUT' ? { body: PLAIN_FIELDS } : {});
          expect({ method, path, status: reply.status }).toEqual({ method, path, status: 400 });
        }
      }
      const batch = await send('GET', '/users/batch?ids=u000001,a:b,*');
      expect(batch.status).toBe(400);
      expect(await dbSnapshot()).toBe(before);
      await expectOnlyDocumentedKeys();
    });

    it('answers an empty id 404 on the path routes (no route matches, as in API Gateway) and 400 elsewhere', async () => {
      const before = await dbSnapshot();

      const get = await send('GET', '/users/');
      const put = await send('PUT', '/users/', { body: PLAIN_FIELDS });
      const del = await send('DELETE', '/users/');
      const emptyInBatch = await send('GET', '/users/batch?ids=u000001,,u000002');
      const post = await send('POST', '/users', { body: { ...PLAIN_FIELDS, id: '' } });

      expect([get.status, put.status, del.status]).toEqual([404, 404, 404]);
      expect(errorCode(get)).toBe('ROUTE_NOT_FOUND');
      expect(emptyInBatch.status).toBe(400);
      expect(post.status).toBe(400);
      expect(await dbSnapshot()).toBe(before);
    });

    it('never answers 2xx or 5xx for generated hostile ids, and no key outside the documented families appears', async () => {
      // Mostly key syntax and other refused characters, mixed with valid ones so ids look plausible.
      const unit = fc.oneof(
        {
          weight: 3,
          arbitrary: fc.constantFrom(':', '*', '?', '[', ']', '\n', '\r', ' ', '.', '/', '%', '{'),
        },
        { weight: 3, arbitrary: fc.constantFrom('a', 'Z', '0', '_', '-') },
        { weight: 1, arbitrary: fc.constantFrom('é', '😀', '\u0000', '\u202e', '\\', '"') },
      );
      const hostileId = fc
        .oneof(
          fc.string({ unit, minLength: 1, maxLength: 80 }),
          fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }),
          fc.integer({ min: 65, max: 300 }).map((n) => 'a'.repeat(n)),
        )
        // Anything valid is not hostile; for the batch route every comma-separated part must be refused.
        .filter((id) => id.split(',').every((part) => !LIMITS.userIdPattern.test(part)));
      const before = await dbSnapshot();

      await fc.assert(
        fc.asyncProperty(
          hostileId,
          fc.constantFrom('GET', 'PUT', 'DELETE', 'batch', 'POST'),
          async (id, route) => {
            const enc = encodeURIComponent(id);
            const reply =
              route === 'batch'
                ? await send('GET', `/users/batch?ids=${enc}`)
                : route === 'POST'
                  ? await send('POST', '/users', { body: { ...PLAIN_FIELDS, id } })
                  : await send(route, `/users/${enc}`, route === 'PUT' ? { body: PLAIN_FIELDS } : {});
            expect(reply.status).toBeGreaterThanOrEqual(400);
            expect(reply.status).toBeLessThan(500);
          },
        ),
        { numRuns: 100 },
      );

      expect(await dbSnapshot()).toBe(before);
      await expectOnlyDocumentedKeys();
    });

    it('leaves only documented key families in Redis after valid traffic (the check is not vacuous)', async () => {
      await send('GET', '/users/u000001');
      await send('GET', '/users/no-such-user');
      await send('GET', '/users/batch?ids=u000002,u000003');

      const keys = await expectOnlyDocumentedKeys();

      expect(keys).toEqual(
        expect.arrayContaining([
          `${stack.keyPrefix}user:profile:u000001`,
          `${stack.keyPrefix}user:profile:no-such-user`,
          `${stack.keyPrefix}user:activity`,
        ]),
      );
      // And it does catch a stray key: the family check is what the hostile-id tests rely on.
      expect(
        undocumentedKeys([`${stack.keyPrefix}user:profile:a:b`, `${stack.keyPrefix}other`, 'user:activity']),
      ).toHaveLength(3);
    });
  });

  describe('payload limits', () => {
    const bodyOfBytes = (fields: Record<string, unknown>, bytes: number): string => {
      const json = JSON.stringify(fields);
      // JSON allows trailing whitespace: pad to the exact size without changing the profile.
      return json + ' '.repeat(bytes - Buffer.byteLength(json));
    };

    it('accepts a body of exactly the limit and refuses one byte more with 413, writing nothing', async () => {
      const atLimit = bodyOfBytes({ ...PLAIN_FIELDS, id: 'limit-exact' }, LIMITS.bodyMaxBytes);
      const overLimit = bodyOfBytes({ ...PLAIN_FIELDS, id: 'limit-over' }, LIMITS.bodyMaxBytes + 1);
      const outboxBefore = await outboxCount();

      const over = await send('POST', '/users', { body: overLimit });
      const exact = await send('POST', '/users', { body: atLimit });

      expect(over.status).toBe(413);
      expect(errorCode(over)).toBe('PAYLOAD_TOO_LARGE');
      expect(await personnelRow('limit-over')).toBeUndefined();
      expect(exact.status).toBe(201);
      expect(await outboxCount()).toBe(outboxBefore + 1);
    });

    it('counts UTF-8 bytes, not characters: fewer characters than the limit but more bytes is 413', async () => {
      const before = await personnelRow('u000013');
      const padding = 'é'.repeat(LIMITS.bodyMaxBytes / 2);
      const body = JSON.stringify({ ...PLAIN_FIELDS, fullName: padding });
      expect(body.length).toBeLessThan(LIMITS.bodyMaxBytes);

      const reply = await send('PUT', '/users/u000013', { body });

      expect(reply.status).toBe(413);
      expect(await personnelRow('u000013')).toEqual(before);
    });

    it('refuses 2 000 distinct ids with 400 BATCH_TOO_LARGE before any of them reaches Redis', async () => {
      const ids = Array.from({ length: 2_000 }, (_, i) => `big${i}`);

      const reply = await send('GET', `/users/batch?ids=${ids.join(',')}`);

      expect(reply.status).toBe(400);
      expect(errorCode(reply)).toBe('BATCH_TOO_LARGE');
      expect((await allKeys()).filter((k) => k.includes(':big'))).toEqual([]);
    });

    it('refuses a 10 000-id query string without a 5xx, before any of them reaches Redis', async () => {
      const ids = Array.from({ length: 10_000 }, (_, i) => `huge${i}`);

      const reply = await send('GET', `/users/batch?ids=${ids.join(',')}`);

      // About 100 KB of request line: Node's HTTP parser refuses it (431) before the API sees it; an API
      // Gateway quota would be 414. Either way a refusal, never a server error.
      expect([400, 414, 431]).toContain(reply.status);
      expect((await allKeys()).filter((k) => k.includes(':huge'))).toEqual([]);
    });
  });

  // Last: it stops Redis, and it asserts on everything the process printed since the stack started.
  describe('logs', () => {
    it('never carry profile values, tokens or Authorization headers, even through a Redis outage', async () => {
      const readOnly = await stack.auth.issueToken({ scopes: ['users.read'], subject: 'reader' });
      const [header, payload, signature] = stack.token.split('.') as [string, string, string];
      const tampered = `${header}.${Buffer.from('{"sub":"zz-tampered"}').toString('base64url')}.${signature}`;
      const garbageBearer = `Bearer ZZGARBAGE-${randomBytes(8).toString('hex')}`;
      const basicAuth = `Basic ${Buffer.from(`admin:ZZPASSWORD-${randomBytes(4).toString('hex')}`).toString('base64')}`;
      const signingKey = (
        JSON.parse(await readFile(join(dir, 'jwt', 'private.jwk.json'), 'utf8')) as { d: string }
      ).d;
      const createdId = `sec-${randomBytes(3).toString('hex')}`;

      const workload = async (phase: string) => {
        const statuses: number[] = [];
        const run = async (reply: Promise<Reply>) => statuses.push((await reply).status);
        await run(send('GET', '/users/u000021'));
        await run(send('GET', '/users/u000021'));
        await run(send('GET', `/users/nobody-${phase}`));
        await run(send('GET', '/users/batch?ids=u000021,u000022,ghost'));
        await run(send('PUT', '/users/u000022', { body: SECRET_FIELDS }));
        await run(send('POST', '/users', { body: { ...SECRET_FIELDS, id: `${createdId}-${phase}` } }));
        await run(send('GET', `/users/${createdId}-${phase}`));
        await run(send('DELETE', `/users/${createdId}-${phase}`));
        // 400s whose bodies quote the secrets.
        await run(send('PUT', '/users/u000023', { body: { ...SECRET_FIELDS, role: 'admin' } }));
        await run(
          send('PUT', '/users/u000023', {
            body: { ...SECRET_FIELDS, matricule: `${SECRET_FIELDS.matricule} !` },
          }),
        );
        await run(
          send('PUT', '/users/u000023', { body: { ...SECRET_FIELDS, avatar: 'javascript:pii.example' } }),
        );
        await run(send('PUT', '/users/u000023', { body: `{"fullName": "${SECRET_FIELDS.fullName}"` }));
        await run(
          send('PUT', '/users/u000023', {
            body: { ...SECRET_FIELDS, fullName: `${SECRET_FIELDS.fullName} ${'x'.repeat(17_000)}` },
          }),
        );
        // 401s and 403s.
        await run(send('PUT', '/users/u000024', { token: null, body: SECRET_FIELDS }));
        await run(send('PUT', '/users/u000024', { token: tampered, body: SECRET_FIELDS }));
        await run(send('GET', '/users/u000024', { authorization: garbageBearer }));
        await run(send('GET', '/users/u000024', { authorization: basicAuth }));
        await run(send('PUT', '/users/u000024', { token: readOnly, body: SECRET_FIELDS }));
        await run(send('DELETE', '/users/u000024', { token: readOnly }));
        return statuses;
      };

      const healthy = await workload('up');
      const outageStart = output.text().length;
      await redisServer.stop();
      const outage = await workload('down');
      // The background poller fails too, and logs it.
      await waitForOutput(outageStart, 'poller step failed');
      await redisServer.restart();
      // The relay publishes what the outage left in the outbox: the events carry the secret profile.
      await vi.waitFor(
        async () => {
          const { rows } = await db.sql.query<{ n: unknown }>(
            'SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL',
          );
          expect(Number(rows[0]?.n)).toBe(0);
        },
        { timeout: 10_000, interval: 100 },
      );
      const recovered = await workload('again');

      // A producer's bad event (real personal data, an invalid ministere) is dead-lettered by the poller
      // while Redis refuses writes (maxmemory reached): the dead-letter MULTI fails with its fields in it.
      const mark = output.text().length;
      await withRedis(async (c) => {
        await c.xAdd(stack.stream, '*', {
          type: 'user.profile.updated',
          userId: 'u000025',
          version: '9',
          occurredAt: String(Date.now()),
          payload: JSON.stringify({ ...SECRET_FIELDS, ministere: 'not-an-acronym', updatedAt: Date.now() }),
        });
        await c.configSet({ 'maxmemory-policy': 'noeviction', maxmemory: '1' });
      });
      try {
        await waitForOutput(mark, 'poller step failed');
      } finally {
        await withRedis((c) => c.configSet('maxmemory', '0'));
      }

      // The workload really ran: successes, refusals, and no 5xx even with Redis down.
      const expected = [
        200, 200, 404, 200, 200, 201, 200, 204, 400, 400, 400, 400, 413, 401, 401, 401, 401, 403, 403,
      ];
      expect(healthy).toEqual(expected);
      expect(outage).toEqual(expected);
      expect(recovered).toEqual(expected);

      const text = output.text();
      // Non-vacuous: the access log, the handlers' DEBUG lines and the outage's warnings were captured.
      expect(text).toMatch(/^PUT \/users\/u000022 200 /m);
      expect(text).toMatch(/^GET \/users\/u000024 401 /m);
      expect(text).toContain('"message":"request done"');
      expect(text).toContain('"level":"WARN"');
      expect(text).toContain('"message":"request refused"');

      const needles = [
        ...Object.values(SECRET_FIELDS),
        'Zzsecret',
        'Ndzana',
        'pii.example',
        stack.token,
        payload,
        signature,
        tampered,
        readOnly.split('.')[2]!,
        garbageBearer.split(' ')[1]!,
        basicAuth.split(' ')[1]!,
        stack.gatewayToken,
        signingKey,
      ];
      expect(excerpts(text, needles)).toEqual([]);
      // No Authorization header value, whatever its scheme, in any form.
      expect(text).not.toMatch(/authorization/i);
      expect(text).not.toMatch(/\b(bearer|basic)\s+[\w.+/=-]{8,}/i);
    });
  });
});

/** Waits until the output printed since `mark` (a length of `output.text()`) contains `needle`. */
function waitForOutput(mark: number, needle: string): Promise<void> {
  return vi.waitFor(() => expect(output.text().slice(mark)).toContain(needle), {
    timeout: 10_000,
    interval: 50,
  });
}

/** Each needle found, with some context, so a failure shows where the leak is. */
function excerpts(text: string, needles: readonly string[]): string[] {
  const found: string[] = [];
  for (const needle of needles) {
    const at = text.indexOf(needle);
    if (at !== -1) found.push(`${needle.slice(0, 40)} … in: ${text.slice(Math.max(0, at - 200), at + 200)}`);
  }
  return found;
}

interface OutputCapture {
  push(chunk: string): void;
  text(): string;
  restore(): void;
}

/**
 * Captures (and silences) everything this process prints: `process.stdout`/`stderr` writes (Powertools
 * Logger prints through its own `Console` on these streams) and the global `console` methods (which vitest
 * replaces with its own, and which Powertools uses under POWERTOOLS_DEV).
 */
function captureProcessOutput(): OutputCapture {
  const chunks: string[] = [];
  const push = (chunk: unknown) => {
    chunks.push(
      typeof chunk === 'string'
        ? chunk
        : chunk instanceof Uint8Array
          ? Buffer.from(chunk).toString('utf8')
          : String(chunk),
    );
  };
  const streams = [process.stdout, process.stderr] as const;
  const writes = streams.map((s) => s.write);
  for (const stream of streams) {
    stream.write = ((chunk: unknown, encoding?: unknown, callback?: unknown) => {
      push(chunk);
      const done = typeof encoding === 'function' ? encoding : callback;
      if (typeof done === 'function') queueMicrotask(() => (done as () => void)());
      return true;
    }) as typeof stream.write;
  }
  const methods = ['log', 'info', 'warn', 'error', 'debug', 'trace', 'dir'] as const;
  const originals = methods.map((m) => console[m]);
  for (const m of methods) console[m] = (...args: unknown[]) => push(`${format(...args)}\n`);
  return {
    push,
    text: () => chunks.join(''),
    restore() {
      streams.forEach((s, i) => {
        s.write = writes[i]!;
      });
      methods.forEach((m, i) => {
        console[m] = originals[i]!;
      });
    },
  };
}
