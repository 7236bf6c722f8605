import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  AlreadyExistsError,
  NotFoundError,
  UserCacheError,
  ValidationError,
  VersionConflictError,
} from '../shared/errors.js';
import type { ProfileCache } from '../shared/profile/service.js';
import { ProfileService } from '../shared/profile/service.js';
import { createRedisClient } from '../shared/redis/client.js';
import { EventPublisher } from '../shared/stream/eventPublisher.js';
import type { UserCache } from '../shared/userCache.js';
import { UserCache as UserCacheClass } from '../shared/userCache.js';
import { fields, newId } from './support/fixtures.js';
import { capturingLogger, type TestStack, useTestStack } from './support/stack.js';

let s: TestStack;

const SELECT_ONE = /FROM personnel WHERE id = \$1$/;

async function outboxRow(userId: string, version: number) {
  const { rows } = await s.db.sql.query<{ published_at: unknown; stream_id: string | null }>(
    'SELECT published_at, stream_id FROM outbox WHERE user_id = $1 AND version = $2',
    [userId, version],
  );
  return rows[0];
}

async function streamEntries(userId: string) {
  const raw = (await s.redis.redis.xrange(s.stream, '-', '+')) as unknown as Array<[string, string[]]>;
  return raw
    .map(([id, flat]) => ({ id, fields: Object.fromEntries(pairs(flat)) }))
    .filter((e) => e.fields.userId === userId);
}

function pairs(flat: string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
}

/** Polls until `check` holds (bounded), for states reached by concurrent work. */
async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(check()).toBe(true);
}

beforeAll(async () => {
  s = await useTestStack();
});
afterAll(async () => {
  await s?.cleanup();
});
beforeEach(() => {
  s.redis.gateway.setFaults({});
  s.sql.before = undefined;
  s.sql.after = undefined;
  s.sql.statements.length = 0;
  s.redis.gateway.metrics.reset();
  s.metrics.reset();
});

