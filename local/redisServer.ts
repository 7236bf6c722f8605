/**
 * Spawns a real redis-server for local runs and tests (never an in-memory imitation), or adopts the
 * one named by REDIS_URL. Spawned servers die with this process, even when it is SIGKILLed.
 */
import { once } from 'node:events';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError } from '../shared/errors.js';
import {
  type Appendfsync,
  forget,
  freePort,
  INSTALL_HINT,
  PortInUseError,
  type RunningRedis,
  spawnRedis,
} from './redisProcess.js';

export interface RedisServerHandle {
  /** `redis://127.0.0.1:PORT` (or REDIS_URL as given). */
  readonly url: string;
  readonly port: number;
  /** True when this process spawned the server; a server it does not own is never flushed or stopped. */
  readonly owned: boolean;
  /** PID of the spawned redis-server; undefined when not owned or stopped. */
  readonly pid: number | undefined;
  /** Shuts the server down (SIGTERM, then SIGKILL after 5 s) and waits for it to exit. No-op if not owned. */
  stop(): Promise<void>;
  /** stop(), then start again on the same port (and data directory). Throws if not owned. */
  restart(): Promise<void>;
}

export interface StartRedisServerOptions {
  /**
   * Port to listen on (127.0.0.1 only).
   * @default a free port, picked again if another process takes it first
   */
  port?: number;
  /**
   * Directory for append-only persistence, so data survives restarts (created if missing).
   * @default undefined (no persistence at all)
   */
  dataDir?: string;
  /**
   * AOF fsync policy when `dataDir` is set. `always` acknowledges a write only once it is on disk (what
   * Upstash promises), so a SIGKILLed server loses nothing it acknowledged; chaos runs need that.
   * @default 'everysec' (redis' own default)
   */
  appendfsync?: Appendfsync;
  /**
   * The redis-server executable.
   * @default 'redis-server' found on process.env.PATH
   */
  binary?: string;
  /**
   * How long to wait for the server to answer before giving up.
   * @default 5000
   */
  startTimeoutMs?: number;
}

/** Finds `redis-server` in the given PATH value, or throws a ConfigError saying how to get one. */
export function resolveRedisBinary(pathValue: string | undefined): string {
  for (const dir of (pathValue ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, 'redis-server');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here: keep looking.
    }
  }
  throw new ConfigError(INSTALL_HINT);
}

/** REDIS_URL (owned=false, never flushed or stopped) when set in `env`, else a freshly spawned server. */
export async function acquireRedis(env: NodeJS.ProcessEnv = process.env): Promise<RedisServerHandle> {
  const external = env.REDIS_URL?.trim();
  if (!external) return startRedisServer({ binary: resolveRedisBinary(env.PATH) });
  let parsed: URL;
  try {
    parsed = new URL(external);
  } catch (cause) {
    throw new ConfigError(`REDIS_URL is not a URL: ${external}`, { cause });
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new ConfigError(`REDIS_URL must start with redis:// or rediss://, got ${parsed.protocol}//`);
  }
  return {
    url: external,
    port: Number(parsed.port || 6379),
    owned: false,
    pid: undefined,
    async stop() {},
    async restart() {
      throw new ConfigError('restart(): this Redis comes from REDIS_URL and is not ours to restart');
    },
  };
}

/** Spawns redis-server from PATH on a free loopback port (or the given one), no persistence unless dataDir. */
export async function startRedisServer(opts: StartRedisServerOptions = {}): Promise<RedisServerHandle> {
  const binary = opts.binary ?? resolveRedisBinary(process.env.PATH);
  const timeoutMs = opts.startTimeoutMs ?? 5_000;
  if (opts.dataDir) mkdirSync(opts.dataDir, { recursive: true });
  // A free port can be taken between probing and redis binding it: then try another one.
  for (let attempt = 1; ; attempt++) {
    const port = opts.port ?? (await freePort());
    try {
      const proc = await spawnRedis(binary, port, opts.dataDir, timeoutMs, opts.appendfsync);
      return new OwnedRedisServer(binary, port, opts.dataDir, timeoutMs, proc, opts.appendfsync);
    } catch (err) {
      if (opts.port !== undefined || attempt >= 5 || !(err instanceof PortInUseError)) throw err;
    }
  }
}

class OwnedRedisServer implements RedisServerHandle {
  readonly owned = true;
  readonly url: string;
  #proc: RunningRedis | undefined;

  constructor(
    private readonly binary: string,
    readonly port: number,
    private readonly dataDir: string | undefined,
    private readonly timeoutMs: number,
    proc: RunningRedis,
    private readonly appendfsync?: Appendfsync,
  ) {
    this.url = `redis://127.0.0.1:${port}`;
    this.#proc = proc;
  }

  get pid(): number | undefined {
    return this.#proc?.child.pid;
  }

  async stop(): Promise<void> {
    const proc = this.#proc;
    if (!proc) return;
    this.#proc = undefined;
    // Referenced again while we wait, or a script with nothing else pending would exit mid-await.
    proc.child.ref();
    // SIGTERM is redis' graceful shutdown (it fsyncs the AOF when persistence is on).
    proc.child.kill('SIGTERM');
    const grace = new AbortController();
    const timeout = sleep(5_000, 'timeout' as const, { signal: grace.signal }).catch(() => 'exited' as const);
    if ((await Promise.race([proc.exited.then(() => 'exited' as const), timeout])) === 'timeout') {
      proc.child.kill('SIGKILL');
      await proc.exited;
    }
    grace.abort();
    // SIGKILL so the watchdog never runs its `kill` against a PID the OS may already have reused.
    proc.watchdog.ref();
    const watchdogGone = once(proc.watchdog, 'exit');
    if (proc.watchdog.exitCode === null && proc.watchdog.signalCode === null) {
      proc.watchdog.kill('SIGKILL');
      await watchdogGone;
    }
    forget(proc);
  }

  async restart(): Promise<void> {
    await this.stop();
    this.#proc = await spawnRedis(this.binary, this.port, this.dataDir, this.timeoutMs, this.appendfsync);
  }
}
