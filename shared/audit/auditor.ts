/**
 * Consistency auditor: compares cached entries with PostgreSQL and classifies every difference. This is
 * the staleness measurement the system's promises are checked against (hourly in AWS, `npm run audit`
 * locally, and at the end of every chaos run).
 *
 * Reads race with writes: an update can commit between the cache read and the database read. A difference
 * younger than `graceMs` (an event still in flight) is counted as `inFlight`; every other suspect is read
 * again after `recheckAfterMs`, and only a difference that persists is reported.
 */
import type { Redis } from '@upstash/redis';
import type { ProfileRepository, StoredProfile, VersionFloor } from '../db/profileRepository.js';
import type { Clock } from '../ports.js';
import { systemClock } from '../ports.js';
import { LIMITS } from '../profile/schemas.js';
import type { CacheLookup, UserCache } from '../userCache.js';
import { AuditRotation, type RotationReport } from './rotation.js';

export type InconsistencyKind =
  /** The cache holds an older version than PostgreSQL. */
  | 'stale'
  /** The cache serves a profile PostgreSQL has deleted. */
  | 'resurrected'
  /** The cache holds a newer version than PostgreSQL (a rolled-back write, or a foreign writer). */
  | 'ahead'
  /** Same version, different fields (a writer bypassed the fence). */
  | 'corrupt'
  /** The cache says "no such user" (negative entry) or "deleted" while PostgreSQL has a live, newer row. */
  | 'hidden'
  /** The cache serves a profile whose row no longer exists (hard-deleted by a writer) or never did. */
  | 'orphaned'
  /** The cache serves a previous incarnation of a re-created id: another person's profile. */
  | 'foreign';

export interface AuditFinding {
  userId: string;
  kind: InconsistencyKind;
  cachedVersion: number | null;
  dbVersion: number | null;
  /** How long the difference has existed (now minus the database change the cache missed), when known. */
  ageMs: number | null;
}

export interface AuditReport {
  checked: number;
  consistent: number;
  /** Not cached (or only a fence marker): not an inconsistency, the next read fills it. */
  notCached: number;
  /** The cache could not be read. */
  unknown: number;
  inFlight: number;
  inconsistent: number;
  byKind: Record<InconsistencyKind, number>;
  maxAgeMs: number | null;
  /** The first findings (at most 100), for the report. */
  findings: AuditFinding[];
  durationMs: number;
}

export interface ConsistencyAuditorOptions {
  cache: Pick<UserCache, 'batchGet' | 'keys'>;
  /**
   * `getVersionFloors` tells a previous incarnation's profile (`foreign`) from a stale one, and times a
   * hard delete for the grace period; without it those count as `stale` and `orphaned` at once.
   */
  repository: Pick<ProfileRepository, 'getMany'> & Partial<Pick<ProfileRepository, 'getVersionFloors'>>;
  /** Needed only by `auditSample` (SCAN, and the rotation hash). */
  redis?: Pick<Redis, 'scan' | 'exec'>;
  /**
   * Hash where `auditSample` saves its SCAN cursor, so each run continues where the last one stopped and
   * successive runs rotate through the whole keyspace (without it, every run starts at cursor 0).
   * @default undefined (no rotation: each sample starts at cursor 0)
   */
  rotationKey?: string;
  /** Ids read per round trip. @default 500 */
  batchSize?: number;
  /** A difference whose database change is younger than this is an event still in flight. @default 5000 */
  graceMs?: number;
  /** Pause before suspects are read again. @default 1000 */
  recheckAfterMs?: number;
  /** @default Date.now */
  clock?: Clock;
  /** @default setTimeout-based sleep */
  sleep?: (ms: number) => Promise<void>;
}

type Verdict =
  | { kind: 'consistent' | 'notCached' | 'unknown' | 'inFlight' }
  | { kind: 'bad'; finding: AuditFinding };

export class ConsistencyAuditor {
  readonly #o: Required<Omit<ConsistencyAuditorOptions, 'redis' | 'rotationKey'>> &
    Pick<ConsistencyAuditorOptions, 'redis' | 'rotationKey'>;

