/**
 * The gateway's node-redis connections: their options (RESP2, Buffers for blob strings, fail fast while
 * Redis is down, reconnect after a restart) and the errors and reply shapes the backend and pub/sub share.
 */
import { RESP_TYPES, type RedisClientOptions } from 'redis';
import { GatewayRequestError } from './protocol.js';

/** What the gateway needs of a node-redis connection (raw `sendCommand`, no reply transforms). */
export interface RawConnection {
  readonly isOpen: boolean;
  readonly isReady: boolean;
  sendCommand(args: readonly (string | Buffer)[]): Promise<unknown>;
  connect(): Promise<unknown>;
  destroy(): void;
  on(event: 'error', listener: (err: unknown) => void): unknown;
}

/** One entry of a pipeline or transaction reply. */
export type Outcome = { ok: true; value: unknown } | { ok: false; error: string };

/** Redis is unreachable (down, restarting): the request is answered 503, not 400. */
export class RedisUnavailableError extends GatewayRequestError {
  constructor(cause: unknown) {
    super(503, `ERR Redis is unavailable: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}

/** node-redis throws when destroying a connection that already gave up (no reconnects, socket gone). */
export function discard(conn: { readonly isOpen: boolean; destroy(): void }): void {
  if (conn.isOpen) conn.destroy();
}

export function connectionOptions(
  url: string,
  reconnect: boolean,
  connected: () => boolean,
): RedisClientOptions {
  return {
    url,
    RESP: 2,
    // Fail fast while Redis is down instead of queueing requests until it returns: the caller's
    // timeout and fallback path is what tests exercise.
    disableOfflineQueue: true,
    // Blob strings as Buffers: binary values survive, and base64 encodes the bytes Redis holds.
    commandOptions: { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } },
    socket: {
      connectTimeout: 2_000,
      // After a Redis restart the shared connection comes back on its own; at start-up, give up
      // after ~1 s so a wrong URL fails startUpstashGateway() instead of hanging it.
      reconnectStrategy: reconnect
        ? (retries: number, cause: Error) => (connected() || retries < 10 ? 100 : cause)
        : false,
    },
  };
}
