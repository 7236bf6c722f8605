/**
 * The gateway's side of Redis: one shared node-redis connection for single commands and pipelines
 * (node-redis pipelines concurrent commands on it by itself), plus a few dedicated connections for
 * MULTI/EXEC, whose queued state must never leak into other requests.
 */
import { createClient, ErrorReply, RESP_TYPES, type RedisClientOptions } from 'redis';
import { type Command, GatewayRequestError, rejectionOf } from './protocol.js';

/** What the gateway needs of a node-redis connection (raw `sendCommand`, no reply transforms). */
interface RawConnection {
  readonly isOpen: boolean;
  readonly isReady: boolean;
  sendCommand(args: readonly string[]): Promise<unknown>;
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

const MAX_IDLE_TX_CONNECTIONS = 8;

/** node-redis throws when destroying a connection that already gave up (no reconnects, socket gone). */
function discard(conn: RawConnection): void {
  if (conn.isOpen) conn.destroy();
}

function connectionOptions(url: string, reconnect: boolean, connected: () => boolean): RedisClientOptions {
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

export class RedisBackend {
  readonly #url: string;
  readonly #shared: RawConnection;
  readonly #idle: RawConnection[] = [];
  #closed = false;

  private constructor(url: string, shared: RawConnection) {
    this.#url = url;
    this.#shared = shared;
  }

  static async connect(url: string): Promise<RedisBackend> {
    let connected = false;
    const shared = createClient(connectionOptions(url, true, () => connected)) as unknown as RawConnection;
    // Without a listener node-redis' socket errors would crash the process; requests see them anyway.
    shared.on('error', () => {});
    try {
      await shared.connect();
    } catch (err) {
      discard(shared);
      throw new RedisUnavailableError(err);
    }
    connected = true;
    return new RedisBackend(url, shared);
  }

  /** Runs one command; Redis errors reject with ErrorReply, connection failures with RedisUnavailableError. */
  async single(cmd: Command): Promise<unknown> {
    try {
      return await this.#shared.sendCommand(cmd);
    } catch (err) {
      throw err instanceof ErrorReply ? err : new RedisUnavailableError(err);
    }
  }

  /** Sends every command at once on the shared connection; not atomic, as on Upstash. */
  async pipeline(cmds: Command[]): Promise<{ outcomes: Outcome[]; sent: number }> {
    const outcomes = new Array<Outcome>(cmds.length);
    const pending: Promise<void>[] = [];
    let lost: unknown;
    for (let i = 0; i < cmds.length; i++) {
      const cmd = cmds[i] as Command;
      const rejection = rejectionOf(cmd);
      if (rejection) {
        outcomes[i] = { ok: false, error: rejection };
        continue;
      }
      pending.push(
        this.#shared.sendCommand(cmd).then(
          (value) => {
            outcomes[i] = { ok: true, value };
          },
          (err: unknown) => {
            if (err instanceof ErrorReply) outcomes[i] = { ok: false, error: err.message };
            else lost ??= err;
          },
        ),
      );
    }
    await Promise.all(pending);
    if (lost !== undefined) throw new RedisUnavailableError(lost);
    return { outcomes, sent: pending.length };
  }

  /**
   * MULTI, the commands, EXEC on a connection nobody else uses. A command Redis refuses while queueing
   * (unknown command, wrong arity) makes EXEC abort the whole transaction: answered as one 400 error,
   * like Upstash. Runtime errors (WRONGTYPE) are per-entry outcomes and the other commands still run.
   */
  async multiExec(cmds: Command[]): Promise<Outcome[]> {
    for (const cmd of cmds) {
      const rejection = rejectionOf(cmd);
      if (rejection) throw new GatewayRequestError(400, rejection);
    }
    const conn = await this.#acquire();
    let healthy = true;
    try {
      const replies = await Promise.allSettled([
        conn.sendCommand(['MULTI']),
        ...cmds.map((cmd) => conn.sendCommand(cmd)),
        conn.sendCommand(['EXEC']),
      ]);
      const broken = replies.find((r) => r.status === 'rejected' && !(r.reason instanceof ErrorReply));
      if (broken) {
        healthy = false;
        throw new RedisUnavailableError((broken as PromiseRejectedResult).reason);
      }
      const exec = replies[replies.length - 1] as PromiseSettledResult<unknown>;
      if (exec.status === 'rejected') {
        const first = replies.find((r) => r.status === 'rejected') as PromiseRejectedResult;
        throw new GatewayRequestError(400, (first.reason as Error).message);
      }
      const values = exec.value;
      if (!Array.isArray(values)) throw new GatewayRequestError(400, 'EXECABORT Transaction discarded');
      return values.map((value: unknown) =>
        value instanceof ErrorReply ? { ok: false, error: value.message } : { ok: true, value },
      );
    } finally {
      this.#release(conn, healthy);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const conn of this.#idle.splice(0)) discard(conn);
    // destroy(), not close(): the HTTP server has already drained, and close() would wait forever
    // for a reply from a Redis a test has just killed.
    discard(this.#shared);
  }

  async #acquire(): Promise<RawConnection> {
    for (let conn = this.#idle.pop(); conn; conn = this.#idle.pop()) {
      if (conn.isReady) return conn;
      discard(conn);
    }
    // No reconnects on dedicated connections: a broken one is dropped, and the next request opens a
    // fresh one (or fails fast with 503 while Redis is down).
    const conn = createClient(connectionOptions(this.#url, false, () => true)) as unknown as RawConnection;
    conn.on('error', () => {});
    try {
      await conn.connect();
    } catch (err) {
      discard(conn);
      throw new RedisUnavailableError(err);
    }
    return conn;
  }

  #release(conn: RawConnection, healthy: boolean): void {
    if (healthy && !this.#closed && conn.isReady && this.#idle.length < MAX_IDLE_TX_CONNECTIONS) {
      this.#idle.push(conn);
    } else {
      discard(conn);
    }
  }
}
