/**
 * Two stages on ONE Upstash database (one real Redis behind one gateway), each wired from its own
 * `STAGE` exactly as Lambda wires it (config.ts → services → poller): neither sees the other's keys,
 * events or leases.
 */
import { randomBytes } from 'node:crypto';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, loadConfig } from '../functions/commons/config.js';
import { buildProfileServices, type ProfileServices } from '../functions/commons/services.js';
import { createHandler as poller, pollerDeps } from '../functions/streamPoller.js';
import { ProfileRepository } from '../shared/db/profileRepository.js';
import { type TestDb, useTestDb } from './support/db.js';
import { fields } from './support/fixtures.js';
import { type TestRedis, useTestRedis } from './support/redis.js';
import { capturingLogger, capturingMetrics } from './support/stack.js';

interface Stage extends ProfileServices {
  name: string;
  config: Config;
  db: TestDb;
  repository: ProfileRepository;
  poll: () => ReturnType<ReturnType<typeof poller>>;
}

let redis: TestRedis;
let a: Stage;
let b: Stage;

async function stage(name: string): Promise<Stage> {
  const config = loadConfig({
    UPSTASH_REDIS_REST_URL: redis.gateway.url,
    UPSTASH_REDIS_REST_TOKEN: redis.gateway.token,
    DATABASE_URL: 'postgres://unused@127.0.0.1/unused',
    STAGE: name,
    REDIS_TIMEOUT_MS: '2000',
    POLLER_BUDGET_MS: '1500',
  });
  const db = await useTestDb();
  const repository = new ProfileRepository({ sql: db.sql });
  const logger = capturingLogger();
  const metrics = capturingMetrics();
  const services = buildProfileServices({
    redis: redis.redis,
    repository,
    cache: config.cache,
    stream: config.events.stream,
    logger,
    metrics,
  });
  const deps = pollerDeps({ config, redis: redis.redis, repository, logger, metrics, ...services });
  return { name, config, db, repository, ...services, poll: () => poller(deps)({}) };
}

beforeAll(async () => {
  redis = await useTestRedis();
  const tag = randomBytes(3).toString('hex');
  [a, b] = await Promise.all([stage(`a${tag}`), stage(`b${tag}`)]);
}, 60_000);

afterAll(async () => {
  const client = createClient({ url: redis.redisUrl });
  await client.connect();
  for (const s of [a, b]) {
    for await (const keys of client.scanIterator({ MATCH: `${s.name}:*`, COUNT: 1000 })) {
      if (keys.length > 0) await client.unlink(keys);
    }
  }
  client.destroy();
  await Promise.allSettled([a?.db.cleanup(), b?.db.cleanup(), redis?.cleanup()]);
});

describe('two stages on one Redis', () => {
  it('derive disjoint key prefixes, streams and consumer groups from their stage', () => {
    expect(a.config.cache.keyPrefix).toBe(`${a.name}:`);
    expect(a.config.events.stream).toBe(`${a.name}:events:users`);
    expect(a.config.events.group).not.toBe(b.config.events.group);
  });

  it("never see each other's cached profiles, even for the same user id", async () => {
    const id = `st${randomBytes(4).toString('hex')}`;
    await a.service.createProfile(id, fields());
    expect((await a.cache.get(id)).status).toBe('hit');
    expect((await b.cache.get(id)).status).toBe('miss');
    const keys = await redis.redis.exec<string[]>(['KEYS', `*${id}*`]);
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) expect(key.startsWith(`${a.name}:`), key).toBe(true);
  });

  it("apply only their own stage's events", async () => {
    const id = `st${randomBytes(4).toString('hex')}`;
    await a.repository.create(id, fields());
    await b.repository.create(id, fields());
    await a.service.updateProfile(id, { ...fields(), fullName: 'Fouda A' });
    const [ra, rb] = await Promise.all([a.poll(), b.poll()]);
    // Both ran (distinct leases: neither skipped); only stage a had an event to apply.
    expect(ra).toMatchObject({ status: 'done' });
    expect(rb).toMatchObject({ status: 'done' });
    if (ra.status !== 'done' || rb.status !== 'done') throw new Error('unreachable');
    expect(ra.report.applied).toBeGreaterThanOrEqual(1);
    // Each stage's outbox relay published its own create; only stage a saw the update.
    const [ca, cb] = [await a.cache.get(id), await b.cache.get(id)];
    expect(ca).toMatchObject({ status: 'hit', profile: { version: 2, fullName: 'Fouda A' } });
    if (cb.status === 'hit') expect(cb.profile).toMatchObject({ version: 1, fullName: fields().fullName });
    else expect(cb.status).toBe('miss');
    const entries = await redis.redis.exec<[string, string[]][]>([
      'XRANGE',
      b.config.events.stream,
      '-',
      '+',
    ]);
    for (const [, flat] of entries) expect(flat.join(' ')).not.toContain('Fouda A');
  });

  it('hold their own poller lease: a stuck lease in one stage never makes the other skip', async () => {
    // Stage a's lease held by someone else (a run that died a moment ago).
    const leaseA = `${a.config.cache.keyPrefix}user:poller:lease`;
    await redis.redis.exec(['SET', leaseA, 'someone-else', 'PX', '60000']);
    try {
      const [ra, rb] = await Promise.all([a.poll(), b.poll()]);
      expect(ra).toEqual({ status: 'skipped', reason: 'lease-held' });
      expect(rb.status).toBe('done');
    } finally {
      await redis.redis.exec(['DEL', leaseA]);
    }
  });
});
