/**
 * The chaos run, shortened for the test suite (about 16 s of traffic on a few hundred users): the same
 * stack on real servers (its own redis-server, PGlite or a fresh schema on DATABASE_URL), the same faults
 * (Redis SIGKILL and restart, a poller killed between its cache write and its XACK, a PostgreSQL pause)
 * and the same pass criteria as `npm run chaos`.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { FaultWindow } from '../bench/chaos/faults.js';
import { type Check, cacheFaultErrors } from '../bench/chaos/report.js';
import { type ChaosResult, runChaos } from '../bench/chaos/scenario.js';
import type { Sample } from '../bench/chaos/workload.js';

describe('runChaos()', () => {
  let result: ChaosResult;
  const log: string[] = [];
  const check = (name: string): Check => {
    const found = result.report.checks.find((c) => c.name.startsWith(name));
    if (!found) throw new Error(`no check named "${name}"; run log:\n${log.join('\n')}`);
    return found;
  };

  beforeAll(async () => {
    result = await runChaos({
      durationSec: 16,
      users: 400,
      clients: 6,
      seed: 7,
      resultsDir: null,
      databaseUrl: process.env.DATABASE_URL?.trim() || undefined,
      log: (line) => log.push(line),
    });
  }, 180_000);

  it('injects every fault: Redis SIGKILL and restart, a poller killed mid-batch, a PostgreSQL pause', () => {
    const kinds = result.report.windows.map((w) => w.kind);
    expect(kinds).toEqual(['redisDown', 'recovery', 'pollerKilled', 'dbPaused']);
    expect(check('faults were injected').pass, check('faults were injected').detail).toBe(true);
  });

  it('serves traffic in every phase, from the cache outside the Redis outage', () => {
    const { phases } = result.report;
    for (const phase of Object.values(phases)) expect(phase.requests).toBeGreaterThan(0);
    expect(phases.normal.hitRate).toBeGreaterThan(0.5);
    expect(phases.redisDown.hitRate ?? 0).toBe(0);
  });

  it('answers no 5xx caused by a cache fault (only honest 503 DATABASE_UNAVAILABLE while PostgreSQL is paused)', () => {
    const c = check('zero 5xx caused by a cache fault');
    expect(c.pass, c.detail).toBe(true);
  });

  it('reaches quiescence: outbox drained, every stream entry delivered and acknowledged', () => {
    const c = check('quiescence reached');
    expect(c.pass, c.detail).toBe(true);
  });

  it("re-delivers the killed poller's unacknowledged entries to another consumer", () => {
    const c = check("killed poller's entries");
    expect(c.pass, c.detail).toBe(true);
  });

  it('loses no acknowledged update: API, cache and PostgreSQL agree on every written id', () => {
    const c = check('zero lost updates');
    expect(c.pass, c.detail).toBe(true);
  });

  it('never serves a deleted profile again', () => {
    const c = check('zero resurrected deletes');
    expect(c.pass, c.detail).toBe(true);
  });

  it('finds zero inconsistent entries when auditing every profile in PostgreSQL', () => {
    const c = check('final audit of every profile');
    expect(c.pass, c.detail).toBe(true);
    expect(result.report.audit.checked).toBeGreaterThanOrEqual(400);
  });

  it('ends stale reads within 10 s of the write (or of Redis coming back, for writes made while it was down)', () => {
    const c = check('stale reads end soon');
    expect(c.pass, c.detail).toBe(true);
  });

  it('passes overall and draws the chart with its fault windows shaded', () => {
    expect(result.report.passed, log.join('\n')).toBe(true);
    expect(result.svg).toMatch(/^<svg [^>]*viewBox="0 0 1000 460"/);
    expect(result.svg).toContain('Redis down (SIGKILL)');
    expect(result.svg).toContain('poller killed');
    expect(result.svg.match(/<polyline /g)?.length ?? 0).toBeGreaterThanOrEqual(3);
  });
});

describe('cacheFaultErrors()', () => {
  const windows: FaultWindow[] = [
    { kind: 'redisDown', start: 1_000, end: 2_000 },
    { kind: 'dbPaused', start: 5_000, end: 6_000 },
  ];
  const sample = (t: number, status: number, errorCode?: string, latencyMs = 10): Sample => ({
    t,
    latencyMs,
    op: 'get',
    status,
    ...(errorCode ? { errorCode } : {}),
  });

  it('blames any 5xx while Redis is down on the cache', () => {
    const bad = sample(1_500, 503, 'CACHE_UNAVAILABLE');
    expect(cacheFaultErrors([bad, sample(1_500, 200)], windows, 10_000)).toEqual([bad]);
  });

  it('accepts a 503 DATABASE_UNAVAILABLE whose request overlapped the database pause', () => {
    const honest = [
      sample(5_500, 503, 'DATABASE_UNAVAILABLE'),
      sample(4_500, 503, 'DATABASE_UNAVAILABLE', 800),
    ];
    expect(cacheFaultErrors(honest, windows, 10_000)).toEqual([]);
  });

  it('blames a DATABASE_UNAVAILABLE outside any pause, a 500 and a request that got no answer', () => {
    const bad = [
      sample(1_200, 503, 'DATABASE_UNAVAILABLE'),
      sample(5_500, 500, 'INTERNAL_ERROR'),
      sample(7_000, 0, 'TimeoutError: aborted'),
    ];
    expect(cacheFaultErrors(bad, windows, 10_000)).toEqual(bad);
  });
});
