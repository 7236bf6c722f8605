/**
 * Cache-level benchmark: UserCache through the local Upstash gateway (the production client and protocol,
 * with the API's text-mode replies) against the raw floor, the same commands sent with a plain TCP client
 * to the same Redis in the same run.
 *
 * `commandsPerRead` is the counters' cost: Redis commands per read, counted by the gateway, busy (reads
 * back to back) and at one read per second and per 15 s. For the quiet rates the cache gets a clock that
 * advances by the gap before each read, while the reads themselves really go through the gateway: the
 * flush decision depends only on that clock and on the commands sent, so compressing the wall time
 * between reads measures the same mechanism.
 */
import { createClient } from 'redis';
import { stripKeyLocking } from '../local/gateway/scripts.js';
import { startRedisServer } from '../local/redisServer.js';
import { startUpstashGateway } from '../local/upstashGateway.js';
import { FENCED_WRITE } from '../shared/cache/scripts.js';
import type { UserProfile } from '../shared/profile/schemas.js';
import { createRedisClient } from '../shared/redis/client.js';
import { UserCache } from '../shared/userCache.js';
import { type Figures, printTable, round, sample, summarize } from './measure.js';

/** Targets (issue 13), as ratios to the raw floor of the same run, p50. */
export const CACHE_TARGETS = { batchGet100VsFloor: 3.0, getHitVsFloor: 6.0, commandsPerRead: 1.1 } as const;

/** Alternating floor/cache blocks per operation (see `run`). */
const ROUNDS = 5;
const round2 = (x: number) => round(x, 2);

export interface CacheBenchRow {
  operation: string;
  cache: Figures;
  floor: Figures;
  /** cache p50 / floor p50 of each pair of blocks, in order (the spread shows the machine's noise). */
  blockRatios: number[];
  httpRequestsPerOp: number;
  redisCommandsPerOp: number;
}

export interface CacheBenchResult {
  rows: CacheBenchRow[];
  /** Extra Redis commands per busy read beyond the HGETALL itself (kept for older readers). */
  counterCommandsPerRead: number;
  commandsPerRead: { busy: number; oneper1s: number; oneper15s: number; method: string };
  targets: typeof CACHE_TARGETS & { pass: boolean; checks: Record<string, boolean> };
}

const profile = (i: number, version = 1): UserProfile => ({
  userId: `bench${i}`,
  fullName: `Mbarga Jean-Pierre ${i}`,
  avatar: `https://avatars.ngomna.cm/bench${i}.jpg`,
  matricule: `${700000 + i}-A`,
  ministere: 'MINFOP',
  updatedAt: 1_736_862_000_000,
  version,
});

