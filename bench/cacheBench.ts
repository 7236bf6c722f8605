/**
 * Cache-level benchmark: UserCache through the local Upstash gateway (the production client and protocol,
 * with the API's text-mode replies) against two floors measured in the same run:
 * - `floor`, the REST floor: the very request UserCache sends, written as raw HTTP/1.1 on a kept-alive
 *   socket to the same gateway, its JSON parsed (`restFloor.ts`). The targets are ratios to it: it holds
 *   what any REST client must pay (the gateway, the hops), so the ratio is what the client stack adds.
 * - `redisFloor`: the same commands sent to Redis directly with a plain TCP client. On a quiet machine a
 *   lone HGETALL takes ~0.04 ms there, less than the gateway alone, so a ratio to it measures the local
 *   gateway and the machine's load more than the client (6.6x one day, 24x the next, same code).
 *
 * `commandsPerRead` is the counters' cost: Redis commands per read, counted by the gateway, busy (reads
 * back to back) and at one read per second and per 15 s. For the quiet rates the cache gets a clock that
 * advances by the gap before each read, while the reads themselves really go through the gateway: the
 * flush decision depends only on that clock and on the commands sent, so compressing the wall time
 * between reads measures the same mechanism.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createClient } from 'redis';
import { stripKeyLocking } from '../local/gateway/scripts.js';
import { startRedisServer } from '../local/redisServer.js';
import { startUpstashGateway } from '../local/upstashGateway.js';
import { FENCED_WRITE } from '../shared/cache/scripts.js';
import type { UserProfile } from '../shared/profile/schemas.js';
import { createRedisClient } from '../shared/redis/client.js';
import { UserCache } from '../shared/userCache.js';
import { type Figures, printTable, round, sample, summarize } from './measure.js';
import { lambdaNode } from './node24.js';
import { RestFloorClient } from './restFloor.js';

/** Targets (issue 13), as ratios to the REST floor of the same run, p50. */
export const CACHE_TARGETS = { batchGet100VsFloor: 3.0, getHitVsFloor: 6.0, commandsPerRead: 1.1 } as const;

/** Alternating floor/cache blocks per operation (see `run`). */
const ROUNDS = 5;
const round2 = (x: number) => round(x, 2);

export interface CacheBenchRow {
  operation: string;
  cache: Figures;
  /** The REST floor: the same request as raw HTTP/1.1 to the same gateway. */
  floor: Figures;
  /** The same commands straight to Redis over TCP (no gateway, no HTTP). */
  redisFloor: Figures;
  /** cache p50 / floor p50 of each block, in order (the spread shows the machine's noise). */
  blockRatios: number[];
  httpRequestsPerOp: number;
  redisCommandsPerOp: number;
}

export interface CacheBenchResult {
  /** The Node that ran it (the bench runs this section on the local Node and on the Lambda's). */
  node: string;
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
  const rest = await RestFloorClient.connect(gateway.url, gateway.token);
  // The Redis floor talks to Redis 7.0 directly, which refuses Upstash's allow-key-locking flag: load the
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
     * Floors and cache each run in loops of their own (alternating single operations made a floor pay
     * for the HTTP path's leftovers, its GC and socket work in this same process, and flattered every
     * ratio), but in `ROUNDS` alternating blocks rather than one block each: on this shared 2-CPU machine
     * a burst of load from another process otherwise lands on one side of a ratio and decides it. Each
     * block warms up first; the figures pool every block's samples.
     */
    const run = async (
      operation: string,
      n: number,
      viaCache: (i: number) => Promise<unknown>,
      viaRest: (i: number) => Promise<unknown>,
      viaTcp: (i: number) => Promise<unknown>,
    ) => {
      const perBlock = Math.max(1, Math.round(n / ROUNDS));
      const warmup = Math.min(50, perBlock);
      const samples = { cache: [] as number[], rest: [] as number[], tcp: [] as number[] };
      const blockRatios: number[] = [];
      await sample(20, viaCache, 0);
      await sample(20, viaRest, 0);
      gateway.metrics.reset();
      let cacheRequests = 0;
      let cacheCommands = 0;
      for (let round = 0; round < ROUNDS; round++) {
        const from = round * perBlock;
        samples.tcp.push(...(await sample(perBlock, viaTcp, warmup, from)));
        const floor = await sample(perBlock, viaRest, warmup, from);
        const before = { ...gateway.metrics };
        const cached = await sample(perBlock, viaCache, warmup, from);
        cacheRequests += gateway.metrics.httpRequests - before.httpRequests;
        cacheCommands += gateway.metrics.commands - before.commands;
        samples.rest.push(...floor);
        samples.cache.push(...cached);
        blockRatios.push(round2(summarize(cached).p50 / summarize(floor).p50));
      }
      // Warm-up requests reach the gateway too: per-op figures count every cache call made.
      const cacheCalls = ROUNDS * (perBlock + warmup);
      rows.push({
        operation,
        cache: summarize(samples.cache),
        floor: summarize(samples.rest),
        redisFloor: summarize(samples.tcp),
        blockRatios,
        httpRequestsPerOp: round(cacheRequests / cacheCalls),
        redisCommandsPerOp: round(cacheCommands / cacheCalls),
      });
    };

