/**
 * The one way this project builds an Upstash client. Call it once per Lambda environment (module scope):
 * the client keeps its HTTP connections alive across warm invocations.
 */
import { Redis } from '@upstash/redis';

export interface RedisClientOptions {
  /** Upstash REST URL (`https://…upstash.io`, or the local gateway's `http://127.0.0.1:…`). */
  url: string;
  /** Upstash REST token (the gateway checks it the same way). */
  token: string;
  /**
   * Per-HTTP-request timeout. Upstash has none by default, so a stalled request would hang the Lambda.
   * @default 250
   */
  timeoutMs?: number;
  /**
   * Retries on network errors. The client's default (5, exponential) can wait ~12 s; one is enough
   * because the cache is never the source of truth.
   * @default 1
   */
  retries?: number;
  /**
   * Once aborted, every request of this client fails at once, in flight or not: the local scheduler's
   * model of Lambda killing a run at its timeout.
   * @default none
   */
  signal?: AbortSignal;
}

/** Builds an `@upstash/redis` client with safe defaults for an API path. */
export function createRedisClient(options: RedisClientOptions): Redis {
  const timeoutMs = options.timeoutMs ?? 250;
  return new Redis({
    url: options.url,
    token: options.token,
    // Off: with it on, "007" would come back as the number 7 and "true" as a boolean.
    automaticDeserialization: false,
    enableTelemetry: false,
    // Auto-pipelining splits reads and writes into separate batches (read-after-write surprises);
    // every multi-command path here builds its pipeline explicitly instead.
    enableAutoPipelining: false,
    retry: { retries: options.retries ?? 1, backoff: () => 20 },
    // The function form gives every request a fresh timer; a static signal would fire once, and
    // the client would then return "Aborted" as a result instead of throwing.
    signal: () =>
      options.signal
        ? AbortSignal.any([AbortSignal.timeout(timeoutMs), options.signal])
        : AbortSignal.timeout(timeoutMs),
    keepAlive: true,
  });
}
