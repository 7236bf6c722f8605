/**
 * ProfileClient against the real local stack: the cache is the real Redis (through an Upstash gateway),
 * the fallback is the real API over HTTP. Only `fetch` is wrapped, to count the requests it makes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type LocalStack, startLocalStack } from '../local/localStack.js';
import { ValidationError } from '../shared/errors.js';
import type { LoggerPort } from '../shared/ports.js';
import { ProfileClient, type ProfileClientOptions } from '../shared/profile/client.js';
import { UserCache } from '../shared/userCache.js';
import { type TestDb, useTestDb } from './support/db.js';
import { type TestRedis, useTestRedis } from './support/redis.js';

let dir: string;
let db: TestDb;
let redis: TestRedis;
let stack: LocalStack;
let cache: UserCache;
let silentServer: Server;
let silentUrl: string;
const held = new Set<Socket>();
let requests: string[];
let warnings: Array<{ message: string; extra?: Record<string, unknown> }>;

const id = (n: number) => `u${String(n).padStart(6, '0')}`;
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => id(from + i));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'consumer-client-'));
  [db, redis] = await Promise.all([useTestDb(), useTestRedis()]);
  stack = await startLocalStack({
    port: 0,
    dataDir: dir,
    seedUsers: 400,
    sql: db.sql,
    redisUrl: redis.redisUrl,
    keyPrefix: redis.keyPrefix,
    prewarm: false,
    logLevel: 'SILENT',
    log: () => {},
  });
  // The consumer's own cache client: same Redis and keys as the API, through this file's gateway, so
  // gateway.metrics counts exactly the consumer's cache requests.
  cache = new UserCache({ redis: redis.redis, keyPrefix: redis.keyPrefix });
  // An API that accepts connections and never answers.
  silentServer = createServer((socket) => {
    held.add(socket);
    socket.on('close', () => held.delete(socket));
  });
  await new Promise<void>((resolve) => silentServer.listen(0, '127.0.0.1', resolve));
  const address = silentServer.address();
  silentUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});

afterAll(async () => {
  for (const socket of held) socket.destroy();
  await new Promise((resolve) => silentServer?.close(resolve));
  await stack?.stop();
  await Promise.all([redis?.cleanup(), db?.cleanup()]);
  await rm(dir, { recursive: true, force: true });
});

beforeEach(() => {
  requests = [];
  warnings = [];
  redis.gateway.setFaults({});
  redis.gateway.metrics.reset();
});

const logger: LoggerPort = {
  debug() {},
  info() {},
  warn: (message, extra) => warnings.push({ message, extra }),
  error() {},
};

function client(overrides: Partial<ProfileClientOptions> = {}): ProfileClient {
  return new ProfileClient({
    cache,
    apiBaseUrl: stack.apiUrl,
    getToken: () => stack.token,
    logger,
    fetch: (input, init) => {
      requests.push(String(input));
      return fetch(input, init);
    },
    ...overrides,
  });
}

describe('ProfileClient', () => {
  describe('getProfiles()', () => {
    it('answers cached profiles with one cache request and no HTTP call to the API', async () => {
      const ids = range(1, 30);
      await client().getProfiles(ids); // the API's read-fill caches them
      requests = [];
      redis.gateway.metrics.reset();

      const result = await client().getProfiles(ids);

      expect([...result.profiles.keys()].sort()).toEqual(ids);
      expect(result.profiles.get(id(7))).toMatchObject({ userId: id(7), version: 1 });
      expect(requests).toEqual([]);
      expect(redis.gateway.metrics.httpRequests).toBe(1);
    });

    it('asks the API once per 100 misses, and reports unknown ids as notFound', async () => {
      const ids = [...range(101, 340), 'ghost-1', 'ghost-2'];

      const result = await client().getProfiles(ids);

      expect(requests).toHaveLength(3);
      for (const url of requests) expect(new URL(url).pathname).toBe('/users/batch');
      expect(result.profiles.size).toBe(240);
      expect(result.notFound).toEqual(['ghost-1', 'ghost-2']);
      expect(result.unavailable).toEqual([]);
    });

    it('reads each duplicate id once', async () => {
      const result = await client().getProfiles([id(350), id(350), id(351)]);
      expect(requests).toHaveLength(1);
      expect(new URL(requests[0]!).searchParams.get('ids')).toBe(`${id(350)},${id(351)}`);
      expect(result.profiles.size).toBe(2);
    });

    it('answers cached negatives and tombstones as notFound without calling the API', async () => {
      await client().getProfiles(['ghost-3']); // the API caches a negative entry
      const deleted = await fetch(`${stack.apiUrl}/users/${id(360)}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${stack.token}` },
      });
      expect(deleted.status).toBe(204);
      requests = [];

      const result = await client().getProfiles(['ghost-3', id(360)]);

      expect(result.notFound).toEqual(['ghost-3', id(360)]);
      expect(requests).toEqual([]);
    });

    it('reports misses as unavailable when the API does not answer within the timeout', async () => {
      await client().getProfiles([id(370)]);

      const result = await client({ apiBaseUrl: silentUrl, timeoutMs: 200 }).getProfiles([
        id(370),
        id(371),
        id(372),
      ]);

      expect(result.profiles.has(id(370))).toBe(true);
      expect(result.unavailable).toEqual([id(371), id(372)]);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]?.extra?.error).toMatch(/TimeoutError/);
    });

    it('reports misses as unavailable when the API refuses the token', async () => {
      const result = await client({ getToken: () => 'not-a-token' }).getProfiles([id(380)]);

      expect(result.unavailable).toEqual([id(380)]);
      expect(warnings[0]).toMatchObject({ extra: { status: 401 } });
    });

    it('reports misses as unavailable when nothing listens at the API address', async () => {
      const closed = createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const address = closed.address();
      await new Promise((resolve) => closed.close(resolve));
      const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;

      const result = await client({ apiBaseUrl: url }).getProfiles([id(381)]);

      expect(result.unavailable).toEqual([id(381)]);
    });

    it('asks the API for everything when Redis cannot answer', async () => {
      redis.gateway.setFaults({ mode: 'http503' });
      const isolated = new UserCache({ redis: redis.redis, keyPrefix: redis.keyPrefix });

      const result = await client({ cache: isolated }).getProfiles([id(1), id(390)]);

      expect(requests).toHaveLength(1);
      expect(result.profiles.size).toBe(2);
    });

    it('refuses a malformed id before any I/O', async () => {
      await expect(client().getProfiles([id(1), 'bad id'])).rejects.toBeInstanceOf(ValidationError);
      expect(requests).toEqual([]);
      expect(redis.gateway.metrics.httpRequests).toBe(0);
    });
  });

  describe('getProfile()', () => {
    it('says found, not_found or unavailable', async () => {
      const found = await client().getProfile(id(395));
      const missing = await client().getProfile('ghost-4');
      const down = await client({ apiBaseUrl: silentUrl, timeoutMs: 100 }).getProfile(id(396));

      expect(found).toMatchObject({ status: 'found', profile: { userId: id(395) } });
      expect(missing).toEqual({ status: 'not_found' });
      expect(down).toEqual({ status: 'unavailable' });
    });
  });

  describe('constructor', () => {
    it('refuses a base URL that is not http(s) and a non-positive timeout', () => {
      expect(() => client({ apiBaseUrl: 'ftp://x' })).toThrow(/apiBaseUrl/);
      expect(() => client({ timeoutMs: 0 })).toThrow(/timeoutMs/);
    });
  });
});
