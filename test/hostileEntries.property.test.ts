/**
 * Issue 9's property: whatever a stream holds, every entry ends somewhere known within one poller run.
 * Random valid entries are interleaved with hostile ones (bad, huge and unsafe versions, missing fields,
 * binary junk, unknown types, wrong-type keys, payloads at and over the limits), against the real Redis
 * and PostgreSQL. Each entry's expected fate is decided here, from how it was built, never by the parser.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProfileRepository } from '../shared/db/profileRepository.js';
import { LIMITS, type ProfileFields } from '../shared/profile/schemas.js';
import { StreamConsumer } from '../shared/stream/consumer.js';
import { toStreamFields, type UserEventType } from '../shared/stream/events.js';
import { trimAcknowledged } from '../shared/stream/trim.js';
import { UserCache } from '../shared/userCache.js';
import { type TestDb, useTestDb } from './support/db.js';
import { fakeTime } from './support/fakeTime.js';
import { type TestRedis, useTestRedis } from './support/redis.js';

let t: TestRedis;
let db: TestDb;
let cache: UserCache;
let repository: ProfileRepository;
let n = 0;
const freshId = () => `pe${Date.now().toString(36)}${(n++).toString(36)}`;

/** What must have happened to an entry after one run. */
type Fate =
  | { fate: 'applied'; userId: string; status: 'hit' | 'deleted'; version: number; fullName?: string }
  | { fate: 'fromDatabase'; userId: string }
  | { fate: 'dead' }
  | { fate: 'skip' };

interface Entry {
  fields: Record<string, string>;
  expect: Fate;
  /** Runs before the entry is added (a row to create, a legacy key to plant). */
  setup?: () => Promise<void>;
}

const validFields = fc.record({
  fullName: fc.oneof(
    fc.constantFrom('Mbarga Serge', 'Ngo Bassa Élise', 'Atangana'),
    fc.constant('A'.repeat(LIMITS.fullNameMaxLength)),
  ),
  avatar: fc.oneof(fc.constant(''), fc.constant(`https://a.cm/${'x'.repeat(LIMITS.avatarMaxLength - 13)}`)),
  matricule: fc.constantFrom('712345-B', 'M.1/2'),
  ministere: fc.constantFrom('MINFOP', 'MINSANTE'),
});

/** Anything of 0-255, for binary junk (the REST protocol carries JSON strings). */
const junk = fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 40 });
const notAnId = junk.filter((s) => !LIMITS.userIdPattern.test(s));

function versioned(type: UserEventType, userId: string, version: number, f: ProfileFields) {
  const profile = type === 'user.profile.deleted' ? null : { userId, ...f, updatedAt: 1, version };
  return toStreamFields({ type, userId, version, occurredAt: Date.now(), profile });
}

const good: fc.Arbitrary<Entry> = fc.oneof(
  fc
    .tuple(
      fc.constantFrom<UserEventType>('user.profile.created', 'user.profile.updated'),
      fc.integer({ min: 1, max: 1_000_000 }),
      validFields,
      fc.option(fc.tuple(junk, junk), { nil: undefined }),
    )
    .map(([type, version, f, extra]) => {
      const userId = freshId();
      // An unknown extra field (even binary junk) does not make a valid entry bad.
      const fields = {
        ...versioned(type, userId, version, f),
        ...(extra ? { [`x-${extra[0]}`]: extra[1] } : {}),
      };
      return {
        fields,
        expect: { fate: 'applied', userId, status: 'hit', version, fullName: f.fullName } as const,
      };
    }),
  fc.integer({ min: 1, max: 1_000_000 }).map((version) => {
    const userId = freshId();
    const fields = versioned('user.profile.deleted', userId, version, {} as ProfileFields);
    return { fields, expect: { fate: 'applied', userId, status: 'deleted', version } as const };
  }),
  // A seed-style producer's event without a version: the poller writes the row PostgreSQL has.
  validFields.map((f) => {
    const userId = freshId();
    return {
      setup: async () => {
        await repository.create(userId, f);
      },
      fields: { event: 'updated', userId, payload: JSON.stringify(f) },
      expect: { fate: 'fromDatabase', userId } as const,
    };
  }),
);

const dead = (fields: Record<string, string>, setup?: () => Promise<void>): Entry => ({
  fields,
  expect: { fate: 'dead' },
  ...(setup ? { setup } : {}),
});

