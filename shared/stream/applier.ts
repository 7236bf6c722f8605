/**
 * How the stream consumer applies what it read or claimed: one fenced cache write per batch, versionless
 * events resolved against PostgreSQL first, then one request that acknowledges and dead-letters; and the
 * takeover of entries other consumers left pending (`claimStale`). The loop around it (budget, lease,
 * pauses, housekeeping) is `consumer.ts`.
 */
import { type CacheWrite, eventWriteFromRow, type WriteOutcome } from '../cache/writes.js';
import { LeaseLostError, UserCacheError, ValidationError } from '../errors.js';
import type { Clock, LoggerPort } from '../ports.js';
import { LIMITS } from '../profile/schemas.js';
import { safeErrorText } from '../redis/errorText.js';
import type { HandoverLeasePort } from '../redis/lease.js';
import type { UserCache } from '../userCache.js';
import type { PollReport, ResolvedConsumerOptions, StreamConsumerOptions } from './consumerOptions.js';
import { type EntryPlan, planEntry, type StreamEntry } from './entries.js';
import type { DeadLetter, StreamGroup } from './group.js';

/** Dead-letter reasons of cache outcomes that no retry can change. */
const REASONS = {
  wrongType: 'wrong type: the cache key holds another type than a hash (a legacy or foreign writer)',
  invalid: 'malformed: the cache refused the write',
} as const;

type Settled = { ack: string[]; dead: DeadLetter[] };

export interface EntryApplierDeps {
  cache: Pick<UserCache, 'write'>;
  group: StreamGroup;
  repository: StreamConsumerOptions['repository'];
  /** Fences every cache write (none without a lease). */
  lease: HandoverLeasePort | undefined;
  options: ResolvedConsumerOptions;
  clock: Clock;
  logger: LoggerPort;
}

export class EntryApplier {
  readonly #d: EntryApplierDeps;

  constructor(deps: EntryApplierDeps) {
    this.#d = deps;
  }

  /**
   * Applies entries with ONE cache write, then acknowledges (and dead-letters) in one request. Returns
   * the entries whose write was `unavailable`: they stay pending and the caller retries them.
   */
  async apply(entries: readonly StreamEntry[], report: PollReport, lags: number[]): Promise<StreamEntry[]> {
    const now = this.#d.clock();
    const settled: Settled = { ack: [], dead: [] };
    const writes: Array<{ entry: StreamEntry; plan: Extract<EntryPlan, { action: 'write' }> }> = [];
    for (const entry of entries) {
      const plan = planEntry(entry, this.#d.options.maxEventAgeMs, now);
      if (plan.action === 'write') writes.push({ entry, plan });
      else if (plan.action === 'deadLetter') settled.dead.push({ entry, reason: plan.reason, deliveries: 1 });
      else {
        if (plan.action === 'skip') report.unknownTypes++;
        settled.ack.push(entry.id);
      }
    }
    const held: StreamEntry[] = [];
    if (!(await this.#resolveFromDatabase(writes))) {
      // PostgreSQL failed: versionless events wait (pending) rather than degrade to a bare invalidation.
      for (let i = writes.length - 1; i >= 0; i--) {
        if (writes[i]!.plan.fromDatabase) held.push(...writes.splice(i, 1).map((w) => w.entry));
      }
    }
    if (writes.length > 0) {
      const outcomes = await this.#write(writes.map((w) => w.plan.write));
      writes.forEach(({ entry, plan }, i) => {
        const outcome = outcomes[i] ?? 'unavailable';
        if (outcome === 'unavailable') {
          held.push(entry);
          return;
        }
        // Deterministic: retrying cannot change the key's type, so the entry leaves in this run.
        if (outcome === 'wrongType' || outcome === 'invalid') {
          settled.dead.push({ entry, reason: REASONS[outcome], deliveries: 1 });
          return;
        }
        settled.ack.push(entry.id);
        if (outcome === 'stale') report.stale++;
        else report.applied++;
        lags.push(Math.max(0, now - plan.eventTimeMs));
      });
    }
    await this.#settle(settled, report);
    if (held.length > 0)
      this.#d.logger.warn('cache unavailable; entries stay pending', { entries: held.length });
    return held;
  }

  /**
   * One fenced write for the batch. `planEntry` checked every write already; should the cache still refuse
   * the batch as invalid (a rule it has and the plan lacks), each write is retried alone, so the bad one
   * is dead-lettered (`invalid`) and its batch mates are applied in this same run.
   */
  async #write(writes: CacheWrite[]): Promise<Array<WriteOutcome | 'invalid'>> {
    try {
      return await this.#d.cache.write(writes, this.#fence());
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
    }
    const outcomes: Array<WriteOutcome | 'invalid'> = [];
    for (const write of writes) {
      try {
        outcomes.push((await this.#d.cache.write([write], this.#fence()))[0] ?? 'unavailable');
      } catch (error) {
        if (!(error instanceof ValidationError)) throw error;
        outcomes.push('invalid');
      }
    }
    return outcomes;
  }

  /**
   * Replaces, in place, the plan of every versionless event with the row PostgreSQL has now (one query
   * for the batch). Returns false when PostgreSQL failed; without a repository the invalidations stand.
   */
  async #resolveFromDatabase(
    writes: Array<{ plan: Extract<EntryPlan, { action: 'write' }> }>,
  ): Promise<boolean> {
    const repository = this.#d.repository;
    const pending = writes.filter((w) => w.plan.fromDatabase);
    if (!repository || pending.length === 0) return true;
    const ids = [...new Set(pending.map((w) => (w.plan.write as { userId: string }).userId))];
    let rows: Awaited<ReturnType<typeof repository.getMany>>;
    try {
      rows = await repository.getMany(ids);
    } catch (error) {
      this.#d.logger.warn('PostgreSQL unavailable for versionless events; they stay pending', {
        entries: pending.length,
        error: error instanceof Error ? error.name : 'unknown',
      });
      return false;
    }
    for (const w of pending) {
      const userId = (w.plan.write as { userId: string }).userId;
      w.plan = { ...w.plan, write: eventWriteFromRow(userId, rows.get(userId)) };
    }
    return true;
  }

