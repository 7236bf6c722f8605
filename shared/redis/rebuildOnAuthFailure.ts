/**
 * An Upstash client that survives a token rotation. Warm Lambda environments keep their client for
 * life, so after the token is rotated (new one in the secret, old one revoked) every request would
 * get `401 Unauthorized` until AWS recycles the environment. This client, on an authentication
 * failure, fetches the credentials again (bypassing any cache), rebuilds the HTTP client when they
 * changed, and retries that one request: rotating a token needs no redeploy and no restart.
 *
 * It works under `@upstash/redis`'s `Requester`, so every command, pipeline, transaction and script
 * of every module holding this client goes through it, and nothing above it changes.
 */
import { errors, type Redis, type Requester } from '@upstash/redis';
import { integerOption } from '../options.js';
import { type Clock, type LoggerPort, silentLogger, systemClock } from '../ports.js';
import { safeErrorText } from './errorText.js';

export interface RedisCredentials {
  url: string;
  token: string;
}

export interface RebuildOnAuthFailureOptions {
  /** The credentials the first client uses. */
  initial: RedisCredentials;
  /** Reads the current credentials from their source of truth (Secrets Manager, uncached). */
  refresh: () => Promise<RedisCredentials>;
  /** Builds a client (`createRedisClient` with its timeouts); called once, then once per change. */
  build: (credentials: RedisCredentials) => Redis;
  /**
   * Least time between two refreshes. A wrong token in the secret must not turn every request into a
   * GetSecretValue call: within this interval an authentication failure is returned as is.
   * @default 10000
   */
  minRefreshIntervalMs?: number;
  /** @default Date.now */
  clock?: Clock;
  /** @default a logger that drops everything */
  logger?: LoggerPort;
}

/**
 * Upstash answers a wrong or revoked token with HTTP 401 and `{"error":"Unauthorized"}`, which
 * `@upstash/redis` turns into an `UpstashError` whose message starts with that text: the status code
 * is not kept, so this is the only signal the client offers. The local gateway answers the same
 * (local/gateway/requestHandler.ts), and test/credentialRotation.test.ts pins the shape.
 */
export function isAuthFailure(error: unknown): boolean {
  return error instanceof errors.UpstashError && /^Unauthorized\b/.test(error.message);
}

/** The requester a `Redis` instance sends through (the library's `client` field, not in its types). */
type WithRequester = { client: Requester };

export function rebuildOnAuthFailure(options: RebuildOnAuthFailureOptions): Redis {
  const minInterval = integerOption('minRefreshIntervalMs', options.minRefreshIntervalMs ?? 10_000, {
    min: 0,
  });
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? silentLogger;
  const front = options.build(options.initial);
  // A copy: a caller that later mutates the object it passed must not make a new token look "unchanged".
  let credentials = { ...options.initial };
  let current: Requester = (front as unknown as WithRequester).client;
  let refreshing: Promise<void> | undefined;
  let lastRefresh = Number.NEGATIVE_INFINITY;

  const refresh = (): Promise<void> => {
    if (refreshing) return refreshing;
    if (clock() - lastRefresh < minInterval) return Promise.resolve();
    lastRefresh = clock();
    refreshing = (async () => {
      try {
        const next = await options.refresh();
        if (next.url === credentials.url && next.token === credentials.token) {
          logger.warn('Upstash refused the credentials and the secret still holds the same ones');
          return;
        }
        credentials = { ...next };
        current = (options.build(next) as unknown as WithRequester).client;
        logger.warn('Upstash credentials reloaded after an authentication failure');
      } catch (error) {
        logger.error('Upstash credentials could not be reloaded', { error: safeErrorText(error) });
      } finally {
        refreshing = undefined;
      }
    })();
    return refreshing;
  };

  const requester: Requester = {
    get readYourWrites() {
      return current.readYourWrites;
    },
    set readYourWrites(value) {
      current.readYourWrites = value;
    },
    get upstashSyncToken() {
      return current.upstashSyncToken;
    },
    set upstashSyncToken(value) {
      current.upstashSyncToken = value;
    },
    async request(req) {
      const used = current;
      try {
        return await used.request(req);
      } catch (error) {
        if (!isAuthFailure(error)) throw error;
        await refresh();
        // Same requester: nothing new to try (refresh skipped, failed or found the same token).
        if (current === used) throw error;
        return current.request(req);
      }
    },
  };
  (front as unknown as WithRequester).client = requester;
  return front;
}
