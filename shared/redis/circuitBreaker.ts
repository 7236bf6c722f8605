/**
 * A small consecutive-failure circuit breaker. While Redis is down every call would otherwise pay the full
 * timeout (and its retry) before the caller can fall back to PostgreSQL; an open circuit answers at once.
 */
import type { Clock } from '../ports.js';

export interface CircuitBreakerOptions {
  /**
   * Consecutive failures that open the circuit.
   * @default 3
   */
  failureThreshold?: number;
  /**
   * How long the circuit stays open before one trial call is let through (half-open).
   * @default 5000
   */
  cooldownMs?: number;
  /** @default Date.now */
  clock?: Clock;
}

export type CircuitState = 'closed' | 'open' | 'half-open';

export class CircuitBreaker {
  readonly #threshold: number;
  readonly #cooldownMs: number;
  readonly #clock: Clock;
  #failures = 0;
  #openedAt: number | undefined;
  #trialInFlight = false;

  constructor(options: CircuitBreakerOptions = {}) {
    this.#threshold = options.failureThreshold ?? 3;
    this.#cooldownMs = options.cooldownMs ?? 5000;
    this.#clock = options.clock ?? Date.now;
  }

  get state(): CircuitState {
    if (this.#openedAt === undefined) return 'closed';
    return this.#clock() - this.#openedAt >= this.#cooldownMs ? 'half-open' : 'open';
  }

  /**
   * Whether a call may go to Redis now. In half-open state only one trial runs at a time; concurrent
   * callers keep failing fast until it reports back.
   */
  tryAcquire(): boolean {
    const state = this.state;
    if (state === 'closed') return true;
    if (state === 'open' || this.#trialInFlight) return false;
    this.#trialInFlight = true;
    return true;
  }

  onSuccess(): void {
    this.#failures = 0;
    this.#openedAt = undefined;
    this.#trialInFlight = false;
  }

  onFailure(): void {
    this.#trialInFlight = false;
    this.#failures += 1;
    if (this.#failures >= this.#threshold || this.#openedAt !== undefined) this.#openedAt = this.#clock();
  }
}
