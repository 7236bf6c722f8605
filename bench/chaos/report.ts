/**
 * Turns the chaos run's raw samples and final checks into the JSON report, the pass/fail verdict and
 * the console summary. Pure functions: the run collects, this file judges.
 */
import type { AuditReport } from '../../shared/audit/auditor.js';
import type { CacheStats } from '../../shared/userCache.js';
import type { Check } from './check.js';
import type { FaultPlan, FaultWindow } from './faults.js';
import { type HostileWritersResult, hostileChecks } from './hostileWriters.js';
import type { OutsideProducerResult } from './outsideProducer.js';
import type { Sample, StaleRead } from './workload.js';

export type { Check } from './check.js';

export const PHASES = ['normal', 'redisDown', 'recovery', 'dbPaused'] as const;
export type Phase = (typeof PHASES)[number];

export interface LatencySummary {
  requests: number;
  p50: number | null;
  p99: number | null;
  byStatus: Record<string, number>;
  /** Share of single GETs answered from Redis (`x-cache: HIT`); null without single GETs. */
  hitRate: number | null;
  serverErrors: number;
}

export interface SecondPoint {
  second: number;
  requests: number;
  p50: number | null;
  p99: number | null;
  hitRate: number | null;
  serverErrors: number;
}

/** Stale reads of the run and how long after the cache could have known. */
export interface StalenessSummary {
  afterDelete: number;
  olderVersion: number;
  /** Longest time from a write's acknowledgement to a stale read of it, ms. */
  maxAgeMs: number;
  /**
   * The same, counted from when the cache could first have learned of the write: its acknowledgement, or
   * Redis' restart for writes acknowledged while Redis was down. This is what the bound applies to.
   */
  maxAgeSinceRedisBackMs: number;
  /** The worst reads (at most 10), with the workload's writes of that id when the run adds them. */
  worst: Array<StaleRead & { ageMs: number; writes?: string }>;
  /** Stale reads per second of the run, for the chart. */
  perSecond: number[];
}

/** What the run measured after quiescence, besides the samples. */
export interface FinalState {
  /** `GET /cache/stats` (or UserCache.getStats) after quiescence; null when Redis could not answer. */
  cacheStats: CacheStats | null;
  audit: ChaosReport['audit'];
  /** Ids the workload wrote whose API answer or cache entry disagrees with PostgreSQL after quiescence. */
  lostUpdates: Array<{ userId: string; why: string }>;
  /** Deleted ids still served (API 200 or a cached profile) after quiescence. */
  resurrected: string[];
  ledgerSize: number;
  deletedCount: number;
  /** The outside writer that hard-deletes and re-creates ids, and the poison producer (issue 9). */
  hostile: { result: HostileWritersResult; deadSources: string[] };
  quiescence: { reached: boolean; waitedMs: number; outboxUnpublished: number; pending: number; lag: number };
  events: {
    /** Highest per-slice p99 of the pollers' event lag (commit or XADD → cache write). */
    maxLagMs: number | null;
    deadLettered: number;
    applied: number;
    /** Outbox rows published by the pollers' relay step (the API could not publish them itself). */
    relayed: number;
    claimed: number;
    outside: OutsideProducerResult;
    /** Every poller slice: end time (s since the workload started) and what it did. */
    slices: Array<{
      t: number;
      applied: number;
      relayed: number;
      claimed: number;
      errors: number;
      lagP99: number | null;
      lagMaxSampled: number;
    }>;
  };
  pollerKill: { tripped: boolean; unacked: string[]; reclaimed: number };
  faultsInjected: {
    redisKilled: boolean;
    redisRestarted: boolean;
    dbStatementsHeld: number;
    dbTimedOut: number;
  };
  staleReads: StaleRead[];
  /**
   * Longest acceptable stale read, counted as in `StalenessSummary.maxAgeSinceRedisBackMs`: the breaker's
   * cooldown after a restart plus a few poll cycles of the poller and its outbox relay.
   */
  maxStaleMs: number;
}

