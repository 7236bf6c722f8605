/**
 * The chaos run's traffic: many concurrent clients over real HTTP (loopback, dev token) with a Zipf-skewed
 * choice of users (the outside producer is in `outsideProducer.ts`). Bounded in time AND in request count.
 *
 * A plain fetch loop rather than autocannon: every request must be recorded with its start time, status,
 * error code and `x-cache` header for the per-phase report, and every committed write kept in a ledger
 * for the final checks; autocannon reports aggregates only.
 */
import { performance } from 'node:perf_hooks';
import { fieldPool, mulberry32, zipfSampler } from './random.js';

/** Operations the clients run. `getMissing` reads ids that do not exist yet (negative entries). */
export const OPS = ['get', 'batch', 'put', 'post', 'delete', 'getMissing'] as const;
export type Op = (typeof OPS)[number];

/** Share of each operation (normalised; need not sum to 1). */
export type OpMix = Record<Op, number>;

export const DEFAULT_MIX: OpMix = {
  get: 0.7,
  batch: 0.14,
  put: 0.1,
  post: 0.02,
  delete: 0.01,
  getMissing: 0.03,
};

/** One HTTP request as the client saw it. `status` 0 is a network error or client timeout. */
export interface Sample {
  /** Start, ms since the run's origin. */
  t: number;
  latencyMs: number;
  op: Op;
  status: number;
  /** `error.code` (or API Gateway's `message`) of a 5xx body, or the network error's name. */
  errorCode?: string;
  /** Single GET only: the handler's `x-cache` header. */
  cache?: 'HIT' | 'MISS';
}

/** What a committed write left in PostgreSQL, as acknowledged to the client. */
export interface LedgerEntry {
  /** The committed version; 0 for a delete (DELETE answers 204 without one). */
  version: number;
  deleted: boolean;
  /** When the acknowledgement arrived, ms since origin. */
  ackAt: number;
  source: 'api' | 'outside';
}

/** Highest committed version per user id, as far as the workload knows. */
export class Ledger {
  readonly entries = new Map<string, LedgerEntry>();
  /** The last few writes per id, in acknowledgement order: what a failed check prints to explain itself. */
  readonly history = new Map<string, LedgerEntry[]>();

  /** Keeps the newest entry; a delete is final (ids are never reused, later writes get 404). */
  record(userId: string, entry: LedgerEntry): void {
    const writes = this.history.get(userId) ?? [];
    writes.push(entry);
    this.history.set(userId, writes.slice(-8));
    const known = this.entries.get(userId);
    if (known?.deleted) return;
    if (!known || entry.deleted || entry.version >= known.version) this.entries.set(userId, entry);
  }

  /** `api v2 @31.2s, outside v3 @43.0s`. */
  describe(userId: string): string {
    const writes = this.history.get(userId) ?? [];
    return writes
      .map((w) => `${w.source} ${w.deleted ? 'delete' : `v${w.version}`} @${(w.ackAt / 1000).toFixed(1)}s`)
      .join(', ');
  }
}

/**
 * A read that returned older data than a write acknowledged before the read started: a 200 for a deleted
 * profile (`afterDelete`) or a lower version (`olderVersion`). Expected for a moment (events take time),
 * judged against a bound by the report.
 */
export interface StaleRead {
  userId: string;
  kind: 'afterDelete' | 'olderVersion';
  /** Read start and the write's acknowledgement, ms since origin. */
  t: number;
  ackAt: number;
}

/** At most this many stale reads are kept (a broken run must not exhaust memory). */
const MAX_STALE_READS = 50_000;

export interface WorkloadOptions {
  baseUrl: string;
  /** Bearer token with the read and write scopes. */
  token: string;
  /** Existing ids, most popular first (Zipf rank = index). */
  userIds: readonly string[];
  clients: number;
  durationMs: number;
  /** Hard cap on requests, whatever the duration. @default clients × seconds × 400 */
  maxRequests?: number;
  /** @default DEFAULT_MIX */
  mix?: OpMix;
  /** Zipf exponent. @default 1.0 */
  zipfS?: number;
  /** Ids per batch read. @default [20, 100] */
  batchSize?: [number, number];
  /** Client-side timeout per request, ms. @default 15000 */
  requestTimeoutMs?: number;
  /** Prefix of ids created by POST (unique per run). */
  createPrefix: string;
  /** @default 1 */
  seed?: number;
  /** `performance.now()` at the run's start: `Sample.t` is relative to it. */
  origin: number;
  /** Where acknowledged writes are recorded (share it with the outside producer). @default a new one */
  ledger?: Ledger;
}

export interface WorkloadResult {
  samples: Sample[];
  ledger: Ledger;
  staleReads: StaleRead[];
  created: string[];
  deleted: string[];
}

