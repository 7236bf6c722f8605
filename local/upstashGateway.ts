/**
 * A small, faithful Upstash REST API in front of a real redis-server, so `@upstash/redis` runs unchanged
 * locally and in tests. Routes: `POST /` (one command), `/pipeline`, `/multi-exec`, and the event streams
 * `/subscribe/<channel>`, `/psubscribe/<pattern>`. It enforces Upstash's limits with Upstash's error
 * texts (request, record and database sizes, the PEL cap) and accepts its script flag
 * `allow-key-locking`: see docs/gateway.md.
 * @see https://upstash.com/docs/redis/features/restapi
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError } from '../shared/errors.js';
import { integerOption } from '../shared/options.js';
import { type SizeLimits, UPSTASH_LIMITS } from './gateway/limits.js';
import { RedisBackend } from './gateway/redisBackend.js';
import { type ActiveFaults, createRequestHandler } from './gateway/requestHandler.js';

export interface UpstashGatewayOptions {
  /** The real Redis behind the gateway, e.g. `redis://127.0.0.1:6379`. */
  redisUrl: string;
  /** Bearer token clients must send (compared in constant time). Must not be empty. */
  token: string;
  /**
   * TCP port to listen on; 0 picks a free one.
   * @default 0
   */
  port?: number;
  /**
   * Interface to bind. Anything but loopback is refused unless `allowRemote` is set.
   * @default '127.0.0.1'
   */
  host?: string;
  /**
   * Allow binding a non-loopback `host` (the gateway has no TLS; the token would travel in clear).
   * @default false
   */
  allowRemote?: boolean;
  /**
   * Upstash's max request size: a larger HTTP body is refused with `ERR max request size exceeded`.
   * @default 1000000 (1 MB, Upstash Free and Pay as You Go)
   */
  maxRequestBytes?: number;
  /**
   * Upstash's max single record size: a write that would take one key past it is refused with
   * `ERR max single record size exceeded` (reads and deletes still work). Lower it in tests.
   * @default 100000000 (100 MB)
   */
  maxRecordBytes?: number;
  /**
   * Upstash's data size quota: once the dataset would pass it, writes are refused with
   * `ERR DB capacity quota exceeded` (reads and deletes still work).
   * @default 10000000000 (10 GB, Pay as You Go)
   */
  maxDataBytes?: number;
}

/** Fault injection for tests. Each call replaces the whole fault state; `setFaults({})` clears it. */
export interface GatewayFaults {
  /**
   * Delay before handling every request, in ms. A request whose client disconnects meanwhile (its
   * timeout fired) is dropped, never run late.
   * @default 0
   */
  delayMs?: number;
  /**
   * `reset` destroys the socket (clients see a network error), `http503` answers 503.
   * @default 'none'
   */
  mode?: 'none' | 'reset' | 'http503';
}

export interface UpstashGateway {
  /** Base URL for `@upstash/redis`, e.g. `http://127.0.0.1:40123`. */
  url: string;
  token: string;
  /**
   * Counters for benchmarks/tests: HTTP requests received (every one, refused or not) and Redis
   * commands executed (those sent to Redis for clients; MULTI/EXEC wrappers not counted).
   */
  readonly metrics: { httpRequests: number; commands: number; reset(): void };
  /**
   * Replaces the token, as rotating it in the Upstash console does: requests with the old one get
   * Upstash's `401 {"error":"Unauthorized"}` from now on.
   */
  setToken(token: string): void;
  /** Fault injection for tests: delay every request by ms, or make requests fail. */
  setFaults(f: GatewayFaults): void;
  /** Stops listening, ends keep-alive connections and disconnects from Redis. */
  close(): Promise<void>;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

export async function startUpstashGateway(opts: UpstashGatewayOptions): Promise<UpstashGateway> {
  const host = opts.host ?? '127.0.0.1';
  if (!opts.token) throw new ConfigError('startUpstashGateway: token must not be empty');
  if (!LOOPBACK.test(host) && !opts.allowRemote) {
    throw new ConfigError(`startUpstashGateway: refusing to bind ${host} (not loopback) without allowRemote`);
  }
  const limits: SizeLimits = {
    maxRequestBytes: opts.maxRequestBytes ?? UPSTASH_LIMITS.maxRequestBytes,
    maxRecordBytes: opts.maxRecordBytes ?? UPSTASH_LIMITS.maxRecordBytes,
    maxDataBytes: opts.maxDataBytes ?? UPSTASH_LIMITS.maxDataBytes,
  };
  for (const [name, value] of Object.entries(limits)) integerOption(name, value, { min: 1 });

  const backend = await RedisBackend.connect(opts.redisUrl, limits);
  const streams = new Set<() => void>();
  const metrics = {
    httpRequests: 0,
    commands: 0,
    reset() {
      metrics.httpRequests = 0;
      metrics.commands = 0;
    },
  };
  let faults: ActiveFaults = { delayMs: 0, mode: 'none' };
  let token = opts.token;
  const server = createServer(
    createRequestHandler({
      backend,
      token: () => token,
      maxRequestBytes: limits.maxRequestBytes,
      streams,
      metrics,
      faults: () => faults,
    }),
  );

  // Longer than undici's 4 s keep-alive, so the server never closes a socket the client is reusing.
  server.keepAliveTimeout = 65_000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await backend.close();
    throw err;
  }
  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  return {
    url: `http://${urlHost}:${address.port}`,
    get token() {
      return token;
    },
    metrics,
    setToken(next) {
      if (!next) throw new ConfigError('setToken: token must not be empty');
      token = next;
    },
    setFaults(f) {
      faults = { delayMs: f.delayMs ?? 0, mode: f.mode ?? 'none' };
    },
    async close() {
      // In-flight requests get a moment to finish; then their sockets go too.
      const force = setTimeout(() => server.closeAllConnections(), 1_000);
      // Event streams never go idle by themselves: end them now.
      for (const end of [...streams]) end();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      clearTimeout(force);
      await backend.close();
    },
  };
}
