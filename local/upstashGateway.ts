/**
 * A small, faithful Upstash REST API in front of a real redis-server, so `@upstash/redis` runs unchanged
 * locally and in tests. Routes: `POST /` (one command), `/pipeline`, `/multi-exec`.
 * @see https://upstash.com/docs/redis/features/restapi
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError } from '../shared/errors.js';
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
   * Largest accepted request body; larger ones get 413.
   * @default 10485760 (10 MiB)
   */
  maxBodyBytes?: number;
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
  /** Fault injection for tests: delay every request by ms, or make requests fail. */
  setFaults(f: GatewayFaults): void;
  /** Stops listening, ends keep-alive connections and disconnects from Redis. */
  close(): Promise<void>;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

export async function startUpstashGateway(opts: UpstashGatewayOptions): Promise<UpstashGateway> {
  const host = opts.host ?? '127.0.0.1';
  const maxBodyBytes = opts.maxBodyBytes ?? 10 * 1024 * 1024;
  if (!opts.token) throw new ConfigError('startUpstashGateway: token must not be empty');
  if (!LOOPBACK.test(host) && !opts.allowRemote) {
    throw new ConfigError(`startUpstashGateway: refusing to bind ${host} (not loopback) without allowRemote`);
  }
  if (!Number.isInteger(maxBodyBytes) || maxBodyBytes <= 0) {
    throw new ConfigError('startUpstashGateway: maxBodyBytes must be a positive integer');
  }

  const backend = await RedisBackend.connect(opts.redisUrl);
  const metrics = {
    httpRequests: 0,
    commands: 0,
    reset() {
      metrics.httpRequests = 0;
      metrics.commands = 0;
    },
  };
  let faults: ActiveFaults = { delayMs: 0, mode: 'none' };
  const server = createServer(
    createRequestHandler({ backend, token: opts.token, maxBodyBytes, metrics, faults: () => faults }),
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
    token: opts.token,
    metrics,
    setFaults(f) {
      faults = { delayMs: f.delayMs ?? 0, mode: f.mode ?? 'none' };
    },
    async close() {
      // In-flight requests get a moment to finish; then their sockets go too.
      const force = setTimeout(() => server.closeAllConnections(), 1_000);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      clearTimeout(force);
      await backend.close();
    },
  };
}