  /**
   * Copies dead letters, then acknowledges them with the rest (see StreamGroup.settle); counts and logs.
   * A dead letter whose copy could not be written stays pending (a later claim tries again) and fails
   * the step like any Redis trouble, so the run counts it and backs off.
   */
  async #settle({ ack, dead }: Settled, report: PollReport): Promise<void> {
    const { deadLetterStream, deadLetterMaxLen } = this.#d.options;
    const kept = await this.#d.group.settle(ack, dead, deadLetterStream, deadLetterMaxLen, this.#d.clock());
    for (const { entry, reason, deliveries } of dead) {
      if (kept.has(entry.id)) continue;
      report.deadLettered++;
      this.#d.logger.error('event dead-lettered', { entryId: entry.id, reason, deliveries });
    }
    const [first] = kept;
    if (first) {
      const [entryId, error] = first;
      this.#d.logger.error('dead-letter copy failed; entries stay pending', {
        entries: kept.size,
        entryId,
        error,
      });
      throw new UserCacheError('CACHE_UNAVAILABLE', `dead-letter copy failed: ${error}`);
    }
  }

  /**
   * Takes over entries idle longer than `claimIdleMs`. XPENDING first, because it shows delivery counts
   * without changing them (XAUTOCLAIM would bump the count of every entry it returns): entries delivered
   * `maxDeliveries` times are dead-lettered; first retries are claimed and applied as one batch; entries
   * that failed a retry already are claimed and applied one at a time, so a poison entry that crashes the
   * poller only ever counts deliveries against itself, never against its batch mates.
   * @see https://redis.io/docs/latest/commands/xpending/
   */
  async claimStale(
    report: PollReport,
    lags: number[],
    deadline: number,
    idleMs: number,
  ): Promise<StreamEntry[]> {
    let start = '-';
    for (let page = 0; page < 10 && this.#d.clock() < deadline; page++) {
      const pending = await this.#d.group.idlePending(idleMs, start, this.#d.options.count);
      if (pending.length === 0) return [];
      const exhausted = pending.filter((p) => p.deliveries >= this.#d.options.maxDeliveries);
      const alive = pending.filter((p) => p.deliveries < this.#d.options.maxDeliveries);
      const first = alive.filter((p) => p.deliveries < 2);
      const retried = alive.filter((p) => p.deliveries >= 2);
      if (exhausted.length > 0) {
        const entries = await this.#d.group.claim(
          exhausted.map((p) => p.id),
          idleMs,
        );
        const byId = new Map(exhausted.map((p) => [p.id, p.deliveries]));
        const dead = entries.map((entry) => {
          const deliveries = byId.get(entry.id) ?? this.#d.options.maxDeliveries;
          return { entry, deliveries, reason: `not acknowledged after ${deliveries} deliveries` };
        });
        // Giving up on an event must not leave the version it replaced cached for the TTL (an event held
        // through a long PostgreSQL outage ends here too): invalidate its user first, fence kept. If the
        // cache cannot take that, the entries stay pending for the next attempt.
        if (!(await this.#invalidateUsersOf(entries))) return [];
        await this.#settle({ ack: [], dead }, report);
      }
      for (const ids of [first.map((p) => p.id), ...retried.map((p) => [p.id])]) {
        if (ids.length === 0) continue;
        const entries = await this.#d.group.claim(ids, idleMs);
        report.claimed += entries.length;
        const held = entries.length > 0 ? await this.apply(entries, report, lags) : [];
        if (held.length > 0) return held;
      }
      if (pending.length < this.#d.options.count) return [];
      start = `(${pending.at(-1)?.id ?? '0-0'}`;
    }
    return [];
  }

  /** Invalidates (fence kept) the cache entry of every user named by `entries`. False when Redis failed. */
  async #invalidateUsersOf(entries: readonly StreamEntry[]): Promise<boolean> {
    const userIds = new Set<string>();
    for (const { fields } of entries) {
      const id = fields?.userId ?? fields?.id;
      if (id !== undefined && LIMITS.userIdPattern.test(id)) userIds.add(id);
    }
    if (userIds.size === 0) return true;
    try {
      const outcomes = await this.#d.cache.write(
        [...userIds].map((userId) => ({ kind: 'invalidate', userId })),
        this.#fence(),
      );
      return !outcomes.includes('unavailable');
    } catch (error) {
      if (error instanceof LeaseLostError) throw error;
      // Not Redis trouble (that comes back as `unavailable`) but a bug: do not block the dead letter on it.
      this.#d.logger.error('invalidation before dead-lettering failed', { error: safeErrorText(error) });
      return true;
    }
  }

  /** The lease every cache write of this run is fenced by (none without a lease). */
  #fence(): { fence?: HandoverLeasePort['fence'] } {
    return this.#d.lease ? { fence: this.#d.lease.fence } : {};
  }
}
