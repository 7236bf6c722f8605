/**
 * What the chaos run checks once the traffic has stopped: quiescence (every committed change has reached
 * the stream and been applied), then the final audit of every profile and the workload's ledger
 * against PostgreSQL, the cache and the API itself.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from '@upstash/redis';
import { type AuditReport, ConsistencyAuditor } from '../../shared/audit/auditor.js';
import type { ProfileRepository, StoredProfile } from '../../shared/db/profileRepository.js';
import type { SqlQueryable } from '../../shared/db/sql.js';
import type { CacheLookup, UserCache } from '../../shared/userCache.js';
import type { Ledger, LedgerEntry } from './workload.js';

export interface QuiescenceState {
  reached: boolean;
  waitedMs: number;
  outboxUnpublished: number;
  /** Entries delivered to the group and not acknowledged. */
  pending: number;
  /** Entries not yet delivered to the group. */
  lag: number;
}

/**
 * Waits until the outbox is drained and the consumer group has read and acknowledged everything, seen
 * twice in a row (a relay publishing between the two reads would otherwise slip through).
 */
export async function waitForQuiescence(o: {
  sql: SqlQueryable;
  redis: Pick<Redis, 'exec'>;
  stream: string;
  group: string;
  timeoutMs: number;
}): Promise<QuiescenceState> {
  const started = performance.now();
  let calm = 0;
  let state: QuiescenceState = { reached: false, waitedMs: 0, outboxUnpublished: -1, pending: -1, lag: -1 };
  while (performance.now() - started < o.timeoutMs) {
    try {
      const { rows } = await o.sql.query<{ n: unknown }>(
        'SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL',
      );
      const group = await groupState(o.redis, o.stream, o.group);
      state = { ...state, outboxUnpublished: Number(rows[0]?.n ?? -1), ...group };
      const quiet = state.outboxUnpublished === 0 && state.pending === 0 && state.lag === 0;
      calm = quiet ? calm + 1 : 0;
      if (calm >= 2) return { ...state, reached: true, waitedMs: Math.round(performance.now() - started) };
    } catch {
      calm = 0;
    }
    await sleep(250);
  }
  return { ...state, waitedMs: Math.round(performance.now() - started) };
}

/**
 * The group's pending count and lag from XINFO GROUPS (raw RESP2: one flat field/value array per group).
 * @see https://redis.io/docs/latest/commands/xinfo-groups/
 */
export async function groupState(
  redis: Pick<Redis, 'exec'>,
  stream: string,
  group: string,
): Promise<{ pending: number; lag: number }> {
  const groups = (await redis.exec(['XINFO', 'GROUPS', stream])) as unknown[];
  for (const flat of groups) {
    if (!Array.isArray(flat)) continue;
    const fields = new Map<string, unknown>();
    for (let i = 0; i + 1 < flat.length; i += 2) fields.set(String(flat[i]), flat[i + 1]);
    if (String(fields.get('name')) !== group) continue;
    // `lag` is nil when Redis cannot compute it (after XDEL/XTRIM past the group): compare ids instead.
    let lag = Number(fields.get('lag'));
    if (!Number.isFinite(lag) || fields.get('lag') === null) {
      const info = (await redis.exec(['XINFO', 'STREAM', stream])) as unknown[];
      const last = info[info.indexOf('last-generated-id') + 1];
      lag = String(last) === String(fields.get('last-delivered-id')) ? 0 : 1;
    }
    return { pending: Number(fields.get('pending')), lag };
  }
  throw new Error(`consumer group ${group} not found on ${stream}`);
}

/**
 * Every id in `personnel`, soft-deleted ones and created ones included, and every id hard-deleted since
 * the change capture (its `personnel_versions` floor), page by page: a profile still cached for a row
 * that is gone must be audited too.
 */
export async function* allProfileIds(sql: SqlQueryable, pageSize = 1000): AsyncIterable<string[]> {
  let after = '';
  for (;;) {
    const { rows } = await sql.query<{ id: string }>(
      `SELECT id FROM (SELECT id FROM personnel UNION SELECT id FROM personnel_versions) AS ids
        WHERE id > $1 ORDER BY id LIMIT $2`,
      [after, pageSize],
    );
    if (rows.length > 0) yield rows.map((r) => r.id);
    if (rows.length < pageSize) return;
    after = rows.at(-1)!.id;
  }
}

