/**
 * StreamConsumer: applies `events:users` to the cache, run by the stream poller every minute for a
 * bounded budget. Upstash REST has no blocking reads, so it polls: XREADGROUP (no BLOCK) → one fenced
 * cache write for the whole batch → XACK, with an adaptive pause when idle (50 ms doubling to 1 s), so an
 * event reaches the cache in about a second while an idle minute costs about 60 reads.
 *
 * Delivery is at least once: a poller killed between the cache write and XACK leaves the entries pending,
 * a later run claims and re-applies them, and the version fence makes the second write a no-op in effect.
 * Entries stay pending only while unacknowledged: a failed cache write is retried in place (nothing new is
 * read meanwhile), dead consumers' entries are claimed after `claimIdleMs`, poison entries go to the
 * dead-letter stream after `maxDeliveries`, so no consumer's pending list grows past `count` entries
 * (Upstash caps it at about 1,000).
 */

import { setTimeout as delay } from 'node:timers/promises';
import { type CacheWrite, eventWriteFromRow, type WriteOutcome } from '../cache/writes.js';
import { ConfigError, LeaseHeldError, LeaseLostError, UserCacheError, ValidationError } from '../errors.js';
import { type Clock, type LoggerPort, silentLogger, systemClock } from '../ports.js';
import { LIMITS } from '../profile/schemas.js';
import { safeErrorText } from '../redis/errorText.js';
import { type HandoverLeasePort, waitForLease } from '../redis/lease.js';
import type { UserCache } from '../userCache.js';
import {
  emptyReport,
  isInt,
  type PollReport,
  type ResolvedConsumerOptions,
  resolveConsumerOptions,
  type StreamConsumerOptions,
} from './consumerOptions.js';
import { type EntryPlan, percentile, planEntry, type StreamEntry, thin } from './entries.js';
import { type DeadLetter, StreamGroup } from './group.js';

export type { PollReport, StreamConsumerOptions, StreamConsumerRedis } from './consumerOptions.js';

/** Dead-letter reasons of cache outcomes that no retry can change. */
const REASONS = {
  wrongType: 'wrong type: the cache key holds another type than a hash (a legacy or foreign writer)',
  invalid: 'malformed: the cache refused the write',
} as const;

/** State of one `runFor`. */
/**
 * The outbox relay step: publishes what the API could not, returns how many. It gets the run's deadline
 * (epoch ms) and must not start work it cannot finish before it.
 */
export type Relay = (deadline: number) => Promise<number>;

interface Run {
  report: PollReport;
  /** Event-to-cache lag of every applied event, ms. */
  lags: number[];
  /** Entries whose cache write was unavailable: still pending, retried before reading more. */
  held: StreamEntry[];
  deadline: number;
  nextClaim: number;
  nextTrim: number;
  /** The relay also runs when this is due, busy stream or not (see #step). */
  nextRelay: number;
  lastRenew: number;
  /** From then on every step checks for a waiting successor (the next scheduled run is due). */
  watchFrom: number;
  /** Set by a run that just took the lease over: its first claim takes every pending entry at once. */
  takeover: boolean;
}

type Settled = { ack: string[]; dead: DeadLetter[] };

export class StreamConsumer {
  readonly stream: string;
  readonly group: string;
  readonly consumer: string;
  readonly deadLetterStream: string;
  readonly #group: StreamGroup;
  readonly #cache: Pick<UserCache, 'write'>;
  readonly #o: ResolvedConsumerOptions;
  readonly #lease: HandoverLeasePort | undefined;
  readonly #repository: StreamConsumerOptions['repository'];
  readonly #clock: Clock;
  readonly #logger: LoggerPort;
  readonly #sleep: (ms: number) => Promise<void>;
  #groupReady = false;

