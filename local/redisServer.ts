/**
 * Spawns a real redis-server for local runs and tests (never an in-memory imitation), or adopts the
 * one named by REDIS_URL. Spawned servers die with this process, even when it is SIGKILLed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError } from '../shared/errors.js';

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
  appendfsync?: 'always' | 'everysec' | 'no';
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

const INSTALL_HINT =
  'redis-server was not found on PATH. Install one (`apt-get install -y redis-server` or `brew install redis`), ' +
  'or run one in Docker (`docker run -p 6379:6379 redis:7`) and set REDIS_URL=redis://127.0.0.1:6379';

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

class PortInUseError extends Error {}

interface RunningRedis {
  child: ChildProcess;
  /** See spawnWatchdog(). */
  watchdog: ChildProcess;
  exited: Promise<void>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

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
    private readonly appendfsync?: StartRedisServerOptions['appendfsync'],
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
    live.delete(proc.child);
  }

  async restart(): Promise<void> {
    await this.stop();
    this.#proc = await spawnRedis(this.binary, this.port, this.dataDir, this.timeoutMs, this.appendfsync);
  }
}

async function spawnRedis(
  binary: string,
  port: number,
  dataDir: string | undefined,
  timeoutMs: number,
  appendfsync?: StartRedisServerOptions['appendfsync'],
): Promise<RunningRedis> {
  const fsync = appendfsync ? ['--appendfsync', appendfsync] : [];
  const persistence = dataDir ? ['--appendonly', 'yes', '--dir', dataDir, ...fsync] : ['--appendonly', 'no'];
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence];
  // Detached (own process group): a terminal's Ctrl-C must reach only the owner, which then stops
  // redis in order; otherwise redis dies first and the owner's shutdown hits a closed socket.
  const child = spawn(binary, [...args, '--loglevel', 'warning'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  const collect = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-4_000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  let failure: Error | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('error', (err: NodeJS.ErrnoException) => {
      failure = err.code === 'ENOENT' ? new ConfigError(INSTALL_HINT, { cause: err }) : err;
      resolve();
    });
    child.once('exit', () => resolve());
  });
  let gone = false;
  void exited.then(() => {
    gone = true;
  });

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (gone) {
      if (failure) throw failure;
      const message = `redis-server exited before answering on port ${port}:\n${output.trim()}`;
      throw /Address already in use/i.test(output) ? new PortInUseError(message) : new Error(message);
    }
    // Checking the PID tells our server from a stranger that grabbed the port first; `loading:0`
    // waits for the AOF to be replayed when persistence is on.
    const info = await queryInfo(port).catch(() => '');
    if (info.includes(`process_id:${child.pid}\r\n`) && info.includes('loading:0')) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(
        `redis-server did not answer on port ${port} within ${timeoutMs} ms:\n${output.trim()}`,
      );
    }
    await sleep(25);
  }

  const running = { child, watchdog: spawnWatchdog(child.pid as number), exited };
  // Unreferenced: a forgotten handle must not keep the process alive; the exit hook and the watchdog
  // take the server down with it.
  child.unref();
  (child.stdout as unknown as { unref?: () => void } | null)?.unref?.();
  (child.stderr as unknown as { unref?: () => void } | null)?.unref?.();
  live.add(child);
  installExitHook();
  return running;
}

/**
 * A shell that blocks reading a pipe only this process holds. When this process dies, however it dies
 * (even SIGKILL, where no exit hook runs), the pipe closes, `read` returns and the shell kills redis.
 */
function spawnWatchdog(pid: number): ChildProcess {
  const script = 'read -r _; kill -TERM "$1" 2>/dev/null';
  const watchdog = spawn('/bin/sh', ['-c', script, 'redis-watchdog', String(pid)], {
    stdio: ['pipe', 'ignore', 'ignore'],
    // Out of the terminal's process group too, or Ctrl-C would kill the watchdog before it is needed.
    detached: true,
  });
  watchdog.unref();
  (watchdog.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  return watchdog;
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of live) child.kill('SIGTERM');
  });
}

/** Binds port 0 on loopback, reads the port the OS picked, and releases it. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject()));
    });
  });
}

/** `INFO server persistence` over a raw socket: no client library needed to probe readiness. */
function queryInfo(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let data = '';
    // Short: a stranger squatting the port may never answer, and we poll again anyway.
    socket.setTimeout(250, () => socket.destroy(new Error('timeout')));
    socket.once('error', reject);
    socket.once('connect', () => socket.write('INFO server persistence\r\n'));
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString('latin1');
      const header = /^\$(\d+)\r\n/.exec(data);
      if (data.startsWith('-')) {
        socket.destroy();
        resolve(data);
      } else if (header && data.length >= header[0].length + Number(header[1]) + 2) {
        socket.destroy();
        resolve(data);
      }
    });
    socket.once('close', () => resolve(data));
  });
}