  constructor(options: ConsistencyAuditorOptions) {
    this.#o = {
      batchSize: 500,
      graceMs: 5_000,
      recheckAfterMs: 1_000,
      clock: systemClock,
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      ...options,
    };
  }

  /** Audits the given ids (e.g. every id in PostgreSQL, page by page). */
  async auditIds(ids: Iterable<string> | AsyncIterable<string[]>): Promise<AuditReport> {
    const started = this.#o.clock();
    const report = emptyReport();
    const suspects: string[] = [];
    for await (const page of pages(ids, this.#o.batchSize)) {
      for (const [id, verdict] of await this.#judge(page)) {
        if (verdict.kind === 'bad') suspects.push(id);
        else tally(report, verdict);
      }
    }
    if (suspects.length > 0) {
      await this.#o.sleep(this.#o.recheckAfterMs);
      for await (const page of pages(suspects, this.#o.batchSize)) {
        for (const [, verdict] of await this.#judge(page)) tally(report, verdict);
      }
    }
    report.durationMs = this.#o.clock() - started;
    return report;
  }

  /**
   * Audits about `n` cached profiles found by SCAN (Redis' own hash order: a cheap, spread sample). With
   * `rotationKey`, the scan resumes at the cursor the previous run saved, so runs rotate through the
   * whole keyspace (see `audit/rotation.ts`); every key of the SCAN replies consumed is audited (a few
   * more than `n`), because the saved cursor moves past all of them.
   */
  async auditSample(n: number): Promise<AuditReport & { rotation?: RotationReport }> {
    const redis = this.#o.redis;
    if (!redis) throw new Error('auditSample needs the redis option');
    const prefix = this.#o.cache.keys.profile('');
    const rotation = this.#o.rotationKey
      ? new AuditRotation(redis, this.#o.rotationKey, this.#o.clock)
      : undefined;
    const start = (await rotation?.load()) ?? undefined;
    const ids = new Set<string>();
    let cursor = start?.cursor ?? '0';
    let wrapped = false;
    do {
      const [next, keys] = (await redis.scan(cursor, { match: `${prefix}*`, count: 1_000 })) as [
        string,
        string[],
      ];
      cursor = String(next);
      for (const key of keys) {
        const id = key.slice(prefix.length);
        // A foreign key under the prefix (a legacy id format) must not make the whole audit throw.
        if (LIMITS.userIdPattern.test(id)) ids.add(id);
      }
      wrapped = cursor === '0';
    } while (!wrapped && ids.size < n);
    const report = await this.auditIds(ids);
    if (!rotation) return report;
    return { ...report, rotation: await rotation.advance(start, cursor, ids.size, wrapped) };
  }

  async #judge(ids: string[]): Promise<Array<[string, Verdict]>> {
    const cached = await this.#o.cache.batchGet(ids, { observe: false });
    const { repository } = this.#o;
    const rows = await repository.getMany(ids);
    const floors = repository.getVersionFloors ? await repository.getVersionFloors(ids) : new Map();
    const now = this.#o.clock();
    return ids.map((id) => [
      id,
      judge(id, cached.get(id), rows.get(id), floors.get(id), now, this.#o.graceMs),
    ]);
  }
}

function judge(
  userId: string,
  lookup: CacheLookup | undefined,
  row: StoredProfile | undefined,
  floor: VersionFloor | undefined,
  now: number,
  graceMs: number,
): Verdict {
  if (!lookup || lookup.status === 'unknown') return { kind: 'unknown' };
  if (lookup.status === 'miss') return { kind: 'notCached' };
  const dbVersion = row?.version ?? null;
  // A hard-deleted row's time is its floor's (the deletion); an id that never existed has none.
  const changedAt = row ? (row.deletedAt ?? row.updatedAt) : (floor?.changedAt ?? null);
  const bad = (kind: InconsistencyKind, cachedVersion: number | null): Verdict => {
    const ageMs = changedAt === null ? null : Math.max(0, now - changedAt);
    if (ageMs !== null && ageMs < graceMs && !ALWAYS_BAD.has(kind)) return { kind: 'inFlight' };
    return { kind: 'bad', finding: { userId, kind, cachedVersion, dbVersion, ageMs } };
  };
  switch (lookup.status) {
    case 'negative':
      return row && row.deletedAt === null ? bad('hidden', 0) : { kind: 'consistent' };
    case 'deleted':
      if (!row || row.deletedAt !== null) return { kind: 'consistent' };
      return lookup.version < row.version ? bad('hidden', lookup.version) : bad('ahead', lookup.version);
    case 'hit': {
      const p = lookup.profile;
      if (!row) return bad('orphaned', p.version);
      if (p.version > row.version) return bad('ahead', p.version);
      // At or below the floor: written before this incarnation was created, so someone else's data.
      if (floor && p.version <= floor.version) return bad('foreign', p.version);
      if (row.deletedAt !== null) return bad('resurrected', p.version);
      if (p.version < row.version) return bad('stale', p.version);
      const same =
        p.fullName === row.fullName &&
        p.avatar === row.avatar &&
        p.matricule === row.matricule &&
        p.ministere === row.ministere;
      return same ? { kind: 'consistent' } : bad('corrupt', p.version);
    }
  }
}

/** Kinds no event in flight explains: reported even inside the grace period. */
const ALWAYS_BAD: ReadonlySet<InconsistencyKind> = new Set(['ahead', 'corrupt']);

function emptyReport(): AuditReport {
  return {
    checked: 0,
    consistent: 0,
    notCached: 0,
    unknown: 0,
    inFlight: 0,
    inconsistent: 0,
    byKind: { stale: 0, resurrected: 0, ahead: 0, corrupt: 0, hidden: 0, orphaned: 0, foreign: 0 },
    maxAgeMs: null,
    findings: [],
    durationMs: 0,
  };
}

function tally(report: AuditReport, verdict: Verdict): void {
  report.checked += 1;
  if (verdict.kind !== 'bad') {
    report[verdict.kind] += 1;
    return;
  }
  const { finding } = verdict;
  report.inconsistent += 1;
  report.byKind[finding.kind] += 1;
  if (finding.ageMs !== null) report.maxAgeMs = Math.max(report.maxAgeMs ?? 0, finding.ageMs);
  if (report.findings.length < 100) report.findings.push(finding);
}

async function* pages(
  ids: Iterable<string> | AsyncIterable<string[]>,
  size: number,
): AsyncIterable<string[]> {
  if (Symbol.asyncIterator in ids) {
    for await (const page of ids) for (let i = 0; i < page.length; i += size) yield page.slice(i, i + size);
    return;
  }
  let page: string[] = [];
  for (const id of ids) {
    page.push(id);
    if (page.length === size) {
      yield page;
      page = [];
    }
  }
  if (page.length > 0) yield page;
}