  constructor(options: StreamConsumerOptions) {
    this.#cache = options.cache;
    this.#o = resolveConsumerOptions(options);
    ({ stream: this.stream, group: this.group, consumer: this.consumer } = this.#o);
    this.#group = new StreamGroup(options.redis, this.stream, this.group, this.consumer);
    this.deadLetterStream = this.#o.deadLetterStream;
    this.#lease = options.lease;
    this.#repository = options.repository;
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? silentLogger;
    this.#sleep = options.sleep ?? ((ms) => delay(ms));
  }

  /** XGROUP CREATE … MKSTREAM at `startId`; an existing group (BUSYGROUP) is left as it is. */
  async ensureGroup(): Promise<void> {
    await this.#group.ensure(this.#o.startId);
    this.#groupReady = true;
  }

  /**
   * Polls until `budgetMs` has passed (pass less than the Lambda timeout: one Redis call may still be in
   * flight at the deadline). `relay` runs whenever the stream is idle: it publishes outbox rows the API
   * could not publish and returns how many. Redis failures are logged, counted and retried until the
   * deadline; anything else (a bug, a poison entry crashing the apply) propagates. `signal` ends the loop
   * early, after the step in flight (local stack shutdown, benchmarks).
   *
   * With a lease, a run that finds it held waits for a handover (part of its budget), then claims every
   * entry its predecessor left pending; it hands over in turn when a successor waits (see docs/poller.md).
   */
  async runFor(budgetMs: number, opts: { relay?: Relay; signal?: AbortSignal } = {}): Promise<PollReport> {
    if (!isInt(budgetMs, 1)) throw new ConfigError('budgetMs must be a positive integer');
    const started = this.#clock();
    const lease = this.#lease;
    if (!lease) return this.#loop(started, started + budgetMs, opts.relay, opts.signal);
    const deadline = started + budgetMs;
    const { acquired, waitedMs } = await waitForLease(lease, {
      until: deadline,
      clock: this.#clock,
      sleep: this.#sleep,
    });
    if (!acquired) throw new LeaseHeldError("another run held the lease for all of this run's budget");
    try {
      const report = await this.#loop(started, deadline, opts.relay, opts.signal, true);
      report.waitedMs = waitedMs;
      return report;
    } finally {
      // Released already on the normal path (before the final bookkeeping); this covers a throw.
      await lease.release().catch(() => false);
    }
  }

  async #loop(
    started: number,
    deadline: number,
    relay: Relay | undefined,
    signal: AbortSignal | undefined,
    takeover = false,
  ): Promise<PollReport> {
    const now = this.#clock();
    const run: Run = {
      report: emptyReport(),
      lags: [],
      held: [],
      deadline,
      nextClaim: now,
      nextTrim: now,
      nextRelay: now,
      lastRenew: now,
      watchFrom: this.#o.periodMs > 0 ? started + this.#o.periodMs * 0.9 : Number.POSITIVE_INFINITY,
      takeover,
    };
    const stopped = () => run.report.leaseLost || run.report.handedOver || signal?.aborted === true;
    let pause = this.#o.minPauseMs;
    while (this.#clock() < run.deadline && !stopped()) {
      let progressed = false;
      try {
        progressed = await this.#step(run, relay);
      } catch (error) {
        if (error instanceof LeaseLostError) {
          // A stall outlived the lease and another run took over: this write was refused, stop here.
          run.report.leaseLost = true;
          this.#logger.warn('poller lease lost; write refused, stopping', { consumer: this.consumer });
          break;
        }
        if (!(error instanceof UserCacheError)) throw error;
        run.report.errors++;
        if (error.message.includes('NOGROUP')) this.#groupReady = false;
        this.#logger.warn('poller step failed; retrying', { error: error.message });
      }
      if (progressed) {
        pause = this.#o.minPauseMs;
        continue;
      }
      const remaining = run.deadline - this.#clock();
      if (remaining <= 0 || stopped()) break;
      await this.#sleep(Math.min(pause, remaining));
      pause = Math.min(pause * 2, this.#o.maxPauseMs);
    }
    const { report, lags } = run;
    // Released before the bookkeeping below, so a waiting successor starts consuming at once.
    if (this.#lease) await this.#lease.release().catch(() => false);
    report.pending = await this.#finish();
    report.lagMs = { p50: percentile(lags, 50), p99: percentile(lags, 99) };
    report.lagSamplesMs = thin(lags, 1_000);
    report.durationMs = this.#clock() - started;
    return report;
  }

  /** One turn of the loop. Returns true when it made progress (poll again at once, no pause). */
  async #step(run: Run, relay: Relay | undefined): Promise<boolean> {
    const { report } = run;
    const now = this.#clock();
    if (this.#lease && (now - run.lastRenew >= this.#lease.ttlMs / 3 || now >= run.watchFrom)) {
      // At a step boundary: the previous batch is applied and acknowledged, nothing is in flight.
      const beat = await this.#lease.heartbeat();
      run.lastRenew = this.#clock();
      if (beat === 'lost') {
        report.leaseLost = true;
        this.#logger.warn('poller lease lost; stopping', { consumer: this.consumer });
        return false;
      }
      if (beat === 'successor') {
        report.handedOver = true;
        return false;
      }
    }
    // Entries whose cache write was unavailable are retried (after the pause) before anything new is read.
    if (run.held.length > 0) {
      run.held = await this.#apply(run.held, report, run.lags);
      return run.held.length === 0;
    }
    if (!this.#groupReady) await this.ensureGroup();
    if (this.#clock() >= run.nextClaim) {
      // Under the lease nobody else applies, so a predecessor's pending entries are claimed at once.
      const idleMs = run.takeover ? 0 : this.#o.claimIdleMs;
      run.held = await this.#claimStale(report, run.lags, run.deadline, idleMs);
      run.takeover = false;
      run.nextClaim = this.#clock() + this.#o.claimEveryMs;
      if (run.held.length > 0) return false;
    }
    if (this.#clock() >= run.nextTrim) {
      await this.#housekeeping(report);
      run.nextTrim = this.#clock() + this.#o.trimEveryMs;
    }
    const entries = await this.#group.readNew(this.#o.count);
    let applied = false;
    if (entries.length > 0) {
      report.batches++;
      run.held = await this.#apply(entries, report, run.lags);
      if (run.held.length > 0) return false;
      applied = true;
    }
    // The relay runs when the stream is idle, and at least every maxPauseMs (an idle poller's cadence)
    // while it is busy: under steady writes every read returns entries, and outbox rows a Redis outage
    // left behind would otherwise wait until traffic stops, the cache serving their old versions (and
    // deleted profiles) meanwhile. The chaos run measured 85 s of stale reads before this.
    if (!relay || (applied && this.#clock() < run.nextRelay)) return applied;
    run.nextRelay = this.#clock() + this.#o.maxPauseMs;
    const relayed = await this.#relay(relay, run.deadline, report);
    report.relayed += relayed;
    return applied || relayed > 0;
  }

  /**
   * Applies entries with ONE cache write, then acknowledges (and dead-letters) in one request. Returns
   * the entries whose write was `unavailable`: they stay pending and the caller retries them.
   */
  async #apply(entries: readonly StreamEntry[], report: PollReport, lags: number[]): Promise<StreamEntry[]> {
    const now = this.#clock();
    const settled: Settled = { ack: [], dead: [] };
    const writes: Array<{ entry: StreamEntry; plan: Extract<EntryPlan, { action: 'write' }> }> = [];
    for (const entry of entries) {
      const plan = planEntry(entry, this.#o.maxEventAgeMs, now);
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
      this.#logger.warn('cache unavailable; entries stay pending', { entries: held.length });
    return held;
  }

  /**
   * One fenced write for the batch. `planEntry` checked every write already; should the cache still refuse
   * the batch as invalid (a rule it has and the plan lacks), each write is retried alone, so the bad one
   * is dead-lettered (`invalid`) and its batch mates are applied in this same run.
   */
  async #write(writes: CacheWrite[]): Promise<Array<WriteOutcome | 'invalid'>> {
    try {
      return await this.#cache.write(writes, this.#fence());
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
    }
    const outcomes: Array<WriteOutcome | 'invalid'> = [];
    for (const write of writes) {
      try {
        outcomes.push((await this.#cache.write([write], this.#fence()))[0] ?? 'unavailable');
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
    const repository = this.#repository;
    const pending = writes.filter((w) => w.plan.fromDatabase);
    if (!repository || pending.length === 0) return true;
    const ids = [...new Set(pending.map((w) => (w.plan.write as { userId: string }).userId))];
    let rows: Awaited<ReturnType<typeof repository.getMany>>;
    try {
      rows = await repository.getMany(ids);
    } catch (error) {
      this.#logger.warn('PostgreSQL unavailable for versionless events; they stay pending', {
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
    const { deadLetterStream, deadLetterMaxLen } = this.#o;
    const kept = await this.#group.settle(ack, dead, deadLetterStream, deadLetterMaxLen, this.#clock());
    for (const { entry, reason, deliveries } of dead) {
      if (kept.has(entry.id)) continue;
      report.deadLettered++;
      this.#logger.error('event dead-lettered', { entryId: entry.id, reason, deliveries });
    }
    const [first] = kept;
    if (first) {
      const [entryId, error] = first;
      this.#logger.error('dead-letter copy failed; entries stay pending', {
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
  async #claimStale(
    report: PollReport,
    lags: number[],
    deadline: number,
    idleMs: number,
  ): Promise<StreamEntry[]> {
    let start = '-';
    for (let page = 0; page < 10 && this.#clock() < deadline; page++) {
      const pending = await this.#group.idlePending(idleMs, start, this.#o.count);
      if (pending.length === 0) return [];
      const exhausted = pending.filter((p) => p.deliveries >= this.#o.maxDeliveries);
      const alive = pending.filter((p) => p.deliveries < this.#o.maxDeliveries);
      const first = alive.filter((p) => p.deliveries < 2);
      const retried = alive.filter((p) => p.deliveries >= 2);
      if (exhausted.length > 0) {
        const entries = await this.#group.claim(
          exhausted.map((p) => p.id),
          idleMs,
        );
        const byId = new Map(exhausted.map((p) => [p.id, p.deliveries]));
        const dead = entries.map((entry) => {
          const deliveries = byId.get(entry.id) ?? this.#o.maxDeliveries;
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
        const entries = await this.#group.claim(ids, idleMs);
        report.claimed += entries.length;
        const held = entries.length > 0 ? await this.#apply(entries, report, lags) : [];
        if (held.length > 0) return held;
      }
      if (pending.length < this.#o.count) return [];
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
      const outcomes = await this.#cache.write(
        [...userIds].map((userId) => ({ kind: 'invalidate', userId })),
        this.#fence(),
      );
      return !outcomes.includes('unavailable');
    } catch (error) {
      if (error instanceof LeaseLostError) throw error;
      // Not Redis trouble (that comes back as `unavailable`) but a bug: do not block the dead letter on it.
      this.#logger.error('invalidation before dead-lettering failed', { error: safeErrorText(error) });
      return true;
    }
  }

  /** Trims what every group acknowledged and deletes finished consumers. Failures are logged only. */
  async #housekeeping(report: PollReport): Promise<void> {
    try {
      const { removed, floor, length, oldestPendingAgeMs, excluded } = await this.#group.trim();
      report.trimmed += removed;
      report.streamLength = length;
      report.oldestPendingAgeMs = oldestPendingAgeMs;
      report.groupsExcluded = excluded.length;
      if (excluded.length > 0) {
        this.#logger.warn('abandoned consumer groups left out of the trim floor', { groups: excluded });
      }
      // Consumers of crashed runs: their entries were claimed, nothing else refers to them.
      await this.#group.prune(Math.max(this.#o.claimIdleMs, 60_000));
      if (removed > 0) this.#logger.debug('stream trimmed', { removed, floor });
    } catch (error) {
      report.errors++;
      this.#logger.warn('stream housekeeping failed', { error: safeErrorText(error) });
    }
  }

  async #relay(relay: Relay, deadline: number, report: PollReport): Promise<number> {
    try {
      return await relay(deadline);
    } catch (error) {
      report.errors++;
      this.#logger.warn('outbox relay failed', { error: safeErrorText(error) });
      return 0;
    }
  }

  /** The lease every cache write of this run is fenced by (none without a lease). */
  #fence(): { fence?: HandoverLeasePort['fence'] } {
    return this.#lease ? { fence: this.#lease.fence } : {};
  }

  /** Group's pending count, and removes this consumer when it holds nothing. Best effort. */
  async #finish(): Promise<number> {
    try {
      await this.#group.prune(Number.MAX_SAFE_INTEGER, true);
      return await this.#group.pendingCount();
    } catch (error) {
      this.#logger.warn('poller could not read its final pending count', { error: safeErrorText(error) });
      return 0;
    }
  }
}
