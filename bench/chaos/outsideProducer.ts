/**
 * The OUTSIDE producer of the chaos run: another service (the seed's auth-user-service) that changes
 * PostgreSQL directly and XADDs seed-shaped events without a version, so the poller can only invalidate.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Sql } from '../../shared/db/sql.js';
import { fieldPool, mulberry32, zipfSampler } from './random.js';
import type { Ledger } from './workload.js';

export interface OutsideProducerOptions {
  /** PostgreSQL as the other service sees it (the same database). */
  sql: Pick<Sql, 'query'>;
  /** XADD of one entry; throws when Redis cannot take it (the producer then retries). */
  xadd(fields: Record<string, string>): Promise<unknown>;
  userIds: readonly string[];
  /** Changes per second. @default 5 */
  ratePerSecond?: number;
  durationMs: number;
  ledger: Ledger;
  origin: number;
  /** Give up re-sending one event after this long (counted in `eventsLost`). @default 60000 */
  maxRetryMs?: number;
  /** @default 2 */
  seed?: number;
}

export interface OutsideProducerResult {
  updates: number;
  /** XADDs that failed at least once and were re-sent. */
  retriedEvents: number;
  /** Events never added (an outside producer bug, not ours): their rows may stay stale in the cache. */
  eventsLost: string[];
  /** UPDATEs that failed (the database paused): nothing committed, nothing to publish. */
  failedUpdates: number;
}

/**
 * The seed's auth-user-service: `UPDATE personnel SET …, version = version + 1`, then XADD
 * `event updated userId <id> payload {json}` without a version, so the poller can only invalidate.
 * An XADD that fails is retried until it succeeds (at-least-once, as a real producer must).
 */
export async function runOutsideProducer(o: OutsideProducerOptions): Promise<OutsideProducerResult> {
  const random = mulberry32(o.seed ?? 2);
  const zipf = zipfSampler(o.userIds.length, 1.0, random);
  const fields = fieldPool(random);
  const period = 1000 / (o.ratePerSecond ?? 5);
  const maxRetryMs = o.maxRetryMs ?? 60_000;
  const deadline = performance.now() + o.durationMs;
  const result: OutsideProducerResult = { updates: 0, retriedEvents: 0, eventsLost: [], failedUpdates: 0 };
  while (performance.now() < deadline) {
    const id = o.userIds[zipf()]!;
    const f = fields();
    let row: { version: unknown; updated_ms: unknown } | undefined;
    try {
      const { rows } = await o.sql.query<{ version: unknown; updated_ms: unknown }>(
        `UPDATE personnel SET full_name = $2, avatar_url = $3, matricule = $4, ministere = $5,
                version = version + 1, updated_at = now()
          WHERE id = $1 AND deleted_at IS NULL
          RETURNING version, (extract(epoch FROM updated_at) * 1000)::bigint AS updated_ms`,
        [id, f.fullName, f.avatar, f.matricule, f.ministere],
      );
      row = rows[0];
    } catch {
      result.failedUpdates++;
    }
    if (row) {
      result.updates++;
      o.ledger.record(id, {
        version: Number(row.version),
        deleted: false,
        ackAt: performance.now() - o.origin,
        source: 'outside',
      });
      const payload = JSON.stringify({ ...f, updatedAt: Number(row.updated_ms) });
      const sent = await retry(() => o.xadd({ event: 'updated', userId: id, payload }), maxRetryMs);
      if (sent.attempts > 1) result.retriedEvents++;
      if (!sent.ok) result.eventsLost.push(id);
    }
    await sleep(period);
  }
  return result;
}

async function retry(fn: () => Promise<unknown>, maxMs: number): Promise<{ ok: boolean; attempts: number }> {
  const giveUp = performance.now() + maxMs;
  for (let attempts = 1; ; attempts++) {
    try {
      await fn();
      return { ok: true, attempts };
    } catch {
      if (performance.now() > giveUp) return { ok: false, attempts };
      await sleep(Math.min(1000, 50 * 2 ** attempts));
    }
  }
}