    // Every cache call is one /pipeline request: the REST floor sends that very body.
    const hgetalls = (size: number, i: number) =>
      ids(size, i).map((id) => ['HGETALL', cache.keys.profile(id)]);
    const viaTcpHgetalls = (size: number, i: number) =>
      Promise.all(hgetalls(size, i).map((command) => tcp.sendCommand(command)));
    await run(
      'get (hit)',
      3_000 * scale,
      (i) => cache.get(`bench${i % users}`),
      (i) => rest.post('/pipeline', [['HGETALL', key(i)]]),
      (i) => tcp.hGetAll(key(i)),
    );
    for (const size of [100, 500]) {
      await run(
        `batchGet(${size})`,
        Math.round((size === 100 ? 500 : 150) * scale),
        (i) => cache.batchGet(ids(size, i)),
        (i) => rest.post('/pipeline', hgetalls(size, i)),
        (i) => viaTcpHgetalls(size, i),
      );
    }
    await run(
      'batchGet(100) [base64 replies]',
      Math.round(500 * scale),
      (i) => base64Cache.batchGet(ids(100, i)),
      // The floor reads base64 replies too, and parses their JSON; decoding them is the client's work.
      (i) => rest.post('/pipeline', hgetalls(100, i), 'Upstash-Encoding: base64\r\n'),
      (i) => viaTcpHgetalls(100, i),
    );
    let version = 2;
    const fencedWriteArgs = (i: number): string[] => {
      const p = profile(i % users, version++);
      return [
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
      ];
    };
    await run(
      'set (fenced)',
      2_000 * scale,
      (i) => cache.set(profile(i % users, version++)),
      (i) => rest.post('/pipeline', [['EVALSHA', FENCED_WRITE.sha1, ...fencedWriteArgs(i)]]),
      (i) => tcp.sendCommand(['EVALSHA', rawFencedWriteSha, ...fencedWriteArgs(i)]),
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
      [`batchGet(100) p50 <= ${CACHE_TARGETS.batchGet100VsFloor}x REST floor`]:
        ratio('batchGet(100)') <= CACHE_TARGETS.batchGet100VsFloor,
      [`get (hit) p50 <= ${CACHE_TARGETS.getHitVsFloor}x REST floor`]:
        ratio('get (hit)') <= CACHE_TARGETS.getHitVsFloor,
      [`commands per read <= ${CACHE_TARGETS.commandsPerRead} (busy, 1/s, 1/15 s)`]:
        Math.max(commandsPerRead.busy, commandsPerRead.oneper1s, commandsPerRead.oneper15s) <=
        CACHE_TARGETS.commandsPerRead,
    };
    const pass = Object.values(checks).every(Boolean);

    printTable(
      `Cache (UserCache → @upstash/redis → local REST gateway → redis-server) vs REST floor (raw HTTP/1.1, same gateway) and Redis floor (raw TCP to Redis), ms, node ${process.version}`,
      rows.map((r) => ({
        operation: r.operation,
        'p50 ms': r.cache.p50,
        'p99 ms': r.cache.p99,
        'REST floor p50': r.floor.p50,
        'x REST floor (p50)': round(r.cache.p50 / r.floor.p50, 1),
        'x per block': r.blockRatios.map((x) => x.toFixed(1)).join(' '),
        'Redis floor p50': r.redisFloor.p50,
        'x Redis floor': round(r.cache.p50 / r.redisFloor.p50, 1),
        'HTTP req/op': r.httpRequestsPerOp,
        'Redis cmds/op': r.redisCommandsPerOp,
      })),
    );
    console.log(
      `commands per read: busy ${commandsPerRead.busy}, one per 1 s ${commandsPerRead.oneper1s}, one per 15 s ${commandsPerRead.oneper15s}`,
    );
    for (const [check, ok] of Object.entries(checks)) console.log(`  ${ok ? 'pass' : 'FAIL'}  ${check}`);
    console.log(`cache (node ${process.version}): ${pass ? 'PASS' : 'FAIL'}`);
    return {
      node: process.version,
      rows,
      counterCommandsPerRead,
      commandsPerRead,
      targets: { ...CACHE_TARGETS, pass, checks },
    };
  } finally {
    rest.close();
    await tcp.quit().catch(() => {});
    await gateway.close();
    await server.stop();
  }
}

/**
 * The same section on the Lambda's Node (24, the runtime the API functions run; its `fetch` is ~0.25 ms
 * cheaper per request than Node 20's here), in a child process; its tables are printed as they come.
 * `{ missing }` says why it could not run (no binary for this platform, no registry access).
 */
export async function runCacheBenchOnLambdaNode(
  opts: { scale?: number } = {},
): Promise<CacheBenchResult | { missing: string }> {
  const node = await lambdaNode();
  if ('missing' in node) return node;
  if (node.path === process.execPath) return runCacheBench(opts);
  const entry = fileURLToPath(new URL('./cacheOnLambdaNode.ts', import.meta.url));
  const { stdout } = await promisify(execFile)(
    node.path,
    ['--import', 'tsx', entry, String(opts.scale ?? 1)],
    { cwd: fileURLToPath(new URL('..', import.meta.url)), maxBuffer: 16 * 1024 * 1024, timeout: 600_000 },
  );
  const lines = stdout.trimEnd().split('\n');
  console.log(lines.slice(0, -1).join('\n'));
  return JSON.parse(lines.at(-1) ?? '{}') as CacheBenchResult;
}