const bad: fc.Arbitrary<Entry> = fc.oneof(
  // Unsafe, huge, negative, fractional or foreign-digit versions, and 0 (below every fence).
  fc
    .tuple(
      fc.constantFrom(
        '9007199254740993',
        '9999999999999999',
        '99999999999999999999',
        '-1',
        '1.5',
        '1e3',
        '0x1F',
        ' 7',
        '٣',
        '0',
      ),
      fc.constantFrom<UserEventType>('user.profile.updated', 'user.profile.deleted'),
      validFields,
    )
    .map(([version, type, f]) => dead({ ...versioned(type, freshId(), 1, f), version })),
  // Missing fields.
  fc.constant(null).map(() => dead({ userId: freshId() })),
  fc.constant(null).map(() => dead({ type: 'user.profile.deleted', version: '3' })),
  validFields.map((f) => {
    const { payload: _payload, ...rest } = versioned('user.profile.updated', freshId(), 2, f);
    return dead(rest);
  }),
  // Binary junk where an id or a payload should be.
  notAnId.map((userId) => dead({ type: 'user.profile.deleted', userId, version: '2' })),
  junk.map((payload) =>
    dead({ type: 'user.profile.created', userId: freshId(), version: '1', payload: `{${payload}` }),
  ),
  // Payloads over the limits, one of them huge (100 kB).
  fc
    .tuple(
      validFields,
      fc.constantFrom(
        { fullName: 'A'.repeat(LIMITS.fullNameMaxLength + 1) },
        { fullName: 'B'.repeat(100_000) },
        { avatar: `https://a.cm/${'x'.repeat(LIMITS.avatarMaxLength)}` },
        { ministere: 'minfop' },
        { matricule: 'M'.repeat(LIMITS.matriculeMaxLength + 1) },
      ),
    )
    .map(([f, over]) => dead(versioned('user.profile.updated', freshId(), 3, { ...f, ...over }))),
  // A valid event for a key a legacy writer left as a string.
  validFields.map((f) => {
    const userId = freshId();
    return dead(versioned('user.profile.created', userId, 1, f), async () => {
      await t.redis.exec(['SET', cache.keys.profile(userId), 'legacy']);
    });
  }),
);

const unknownType: fc.Arbitrary<Entry> = fc
  .oneof(
    fc.constantFrom('user.presence.changed', 'user.profile.renamed'),
    junk.map((s) => `x.${s}`),
  )
  .map((type) => ({ fields: { type, userId: freshId() }, expect: { fate: 'skip' } }));

const stream = fc.array(
  fc.oneof({ arbitrary: good, weight: 3 }, { arbitrary: bad, weight: 3 }, unknownType),
  {
    minLength: 1,
    maxLength: 25,
  },
);

beforeAll(async () => {
  t = await useTestRedis();
  db = await useTestDb();
  repository = new ProfileRepository({ sql: db.sql });
  cache = new UserCache({ redis: t.redis, keyPrefix: t.keyPrefix, trackActivity: false });
});
afterAll(async () => {
  await t.cleanup();
  await db.cleanup();
});

describe('StreamConsumer against hostile entries (property)', () => {
  it('applies every good entry, dead-letters every bad one with a reason, in one run; nothing stays pending', async () => {
    await fc.assert(
      fc.asyncProperty(stream, fc.integer({ min: 1, max: 10 }), async (entries, count) => {
        const key = t.key('events', String(n++));
        const ids: string[] = [];
        for (const e of entries) {
          await e.setup?.();
          ids.push(await t.redis.exec<string>(['XADD', key, '*', ...Object.entries(e.fields).flat()]));
        }
        const time = fakeTime();
        const consumer = new StreamConsumer({
          redis: t.redis,
          cache,
          stream: key,
          count,
          repository,
          clock: time.clock,
          sleep: time.sleep,
        });

        const report = await consumer.runFor(1_000);

        const expectedDead = entries.flatMap((e, i) => (e.expect.fate === 'dead' ? [ids[i]] : []));
        const rows = await t.redis.exec<Array<[string, string[]]>>(['XRANGE', `${key}:dead`, '-', '+']);
        const deadLetters = rows.map(
          ([, flat]) =>
            new Map(Array.from({ length: flat.length / 2 }, (_, k) => [flat[2 * k], flat[2 * k + 1]])),
        );
        expect(deadLetters.map((d) => d.get('sourceId')).sort()).toEqual(expectedDead.sort());
        for (const d of deadLetters) expect(d.get('reason')).toMatch(/\S/);
        expect(report.deadLettered).toBe(expectedDead.length);
        expect(report.unknownTypes).toBe(entries.filter((e) => e.expect.fate === 'skip').length);
        expect(report.pending).toBe(0);

        for (const { expect: fate } of entries) {
          if (fate.fate === 'applied') {
            const lookup = await cache.get(fate.userId);
            if (fate.status === 'deleted')
              expect(lookup).toEqual({ status: 'deleted', version: fate.version });
            else
              expect(lookup).toMatchObject({
                status: 'hit',
                profile: { version: fate.version, fullName: fate.fullName },
              });
          } else if (fate.fate === 'fromDatabase') {
            const row = await repository.getById(fate.userId);
            expect(await cache.get(fate.userId)).toMatchObject({
              status: 'hit',
              profile: { version: row?.version },
            });
          }
        }
        // Nothing pins the trim floor: every entry can go.
        const { floor } = await trimAcknowledged(t.redis, key);
        const [lastMs, lastSeq] = ids.at(-1)!.split('-').map(Number) as [number, number];
        const [floorMs, floorSeq] = (floor ?? '0-0').split('-').map(Number) as [number, number];
        expect(floorMs > lastMs || (floorMs === lastMs && floorSeq > lastSeq)).toBe(true);
      }),
      { numRuns: 30 },
    );
  });
});
