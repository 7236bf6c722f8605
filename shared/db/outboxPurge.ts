/**
 * Outbox retention: published rows are deleted once older than the retention period. Each row keeps the
 * profile's fields (personal data), and at 20,000 updates a day an unpurged outbox reaches 7.3 M rows a
 * year. Unpublished rows are never purged, however old: they are events the cache has not received yet.
 *
 * Deletes go in bounded batches, each its own short statement: `FOR UPDATE SKIP LOCKED` passes over any
 * row another transaction holds instead of waiting for it, and inserts (new events, from the API or a
 * trigger: who wrote a row does not matter) never touch the rows being deleted, so writers are never
 * blocked behind a purge and a purge never queues behind them.
 */

import { DEFAULT_OUTBOX_RETENTION_DAYS } from '../defaults.js';
import { integerOption, numberOption } from '../options.js';
import type { Clock } from '../ports.js';
import { systemClock } from '../ports.js';
import type { SqlQueryable } from './sql.js';

/**
 * `$1` cutoff (timestamptz text), `$2` batch size. Served by `outbox_published_at_idx` (published rows
 * only, so the poller's partial index on unpublished rows stays tiny).
 */
export const PURGE_PUBLISHED = `WITH purged AS (
  DELETE FROM outbox WHERE id IN (
    SELECT id FROM outbox
     WHERE published_at IS NOT NULL AND published_at < $1::timestamptz
     ORDER BY published_at
     LIMIT $2
     FOR UPDATE SKIP LOCKED)
  RETURNING 1)
SELECT count(*)::int AS n FROM purged`;

export interface OutboxPurgerOptions {
  sql: SqlQueryable;
  /** Published rows older than this many days are deleted. @default {@link DEFAULT_OUTBOX_RETENTION_DAYS} */
  retentionDays?: number;
  /** Rows per DELETE statement. @default 1000 */
  batchSize?: number;
  /** Batches per `purge()` call at most (the next call continues). @default 100 */
  maxBatches?: number;
  /** @default Date.now */
  clock?: Clock;
}

export interface PurgeReport {
  deleted: number;
  batches: number;
  /** True when the last batch came back short: nothing old enough was left (or it was locked). */
  drained: boolean;
  durationMs: number;
}

const DAY_MS = 86_400_000;

export class OutboxPurger {
  readonly #o: Required<OutboxPurgerOptions>;

  constructor(options: OutboxPurgerOptions) {
    this.#o = {
      retentionDays: DEFAULT_OUTBOX_RETENTION_DAYS,
      batchSize: 1_000,
      maxBatches: 100,
      clock: systemClock,
      ...options,
    };
    const { retentionDays, batchSize, maxBatches } = this.#o;
    numberOption('retentionDays', retentionDays, { above: 0 });
    integerOption('batchSize', batchSize, { min: 1, max: 10_000 });
    integerOption('maxBatches', maxBatches, { min: 1 });
  }

  /** Deletes published rows older than the retention, batch by batch, until none is left or `maxBatches`. */
  async purge(opts: { until?: number } = {}): Promise<PurgeReport> {
    const { sql, retentionDays, batchSize, maxBatches, clock } = this.#o;
    const started = clock();
    const cutoff = new Date(started - retentionDays * DAY_MS).toISOString();
    const report: PurgeReport = { deleted: 0, batches: 0, drained: false, durationMs: 0 };
    while (report.batches < maxBatches && clock() < (opts.until ?? Number.POSITIVE_INFINITY)) {
      const { rows } = await sql.query<{ n: unknown }>(PURGE_PUBLISHED, [cutoff, batchSize]);
      const deleted = Number(rows[0]?.n ?? 0);
      report.batches++;
      report.deleted += deleted;
      if (deleted < batchSize) {
        report.drained = true;
        break;
      }
    }
    report.durationMs = clock() - started;
    return report;
  }
}