/** Runs the clients until the duration or the request cap is reached. Never throws for HTTP trouble. */
export async function runWorkload(o: WorkloadOptions): Promise<WorkloadResult> {
  const random = mulberry32(o.seed ?? 1);
  const zipf = zipfSampler(o.userIds.length, o.zipfS ?? 1.0, random);
  const pickOp = opPicker(o.mix ?? DEFAULT_MIX, random);
  const fields = fieldPool(random);
  const [minBatch, maxBatch] = o.batchSize ?? [20, 100];
  const cap = o.maxRequests ?? Math.ceil(o.clients * (o.durationMs / 1000) * 400);
  const timeoutMs = o.requestTimeoutMs ?? 15_000;
  const deadline = performance.now() + o.durationMs;
  const ledger = o.ledger ?? new Ledger();
  const samples: Sample[] = [];
  const staleReads: StaleRead[] = [];
  const created: string[] = [];
  const deleted: string[] = [];
  let createCounter = 0;
  let issued = 0;
  const now = () => performance.now() - o.origin;
  const createId = (n: number) => `${o.createPrefix}${n}`;
  const auth = { authorization: `Bearer ${o.token}` };

  /** One request, timed and recorded; returns the parsed JSON body (or undefined) and the response. */
  async function call(
    op: Op,
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) {
    const t = now();
    const started = performance.now();
    const sample: Sample = { t, latencyMs: 0, op, status: 0 };
    let json: unknown;
    try {
      const response = await fetch(`${o.baseUrl}${path}`, {
        method,
        headers: {
          ...auth,
          ...headers,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await response.text();
      sample.status = response.status;
      const xCache = response.headers.get('x-cache');
      if (op === 'get' && (xCache === 'HIT' || xCache === 'MISS')) sample.cache = xCache;
      json = text ? safeJson(text) : undefined;
      if (response.status >= 500) sample.errorCode = errorCodeOf(json);
    } catch (error) {
      sample.errorCode = error instanceof Error ? `${error.name}: ${error.message}`.slice(0, 120) : 'network';
    }
    sample.latencyMs = performance.now() - started;
    samples.push(sample);
    return { status: sample.status, json, t };
  }

  /** Flags a read older than a write acknowledged before the read started (eventual, informational). */
  function checkRead(userId: string, readStartedAt: number, version: number | undefined): void {
    const known = ledger.entries.get(userId);
    if (!known || known.ackAt > readStartedAt) return;
    if (version === undefined || staleReads.length >= MAX_STALE_READS) return;
    if (!known.deleted && version >= known.version) return;
    const kind = known.deleted ? 'afterDelete' : 'olderVersion';
    staleReads.push({ userId, kind, t: readStartedAt, ackAt: known.ackAt });
  }

  async function step(): Promise<void> {
    const op = pickOp();
    switch (op) {
      case 'get': {
        const id = o.userIds[zipf()]!;
        const r = await call(op, 'GET', `/users/${id}`);
        if (r.status === 200) checkRead(id, r.t, versionOf(r.json));
        return;
      }
      case 'batch': {
        const size = minBatch + Math.floor(random() * (maxBatch - minBatch + 1));
        const ids = new Set<string>();
        while (ids.size < Math.min(size, o.userIds.length)) ids.add(o.userIds[zipf()]!);
        const r = await call(op, 'GET', `/users/batch?ids=${[...ids].join(',')}`);
        const users = (r.json as { users?: Array<{ userId: string; version: number }> } | undefined)?.users;
        if (r.status === 200) for (const u of users ?? []) checkRead(u.userId, r.t, u.version);
        return;
      }
      case 'put': {
        const id = o.userIds[zipf()]!;
        const r = await call(op, 'PUT', `/users/${id}`, fields());
        if (r.status === 200)
          ledger.record(id, { version: versionOf(r.json)!, deleted: false, ackAt: now(), source: 'api' });
        return;
      }
      case 'post': {
        const id = createId(createCounter++);
        const r = await call(op, 'POST', '/users', { id, ...fields() });
        if (r.status === 201) {
          created.push(id);
          ledger.record(id, { version: versionOf(r.json)!, deleted: false, ackAt: now(), source: 'api' });
        }
        return;
      }
      case 'delete': {
        // Mostly the long tail: deleting only the hottest users would turn the run into 404s.
        const id = o.userIds[Math.floor(random() * o.userIds.length)]!;
        const r = await call(op, 'DELETE', `/users/${id}`);
        if (r.status === 204) {
          deleted.push(id);
          ledger.record(id, { version: 0, deleted: true, ackAt: now(), source: 'api' });
        }
        return;
      }
      case 'getMissing': {
        // Ids the clients are about to create: their negative entries must give way to the create.
        await call(op, 'GET', `/users/${createId(createCounter + Math.floor(random() * 20))}`);
        return;
      }
    }
  }

  const client = async () => {
    while (performance.now() < deadline && issued < cap) {
      issued++;
      await step();
    }
  };
  await Promise.all(Array.from({ length: o.clients }, client));
  return { samples, ledger, staleReads, created, deleted };
}

function opPicker(mix: OpMix, random: () => number): () => Op {
  const total = OPS.reduce((sum, op) => sum + Math.max(0, mix[op]), 0);
  return () => {
    let r = random() * total;
    for (const op of OPS) {
      r -= Math.max(0, mix[op]);
      if (r < 0) return op;
    }
    return 'get';
  };
}

function versionOf(body: unknown): number | undefined {
  const v = (body as { version?: unknown } | undefined)?.version;
  return typeof v === 'number' ? v : undefined;
}

function errorCodeOf(body: unknown): string {
  const b = body as { error?: { code?: unknown }; message?: unknown } | undefined;
  if (typeof b?.error?.code === 'string') return b.error.code;
  if (typeof b?.message === 'string') return `gateway: ${b.message}`;
  return 'unknown';
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
