/**
 * vitest globalSetup: one real Redis for the whole run (REDIS_URL when set, else a spawned
 * redis-server), handed to test files through `inject('redisUrl')`.
 */
import type { TestProject } from 'vitest/node';
import { acquireRedis } from '../../local/redisServer.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** `redis://…` of the Redis shared by every test file; isolate with a random key prefix. */
    redisUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const redis = await acquireRedis();
  project.provide('redisUrl', redis.url);
  // A REDIS_URL server is not ours: stop() is a no-op for it.
  return () => redis.stop();
}