export async function runCacheBench(opts: { scale?: number } = {}): Promise<CacheBenchResult> {
  const scale = opts.scale ?? 1;
  const server = await startRedisServer();
  const gateway = await startUpstashGateway({ redisUrl: server.url, token: 'bench-token' });
  const tcp = createClient({ url: server.url });
  await tcp.connect();
  // The raw floor talks to Redis 7.0 directly, which refuses Upstash's allow-key-locking flag: load the
  // script as the gateway does (flag stripped) and call it by that digest.
  const rawFencedWriteSha = String(
    await tcp.sendCommand(['SCRIPT', 'LOAD', stripKeyLocking(FENCED_WRITE.source)]),
  );
  try {
    // As the API builds it (functions/commons/dependencies.ts): text replies, every cached value being validated text.
    const redis = createRedisClient({
      url: gateway.url,
      token: gateway.token,
      timeoutMs: 2_000,
      responseEncoding: 'text',
    });
    const base64Redis = createRedisClient({ url: gateway.url, token: gateway.token, timeoutMs: 2_000 });
    // Activity marks are off so the read figures show the steady state (at most one mark per user per hour).
    const cache = new UserCache({ redis, trackActivity: false });
    const base64Cache = new UserCache({ redis: base64Redis, trackActivity: false });
    const users = 1_000;
    for (let i = 0; i < users; i += 500) {
      await cache.setMany(Array.from({ length: 500 }, (_, k) => profile(i + k)));
    }
    const key = (i: number) => cache.keys.profile(`bench${i % users}`);
    const ids = (size: number, i: number) =>
      Array.from({ length: size }, (_, k) => `bench${(i * size + k) % users}`);
    const rows: CacheBenchRow[] = [];

    /**
     * Floor and cache each run in loops of their own (alternating single operations made the floor pay
     * for the HTTP path's leftovers, its GC and socket work in this same process, and flattered every
     * ratio), but in `ROUNDS` alternating blocks rather than one block each: on this shared 2-CPU machine
     * a burst of load from another process otherwise lands on one side of a ratio and decides it. Each
     * block warms up first; the figures pool every block's samples.
     */
    const run = async (
      operation: string,
      n: number,
      viaCache: (i: number) => Promise<unknown>,
      viaTcp: (i: number) => Promise<unknown>,
    ) => {
      const perBlock = Math.max(1, Math.round(n / ROUNDS));
      const floorSamples: number[] = [];
      const cacheSamples: number[] = [];
      const blockRatios: number[] = [];
      await sample(20, viaCache, 0);
      gateway.metrics.reset();
      for (let round = 0; round < ROUNDS; round++) {
        const from = round * perBlock;
        const floor = await sample(perBlock, viaTcp, Math.min(50, perBlock), from);
        const cached = await sample(perBlock, viaCache, Math.min(50, perBlock), from);
        floorSamples.push(...floor);
        cacheSamples.push(...cached);
        blockRatios.push(round2(summarize(cached).p50 / summarize(floor).p50));
      }
      // Warm-up requests reach the gateway too: per-op figures count every cache call made.
      const cacheCalls = ROUNDS * (perBlock + Math.min(50, perBlock));
      rows.push({
        operation,
        cache: summarize(cacheSamples),
        floor: summarize(floorSamples),
        blockRatios,
        httpRequestsPerOp: round(gateway.metrics.httpRequests / cacheCalls),
        redisCommandsPerOp: round(gateway.metrics.commands / cacheCalls),
      });
    };

    await run(
      'get (hit)',
      3_000 * scale,
      (i) => cache.get(`bench${i % users}`),
      (i) => tcp.hGetAll(key(i)),
    );
    for (const size of [100, 500]) {
      await run(
        `batchGet(${size})`,
        Math.round((size === 100 ? 500 : 150) * scale),
        (i) => cache.batchGet(ids(size, i)),
        (i) => Promise.all(ids(size, i).map((id) => tcp.sendCommand(['HGETALL', cache.keys.profile(id)]))),
      );
    }
    await run(
      'batchGet(100) [base64 replies]',
      Math.round(500 * scale),
      (i) => base64Cache.batchGet(ids(100, i)),
      (i) => Promise.all(ids(100, i).map((id) => tcp.sendCommand(['HGETALL', cache.keys.profile(id)]))),
    );
    let version = 2;
    await run(
      'set (fenced)',
      2_000 * scale,
      (i) => cache.set(profile(i % users, version++)),
      (i) => {
        const p = profile(i % users, version++);
        return tcp.sendCommand([
          'EVALSHA',
          rawFencedWriteSha,
          '1',
          key(i),
          'p',
          String(p.version),
          '604800',
          p.fullName,
          p.avatar,
          p.matricule,
          p.ministere,
          String(p.updatedAt),
        ]);
      },
    );

    // Counter overhead: extra commands per single read beyond the HGETALL itself.
    const reads = rows.find((r) => r.operation === 'get (hit)')!;
    const counterCommandsPerRead = round(reads.redisCommandsPerOp - 1, 4);

    /** Commands per read of a fresh cache (its own counters), one read every `gapMs` of its clock. */
    const perRead = async (gapMs: number | undefined, n: number) => {
      let now = Date.now();
      const c = new UserCache({
        redis,
        trackActivity: false,
        clock: gapMs === undefined ? Date.now : () => now,
      });
      gateway.metrics.reset();
      for (let i = 0; i < n; i++) {
        if (gapMs !== undefined) now += gapMs;
        // One read in 20 is a miss: two counters pending, as in production.
        await c.get(i % 20 === 19 ? `absent${i}` : `bench${(i * 7) % users}`);
      }
      return round(gateway.metrics.commands / n, 4);
    };
    const commandsPerRead = {
      busy: await perRead(undefined, Math.round(2_000 * scale)),
      oneper1s: await perRead(1_000, 600),
      oneper15s: await perRead(15_000, 240),
      method:
        'fresh UserCache per rate, real reads through the gateway; quiet rates use a clock advanced by the gap before each read (600 reads = 10 min at 1/s, 240 reads = 1 h at 1/15 s); 1 read in 20 is a miss',
    };

    const ratio = (op: string) => {
      const r = rows.find((x) => x.operation === op)!;
      return r.cache.p50 / r.floor.p50;
    };
    const checks = {
      [`batchGet(100) p50 <= ${CACHE_TARGETS.batchGet100VsFloor}x floor`]:
        ratio('batchGet(100)') <= CACHE_TARGETS.batchGet100VsFloor,
      [`get (hit) p50 <= ${CACHE_TARGETS.getHitVsFloor}x floor`]:
        ratio('get (hit)') <= CACHE_TARGETS.getHitVsFloor,
      [`commands per read <= ${CACHE_TARGETS.commandsPerRead} (busy, 1/s, 1/15 s)`]:
        Math.max(commandsPerRead.busy, commandsPerRead.oneper1s, commandsPerRead.oneper15s) <=
        CACHE_TARGETS.commandsPerRead,
    };
    const pass = Object.values(checks).every(Boolean);

    printTable(
      'Cache (UserCache → @upstash/redis → local REST gateway → redis-server) vs raw TCP floor, ms',
      rows.map((r) => ({
        operation: r.operation,
        'p50 ms': r.cache.p50,
        'p99 ms': r.cache.p99,
        'floor p50': r.floor.p50,
        'floor p99': r.floor.p99,
        'x floor (p50)': round(r.cache.p50 / r.floor.p50, 1),
        'x floor per block': r.blockRatios.map((x) => x.toFixed(1)).join(' '),
        'HTTP req/op': r.httpRequestsPerOp,
        'Redis cmds/op': r.redisCommandsPerOp,
      })),
    );
    console.log(
      `commands per read: busy ${commandsPerRead.busy}, one per 1 s ${commandsPerRead.oneper1s}, one per 15 s ${commandsPerRead.oneper15s}`,
    );
    for (const [check, ok] of Object.entries(checks)) console.log(`  ${ok ? 'pass' : 'FAIL'}  ${check}`);
    console.log(`cache: ${pass ? 'PASS' : 'FAIL'}`);
    return { rows, counterCommandsPerRead, commandsPerRead, targets: { ...CACHE_TARGETS, pass, checks } };
  } finally {
    await tcp.quit().catch(() => {});
    await gateway.close();
    await server.stop();
  }
}
