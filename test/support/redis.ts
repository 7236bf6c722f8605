/**
 * Per-file Redis access for tests: the real `@upstash/redis` client, through a fresh local gateway, on
 * the run's real Redis, confined to a random key prefix that cleanup() deletes.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from '@upstash/redis';
import { createClient } from 'redis';
import { inject } from 'vitest';
import { startUpstashGateway, type UpstashGateway } from '../../local/upstashGateway.js';
import { createRedisClient, type RedisClientOptions } from '../../shared/redis/client.js';

export interface TestRedis {
  /** `@upstash/redis` from createRedisClient (automaticDeserialization off), pointed at `gateway`. */
  redis: Redis;
  /** This file's gateway: metrics and fault injection are private to the caller. */
  gateway: UpstashGateway;
  /** Random, e.g. `t:ab12cd:`; every key a test writes must start with it. */
  keyPrefix: string;
  redisUrl: string;
  /** `keyPrefix + parts.join(':')`. */
  key(...parts: string[]): string;
  /** Another `createRedisClient` client of `gateway`, with these options (a short timeout, a kill signal…). */
  client(options: Omit<RedisClientOptions, 'url' | 'token'>): Redis;
  /** Deletes every key under keyPrefix (SCAN + UNLINK) and closes the gateway. */
  cleanup(): Promise<void>;
}

export interface UseTestRedisOptions {
  /**
   * Redis behind the gateway (a test that kills Redis passes its own startRedisServer() url).
   * @default inject('redisUrl') from globalSetup
   */
  redisUrl?: string;
  /**
   * Per-request timeout of `redis`. Generous so a loaded CI machine does not fail tests at random.
   * @default 2000
   */
  timeoutMs?: number;
}

export async function useTestRedis(opts: UseTestRedisOptions = {}): Promise<TestRedis> {
  const redisUrl = opts.redisUrl ?? inject('redisUrl');
  const keyPrefix = `t:${randomBytes(4).toString('hex')}:`;
  const token = randomBytes(16).toString('hex');
  const gateway = await startUpstashGateway({ redisUrl, token });
  const redis = createRedisClient({ url: gateway.url, token, timeoutMs: opts.timeoutMs ?? 2_000 });
  return {
    redis,
    gateway,
    keyPrefix,
    redisUrl,
    key: (...parts) => keyPrefix + parts.join(':'),
    client: (options) => createRedisClient({ url: gateway.url, token, ...options }),
    async cleanup() {
      await gateway.close();
      await deleteByPrefix(redisUrl, keyPrefix);
    },
  };
}

/** A node-redis client straight on a Redis server. */
export type DirectRedisClient = ReturnType<typeof createClient>;

/**
 * Runs `fn` with a direct node-redis client on `url` (not through a gateway, whose faults a test may have
 * left on), and closes it after. It does not reconnect: a server that went away fails the call.
 */
export async function withRedisClient<T>(
  url: string,
  fn: (client: DirectRedisClient) => Promise<T>,
): Promise<T> {
  const client = createClient({ url, socket: { reconnectStrategy: false } });
  client.on('error', () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    client.destroy();
  }
}

/**
 * Talks to Redis directly (not through the gateway, whose faults a test may have left on). A Redis
 * that is unreachable (a test stopped its own server) has nothing left to clean.
 */
async function deleteByPrefix(redisUrl: string, keyPrefix: string): Promise<void> {
  const client = createClient({ url: redisUrl, socket: { reconnectStrategy: false, connectTimeout: 2_000 } });
  client.on('error', () => {});
  try {
    await client.connect();
  } catch {
    return;
  }
  try {
    // The prefix is hex and ':' only, so it needs no glob escaping.
    for await (const keys of client.scanIterator({ MATCH: `${keyPrefix}*`, COUNT: 1_000 })) {
      if (keys.length > 0) await client.unlink(keys);
    }
  } finally {
    client.destroy();
  }
}
