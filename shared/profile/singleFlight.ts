/**
 * Collapses concurrent calls for the same key into one: while a call for `key` is in flight, later
 * callers get the same promise instead of starting their own. A burst of misses for one hot profile
 * (a group chat opening at once) then costs PostgreSQL one read per instance, not one per request.
 *
 * Only in-flight calls are shared; nothing is remembered once the promise settles (a rejection
 * included), so a failure is never replayed to callers that arrive after it.
 */
export class SingleFlight<K, V> {
  readonly #inFlight = new Map<K, Promise<V>>();

  /** Runs `fn` unless a call for `key` is already running, in which case its promise is shared. */
  run(key: K, fn: () => Promise<V>): Promise<V> {
    const running = this.#inFlight.get(key);
    if (running) return running;
    // `then(fn)` starts fn on a microtask, so the entry is in the map before fn runs (even if fn throws
    // synchronously), and `finally` can never run before `set`.
    const started = Promise.resolve()
      .then(fn)
      .finally(() => {
        if (this.#inFlight.get(key) === started) this.#inFlight.delete(key);
      });
    this.#inFlight.set(key, started);
    return started;
  }

  /** Keys with a call in flight (for tests and debugging). */
  get size(): number {
    return this.#inFlight.size;
  }
}
