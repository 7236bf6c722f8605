import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createClient } from 'redis';
import { afterEach, describe, expect, it } from 'vitest';
import { acquireRedis, type RedisServerHandle, startRedisServer } from '../local/redisServer.js';
import { ConfigError } from '../shared/errors.js';
import { withRedisClient } from './support/redis.js';

/** Alive and not a zombie (PID 1 here may not reap orphans, and a zombie still answers kill(pid, 0)). */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** PIDs of live watchdog shells guarding `redisPid` (see spawnWatchdog in local/redisServer.ts). */
function watchdogsOf(redisPid: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (argv.includes('redis-watchdog') && argv.includes(String(redisPid)) && isRunning(Number(entry))) {
        found.push(Number(entry));
      }
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

async function waitUntil(condition: () => boolean, timeoutMs = 5_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await sleep(25);
  }
  return true;
}

async function ping(url: string): Promise<string> {
  const client = createClient({ url, socket: { reconnectStrategy: false, connectTimeout: 1_000 } });
  client.on('error', () => {});
  await client.connect();
  try {
    return await client.ping();
  } finally {
    client.destroy();
  }
}

async function listenOnFreePort(): Promise<Server> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

const portOf = (server: Server): number => (server.address() as { port: number }).port;

const started: RedisServerHandle[] = [];
const track = (handle: RedisServerHandle): RedisServerHandle => {
  started.push(handle);
  return handle;
};

afterEach(async () => {
  for (const handle of started.splice(0)) await handle.stop();
});

describe('startRedisServer', () => {
  it('spawns a redis-server on a loopback port that answers commands', async () => {
    const redis = track(await startRedisServer());

    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
    expect(redis.owned).toBe(true);
    expect(isRunning(redis.pid as number)).toBe(true);
    await expect(ping(redis.url)).resolves.toBe('PONG');
  });

  it('gives concurrent servers different ports', async () => {
    const [a, b] = await Promise.all([startRedisServer(), startRedisServer()]);
    track(a);
    track(b);

    expect(a.port).not.toBe(b.port);
    await expect(ping(b.url)).resolves.toBe('PONG');
  });

  it('listens on the port it is given', async () => {
    const probe = await listenOnFreePort();
    const port = portOf(probe);
    await new Promise((resolve) => probe.close(resolve));

    const redis = track(await startRedisServer({ port }));

    expect(redis.port).toBe(port);
    await expect(ping(`redis://127.0.0.1:${port}`)).resolves.toBe('PONG');
  });

  it("fails with redis-server's own output when the given port is taken", async () => {
    const squatter = await listenOnFreePort();
    try {
      await expect(startRedisServer({ port: portOf(squatter) })).rejects.toThrow(/Address already in use/);
    } finally {
      squatter.close();
    }
  });

  it('says how to install Redis when the binary does not exist', async () => {
    const attempt = startRedisServer({ binary: '/nonexistent/redis-server' });

    await expect(attempt).rejects.toBeInstanceOf(ConfigError);
    await expect(attempt).rejects.toThrow(/apt-get install -y redis-server/);
  });

  it('keeps nothing across a restart without dataDir', async () => {
    const redis = track(await startRedisServer());
    await withRedisClient(redis.url, (c) => c.set('k', 'v'));

    await redis.restart();

    await expect(withRedisClient(redis.url, (c) => c.get('k'))).resolves.toBeNull();
  });

  it('keeps data across a restart with dataDir (append-only file)', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'redis-data-'));
    try {
      const redis = track(await startRedisServer({ dataDir }));
      await withRedisClient(redis.url, (c) => c.set('k', 'kept'));

      await redis.restart();

      await expect(withRedisClient(redis.url, (c) => c.get('k'))).resolves.toBe('kept');
      await redis.stop();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('RedisServerHandle', () => {
  describe('stop()', () => {
    it('leaves no redis-server or watchdog process behind and frees the port', async () => {
      const redis = await startRedisServer();
      const pid = redis.pid as number;
      expect(watchdogsOf(pid)).toHaveLength(1);

      await redis.stop();

      expect(isRunning(pid)).toBe(false);
      expect(watchdogsOf(pid)).toEqual([]);
      expect(redis.pid).toBeUndefined();
      await expect(ping(redis.url)).rejects.toThrow(/ECONNREFUSED/);
    });

    it('lets a new server start on the same port afterwards', async () => {
      const first = await startRedisServer();
      await first.stop();

      const second = track(await startRedisServer({ port: first.port }));

      expect(second.url).toBe(first.url);
      await expect(ping(second.url)).resolves.toBe('PONG');
    });

    it('can be called twice', async () => {
      const redis = await startRedisServer();

      await redis.stop();

      await expect(redis.stop()).resolves.toBeUndefined();
    });
  });

  describe('restart()', () => {
    it('brings a new process up on the same port and url', async () => {
      const redis = track(await startRedisServer());
      const { url, port, pid: before } = redis;

      await redis.restart();

      expect(redis.url).toBe(url);
      expect(redis.port).toBe(port);
      expect(redis.pid).not.toBe(before);
      expect(isRunning(before as number)).toBe(false);
      await expect(ping(url)).resolves.toBe('PONG');
    });
  });

  it('dies with the process that spawned it, even when that process is SIGKILLed', async () => {
    const moduleUrl = new URL('../local/redisServer.ts', import.meta.url).href;
    const script = `const { startRedisServer } = await import(${JSON.stringify(moduleUrl)});
      const h = await startRedisServer();
      console.log(JSON.stringify({ pid: h.pid }));
      setInterval(() => {}, 1000);`;
    const parent = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const [line] = (await once(createInterface({ input: parent.stdout }), 'line')) as [string];
    const { pid } = JSON.parse(line) as { pid: number };
    expect(isRunning(pid)).toBe(true);

    parent.kill('SIGKILL');

    expect(await waitUntil(() => !isRunning(pid))).toBe(true);
  });
});

describe('acquireRedis', () => {
  it('adopts REDIS_URL without owning it: stop() leaves that server running', async () => {
    const real = track(await startRedisServer());

    const adopted = await acquireRedis({ REDIS_URL: ` ${real.url} ` });
    await adopted.stop();

    expect(adopted).toMatchObject({ url: real.url, port: real.port, owned: false, pid: undefined });
    await expect(ping(real.url)).resolves.toBe('PONG');
    await expect(adopted.restart()).rejects.toBeInstanceOf(ConfigError);
  });

  it('rejects a REDIS_URL that is not redis://', async () => {
    await expect(acquireRedis({ REDIS_URL: 'http://127.0.0.1:6379' })).rejects.toThrow(/redis:\/\//);
  });

  it('spawns its own server when REDIS_URL is unset or blank', async () => {
    const redis = track(await acquireRedis({ PATH: process.env.PATH, REDIS_URL: '  ' }));

    expect(redis.owned).toBe(true);
    await expect(ping(redis.url)).resolves.toBe('PONG');
  });

  it('explains apt, brew and docker options when neither REDIS_URL nor redis-server exists', async () => {
    const attempt = acquireRedis({ PATH: '/nonexistent' });

    await expect(attempt).rejects.toThrow(/apt-get install -y redis-server/);
    await expect(attempt).rejects.toThrow(/brew install redis/);
    await expect(attempt).rejects.toThrow(
      /docker run -p 6379:6379 redis:7.*REDIS_URL=redis:\/\/127\.0\.0\.1:6379/,
    );
  });
});