export interface ChaosReport {
  startedAt: string;
  config: Record<string, unknown>;
  plan: FaultPlan;
  windows: FaultWindow[];
  requests: {
    total: number;
    byStatus: Record<string, number>;
    byOp: Record<string, number>;
    perSecond: number;
  };
  phases: Record<Phase, LatencySummary>;
  cache: { hitRate: number | null; dbFallbackShare: number | null; stats: CacheStats | null };
  events: FinalState['events'];
  staleness: StalenessSummary;
  /** Findings carry the workload's writes of that id (`writes`), when it wrote any. */
  audit: AuditReport & { findings: Array<AuditReport['findings'][number] & { writes?: string }> };
  checks: Check[];
  passed: boolean;
  series: SecondPoint[];
}

/** The phase a request belongs to, by its start time (windows do not overlap). */
export function phaseOf(t: number, windows: readonly FaultWindow[], now: number): Phase {
  for (const w of windows) {
    if (w.kind === 'pollerKilled') continue;
    if (t >= w.start && t < (w.end ?? now)) return w.kind;
  }
  return 'normal';
}

export function summarize(samples: readonly Sample[]): LatencySummary {
  const latencies = samples.map((s) => s.latencyMs);
  const byStatus: Record<string, number> = {};
  let gets = 0;
  let hits = 0;
  let serverErrors = 0;
  for (const s of samples) {
    byStatus[s.status] = (byStatus[s.status] ?? 0) + 1;
    if (s.cache) {
      gets++;
      if (s.cache === 'HIT') hits++;
    }
    if (isServerError(s)) serverErrors++;
  }
  return {
    requests: samples.length,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    byStatus,
    hitRate: gets === 0 ? null : round(hits / gets, 4),
    serverErrors,
  };
}

export function perSecond(samples: readonly Sample[], durationMs: number): SecondPoint[] {
  const buckets: Sample[][] = Array.from({ length: Math.max(1, Math.ceil(durationMs / 1000)) }, () => []);
  for (const s of samples) buckets[Math.min(buckets.length - 1, Math.floor(s.t / 1000))]!.push(s);
  return buckets.map((bucket, second) => {
    const summary = summarize(bucket);
    return {
      second,
      requests: summary.requests,
      p50: summary.p50,
      p99: summary.p99,
      hitRate: summary.hitRate,
      serverErrors: summary.serverErrors,
    };
  });
}

/** 5xx, or no answer at all (network error, client timeout): both are failures the client sees. */
export function isServerError(s: Sample): boolean {
  return s.status === 0 || s.status >= 500;
}

/**
 * A 503 DATABASE_UNAVAILABLE whose request overlapped a database pause is honest: PostgreSQL, the source of
 * truth, could not answer. Every other server error is blamed on the cache faults (the run injects no
 * other fault), whatever window it fell in.
 */
export function cacheFaultErrors(
  samples: readonly Sample[],
  windows: readonly FaultWindow[],
  now: number,
): Sample[] {
  const pauses = windows.filter((w) => w.kind === 'dbPaused');
  return samples.filter((s) => {
    if (!isServerError(s)) return false;
    if (s.status !== 503 || s.errorCode !== 'DATABASE_UNAVAILABLE') return true;
    const end = s.t + s.latencyMs;
    return !pauses.some((w) => s.t <= (w.end ?? now) && end >= w.start);
  });
}

export function summarizeStaleness(
  reads: readonly StaleRead[],
  windows: readonly FaultWindow[],
  durationMs: number,
): StalenessSummary {
  const outages = windows.filter((w) => w.kind === 'redisDown');
  const since = (r: StaleRead) => {
    const outage = outages.find((w) => r.ackAt >= w.start && r.ackAt <= (w.end ?? Number.POSITIVE_INFINITY));
    return r.t - Math.max(r.ackAt, outage?.end ?? r.ackAt);
  };
  const scored = reads.map((r) => ({ ...r, ageMs: Math.round(since(r)) }));
  const perSecond = new Array<number>(Math.max(1, Math.ceil(durationMs / 1000))).fill(0);
  for (const r of reads) perSecond[Math.min(perSecond.length - 1, Math.floor(r.t / 1000))]! += 1;
  return {
    afterDelete: reads.filter((r) => r.kind === 'afterDelete').length,
    olderVersion: reads.filter((r) => r.kind === 'olderVersion').length,
    maxAgeMs: Math.round(Math.max(0, ...reads.map((r) => r.t - r.ackAt))),
    maxAgeSinceRedisBackMs: Math.max(0, ...scored.map((r) => r.ageMs)),
    worst: scored.sort((a, b) => b.ageMs - a.ageMs).slice(0, 10),
    perSecond,
  };
}

