/**
 * End-to-end API benchmark: autocannon against the local stack (local API Gateway with JWT checks → the
 * Lambda handlers → UserCache over the Upstash REST gateway → redis-server, PostgreSQL behind), next to
 * the cache-level figures of the same reads, so the HTTP and handler overhead shows.
 *
 * Each route runs twice. With 1 connection the latency is what one request costs, as on Lambda, where an
 * environment serves one request at a time and concurrency means more environments. With N connections
 * the requests queue in this one Node process (server, gateway and load generator share its event
 * loop), so requests/s is its capacity and the latency includes the queue: p50 ≈ N / (requests/s).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { startLocalStack } from '../local/localStack.js';
import type { Sql, SqlQueryable } from '../shared/db/sql.js';
import { openBenchDatabase } from './eventsBench.js';
import { type Figures, printTable, round, summarize } from './measure.js';

export interface ApiBenchOptions {
  /** Multiplies each run's duration (5 s at 1, never under 2 s). @default 1 */
  scale?: number;
  /** Connections of the loaded runs (the other runs use 1). @default 10 */
  connections?: number;
  /** Profiles seeded; every miss reads an id never read before, so this bounds the miss runs. @default 20000 */
  seedUsers?: number;
  /** Cache-level p50s (ms) from the cache benchmark, printed next to the same reads over HTTP. */
  floor?: { get?: number; batchGet100?: number };
}

export interface ApiBenchRow {
  scenario: string;
  connections: number;
  durationS: number;
  requests: number;
  requestsPerS: number;
  /** Every response's latency in ms (autocannon's own histogram rounds to whole ms). */
  latency: Figures;
  non2xx: number;
  /** Socket errors and timeouts. */
  errors: number;
  /** `x-cache` header counts (single GETs only). */
  xCache: { hit: number; miss: number } | null;
  /** SQL calls (queries and transactions) per request: 0 proves an all-hit read. */
  sqlPerRequest: number;
  /** HTTP requests the handlers sent to the Upstash gateway, per request. */
  redisHttpPerRequest: number;
  /** The same read measured at cache level (UserCache, one at a time), p50 ms. */
  floorP50: number | null;
}

export interface ApiBenchResult {
  rows: ApiBenchRow[];
  seededUsers: number;
  /** 1-minute load average when the runs started: other work on the machine skews every figure. */
  loadAverage: number;
  target: { scenario: string; p50Ms: number; oneConnectionP50: number | null };
}

const BATCH = 100;
const TARGET = { scenario: `GET /users/batch (${BATCH} hits)`, p50Ms: 10 };

/** Counts statements on their way to the real database. */
class CountingSql implements Sql {
  calls = 0;
  constructor(private readonly inner: Sql) {}
  query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]) {
    this.calls++;
    return this.inner.query<R>(text, params);
  }
  transaction<T>(fn: (tx: SqlQueryable) => Promise<T>) {
    this.calls++;
    return this.inner.transaction(fn);
  }
  close() {
    return this.inner.close();
  }
}

interface Scenario {
  name: string;
  /** The next request; called once per request sent. */
  next: () => Pick<autocannon.Request, 'method' | 'path' | 'body' | 'headers'>;
  /** Stop before this many requests (ids that must not repeat); the duration still applies. */
  maxRequests?: () => number;
  floorP50: number | null;
}

