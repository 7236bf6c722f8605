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
import { LeaseHeldError, LeaseLostError, UserCacheError } from '../errors.js';
import { integerOption } from '../options.js';
import { type Clock, type LoggerPort, silentLogger, systemClock } from '../ports.js';
import { safeErrorText } from '../redis/errorText.js';
import { type HandoverLeasePort, waitForLease } from '../redis/lease.js';
import { EntryApplier } from './applier.js';
import {
  emptyReport,
  type PollReport,
  type ResolvedConsumerOptions,
  resolveConsumerOptions,
  type StreamConsumerOptions,
} from './consumerOptions.js';
import { percentile, type StreamEntry, thin } from './entries.js';
import { StreamGroup } from './group.js';

export type { PollReport, StreamConsumerOptions, StreamConsumerRedis } from './consumerOptions.js';

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

export class StreamConsumer {
  readonly stream: string;
  readonly group: string;
  readonly consumer: string;
  readonly deadLetterStream: string;
  readonly #group: StreamGroup;
  readonly #applier: EntryApplier;
  readonly #o: ResolvedConsumerOptions;
  readonly #lease: HandoverLeasePort | undefined;
  readonly #clock: Clock;
  readonly #logger: LoggerPort;
  readonly #sleep: (ms: number) => Promise<void>;
  #groupReady = false;

  constructor(options: StreamConsumerOptions) {
    this.#o = resolveConsumerOptions(options);
    ({ stream: this.stream, group: this.group, consumer: this.consumer } = this.#o);
    this.#group = new StreamGroup(options.redis, this.stream, this.group, this.consumer);
    this.deadLetterStream = this.#o.deadLetterStream;
    this.#lease = options.lease;
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? silentLogger;
    this.#sleep = options.sleep ?? ((ms) => delay(ms));
    this.#applier = new EntryApplier({
      cache: options.cache,
      group: this.#group,
      repository: options.repository,
      lease: options.lease,
      options: this.#o,
      clock: this.#clock,
      logger: this.#logger,
    });
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
    integerOption('budgetMs', budgetMs, { min: 1 });
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
        if (error.redisCode === 'NOGROUP') this.#groupReady = false;
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
      run.held = await this.#applier.apply(run.held, report, run.lags);
      return run.held.length === 0;
    }
    if (!this.#groupReady) await this.ensureGroup();
    if (this.#clock() >= run.nextClaim) {
      // Under the lease nobody else applies, so a predecessor's pending entries are claimed at once.
      const idleMs = run.takeover ? 0 : this.#o.claimIdleMs;
      run.held = await this.#applier.claimStale(report, run.lags, run.deadline, idleMs);
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
      run.held = await this.#applier.apply(entries, report, run.lags);
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