export function evaluate(
  samples: readonly Sample[],
  windows: readonly FaultWindow[],
  final: FinalState,
  now: number,
  staleness: StalenessSummary,
): Check[] {
  const bad5xx = cacheFaultErrors(samples, windows, now);
  const codes = countBy(bad5xx.map((s) => `${s.status} ${s.errorCode ?? ''}`.trim()));
  const { audit, quiescence, pollerKill, faultsInjected: f } = final;
  const notReclaimed = pollerKill.unacked.length - pollerKill.reclaimed;
  return [
    {
      name: 'faults were injected',
      pass: f.redisKilled && f.redisRestarted && f.dbStatementsHeld > 0 && pollerKill.tripped,
      detail: `redis killed=${f.redisKilled} restarted=${f.redisRestarted}, db statements held=${f.dbStatementsHeld} (timed out ${f.dbTimedOut}), poller killed=${pollerKill.tripped}`,
    },
    {
      name: 'zero 5xx caused by a cache fault',
      pass: bad5xx.length === 0,
      detail: bad5xx.length === 0 ? 'none' : `${bad5xx.length}: ${JSON.stringify(codes)}`,
    },
    {
      name: 'quiescence reached (outbox drained, group pending = 0, lag = 0)',
      pass: quiescence.reached,
      detail: `waited ${quiescence.waitedMs} ms; unpublished=${quiescence.outboxUnpublished} pending=${quiescence.pending} lag=${quiescence.lag}`,
    },
    {
      name: "killed poller's entries re-delivered to another consumer",
      pass: pollerKill.tripped && pollerKill.unacked.length > 0 && notReclaimed === 0,
      detail: `${pollerKill.unacked.length} unacknowledged, ${pollerKill.reclaimed} claimed by the new consumer`,
    },
    {
      name: 'zero lost updates',
      pass: final.lostUpdates.length === 0,
      detail: `${final.ledgerSize} written ids checked; ${final.lostUpdates.length} lost${preview(final.lostUpdates.map((l) => `${l.userId}: ${l.why}`))}`,
    },
    {
      name: 'zero resurrected deletes',
      pass: final.resurrected.length === 0 && audit.byKind.resurrected === 0,
      detail: `${final.deletedCount} deletes checked; ${final.resurrected.length} served again${preview(final.resurrected)}`,
    },
    {
      name: 'final audit of every profile: zero inconsistent entries',
      pass: audit.inconsistent === 0 && audit.unknown === 0 && audit.inFlight === 0,
      detail: `checked ${audit.checked}: consistent ${audit.consistent}, not cached ${audit.notCached}, inconsistent ${audit.inconsistent} ${JSON.stringify(audit.byKind)}, unknown ${audit.unknown}, in flight ${audit.inFlight}${preview(audit.findings.map((x) => `${x.userId} ${x.kind} cache v${x.cachedVersion} db v${x.dbVersion}`))}`,
    },
    {
      name: 'stale reads end soon after the write (or after Redis is back)',
      pass: staleness.maxAgeSinceRedisBackMs <= final.maxStaleMs,
      detail: `worst ${staleness.maxAgeSinceRedisBackMs} ms (bound ${final.maxStaleMs} ms); ${staleness.afterDelete} reads of deleted profiles, ${staleness.olderVersion} of older versions${preview(staleness.worst.slice(0, 3).map((w) => `${w.userId} ${w.kind} ${w.ageMs} ms at t=${(w.t / 1000).toFixed(1)}s`))}`,
    },
    {
      name: 'outside producer lost no event',
      pass: final.events.outside.eventsLost.length === 0,
      detail: `${final.events.outside.updates} direct updates, ${final.events.outside.retriedEvents} events re-sent, ${final.events.outside.eventsLost.length} given up`,
    },
    ...hostileChecks(final.hostile.result, new Set(final.hostile.deadSources)),
  ];
}

