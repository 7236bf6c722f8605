/**
 * `npm run dlq`: the stream redrive against real Redis (the poller's own dead-letter format, a real
 * poller run to apply the replay), and the SQS redrive's logic. SQS cannot be reached from this
 * machine: the queue redrive is tested through an in-memory queue adapter of its port, which stands in
 * for SQS (not for anything under test); the AWS CLI adapter itself is not exercised here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../functions/commons/config.js';
import { createHandler as poller, pollerDeps } from '../functions/streamPoller.js';
import { type FailureQueuePort, type QueueMessage, QueueRedrive } from '../local/dlqQueue.js';
import { StreamRedrive } from '../local/dlqStream.js';
import { deadLetterFields } from '../shared/stream/entries.js';
import { fields } from './support/fixtures.js';
import { type TestStack, useTestStack } from './support/stack.js';

let s: TestStack;
let redrive: StreamRedrive;
let n = 0;

/** An event as our publisher writes it. */
function event(userId: string, version: number, fullName: string): Record<string, string> {
  return {
    type: 'user.profile.updated',
    userId,
    version: String(version),
    occurredAt: String(Date.now()),
    payload: JSON.stringify({ ...fields(), fullName, updatedAt: Date.now() }),
    eventId: `e${n++}`,
  };
}

/** Dead-letters `fields` exactly as the poller does (streamGroup.settle → deadLetterFields). */
async function deadLetter(eventFields: Record<string, string>, stream = s.stream): Promise<string> {
  const dead = deadLetterFields(
    { id: `${Date.now()}-${n++}`, fields: eventFields },
    { reason: 'gave up after 5 deliveries', stream, deliveries: 5, now: Date.now() },
  );
  return s.redis.redis.exec<string>(['XADD', `${s.stream}:dead`, '*', ...Object.entries(dead).flat()]);
}

async function runPoller(): Promise<void> {
  const config = loadConfig({
    UPSTASH_REDIS_REST_URL: s.redis.gateway.url,
    UPSTASH_REDIS_REST_TOKEN: s.redis.gateway.token,
    CACHE_KEY_PREFIX: s.redis.keyPrefix,
    EVENTS_STREAM: s.stream,
    POLLER_BUDGET_MS: '1500',
    REDIS_TIMEOUT_MS: '2000',
  });
  const result = await poller(pollerDeps({ ...s, config, redis: s.redis.redis }))({});
  expect(result.status).toBe('done');
}

beforeAll(async () => {
  s = await useTestStack();
  redrive = new StreamRedrive({ redis: s.redis.redis, stream: s.stream, maxLen: 1_000_000 });
});
afterAll(async () => {
  await s?.cleanup();
});

describe('stream redrive (events:users:dead)', () => {
  it('lists and shows dead-lettered entries with their reason and original fields', async () => {
    const original = { ...event('dl-show', 1, 'Show'), reason: 'a producer field named like a meta field' };
    const id = await deadLetter(original);
    const listed = await redrive.list();
    const entry = listed.find((e) => e.id === id);
    expect(entry).toMatchObject({
      reason: 'gave up after 5 deliveries',
      sourceStream: s.stream,
      deliveries: 5,
    });
    expect(entry?.fields).toEqual(original);
    expect(await redrive.show(id)).toEqual(entry);
    expect(await redrive.show('1-0')).toBeUndefined();
    await s.redis.redis.exec(['XDEL', `${s.stream}:dead`, id]);
  });

  it('replays an entry into the events stream, removes the dead copy, and the poller applies it', async () => {
    const id = 'dlreplay1';
    await s.repository.create(id, fields());
    const { profile } = await s.repository.update(id, { ...fields(), fullName: 'Replayed' });
    const original = event(id, profile.version, 'Replayed');
    const dead = await deadLetter(original);
    const before = await s.redis.redis.exec<number>(['XLEN', s.stream]);

    const [outcome] = await redrive.replay([dead]);
    expect(outcome).toMatchObject({ id: dead, status: 'replayed' });
    expect(await s.redis.redis.exec<number>(['XLEN', s.stream])).toBe(before + 1);
    expect(await redrive.show(dead)).toBeUndefined();
    const newId = (outcome as { newId: string }).newId;
    const [found] = await s.redis.redis.exec<[string, string[]][]>(['XRANGE', s.stream, newId, newId]);
    const flat = found?.[1] ?? [];
    // The producer's fields exactly, without the dead-letter metadata.
    const replayed: Record<string, string> = {};
    for (let i = 0; i < flat.length; i += 2) replayed[flat[i]!] = flat[i + 1]!;
    expect(replayed).toEqual(original);

    await runPoller();
    expect(await s.cache.get(id)).toMatchObject({
      status: 'hit',
      profile: { version: profile.version, fullName: 'Replayed' },
    });
  });

  it('is idempotent: replaying the same entry again re-adds nothing', async () => {
    const dead = await deadLetter(event('dl-twice', 1, 'Twice'));
    expect((await redrive.replay([dead]))[0]?.status).toBe('replayed');
    const length = await s.redis.redis.exec<number>(['XLEN', s.stream]);
    expect(await redrive.replay([dead])).toEqual([{ id: dead, status: 'gone' }]);
    expect(await s.redis.redis.exec<number>(['XLEN', s.stream])).toBe(length);
  });

  it('is fenced: a replayed old event never overwrites a newer cached profile', async () => {
    const id = 'dlfence1';
    await s.repository.create(id, fields());
    const { profile } = await s.repository.update(id, { ...fields(), fullName: 'Newest' });
    await s.cache.set(profile);
    const dead = await deadLetter(event(id, 1, 'Old'));
    expect((await redrive.replay([dead]))[0]?.status).toBe('replayed');
    await runPoller();
    expect(await s.cache.get(id)).toMatchObject({
      status: 'hit',
      profile: { version: profile.version, fullName: 'Newest' },
    });
  });

  it('refuses entries another stream dead-lettered, and keeps the dead copy when the re-add fails', async () => {
    const foreign = await deadLetter(event('dl-foreign', 1, 'Foreign'), 'other-stage:events:users');
    expect((await redrive.replay([foreign]))[0]).toMatchObject({ status: 'refused' });
    expect(await redrive.show(foreign)).toBeDefined();

    // A target the XADD fails on (a key of the wrong type): the script stops before its XDEL.
    const broken = s.redis.key('broken');
    await s.redis.redis.exec(['SET', broken, 'not a stream']);
    const onBroken = new StreamRedrive({ redis: s.redis.redis, stream: broken, maxLen: 1000 });
    const fieldsOf = deadLetterFields(
      { id: '1-1', fields: event('dl-broken', 1, 'Broken') },
      { reason: 'x', stream: broken, deliveries: 1, now: 0 },
    );
    const id = await s.redis.redis.exec<string>([
      'XADD',
      `${broken}:dead`,
      '*',
      ...Object.entries(fieldsOf).flat(),
    ]);
    const [outcome] = await onBroken.replay([id]);
    expect(outcome).toMatchObject({ id, status: 'refused', reason: expect.stringMatching(/WRONGTYPE/) });
    expect(await onBroken.show(id)).toBeDefined();
  });
});

