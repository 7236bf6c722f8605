/**
 * The local Upstash gateway's REST protocol (local/upstashGateway.ts), through raw HTTP and the real
 * @upstash/redis client: start-up checks, authentication, single commands and their reply shapes, expiry,
 * base64 and text encodings, pipelines, scripts, refused blocking commands, request validation, metrics.
 * Transactions, streams and faults have files of their own (test/gateway.*.test.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createClient } from 'redis';
import { describe, expect, inject, it } from 'vitest';
import { keepsNumberLiterals } from '../local/gateway/protocol.js';
import { startRedisServer } from '../local/redisServer.js';
import { startUpstashGateway } from '../local/upstashGateway.js';
import { ConfigError } from '../shared/errors.js';
import { createRedisClient } from '../shared/redis/client.js';
import { BASE64, b64, defaultClient, post, t, useGatewayTests } from './support/gateway.js';

useGatewayTests();

describe('startUpstashGateway', () => {
  it('refuses to bind a non-loopback host unless allowRemote is set', async () => {
    await expect(startUpstashGateway({ redisUrl: t.redisUrl, token: 'x', host: '0.0.0.0' })).rejects.toThrow(
      ConfigError,
    );
  });

  it('refuses an empty token', async () => {
    await expect(startUpstashGateway({ redisUrl: t.redisUrl, token: '' })).rejects.toThrow(ConfigError);
  });

  it('fails instead of hanging when Redis cannot be reached', async () => {
    const redis = await startRedisServer();
    await redis.stop();

    await expect(startUpstashGateway({ redisUrl: redis.url, token: 'x' })).rejects.toThrow(/unavailable/);
  });
});

describe('UpstashGateway', () => {
  describe('authentication', () => {
    it('answers 401 {"error":"Unauthorized"} without an Authorization header', async () => {
      const res = await fetch(t.gateway.url, { method: 'POST', body: '["PING"]' });

      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ error: 'Unauthorized' });
    });

    it.each([
      ['of the same length', () => 'x'.repeat(t.gateway.token.length)],
      ['of another length', () => `${t.gateway.token}x`],
    ])('answers 401 to a wrong token %s', async (_label, token) => {
      const res = await post('/', ['PING'], { headers: { authorization: `Bearer ${token()}` } });

      expect(res.status).toBe(401);
    });

    it('makes the client throw Unauthorized with a wrong token', async () => {
      const wrong = createRedisClient({ url: t.gateway.url, token: 'wrong', timeoutMs: 2_000 });

      await expect(wrong.get(t.key('auth'))).rejects.toThrow(/Unauthorized/);
    });

    it('accepts the token as the _token query parameter, as Upstash does', async () => {
      const res = await fetch(`${t.gateway.url}/?_token=${t.gateway.token}`, {
        method: 'POST',
        body: '["PING"]',
      });

      expect(await res.json()).toEqual({ result: 'PONG' });
    });
  });

  describe('single commands (POST /)', () => {
    it('round-trips strings, keeping "007" a string', async () => {
      await t.redis.set(t.key('s'), '007');

      expect(await t.redis.get(t.key('s'))).toBe('007');
      expect(await defaultClient.get(t.key('s'))).toBe('007');
    });

    it('returns HGETALL as the raw flat array with deserialization off', async () => {
      await t.redis.hset(t.key('h'), { code: '007', count: '42' });

      const raw = await t.redis.hgetall(t.key('h'));

      expect(raw).toEqual(['code', '007', 'count', '42']);
      expect(await t.redis.hgetall(t.key('missing'))).toEqual([]);
    });

    it('feeds the default client the shapes it deserializes (hash object, JSON numbers)', async () => {
      await defaultClient.hset(t.key('h2'), { code: '007', count: '42' });

      expect(await defaultClient.hgetall(t.key('h2'))).toEqual({ code: '007', count: 42 });
    });

    it('answers integers as JSON numbers and nil as null', async () => {
      expect((await post('/', ['INCRBY', t.key('n'), 5])).text).toBe('{"result":5}');
      expect((await post('/', ['GET', t.key('absent')])).text).toBe('{"result":null}');
    });

    it('turns number and boolean arguments into their text', async () => {
      await post('/', ['SET', t.key('num'), 10]);
      await post('/', ['SET', t.key('bool'), true]);
      await post('/', `["SET", "${t.key('dec')}", 1.50]`, { raw: true });

      expect(await t.redis.get(t.key('num'))).toBe('10');
      expect(await t.redis.get(t.key('bool'))).toBe('true');
      // Node 21+ hands JSON.parse revivers the literal text; on Node 20 only String(1.5) is possible.
      expect(await t.redis.get(t.key('dec'))).toBe(keepsNumberLiterals ? '1.50' : '1.5');
    });

    it("answers 400 with Redis' error text verbatim", async () => {
      await t.redis.set(t.key('word'), 'abc');

      const res = await post('/', ['INCR', t.key('word')]);

      expect(res.status).toBe(400);
      expect(res.body).toEqual({ error: 'ERR value is not an integer or out of range' });
      await expect(t.redis.incr(t.key('word'))).rejects.toThrow(/ERR value is not an integer/);
    });

    it('sends an increasing upstash-sync-token header on success', async () => {
      const first = await post('/', ['PING']);
      const second = await post('/', ['PING']);

      expect(Number(second.headers.get('upstash-sync-token'))).toBeGreaterThan(
        Number(first.headers.get('upstash-sync-token')),
      );
    });
  });

  describe('expiry', () => {
    it('sets and reports TTLs with EXPIRE, TTL, PEXPIRE and PTTL', async () => {
      await t.redis.set(t.key('e'), 'v');
      await t.redis.set(t.key('p'), 'v');
      await t.redis.set(t.key('forever'), 'v');

      expect(await t.redis.expire(t.key('e'), 100)).toBe(1);
      expect(await t.redis.pexpire(t.key('p'), 50_000)).toBe(1);

      const ttl = await t.redis.ttl(t.key('e'));
      expect(ttl).toBeGreaterThan(90);
      expect(ttl).toBeLessThanOrEqual(100);
      const pttl = await t.redis.pttl(t.key('p'));
      expect(pttl).toBeGreaterThan(40_000);
      expect(pttl).toBeLessThanOrEqual(50_000);
      expect(await t.redis.ttl(t.key('forever'))).toBe(-1);
      expect(await t.redis.ttl(t.key('nothing'))).toBe(-2);
    });

    it('applies SET … EX and a past PEXPIREAT deletes the key', async () => {
      await t.redis.set(t.key('ex'), 'v', { ex: 60 });
      await t.redis.set(t.key('gone'), 'v');

      await t.redis.pexpireat(t.key('gone'), Date.now() - 1_000);

      expect(await t.redis.ttl(t.key('ex'))).toBeGreaterThan(50);
      expect(await t.redis.get(t.key('gone'))).toBeNull();
    });
  });

  describe('base64 responses (Upstash-Encoding: base64)', () => {
    it('encodes every string at any depth but keeps numbers, null and a top-level OK', async () => {
      const set = await post('/', ['SET', t.key('b'), 'bar'], { headers: BASE64 });
      await post('/', ['HSET', t.key('bh'), 'f', 'v']);

      expect(set.body).toEqual({ result: 'OK' });
      expect((await post('/', ['GET', t.key('b')], { headers: BASE64 })).body).toEqual({
        result: b64('bar'),
      });
      expect((await post('/', ['HGETALL', t.key('bh')], { headers: BASE64 })).body).toEqual({
        result: [b64('f'), b64('v')],
      });
      expect((await post('/', ['STRLEN', t.key('b')], { headers: BASE64 })).body).toEqual({ result: 3 });
      expect((await post('/', ['GET', t.key('none')], { headers: BASE64 })).body).toEqual({ result: null });
      expect((await post('/', ['PING'], { headers: BASE64 })).body).toEqual({ result: b64('PONG') });
    });

    it('never encodes error texts', async () => {
      const res = await post('/', ['NOSUCHCOMMAND'], { headers: BASE64 });

      expect(res.status).toBe(400);
      expect((res.body as { error: string }).error).toMatch(/^ERR unknown command/);
    });

    it('returns the exact bytes of a value that is not UTF-8', async () => {
      const bytes = Buffer.from([0xff, 0xfe, 0x00, 0x41, 0xc3]);
      const direct = createClient({ url: t.redisUrl });
      await direct.connect();
      await direct.set(t.key('bin'), bytes);
      direct.destroy();

      const encoded = await post('/', ['GET', t.key('bin')], { headers: BASE64 });
      const plain = await post('/', ['GET', t.key('bin')]);

      expect(Buffer.from((encoded.body as { result: string }).result, 'base64')).toEqual(bytes);
      // Without base64, invalid UTF-8 becomes U+FFFD, as on Upstash.
      expect((plain.body as { result: string }).result).toBe('\uFFFD\uFFFD\u0000A\uFFFD');
    });
  });

  describe("text responses (no Upstash-Encoding: the API's cache client)", () => {
    const text = () => t.client({ timeoutMs: 2_000, responseEncoding: 'text' });

    it('sends no Upstash-Encoding header and gets plain JSON strings back', async () => {
      await post('/', ['HSET', t.key('th'), 'fullName', 'Ngono Ébénézer', 'matricule', '007']);

      const raw = await post('/', ['HGETALL', t.key('th')]);

      expect(raw.body).toEqual({ result: ['fullName', 'Ngono Ébénézer', 'matricule', '007'] });
      expect(await text().hgetall(t.key('th'))).toEqual(['fullName', 'Ngono Ébénézer', 'matricule', '007']);
    });

    it('reads what the base64 client reads, for every awkward text a profile may hold', async () => {
      const values = ['007', 'true', 'null', '1e3', ' padded ', 'a"b\\c', 'émoji 🇨🇲', '\u2028', 'OK', ''];
      const key = t.key('tv');
      await t.redis.hset(key, Object.fromEntries(values.map((v, i) => [`f${i}`, v])));

      const [viaText, viaBase64] = await Promise.all([text().hgetall(key), t.redis.hgetall(key)]);

      expect(viaText).toEqual(viaBase64);
      expect(viaText).toContain('émoji 🇨🇲');
    });

    it('answers pipelines, integers, nil and per-entry errors in the same shapes as base64 mode', async () => {
      const key = t.key('tp');
      const p = text().pipeline();
      p.hset(key, { a: '1' });
      p.hgetall(key);
      p.hgetall(t.key('tp-none'));
      p.hincrby(key, 'a', 2);
      p.get(t.key('tp-none'));
      p.incr(key);

      const replies = (await p.exec({ keepErrors: true })) as Array<{ result: unknown; error?: string }>;

      expect(replies.slice(0, 5).map((r) => r.result)).toEqual([1, ['a', '1'], [], 3, null]);
      expect(replies[5]?.error).toMatch(/^WRONGTYPE/);
    });

    it('turns invalid UTF-8 into U+FFFD (so binary-safe readers, the poller, keep base64)', async () => {
      const direct = createClient({ url: t.redisUrl });
      await direct.connect();
      await direct.set(t.key('tbin'), Buffer.from([0x41, 0xff, 0x42]));
      direct.destroy();

      expect(await text().get(t.key('tbin'))).toBe('A\uFFFDB');
    });
  });

  describe('unicode and awkward strings', () => {
    const samples = [
      'Yaoundé, Garoua, Ngaoundéré',
      '👩🏾‍💻 chef de service 🇨🇲',
      '中文 العربية',
      'quote " backslash \\ newline \n tab \t nul \u0000',
      '',
      '{"looks":"like json"}',
      'true',
      '42',
    ];

    it.each(samples)('round-trips %j through the raw and the default client', async (value) => {
      const key = t.key('u', createHash('sha1').update(value).digest('hex'));

      await t.redis.set(key, value);

      expect(await t.redis.get(key)).toBe(value);
      const viaDefault = await defaultClient.get(key);
      // The default client JSON-parses what it can: that is its documented behaviour, not the gateway's.
      expect(viaDefault).toEqual(/^(true|42|\{.*\})$/.test(value) ? JSON.parse(value) : value);
    });

    it('accepts unicode in key names and hash fields', async () => {
      await t.redis.hset(t.key('clé👍'), { prénom: 'Émilie' });

      expect(await t.redis.hgetall(t.key('clé👍'))).toEqual(['prénom', 'Émilie']);
    });
  });

  describe('pipelines (POST /pipeline)', () => {
    it('runs 1000 commands in one HTTP request and answers them in order', async () => {
      t.gateway.metrics.reset();
      const p = t.redis.pipeline();
      for (let i = 0; i < 1000; i++) p.incr(t.key('counter'));

      const results = await p.exec();

      expect(results).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
      expect(t.gateway.metrics.httpRequests).toBe(1);
      expect(t.gateway.metrics.commands).toBe(1000);
    });

    it('reports errors per entry and still runs the other commands', async () => {
      const res = await post('/pipeline', [
        ['SET', t.key('pw'), 'text'],
        ['INCR', t.key('pw')],
        ['BLPOP', t.key('list'), 1],
        ['GET', t.key('pw')],
      ]);

      expect(res.status).toBe(200);
      expect(res.body).toEqual([
        { result: 'OK' },
        { error: 'ERR value is not an integer or out of range' },
        { error: expect.stringMatching(/BLPOP.*not supported by Upstash REST/) },
        { result: 'text' },
      ]);
    });

    it('gives the client the error entries with keepErrors', async () => {
      const p = t.redis.pipeline();
      p.set(t.key('ke'), 'x');
      p.incr(t.key('ke'));

      const results = await p.exec({ keepErrors: true });

      expect(results[0]).toEqual({ result: 'OK', error: undefined });
      expect(results[1]?.error).toMatch(/ERR value is not an integer/);
    });

    it('base64-encodes each result when asked', async () => {
      await t.redis.set(t.key('pb'), 'é');

      const res = await post(
        '/pipeline',
        [
          ['GET', t.key('pb')],
          ['SET', t.key('pb'), 'x'],
          ['EXISTS', t.key('pb')],
        ],
        {
          headers: BASE64,
        },
      );

      expect(res.body).toEqual([{ result: b64('é') }, { result: 'OK' }, { result: 1 }]);
    });
  });

  describe('scripts (EVAL / EVALSHA)', () => {
    it('runs EVAL with keys and arguments', async () => {
      const result = await t.redis.eval(
        'return {KEYS[1], ARGV[1], tonumber(ARGV[2]) + 1}',
        [t.key('k')],
        ['a', '41'],
      );

      expect(result).toEqual([t.key('k'), 'a', 42]);
    });

    it('passes NOSCRIPT through verbatim so createScript() falls back to EVAL, then uses EVALSHA', async () => {
      // A nonce makes the script unknown to this Redis without SCRIPT FLUSH (which would hit other runs).
      const script = t.redis.createScript<string>(`-- ${randomBytes(8).toString('hex')}\nreturn ARGV[1]`);
      const unknownSha = await post('/', ['EVALSHA', 'f'.repeat(40), 0]);
      t.gateway.metrics.reset();

      const first = await script.exec([], ['hello']);
      const requestsForFirst = t.gateway.metrics.httpRequests;
      const second = await script.exec([], ['again']);

      expect(unknownSha.status).toBe(400);
      expect((unknownSha.body as { error: string }).error).toMatch(/^NOSCRIPT /);
      expect([first, second]).toEqual(['hello', 'again']);
      expect(requestsForFirst).toBe(2);
      expect(t.gateway.metrics.httpRequests).toBe(3);
    });
  });

  describe('blocking and connection-state commands', () => {
    const refused = [
      ['BLPOP', 'k', 0],
      ['BRPOP', 'k', 0],
      ['BLMOVE', 'a', 'b', 'LEFT', 'LEFT', 0],
      ['BRPOPLPUSH', 'a', 'b', 0],
      ['BZPOPMIN', 'k', 0],
      ['BZPOPMAX', 'k', 0],
      ['BLMPOP', 0, 1, 'k', 'LEFT'],
      ['BZMPOP', 0, 1, 'k', 'MIN'],
      ['WAIT', 0, 0],
      ['WAITAOF', 0, 0, 0],
      ['SUBSCRIBE', 'c'],
      ['PSUBSCRIBE', 'c*'],
      ['SSUBSCRIBE', 'c'],
      ['MONITOR'],
      ['SYNC'],
      ['PSYNC', '?', -1],
      ['select', 1],
      ['MULTI'],
      ['EXEC'],
      ['WATCH', 'k'],
      ['CLIENT', 'ID'],
      ['HELLO', 3],
    ];

    it.each(refused)('answers 400 to %s and the shared connection keeps working', async (...cmd) => {
      const res = await post('/', cmd);

      expect(res.status).toBe(400);
      expect((res.body as { error: string }).error).toMatch(/not supported by Upstash REST: poll/);
      expect((await post('/', ['PING'])).body).toEqual({ result: 'PONG' });
    });
  });

  describe('request validation', () => {
    it.each([
      ['malformed JSON', '/', '["SET", "k"', 400],
      ['an empty command', '/', '[]', 400],
      ['an object argument', '/', '["SET", "k", {"a": 1}]', 400],
      ['a null argument', '/', '["SET", "k", null]', 400],
      ['a pipeline that is not an array of arrays', '/pipeline', '["GET", "k"]', 400],
      ['an empty pipeline', '/pipeline', '[]', 400],
      ['an unknown route', '/nope', '["PING"]', 404],
    ])('answers %s with %s', async (_label, path, body, status) => {
      const res = await post(path, body, { raw: true });

      expect(res.status).toBe(status);
      expect(res.body).toEqual({ error: expect.any(String) });
    });

    it('answers 405 to GET', async () => {
      const res = await fetch(t.gateway.url, { headers: { authorization: `Bearer ${t.gateway.token}` } });

      expect(res.status).toBe(405);
    });

    it("answers a body over maxRequestBytes with Upstash's 400 ERR max request size exceeded", async () => {
      const small = await startUpstashGateway({ redisUrl: t.redisUrl, token: 'tok', maxRequestBytes: 1_024 });
      try {
        const res = await post('/', ['SET', t.key('big'), 'x'.repeat(4_096)], { gateway: small });
        const fits = await post('/', ['SET', t.key('small'), 'x'.repeat(100)], { gateway: small });

        expect(res.status).toBe(400);
        expect(res.body).toEqual({ error: 'ERR max request size exceeded' });
        expect(fits.status).toBe(200);
        expect(await t.redis.get(t.key('big'))).toBeNull();
      } finally {
        await small.close();
      }
    });
  });

  describe('metrics', () => {
    it('counts HTTP requests and the Redis commands they ran, and reset() zeroes both', async () => {
      t.gateway.metrics.reset();

      await t.redis.set(t.key('m'), '1');
      await post('/pipeline', [
        ['GET', t.key('m')],
        ['BLPOP', 'k', 0],
        ['GET', t.key('m')],
      ]);
      await post('/multi-exec', [
        ['INCR', t.key('m')],
        ['INCR', t.key('m')],
      ]);
      await fetch(t.gateway.url, { method: 'POST', body: '["PING"]' });

      expect(t.gateway.metrics).toMatchObject({ httpRequests: 4, commands: 5 });
      t.gateway.metrics.reset();
      expect(t.gateway.metrics).toMatchObject({ httpRequests: 0, commands: 0 });
    });
  });

  describe('close()', () => {
    it('stops listening', async () => {
      const gateway = await startUpstashGateway({ redisUrl: inject('redisUrl'), token: 'tok' });
      expect((await post('/', ['PING'], { gateway })).status).toBe(200);

      await gateway.close();

      await expect(post('/', ['PING'], { gateway })).rejects.toThrow(/fetch failed/);
    });
  });
});
