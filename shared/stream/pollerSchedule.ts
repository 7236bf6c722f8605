/**
 * The deployed stream poller's schedule, in ONE place: the stack (timeout, schedule, POLLER_BUDGET_MS),
 * the config defaults and the local stack's scheduled invocations all read it.
 *
 * EventBridge Scheduler's finest rate is one minute, so a run must outlive the period for the poller to
 * never sleep: each run's budget ends past the next run's start, the next run waits for the lease, and
 * the two hand over (see docs/poller.md). A run's billed time stays about one period.
 */
import { integerOption } from '../options.js';

export interface PollerSchedule {
  /** Time between two scheduled invocations. */
  readonly periodMs: number;
  /** The function's timeout: Lambda kills a run still going after it. */
  readonly timeoutMs: number;
  /** POLLER_BUDGET_MS: the run stops taking work after it (and hands over earlier when a successor waits). */
  readonly budgetMs: number;
  /** Poller lease TTL: how soon a killed run's lease frees itself (renewed every third of it). */
  readonly leaseTtlMs: number;
}

/** Room between the end of the budget and the timeout: the last batch, its acks, the release, metrics. */
export const POLLER_SAFETY_MARGIN_MS = 10_000;

export const POLLER_SCHEDULE: PollerSchedule = {
  periodMs: 60_000,
  // 30 s past the period: a successor up to 20 s late (Scheduler delivery, a cold start) still finds the
  // previous run consuming.
  timeoutMs: 90_000,
  budgetMs: 90_000 - POLLER_SAFETY_MARGIN_MS,
  leaseTtlMs: 15_000,
};

/** Scheduler's `rate(…)` expression for a period in whole minutes. */
export function rateExpression(periodMs: number): string {
  const minutes = integerOption('the period in minutes', periodMs / 60_000, { min: 1 });
  return minutes === 1 ? 'rate(1 minute)' : `rate(${minutes} minutes)`;
}
