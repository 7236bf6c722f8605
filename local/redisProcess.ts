/**
 * The redis-server child process: spawning it, waiting until it answers, and making sure it dies with
 * this process (an exit hook, and a watchdog for the SIGKILL case where no hook runs).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError } from '../shared/errors.js';

/** redis' `appendfsync` setting, used when persistence is on. */
export type Appendfsync = 'always' | 'everysec' | 'no';

export const INSTALL_HINT =
  'redis-server was not found on PATH. Install one (`apt-get install -y redis-server` or `brew install redis`), ' +
  'or run one in Docker (`docker run -p 6379:6379 redis:7`) and set REDIS_URL=redis://127.0.0.1:6379';

/** redis-server could not bind its port (taken since it was probed): the caller tries another. */
export class PortInUseError extends Error {}

export interface RunningRedis {
  child: ChildProcess;
  /** See spawnWatchdog(). */
  watchdog: ChildProcess;
  exited: Promise<void>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** A stopped server's process: no longer killed by the exit hook. */
export function forget(proc: RunningRedis): void {
  live.delete(proc.child);
}

export async function spawnRedis(
  binary: string,
  port: number,
  dataDir: string | undefined,
  timeoutMs: number,
  appendfsync?: Appendfsync,
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
export function freePort(): Promise<number> {
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
