/**
 * The gateway's side of Redis: one shared node-redis connection for single commands and pipelines
 * (node-redis pipelines concurrent commands on it by itself), plus a few dedicated connections for
 * MULTI/EXEC, whose queued state must never leak into other requests.
 */
import { createClient, ErrorReply } from 'redis';
import {
  connectionOptions,
  discard,
  type Outcome,
  type RawConnection,
  RedisUnavailableError,
} from './connections.js';
import { type CommandTable, parseCommandTable, type SizeLimits } from './limits.js';
import { consumerPending, parseReadGroup, pelRefusal, type ReadGroupRequest } from './pelLimit.js';
import { type Command, GatewayRequestError, rejectionOf } from './protocol.js';
import { scanWithType, withoutWithType } from './scanWithType.js';
import { ScriptDigests } from './scripts.js';
import { SizeGuard } from './sizeGuard.js';

export type { Outcome } from './connections.js';

const MAX_IDLE_TX_CONNECTIONS = 8;

export class RedisBackend {
  readonly #url: string;
  readonly #shared: RawConnection;
  readonly #idle: RawConnection[] = [];
  readonly #sizes: SizeGuard;
  readonly #scripts: ScriptDigests;
  #closed = false;

  private constructor(url: string, shared: RawConnection, limits: SizeLimits, table: CommandTable) {
    this.#url = url;
    this.#shared = shared;
    this.#sizes = new SizeGuard(limits, table, (cmd) => this.#shared.sendCommand(cmd));
    this.#scripts = new ScriptDigests(table);
  }

  /** The URL of the Redis behind the gateway (pub/sub opens connections of its own to it). */
  get url(): string {
    return this.#url;
  }

  static async connect(url: string, limits: SizeLimits): Promise<RedisBackend> {
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
    let table: CommandTable;
    try {
      // Which commands grow data and where their keys are, from Redis itself (see limits.ts).
      table = parseCommandTable(await shared.sendCommand(['COMMAND']));
    } catch (err) {
      discard(shared);
      throw new RedisUnavailableError(err);
    }
    return new RedisBackend(url, shared, limits, table);
  }

  /**
   * Why `cmd`, sent alone, must not run: a blocking or connection-state command, Upstash's PEL cap, or a
   * size limit. Undefined when it may run.
   */
  async refusal(cmd: Command): Promise<string | undefined> {
    const rejection = rejectionOf(cmd) ?? (await this.readGroupRefusal(cmd));
    if (rejection) return rejection;
    return (await this.#sizeRefusals([cmd])).get(0);
  }

  /** Runs one command; Redis errors reject with ErrorReply, connection failures with RedisUnavailableError. */
  async single(cmd: Command): Promise<unknown> {
    try {
      return await this.#run(this.#shared, cmd);
    } catch (err) {
      throw err instanceof ErrorReply ? err : new RedisUnavailableError(err);
    }
  }

  /** Sends one command as Redis needs it: script flags translated, SCAN … WITHTYPE expanded. */
  #run(conn: RawConnection, cmd: Command): Promise<unknown> {
    const scan = withoutWithType(cmd);
    if (scan) return scanWithType((c) => conn.sendCommand(c), scan);
    const translated = this.#scripts.translate(cmd);
    const sent = conn.sendCommand(translated.cmd);
    return translated.reply ? sent.then(translated.reply) : sent;
  }

