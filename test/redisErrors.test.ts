/**
 * Redis errors are classified once (shared/redis/errorText.ts) into a code that callers match, never their
 * message text. The errors here are the real ones: Redis' own replies, through the local Upstash gateway
 * and the real @upstash/redis client.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserCacheError } from '../shared/errors.js';
import { redisErrorCode } from '../shared/redis/errorText.js';
import { StreamGroup } from '../shared/stream/group.js';
import { type TestRedis, useTestRedis } from './support/redis.js';

let t: TestRedis;

beforeAll(async () => {
  t = await useTestRedis();
});
afterAll(async () => {
  await t.cleanup();
});

/** The error `promise` rejects with; fails the test when it resolves. */
async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('redisErrorCode()', () => {
  it('reads the kind of a command error: NOGROUP, BUSYGROUP, NOSCRIPT, WRONGTYPE, ERR', async () => {
    const stream = t.key('codes', 'stream');
    const missingGroup = failure(t.redis.exec(['XREADGROUP', 'GROUP', 'g', 'c', 'STREAMS', stream, '>']));
    expect(redisErrorCode(await missingGroup)).toBe('NOGROUP');

    await t.redis.exec(['XGROUP', 'CREATE', stream, 'g', '0', 'MKSTREAM']);
    const again = failure(t.redis.exec(['XGROUP', 'CREATE', stream, 'g', '0', 'MKSTREAM']));
    expect(redisErrorCode(await again)).toBe('BUSYGROUP');

    expect(redisErrorCode(await failure(t.redis.evalsha('0'.repeat(40), [], [])))).toBe('NOSCRIPT');
    expect(redisErrorCode(await failure(t.redis.hgetall(stream)))).toBe('WRONGTYPE');
    await t.redis.set(t.key('codes', 'text'), 'x');
    expect(redisErrorCode(await failure(t.redis.incr(t.key('codes', 'text'))))).toBe('ERR');
  });

  it('reads the kind of a failed pipeline reply (its `error` text, verbatim)', async () => {
    const p = t.redis.pipeline();
    p.evalsha('0'.repeat(40), [], []);
    const [reply] = (await p.exec({ keepErrors: true })) as Array<{ error?: string }>;

    expect(redisErrorCode(reply?.error)).toBe('NOSCRIPT');
  });

  it('gives no code for what is not a Redis reply: network failures, timeouts, other errors', () => {
    expect(redisErrorCode(new TypeError('fetch failed'))).toBeUndefined();
    expect(redisErrorCode(new DOMException('This operation was aborted', 'AbortError'))).toBeUndefined();
    expect(redisErrorCode(undefined)).toBeUndefined();
    expect(redisErrorCode('')).toBeUndefined();
  });
});

describe('UserCacheError.redisCode', () => {
  it('carries the Redis code of the command that failed, so callers match it and not the message', async () => {
    const group = new StreamGroup(t.redis, t.key('codes', 'nogroup'), 'absent', 'c');

    const error = await failure(group.readNew(10));

    expect(error).toBeInstanceOf(UserCacheError);
    expect((error as UserCacheError).redisCode).toBe('NOGROUP');
  });
});