describe('ProfileService', () => {
  describe('getProfile()', () => {
    it('reads PostgreSQL on a miss, fills the cache, then answers from the cache', async () => {
      const id = newId();
      await s.repository.create(id, fields());

      const first = await s.service.getProfile(id);
      expect(first.source).toBe('database');
      expect(first.profile).toMatchObject({ userId: id, version: 1, matricule: '007' });
      expect(await s.cache.get(id)).toEqual({ status: 'hit', profile: first.profile });

      s.sql.statements.length = 0;
      const second = await s.service.getProfile(id);
      expect(second).toEqual({ profile: first.profile, source: 'cache' });
      expect(s.sql.statements).toEqual([]);
    });

    it('reports CacheHit / CacheMiss through onLookups', async () => {
      const id = newId();
      await s.repository.create(id, fields());
      await s.service.getProfile(id);
      await s.service.getProfile(id);
      const sum = (name: string) =>
        s.metrics.added.filter((m) => m.name === name).reduce((a, m) => a + m.value, 0);
      expect([sum('CacheHit'), sum('CacheMiss'), sum('DbFallback')]).toEqual([1, 1, 0]);
    });

    it('throws NotFoundError for an unknown id and caches a negative entry', async () => {
      const id = newId();
      await expect(s.service.getProfile(id)).rejects.toBeInstanceOf(NotFoundError);
      expect(await s.cache.get(id)).toEqual({ status: 'negative' });

      s.sql.statements.length = 0;
      await expect(s.service.getProfile(id)).rejects.toBeInstanceOf(NotFoundError);
      expect(s.sql.statements).toEqual([]);
    });

    it('throws NotFoundError for a soft-deleted profile and caches its tombstone', async () => {
      const id = newId();
      await s.repository.create(id, fields());
      await s.repository.softDelete(id);

      await expect(s.service.getProfile(id)).rejects.toBeInstanceOf(NotFoundError);
      expect(await s.cache.get(id)).toEqual({ status: 'deleted', version: 2 });
    });

    it('fills fenced: a fill never replaces a newer cached version', async () => {
      const id = newId();
      await s.repository.create(id, fields());
      // An invalidation marker at version 5 reads as a miss but keeps the fence at 5.
      await s.cache.write([{ kind: 'invalidate', userId: id, version: 5 }]);

      const read = await s.service.getProfile(id);
      expect(read).toMatchObject({ source: 'database', profile: { version: 1 } });
      expect(await s.cache.get(id)).toEqual({ status: 'miss' });
      expect(await s.redis.redis.hget(s.cache.keys.profile(id), 'version')).toBe('5');
    });

    it('shares ONE PostgreSQL read among 10 concurrent misses for the same id', async () => {
      const id = newId();
      await s.repository.create(id, fields());
      // Count completed cache lookups so the database read is released only once all 10 have missed.
      let lookedUp = 0;
      const cache = wrapCache(s.cache, {
        get: async (userId) => {
          const found = await s.cache.get(userId);
          lookedUp++;
          return found;
        },
      });
      const service = new ProfileService({ cache, repository: s.repository, publisher: s.publisher });
      let release!: () => void;
      const gate = new Promise<void>((r) => {
        release = r;
      });
      s.sql.before = (text) => (SELECT_ONE.test(text) ? gate : undefined);
      s.sql.statements.length = 0;

      const reads = Array.from({ length: 10 }, () => service.getProfile(id));
      await until(() => lookedUp === 10);
      release();
      const results = await Promise.all(reads);

      expect(s.sql.statements.filter((t) => SELECT_ONE.test(t))).toHaveLength(1);
      expect(new Set(results.map((r) => r.profile.version))).toEqual(new Set([1]));
      expect(results.every((r) => r.source === 'database')).toBe(true);
    });

    it('answers from PostgreSQL when Redis is down', async () => {
      const id = newId();
      await s.repository.create(id, fields());
      const { service } = s.build();
      s.redis.gateway.setFaults({ mode: 'http503' });

      const read = await service.getProfile(id);
      expect(read).toMatchObject({ source: 'database', profile: { userId: id, version: 1 } });
      expect(s.metrics.added).toContainEqual({ name: 'DbFallback', unit: 'Count', value: 1 });
    });

    it('does not try to fill after the cache answered "unknown"', async () => {
      const id = newId();
      await s.repository.create(id, fields());
      let writes = 0;
      const cache = wrapCache(s.cache, {
        get: async () => ({ status: 'unknown', reason: 'CACHE_TIMEOUT' }),
        write: async (entries) => {
          writes++;
          return s.cache.write(entries);
        },
      });
      const service = new ProfileService({ cache, repository: s.repository, publisher: s.publisher });

      expect((await service.getProfile(id)).source).toBe('database');
      expect(writes).toBe(0);
      expect(await s.cache.get(id)).toEqual({ status: 'miss' });
    });

    it('counts PostgreSQL reads in the cache stats (dbReads)', async () => {
      const { service } = s.build();
      const id = newId();
      await s.repository.create(id, fields());
      const before = (await service.stats()).dbReads;
      await service.getProfile(id);
      expect((await service.stats()).dbReads).toBe(before + 1);
    });

    it('rejects a malformed id before any I/O', async () => {
      await expect(s.service.getProfile('a:b')).rejects.toBeInstanceOf(ValidationError);
      expect(s.sql.statements).toEqual([]);
      expect(s.redis.gateway.metrics.httpRequests).toBe(0);
    });
  });

  describe('getProfiles()', () => {
    it('answers hits, misses, negatives and tombstones in at most 3 round trips, in request order', async () => {
      const [cached, uncached, unknown, deleted, tombstoned] = [newId(), newId(), newId(), newId(), newId()];
      await s.service.createProfile(cached, fields({ matricule: 'C1' }));
      await s.repository.create(uncached, fields({ matricule: 'U1' }));
      await s.repository.create(deleted, fields());
      await s.repository.softDelete(deleted);
      await s.service.createProfile(tombstoned, fields());
      await s.service.deleteProfile(tombstoned);
      s.sql.statements.length = 0;
      s.redis.gateway.metrics.reset();

      const result = await s.service.getProfiles([
        uncached,
        cached,
        unknown,
        uncached,
        deleted,
        tombstoned,
        cached,
      ]);

      expect(result.profiles.map((p) => [p.userId, p.matricule])).toEqual([
        [uncached, 'U1'],
        [cached, 'C1'],
      ]);
      expect(result.notFound).toEqual([unknown, deleted, tombstoned]);
      expect(s.redis.gateway.metrics.httpRequests).toBe(2); // one batchGet, one fenced write
      expect(s.sql.statements).toHaveLength(1); // one getMany for the 3 ids Redis could not answer
      expect(await s.cache.get(unknown)).toEqual({ status: 'negative' });
      expect(await s.cache.get(deleted)).toEqual({ status: 'deleted', version: 2 });
    });

    it('makes one Redis request and no SQL when every id is cached', async () => {
      const ids = [newId(), newId()];
      for (const id of ids) await s.service.createProfile(id, fields());
      s.sql.statements.length = 0;
      s.redis.gateway.metrics.reset();

      const result = await s.service.getProfiles(ids);
      expect(result.profiles.map((p) => p.userId)).toEqual(ids);
      expect(s.redis.gateway.metrics.httpRequests).toBe(1);
      expect(s.sql.statements).toEqual([]);
    });

    it('answers from PostgreSQL in one query when Redis is down', async () => {
      const ids = [newId(), newId()];
      for (const id of ids) await s.repository.create(id, fields());
      const { service } = s.build();
      s.redis.gateway.setFaults({ mode: 'http503' });
      s.sql.statements.length = 0;

      const result = await service.getProfiles([...ids, newId()]);
      expect(result.profiles.map((p) => p.userId)).toEqual(ids);
      expect(result.notFound).toHaveLength(1);
      expect(s.sql.statements).toHaveLength(1);
    });

    it('rejects a malformed id before any I/O', async () => {
      await expect(s.service.getProfiles(['ok', 'bad id'])).rejects.toBeInstanceOf(ValidationError);
      expect(s.sql.statements).toEqual([]);
      expect(s.redis.gateway.metrics.httpRequests).toBe(0);
    });
  });

  describe('updateProfile()', () => {
    it('commits to PostgreSQL, then updates the cache, publishes the event and marks the outbox row', async () => {
      const id = newId();
      await s.service.createProfile(id, fields());

      const updated = await s.service.updateProfile(id, fields({ ministere: 'MINSANTE' }), { ifMatch: 1 });
      expect(updated).toMatchObject({ userId: id, version: 2, ministere: 'MINSANTE' });
      expect(await s.cache.get(id)).toEqual({ status: 'hit', profile: updated });
      const entries = await streamEntries(id);
      expect(entries.map((e) => [e.fields.type, e.fields.version])).toEqual([
        ['user.profile.created', '1'],
        ['user.profile.updated', '2'],
      ]);
      const row = await outboxRow(id, 2);
      expect(row?.published_at).not.toBeNull();
      expect(row?.stream_id).toBe(entries[1]?.id);
    });

    it('throws VersionConflictError for a stale ifMatch and changes nothing', async () => {
      const id = newId();
      const created = await s.service.createProfile(id, fields());
      await expect(
        s.service.updateProfile(id, fields({ fullName: 'Other' }), { ifMatch: 7 }),
      ).rejects.toBeInstanceOf(VersionConflictError);
      expect(await s.cache.get(id)).toEqual({ status: 'hit', profile: created });
      expect(await streamEntries(id)).toHaveLength(1);
    });

    it('throws NotFoundError for an unknown id', async () => {
      await expect(s.service.updateProfile(newId(), fields())).rejects.toBeInstanceOf(NotFoundError);
    });

    it('never waits on a stalled Redis beyond its timeout: reads and writes answer from PostgreSQL', async () => {
      const id = newId();
      await s.repository.create(id, fields());
      // A Redis that accepts requests and never answers (10 s): the client gives up after 200 ms + 1 retry.
      const stalled = createRedisClient({
        url: s.redis.gateway.url,
        token: s.redis.gateway.token,
        timeoutMs: 200,
      });
      const cache = new UserCacheClass({ redis: stalled, keyPrefix: s.redis.keyPrefix });
      const publisher = new EventPublisher({ redis: stalled, stream: s.stream, repository: s.repository });
      const service = new ProfileService({ cache, repository: s.repository, publisher });
      s.redis.gateway.setFaults({ delayMs: 10_000 });

      const started = Date.now();
      const read = await service.getProfile(id);
      const batch = await service.getProfiles([id, newId()]);
      const written = await service.updateProfile(id, fields({ fullName: 'Stalled But Saved' }));
      const elapsed = Date.now() - started;

      expect(read.source).toBe('database');
      expect(batch.profiles.map((p) => p.userId)).toEqual([id]);
      expect(written.version).toBe(2);
      // Three calls against a 10 s stall: each waits at most 2 × 200 ms plus the backoff, not for Redis.
      expect(elapsed).toBeLessThan(5_000);
    });

    it('succeeds from PostgreSQL when Redis is down; the outbox row stays unpublished for the relay', async () => {
      const id = newId();
      await s.repository.create(id, fields());
      const { service, publisher } = s.build();
      s.redis.gateway.setFaults({ mode: 'http503' });

      const updated = await service.updateProfile(id, fields({ fullName: 'Down But Saved' }));
      expect(updated.version).toBe(2);
      expect((await s.repository.getById(id))?.fullName).toBe('Down But Saved');
      expect((await outboxRow(id, 2))?.published_at).toBeNull();
      expect(s.logger.entries.some((e) => e.message.includes('outbox') && e.extra?.userId === id)).toBe(true);

      // Redis is back: the relay step publishes what the request could not.
      s.redis.gateway.setFaults({});
      await publisher.publishPending(s.repository, 1000);
      expect((await outboxRow(id, 2))?.published_at).not.toBeNull();
      expect((await streamEntries(id)).map((e) => e.fields.version)).toContain('2');
    });

    it('keeps the newer version when a PUT commits while a read-fill is in flight', async () => {
      const id = newId();
      await s.repository.create(id, fields({ fullName: 'Version One' }));
      let readDone!: () => void;
      const readSeen = new Promise<void>((r) => {
        readDone = r;
      });
      let release!: () => void;
      const gate = new Promise<void>((r) => {
        release = r;
      });
      // The read has returned version 1 from PostgreSQL; its fill is held back until the PUT is done.
      s.sql.after = (text, params) => {
        if (SELECT_ONE.test(text) && params?.[0] === id) {
          readDone();
          return gate;
        }
      };
      const slowRead = s.service.getProfile(id);
      await readSeen;
      s.sql.after = undefined;

      const put = await s.service.updateProfile(id, fields({ fullName: 'Version Two' }));
      release();
      expect((await slowRead).profile.version).toBe(1);

      expect(await s.cache.get(id)).toEqual({ status: 'hit', profile: put });
      expect(put.version).toBe(2);
    });
  });

  describe('createProfile()', () => {
    it('creates, caches over an earlier negative entry, and publishes user.profile.created', async () => {
      const id = newId();
      await expect(s.service.getProfile(id)).rejects.toBeInstanceOf(NotFoundError);

      const created = await s.service.createProfile(id, fields());
      expect(created).toMatchObject({ userId: id, version: 1 });
      expect(await s.service.getProfile(id)).toEqual({ profile: created, source: 'cache' });
      expect((await streamEntries(id)).map((e) => e.fields.type)).toEqual(['user.profile.created']);
      expect((await outboxRow(id, 1))?.published_at).not.toBeNull();
    });

    it('generates a UUID when no id is given', async () => {
      const created = await s.service.createProfile(undefined, fields());
      expect(created.userId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect((await s.cache.get(created.userId)).status).toBe('hit');
    });

    it('throws AlreadyExistsError for an existing id and leaves the cache alone', async () => {
      const id = newId();
      const created = await s.service.createProfile(id, fields());
      await expect(s.service.createProfile(id, fields({ fullName: 'Impostor' }))).rejects.toBeInstanceOf(
        AlreadyExistsError,
      );
      expect(await s.cache.get(id)).toEqual({ status: 'hit', profile: created });
    });
  });

  describe('deleteProfile()', () => {
    it('soft-deletes, tombstones the cache and publishes user.profile.deleted', async () => {
      const id = newId();
      await s.service.createProfile(id, fields());

      expect(await s.service.deleteProfile(id, { ifMatch: 1 })).toEqual({ version: 2 });
      expect(await s.cache.get(id)).toEqual({ status: 'deleted', version: 2 });
      s.sql.statements.length = 0;
      await expect(s.service.getProfile(id)).rejects.toBeInstanceOf(NotFoundError);
      expect(s.sql.statements).toEqual([]);
      const last = (await streamEntries(id)).at(-1);
      expect(last?.fields).toMatchObject({ type: 'user.profile.deleted', version: '2' });
      expect(last?.fields.payload).toBeUndefined();
    });

    it('throws NotFoundError for an unknown or already deleted id', async () => {
      const id = newId();
      await s.service.createProfile(id, fields());
      await s.service.deleteProfile(id);
      await expect(s.service.deleteProfile(id)).rejects.toBeInstanceOf(NotFoundError);
      await expect(s.service.deleteProfile(newId())).rejects.toBeInstanceOf(NotFoundError);
    });
  });

  describe('stats()', () => {
    it('returns the shared counters with hitRate and dbFallbackShare', async () => {
      const id = newId();
      await s.repository.create(id, fields());
      await s.service.getProfile(id); // a miss read from PostgreSQL
      await s.service.getProfile(id); // a hit
      const stats = await s.service.stats();
      expect(stats.hits).toBeGreaterThan(0);
      expect(stats.dbReads).toBeGreaterThan(0);
      expect(stats.hitRate).toBeGreaterThan(0);
      expect(stats.hitRate).toBeLessThan(1);
      expect(stats.dbFallbackShare).toBeCloseTo(stats.dbReads / stats.lookups);
    });

    it('throws UserCacheError when Redis is down', async () => {
      const { service } = s.build();
      s.redis.gateway.setFaults({ mode: 'http503' });
      await expect(service.stats()).rejects.toBeInstanceOf(UserCacheError);
    });
  });

  describe('logging', () => {
    it('never logs profile fields, only ids, versions and codes', async () => {
      const logger = capturingLogger();
      const id = newId();
      const secret = fields({
        fullName: 'Secret Name Ndzana',
        matricule: 'PII-123',
        avatar: 'https://pii.example/a.png',
      });
      await s.repository.create(id, secret);
      const { cache, publisher } = s.build();
      const service = new ProfileService({ cache, repository: s.repository, publisher, logger });
      s.redis.gateway.setFaults({ mode: 'http503' });
      await service.getProfile(id);
      await service.updateProfile(id, secret);
      await service.deleteProfile(id);

      expect(logger.entries.filter((e) => e.level === 'warn').length).toBeGreaterThan(0);
      const logged = JSON.stringify(logger.entries);
      expect(logged).toContain(id);
      for (const value of ['Secret Name', 'PII-123', 'pii.example']) expect(logged).not.toContain(value);
    });
  });
});

/** The real cache with some methods replaced (fault injection, or observing a call). */
function wrapCache(cache: UserCache, overrides: Partial<Pick<ProfileCache, 'get' | 'write'>>): ProfileCache {
  return {
    get: overrides.get ?? ((id) => cache.get(id)),
    batchGet: (ids) => cache.batchGet(ids),
    write: overrides.write ?? ((entries) => cache.write(entries)),
    getStats: () => cache.getStats(),
    recordDatabaseReads: (count) => cache.recordDatabaseReads(count),
    get circuitState() {
      return cache.circuitState;
    },
  };
}