/** An in-memory stand-in for one SQS queue (receive with visibility, delete by receipt handle). */
function memoryQueue(initial: Array<Omit<QueueMessage, 'receiptHandle'>>): FailureQueuePort & {
  messages: Map<string, Omit<QueueMessage, 'receiptHandle'> & { hidden: boolean }>;
} {
  const messages = new Map(initial.map((m) => [m.messageId, { ...m, hidden: false }]));
  return {
    messages,
    async receive(max, hideForSeconds) {
      const visible = [...messages.values()].filter((m) => !m.hidden).slice(0, max);
      for (const m of visible) if (hideForSeconds > 0) m.hidden = true;
      return visible.map(({ hidden: _h, ...m }) => ({ ...m, receiptHandle: `rh-${m.messageId}` }));
    },
    async delete(receiptHandle) {
      messages.delete(receiptHandle.slice(3));
    },
  };
}

const LAMBDA_RECORD = {
  messageId: 'm-lambda',
  sentAt: 1,
  attributes: {},
  body: JSON.stringify({
    version: '1.0',
    requestContext: {
      functionArn: 'arn:aws:lambda:eu-west-1:111111111111:function:prewarm:live',
      condition: 'RetriesExhausted',
      approximateInvokeCount: 3,
    },
    requestPayload: { source: 'scheduler' },
    responsePayload: { errorType: 'UserCacheError', errorMessage: 'Redis timed out' },
  }),
};
const SCHEDULER_LETTER = {
  messageId: 'm-scheduler',
  sentAt: 2,
  body: '{}',
  attributes: {
    TARGET_ARN: 'arn:aws:lambda:eu-west-1:111111111111:function:audit:live',
    ERROR_CODE: 'AWS.Lambda.TooManyRequestsException',
  },
};

describe('queue redrive (SQS failure queues)', () => {
  it("lists Lambda's failure records and Scheduler's dead letters without taking them", async () => {
    const queue = memoryQueue([LAMBDA_RECORD, SCHEDULER_LETTER]);
    const listed = await new QueueRedrive(queue, { invokeAsync: async () => {} }).list();
    expect(listed.map((l) => l.run)).toEqual([
      expect.objectContaining({
        target: 'arn:aws:lambda:eu-west-1:111111111111:function:prewarm:live',
        payload: '{"source":"scheduler"}',
        error: 'UserCacheError: Redis timed out: RetriesExhausted',
      }),
      expect.objectContaining({ target: SCHEDULER_LETTER.attributes.TARGET_ARN, payload: '{}' }),
    ]);
    expect([...queue.messages.values()].every((m) => !m.hidden)).toBe(true);
  });

  it('re-invokes each target with its original event, and deletes a message only after its invoke succeeded', async () => {
    const queue = memoryQueue([LAMBDA_RECORD, SCHEDULER_LETTER]);
    const invoked: Array<[string, string]> = [];
    const outcomes = await new QueueRedrive(queue, {
      async invokeAsync(arn, payload) {
        if (arn.includes(':audit:')) throw new Error('TooManyRequestsException');
        invoked.push([arn, payload]);
      },
    }).replay();
    expect(invoked).toEqual([
      ['arn:aws:lambda:eu-west-1:111111111111:function:prewarm:live', '{"source":"scheduler"}'],
    ]);
    expect(outcomes).toEqual([
      { messageId: 'm-lambda', status: 'replayed', target: expect.stringContaining(':prewarm:live') },
      { messageId: 'm-scheduler', status: 'refused', reason: expect.stringMatching(/message kept/) },
    ]);
    expect([...queue.messages.keys()]).toEqual(['m-scheduler']);
  });

  it('never replays a message that is not a failure record', async () => {
    const queue = memoryQueue([{ messageId: 'junk', sentAt: 0, attributes: {}, body: 'not json' }]);
    const outcomes = await new QueueRedrive(queue, { invokeAsync: async () => {} }).replay();
    expect(outcomes).toEqual([{ messageId: 'junk', status: 'refused', reason: 'not a failure record' }]);
    expect(queue.messages.has('junk')).toBe(true);
  });
});