  async #sizeRefusals(cmds: readonly Command[]): Promise<Map<number, string>> {
    try {
      return await this.#sizes.refusals(cmds);
    } catch (err) {
      throw err instanceof GatewayRequestError ? err : new RedisUnavailableError(err);
    }
  }

  /**
   * Upstash's refusal of an XREADGROUP that could take its consumer past the pending-entries cap, or
   * undefined (any other command, or room left). One XPENDING summary per stream read, on the shared
   * connection, so it sees every command sent before it. Not atomic with the read that follows: another
   * request may deliver entries to the same consumer in between, which Upstash's in-server check rules
   * out; a local gateway accepts that race rather than wrap every read in a script.
   */
  async readGroupRefusal(cmd: Command): Promise<string | undefined> {
    const req = parseReadGroup(cmd);
    return req && this.#pelRefusal(req);
  }

  /**
   * Sends every command at once on the shared connection; not atomic, as on Upstash. An XREADGROUP
   * breaks the stream: its PEL check must see the commands before it (an XACK just ahead of it in the
   * same pipeline frees room) and the commands after it must not run before it, so sending pauses until
   * the check has answered.
   */
  async pipeline(cmds: Command[]): Promise<{ outcomes: Outcome[]; sent: number }> {
    const outcomes = new Array<Outcome>(cmds.length);
    const pending: Promise<void>[] = [];
    const oversized = await this.#sizeRefusals(cmds);
    let lost: unknown;
    for (let i = 0; i < cmds.length && lost === undefined; i++) {
      const cmd = cmds[i] as Command;
      let rejection = rejectionOf(cmd) ?? oversized.get(i);
      const readGroup = rejection ? undefined : parseReadGroup(cmd);
      if (readGroup) {
        try {
          rejection = await this.#pelRefusal(readGroup);
        } catch (err) {
          lost = err;
          break;
        }
      }
      if (rejection) {
        outcomes[i] = { ok: false, error: rejection };
        continue;
      }
      pending.push(
        this.#run(this.#shared, cmd).then(
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
    if (lost instanceof RedisUnavailableError) throw lost;
    if (lost !== undefined) throw new RedisUnavailableError(lost);
    return { outcomes, sent: pending.length };
  }

  /**
   * MULTI, the commands, EXEC on a connection nobody else uses. A command Redis refuses while queueing
   * (unknown command, wrong arity) makes EXEC abort the whole transaction: answered as one 400 error,
   * like Upstash. Runtime errors (WRONGTYPE) are per-entry outcomes and the other commands still run.
   * The pending-entries cap is not checked here: a check before MULTI could not see the commands queued
   * ahead of an XREADGROUP, and nothing in this project reads a stream inside a transaction.
   */
  async multiExec(cmds: Command[]): Promise<Outcome[]> {
    for (const cmd of cmds) {
      const rejection =
        rejectionOf(cmd) ??
        (withoutWithType(cmd) ? 'ERR SCAN WITHTYPE is not supported inside a transaction here' : undefined);
      if (rejection) throw new GatewayRequestError(400, rejection);
    }
    // A transaction is all or nothing: one command over a size limit refuses the whole of it.
    const [oversized] = (await this.#sizeRefusals(cmds)).values();
    if (oversized) throw new GatewayRequestError(400, oversized);
    const translated = cmds.map((cmd) => this.#scripts.translate(cmd));
    const conn = await this.#acquire();
    let healthy = true;
    try {
      const replies = await Promise.allSettled([
        conn.sendCommand(['MULTI']),
        ...translated.map((t) => conn.sendCommand(t.cmd)),
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
      return values.map((value: unknown, i: number) => {
        if (value instanceof ErrorReply) return { ok: false, error: value.message };
        const reply = translated[i]?.reply;
        return { ok: true, value: reply ? reply(value) : value };
      });
    } finally {
      this.#release(conn, healthy);
    }
  }

  /** The first stream whose PEL has no room for this read, as Upstash words it; Redis errors skip the check. */
  async #pelRefusal(req: ReadGroupRequest): Promise<string | undefined> {
    const sizes = await Promise.all(
      req.keys.map((key) =>
        this.#shared.sendCommand(['XPENDING', key, req.group]).then(
          (reply) => consumerPending(reply, req.consumer),
          (err: unknown) => {
            // NOGROUP, WRONGTYPE…: the XREADGROUP itself then fails with Redis' own, exact error.
            if (err instanceof ErrorReply) return 0;
            throw new RedisUnavailableError(err);
          },
        ),
      ),
    );
    for (let k = 0; k < req.keys.length; k++) {
      const refusal = pelRefusal(req, req.keys[k] as string, sizes[k] as number);
      if (refusal) return refusal;
    }
    return undefined;
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