export async function runApiBench(opts: ApiBenchOptions = {}): Promise<ApiBenchResult> {
  const scale = opts.scale ?? 1;
  const connections = opts.connections ?? 10;
  const seedUsers = opts.seedUsers ?? 20_000;
  const durationS = Math.max(2, round(5 * scale, 1));
  const dataDir = await mkdtemp(join(os.tmpdir(), 'user-cache-apibench-'));
  const db = await openBenchDatabase();
  const sql = new CountingSql(db.sql);
  try {
    const stack = await startLocalStack({
      port: 0,
      dataDir,
      seedUsers,
      sql,
      // The poller and prewarm would add work of their own to the measured process; reads are warmed below.
      poller: false,
      prewarm: false,
      logLevel: 'ERROR',
      log: () => {},
      // Always a fresh redis-server of our own (never REDIS_URL's).
      env: { ...process.env, REDIS_URL: undefined },
    });
    try {
      const { rows: idRows } = await db.sql.query<{ id: string }>('SELECT id FROM personnel ORDER BY id');
      const ids = idRows.map((r) => r.id);
      const hot = ids.slice(0, 1_000);
      const cold = ids.slice(hot.length);
      const authorization = `Bearer ${stack.token}`;

      // Touch the hot ids through the API: each batch read fills the cache with what it missed.
      for (let i = 0; i < hot.length; i += BATCH) {
        const res = await fetch(`${stack.apiUrl}/users/batch?ids=${hot.slice(i, i + BATCH).join(',')}`, {
          headers: { authorization },
        });
        if (!res.ok) throw new Error(`warming ${res.status}: ${await res.text()}`);
        await res.arrayBuffer();
      }

      let n = 0;
      let coldNext = 0;
      const scenarios: Scenario[] = [
        {
          name: 'GET /users/{id} hit',
          next: () => ({ method: 'GET', path: `/users/${hot[n++ % hot.length]}` }),
          floorP50: opts.floor?.get ?? null,
        },
        {
          name: TARGET.scenario,
          next: () => {
            const start = (n++ * BATCH) % hot.length;
            return { method: 'GET', path: `/users/batch?ids=${hot.slice(start, start + BATCH).join(',')}` };
          },
          floorP50: opts.floor?.batchGet100 ?? null,
        },
        {
          // Every id is read once only, and was never read before: the cache has never held it.
          name: 'GET /users/{id} miss',
          next: () => ({ method: 'GET', path: `/users/${cold[coldNext++ % cold.length]}` }),
          maxRequests: () => cold.length - coldNext - connections,
          floorP50: null,
        },
        {
          name: 'PUT /users/{id}',
          next: () => {
            const i = n++;
            return {
              method: 'PUT',
              path: `/users/${ids[(i * 7919) % ids.length]}`,
              headers: { authorization, 'content-type': 'application/json' },
              body: JSON.stringify({
                fullName: `Essomba Marie-Claire ${i}`,
                avatar: `https://avatars.ngomna.cm/bench-${i}.jpg`,
                matricule: `${600000 + (i % 400000)}-K`,
                ministere: 'MINFI',
              }),
            };
          },
          floorP50: null,
        },
      ];

      const load = async (scenario: Scenario, conns: number, seconds: number): Promise<ApiBenchRow> => {
        const latencies: number[] = [];
        const xCache = { hit: 0, miss: 0 };
        const limit = scenario.maxRequests?.();
        if (limit !== undefined && limit < conns) throw new Error(`${scenario.name}: no unread ids left`);
        stack.gateway.metrics.reset();
        sql.calls = 0;
        const result = await new Promise<autocannon.Result>((resolve, reject) => {
          const instance = autocannon(
            {
              url: stack.apiUrl,
              connections: conns,
              duration: seconds,
              ...(limit !== undefined && { maxOverallRequests: limit }),
              headers: { authorization },
              requests: [
                {
                  setupRequest: (req) => ({ ...req, ...scenario.next() }),
                  onResponse: (_status, _body, _context, headers) => {
                    const header = headers?.['x-cache'];
                    if (header === 'HIT') xCache.hit++;
                    else if (header === 'MISS') xCache.miss++;
                  },
                },
              ],
            },
            (error, res) => (error ? reject(error) : resolve(res)),
          );
          instance.on('response', (_client, _status, _bytes, ms) => latencies.push(ms));
        });
        const requests = latencies.length;
        return {
          scenario: scenario.name,
          connections: conns,
          durationS: result.duration,
          requests,
          requestsPerS: round(requests / result.duration, 0),
          latency: summarize(latencies),
          non2xx: result.non2xx,
          errors: result.errors + result.timeouts,
          xCache: xCache.hit + xCache.miss > 0 ? xCache : null,
          sqlPerRequest: round(sql.calls / Math.max(1, requests), 2),
          redisHttpPerRequest: round(stack.gateway.metrics.httpRequests / Math.max(1, requests), 2),
          floorP50: scenario.floorP50,
        };
      };

      const loadAverage = round(os.loadavg()[0] ?? 0, 2);
      const rows: ApiBenchRow[] = [];
      // In this order: the PUTs write through to the cache, so they come after the misses. Each route
      // first gets one unrecorded second (JIT, keep-alive pools, PGlite's caches).
      for (const scenario of scenarios) {
        await load(scenario, connections, 1);
        for (const conns of [1, connections]) rows.push(await load(scenario, conns, durationS));
      }

      printTable(
        `API over HTTP (autocannon → local API Gateway + JWT → handler → UserCache/PostgreSQL), ${durationS} s per run, load average ${loadAverage}`,
        rows.map((r) => ({
          route: r.scenario,
          conns: r.connections,
          'req/s': r.requestsPerS,
          'p50 ms': r.latency.p50,
          'p99 ms': r.latency.p99,
          'non-2xx': r.non2xx,
          errors: r.errors,
          'x-cache': r.xCache ? `${r.xCache.hit} HIT / ${r.xCache.miss} MISS` : '',
          'SQL/req': r.sqlPerRequest,
          'Redis HTTP/req': r.redisHttpPerRequest,
          'cache-level p50': r.floorP50 ?? '',
          'HTTP overhead p50': r.floorP50 === null ? '' : round(r.latency.p50 - r.floorP50, 2),
        })),
      );
      const target = rows.filter((r) => r.scenario === TARGET.scenario);
      const oneConnection = target.find((r) => r.connections === 1)?.latency.p50 ?? null;
      console.log(
        `target ${TARGET.scenario} p50 < ${TARGET.p50Ms} ms: ${target
          .map(
            (r) =>
              `${r.latency.p50} ms with ${r.connections} conn (${r.latency.p50 < TARGET.p50Ms ? 'met' : 'NOT met'})`,
          )
          .join(
            ', ',
          )}; with ${connections} connections p50 ≈ ${connections} / req/s is queueing in one process`,
      );
      const problems = rows.filter(
        (r) =>
          r.non2xx > 0 ||
          r.errors > 0 ||
          (r.scenario.endsWith('miss') && (r.xCache?.hit ?? 0) > 0) ||
          (r.scenario === TARGET.scenario && r.sqlPerRequest > 0) ||
          (r.scenario.endsWith('hit') && (r.xCache?.miss ?? 0) > 0),
      );
      for (const r of problems) {
        console.log(
          `WARNING ${r.scenario} (${r.connections} conn): ${r.non2xx} non-2xx, ${r.errors} errors, x-cache ${JSON.stringify(r.xCache)}`,
        );
      }
      return {
        rows,
        seededUsers: stack.seeded,
        loadAverage,
        target: { ...TARGET, oneConnectionP50: oneConnection },
      };
    } finally {
      await stack.stop();
    }
  } finally {
    await db.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}
