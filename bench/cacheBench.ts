/**
 * Cache-level benchmark: UserCache through the local Upstash gateway (the production client and protocol)
 * against the raw floor, the same commands sent with a plain TCP client to the same Redis in the same run.
 */
import { createClient } from 'redis';
import { startRedisServer } from '../local/redisServer.js';
import { startUpstashGateway } from '../local/upstashGateway.js';
import { FENCED_WRITE } from '../shared/cache/scripts.js';
import type { UserProfile } from '../shared/profile.js';
import { createRedisClient } from '../shared/redisClient.js';
import { UserCache } from '../shared/userCache.js';
import { type Figures, measure, printTable, round } from './measure.js';

export interface CacheBenchRow {
  operation: string;
  cache: Figures;
  floor: Figures;
  httpRequestsPerOp: number;
  redisCommandsPerOp: number;
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

export async function runCacheBench(
  opts: { scale?: number } = {},
): Promise<{ rows: CacheBenchRow[]; counterCommandsPerRead: number }> {
  const scale = opts.scale ?? 1;
  const server = await startRedisServer();
  const gateway = await startUpstashGateway({ redisUrl: server.url, token: 'bench-token' });
  const tcp = createClient({ url: server.url });
  await tcp.connect();
  try {
    const redis = createRedisClient({ url: gateway.url, token: gateway.token, timeoutMs: 2_000 });
    // Activity marks are off so the read figures show the steady state (at most one mark per user per hour).
    const cache = new UserCache({ redis, trackActivity: false });
    const users = 1_000;
    for (let i = 0; i < users; i += 500) {
      await cache.setMany(Array.from({ length: 500 }, (_, k) => profile(i + k)));
    }
    const key = (i: number) => cache.keys.profile(`bench${i % users}`);
    const ids = (size: number, i: number) =>
      Array.from({ length: size }, (_, k) => `bench${(i * size + k) % users}`);
    const rows: CacheBenchRow[] = [];

    const run = async (
      operation: string,
      n: number,
      viaCache: (i: number) => Promise<unknown>,
      viaTcp: (i: number) => Promise<unknown>,
    ) => {
      const floor = await measure(n, viaTcp);
      await measure(20, viaCache, 0);
      gateway.metrics.reset();
      const result = await measure(n, viaCache, 0);
      rows.push({
        operation,
        cache: result,
        floor,
        httpRequestsPerOp: round(gateway.metrics.httpRequests / n),
        redisCommandsPerOp: round(gateway.metrics.commands / n),
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
    let version = 2;
    await run(
      'set (fenced)',
      2_000 * scale,
      (i) => cache.set(profile(i % users, version++)),
      (i) => {
        const p = profile(i % users, version++);
        return tcp.sendCommand([
          'EVALSHA',
          FENCED_WRITE.sha1,
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

    printTable(
      'Cache (UserCache → @upstash/redis → local REST gateway → redis-server) vs raw TCP floor, ms',
      rows.map((r) => ({
        operation: r.operation,
        'p50 ms': r.cache.p50,
        'p99 ms': r.cache.p99,
        'floor p50': r.floor.p50,
        'floor p99': r.floor.p99,
        'x floor (p50)': round(r.cache.p50 / r.floor.p50, 1),
        'HTTP req/op': r.httpRequestsPerOp,
        'Redis cmds/op': r.redisCommandsPerOp,
      })),
    );
    console.log(`counter overhead: ${counterCommandsPerRead} extra Redis commands per read`);
    return { rows, counterCommandsPerRead };
  } finally {
    await tcp.quit().catch(() => {});
    await gateway.close();
    await server.stop();
  }
}