/** The auditor over every profile. Nothing is in flight after quiescence, so no grace period. */
export function auditEverything(o: {
  cache: Pick<UserCache, 'batchGet' | 'keys'>;
  repository: Pick<ProfileRepository, 'getMany' | 'getVersionFloors'>;
  sql: SqlQueryable;
}): Promise<AuditReport> {
  const auditor = new ConsistencyAuditor({
    cache: o.cache,
    repository: o.repository,
    graceMs: 0,
    recheckAfterMs: 500,
  });
  return auditor.auditIds(allProfileIds(o.sql));
}

export interface LedgerVerdict {
  lostUpdates: Array<{ userId: string; why: string }>;
  resurrected: string[];
}

/**
 * For every id the workload wrote: PostgreSQL still has the change (version at least the acknowledged
 * one, or deleted), the cache holds exactly PostgreSQL's version or nothing, and the API answers
 * PostgreSQL's version (or 404 for a deleted id).
 */
export async function verifyLedger(o: {
  ledger: Ledger;
  cache: Pick<UserCache, 'batchGet'>;
  repository: Pick<ProfileRepository, 'getMany'>;
  apiUrl: string;
  token: string;
  concurrency?: number;
}): Promise<LedgerVerdict> {
  const verdict: LedgerVerdict = { lostUpdates: [], resurrected: [] };
  const ids = [...o.ledger.entries.keys()];
  for (let i = 0; i < ids.length; i += 500) {
    const page = ids.slice(i, i + 500);
    const rows = await o.repository.getMany(page);
    const cached = await o.cache.batchGet(page, { observe: false });
    const api = await mapLimit(page, o.concurrency ?? 16, (id) => apiVersion(o.apiUrl, o.token, id));
    page.forEach((id, k) => {
      const finding = judgeWritten(o.ledger.entries.get(id)!, rows.get(id), cached.get(id), api[k]!);
      if (finding === 'resurrected') verdict.resurrected.push(id);
      else if (finding !== undefined)
        verdict.lostUpdates.push({ userId: id, why: `${finding} (writes: ${o.ledger.describe(id)})` });
    });
  }
  return verdict;
}

/** What is wrong with one written id after quiescence: a reason, 'resurrected', or undefined when fine. */
function judgeWritten(
  entry: LedgerEntry,
  row: StoredProfile | undefined,
  lookup: CacheLookup | undefined,
  answer: { status: number; version?: number },
): string | undefined {
  if (!row) return 'row missing in PostgreSQL';
  const deleted = row.deletedAt !== null;
  if (entry.deleted && !deleted) return 'acknowledged delete not in PostgreSQL';
  if (deleted) return lookup?.status === 'hit' || answer.status === 200 ? 'resurrected' : undefined;
  if (row.version < entry.version) return `PostgreSQL at v${row.version} < acknowledged v${entry.version}`;
  if (lookup?.status === 'hit' && lookup.profile.version !== row.version)
    return `cache v${lookup.profile.version}, PostgreSQL v${row.version}`;
  if (lookup?.status === 'negative' || lookup?.status === 'deleted')
    return `cache says ${lookup.status}, PostgreSQL has v${row.version}`;
  if (answer.status !== 200 || answer.version !== row.version)
    return `API ${answer.status} v${answer.version ?? '-'}, PostgreSQL v${row.version}`;
  return undefined;
}

async function apiVersion(
  apiUrl: string,
  token: string,
  id: string,
): Promise<{ status: number; version?: number }> {
  try {
    const response = await fetch(`${apiUrl}/users/${id}`, {
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(10_000),
    });
    const body = (await response.json().catch(() => undefined)) as { version?: unknown } | undefined;
    return {
      status: response.status,
      ...(typeof body?.version === 'number' ? { version: body.version } : {}),
    };
  } catch {
    return { status: 0 };
  }
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** The `sourceId` of every entry of the dead-letter stream. */
export async function deadLetterSources(redis: Pick<Redis, 'exec'>, deadStream: string): Promise<string[]> {
  const sources: string[] = [];
  let start = '-';
  for (;;) {
    const page = (await redis.exec(['XRANGE', deadStream, start, '+', 'COUNT', '1000'])) as Array<
      [string, string[]]
    >;
    for (const [, flat] of page) sources.push(String(flat[flat.indexOf('sourceId') + 1]));
    if (page.length < 1000) return sources;
    start = `(${page.at(-1)![0]}`;
  }
}