export function buildReport(input: {
  startedAt: Date;
  config: Record<string, unknown>;
  plan: FaultPlan;
  windows: FaultWindow[];
  samples: readonly Sample[];
  durationMs: number;
  final: FinalState;
  now: number;
}): ChaosReport {
  const { samples, windows, final, now } = input;
  const byPhase = Object.fromEntries(PHASES.map((p) => [p, [] as Sample[]])) as Record<Phase, Sample[]>;
  for (const s of samples) byPhase[phaseOf(s.t, windows, now)].push(s);
  const staleness = summarizeStaleness(final.staleReads, windows, input.durationMs);
  const checks = evaluate(samples, windows, final, now, staleness);
  const stats = final.cacheStats;
  return {
    startedAt: input.startedAt.toISOString(),
    config: input.config,
    plan: input.plan,
    windows,
    requests: {
      total: samples.length,
      byStatus: countBy(samples.map((s) => String(s.status))),
      byOp: countBy(samples.map((s) => s.op)),
      perSecond: round(samples.length / (input.durationMs / 1000), 1),
    },
    phases: Object.fromEntries(PHASES.map((p) => [p, summarize(byPhase[p])])) as Record<
      Phase,
      LatencySummary
    >,
    cache: { hitRate: stats?.hitRate ?? null, dbFallbackShare: stats?.dbFallbackShare ?? null, stats },
    events: final.events,
    staleness,
    audit: final.audit,
    checks,
    passed: checks.every((c) => c.pass),
    series: perSecond(samples, input.durationMs),
  };
}

/** Human-readable summary for the console. */
export function formatReport(r: ChaosReport): string {
  const ms = (x: number | null) => (x === null ? '-' : `${x.toFixed(1)} ms`);
  const pct = (x: number | null) => (x === null ? '-' : `${(x * 100).toFixed(1)}%`);
  const lines = [
    `requests: ${r.requests.total} (${r.requests.perSecond}/s) by status ${JSON.stringify(r.requests.byStatus)}`,
    '',
    'phase      requests     p50        p99        hit rate  5xx',
    ...PHASES.map((p) => {
      const s = r.phases[p];
      return `${p.padEnd(10)} ${String(s.requests).padStart(8)}  ${ms(s.p50).padStart(9)}  ${ms(s.p99).padStart(9)}  ${pct(s.hitRate).padStart(8)}  ${s.serverErrors}`;
    }),
    '',
    `cache hit rate ${pct(r.cache.hitRate)}, DB fallback share ${pct(r.cache.dbFallbackShare)}`,
    `events: applied ${r.events.applied}, relayed from the outbox ${r.events.relayed}, claimed ${r.events.claimed}, max lag ${r.events.maxLagMs ?? '-'} ms, dead-lettered ${r.events.deadLettered}, outside updates ${r.events.outside.updates}`,
    `stale reads: ${r.staleness.afterDelete} of deleted profiles, ${r.staleness.olderVersion} of older versions; worst ${r.staleness.maxAgeMs} ms after the write, ${r.staleness.maxAgeSinceRedisBackMs} ms after the cache could know`,
    '',
    ...r.checks.map((c) => `${c.pass ? 'PASS' : 'FAIL'}  ${c.name}: ${c.detail}`),
    '',
    r.passed ? 'CHAOS RUN PASSED' : 'CHAOS RUN FAILED',
  ];
  return lines.join('\n');
}

export function quantile(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = Float64Array.from(values).sort();
  return round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!, 2);
}

function countBy(keys: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of keys) out[k] = (out[k] ?? 0) + 1;
  return out;
}

function preview(items: readonly string[]): string {
  return items.length === 0 ? '' : ` (e.g. ${items.slice(0, 5).join('; ')})`;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
