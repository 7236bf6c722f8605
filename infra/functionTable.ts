/**
 * The ONE list of Lambda functions: what each runs, what triggers it, how big it is and which secrets
 * it reads. The stack loops over it; the tests assert against it, so a new handler is one new row.
 */

import { SCHEDULED_REDIS_TIMEOUT_MS, SETTINGS } from '../functions/commons/settings.js';
import { POLLER_SCHEDULE, rateExpression } from '../shared/stream/pollerSchedule.js';

/** Secrets a function may read; each maps to one `grantRead` and one `*_SECRET_ARN` variable. */
export type SecretUse = 'upstash' | 'database';

/** Who may call a route: the JWT must carry the read or the write scope (stack props name them). */
export type Access = 'read' | 'write';

export type HttpVerb = 'GET' | 'PUT' | 'POST' | 'DELETE';

export type Trigger =
  | { kind: 'route'; method: HttpVerb; path: string; access: Access }
  | {
      kind: 'schedule';
      /** EventBridge Scheduler expression (UTC unless the stack passes a time zone). */
      expression: string;
      /**
       * Drop an invocation not started within this age (Scheduler delivery and Lambda's async queue,
       * minimum 60): a late run is superseded by the next scheduled one.
       */
      maxEventAgeSeconds: number;
      /**
       * Lambda retries of a failed run (0-2; Lambda waits about 1 then 2 minutes between them) and
       * Scheduler retries of a failed delivery. Only for jobs that are safe to rerun (lease-guarded,
       * idempotent); every attempt must fit in `maxEventAgeSeconds` (the stack checks).
       */
      retryAttempts: number;
    };

export interface FunctionSpec {
  /** Construct id and function-name suffix; also the handler file's base name. */
  readonly name: string;
  /** Handler file, relative to the project root. */
  readonly entry: string;
  readonly description: string;
  readonly trigger: Trigger;
  /** MB. CPU scales with memory on Lambda, so latency-sensitive routes get more than they need in RAM. */
  readonly memorySize: number;
  readonly timeoutSeconds: number;
  readonly secrets: readonly SecretUse[];
  /**
   * Variables for this function only. They override the stack-wide settings (`props.settings`) but
   * not what the stack derives per function (secret ARNs, POLLER_BUDGET_MS, NODE_EXTRA_CA_CERTS).
   * @default none
   */
  readonly environment?: Readonly<Record<string, string>>;
}

/**
 * Scheduled jobs have nobody waiting on them, and they send big commands: a 500-profile fenced write
 * is one Lua call of 100+ KB (over 1 MB at the field size limits). The API's 250 ms Redis timeout
 * would abort it mid-flight and the retry would resend all of it, so they wait up to 2 s. API
 * functions keep the 250 ms default: there a slow Redis must fall back to PostgreSQL quickly.
 */
const SCHEDULED_ENVIRONMENT = {
  [SETTINGS.redisTimeoutMs.env]: String(SCHEDULED_REDIS_TIMEOUT_MS),
};

/**
 * API timeouts stay well under API Gateway's 30 s integration limit; the handlers give up on Redis in
 * 250 ms and on PostgreSQL in a few seconds, so 10 s only bounds a stuck connection.
 */
export const FUNCTIONS = [
  {
    name: 'getUser',
    entry: 'functions/getUser.ts',
    description: 'GET /users/{id}: one profile, cache first, PostgreSQL on miss',
    trigger: { kind: 'route', method: 'GET', path: '/users/{id}', access: 'read' },
    memorySize: 512,
    timeoutSeconds: 10,
    secrets: ['upstash', 'database'],
  },
  {
    name: 'batchGetUsers',
    entry: 'functions/batchGetUsers.ts',
    description: 'GET /users/batch?ids=: up to 100 profiles in one Redis round trip',
    trigger: { kind: 'route', method: 'GET', path: '/users/batch', access: 'read' },
    memorySize: 512,
    timeoutSeconds: 10,
    secrets: ['upstash', 'database'],
  },
  {
    name: 'putUser',
    entry: 'functions/putUser.ts',
    description: 'PUT /users/{id}: update a profile (If-Match), write-through to the cache',
    trigger: { kind: 'route', method: 'PUT', path: '/users/{id}', access: 'write' },
    memorySize: 512,
    timeoutSeconds: 10,
    secrets: ['upstash', 'database'],
  },
  {
    name: 'createUser',
    entry: 'functions/createUser.ts',
    description: 'POST /users: create a profile',
    trigger: { kind: 'route', method: 'POST', path: '/users', access: 'write' },
    memorySize: 512,
    timeoutSeconds: 10,
    secrets: ['upstash', 'database'],
  },
  {
    name: 'deleteUser',
    entry: 'functions/deleteUser.ts',
    description: 'DELETE /users/{id}: soft-delete a profile and tombstone the cache entry',
    trigger: { kind: 'route', method: 'DELETE', path: '/users/{id}', access: 'write' },
    memorySize: 512,
    timeoutSeconds: 10,
    secrets: ['upstash', 'database'],
  },
  {
    name: 'getCacheStats',
    entry: 'functions/getCacheStats.ts',
    description: 'GET /cache/stats: hit rate and database fallback share from Redis counters',
    trigger: { kind: 'route', method: 'GET', path: '/cache/stats', access: 'read' },
    memorySize: 256,
    timeoutSeconds: 10,
    // Counters live in Redis only; PostgreSQL is built lazily and never used here (no VPC either).
    secrets: ['upstash'],
  },
  {
    name: 'streamPoller',
    entry: 'functions/streamPoller.ts',
    description:
      'Every minute, runs overlapping and handing over: publish the outbox to the Redis stream and apply events to the cache',
    // No retries: the next minute's run is the retry, and a retried run would only wait on the lease.
    trigger: {
      kind: 'schedule',
      expression: rateExpression(POLLER_SCHEDULE.periodMs),
      maxEventAgeSeconds: 60,
      retryAttempts: 0,
    },
    memorySize: 512,
    // Past the period, so runs overlap and hand over (shared/stream/pollerSchedule.ts, docs/poller.md).
    timeoutSeconds: POLLER_SCHEDULE.timeoutMs / 1000,
    secrets: ['upstash', 'database'],
    environment: SCHEDULED_ENVIRONMENT,
  },
  {
    name: 'prewarm',
    entry: 'functions/prewarm.ts',
    description: 'Daily from 04:00 UTC, every 15 min until done: warm active profiles, most recent first',
    // 04:00 UTC is 05:00 in Douala (WAT, UTC+1, no daylight saving): before the morning peak. One run
    // cannot warm 350,000 users at the seed's pacing (700 batches, 17.5 min of pauses alone): each run
    // resumes the day's checkpoint, and runs after the cycle completed do nothing (docs/scale.md).
    // A run is dropped after 10 minutes: the next one is due 5 minutes later.
    // No Lambda retries: the next run 15 minutes later resumes at the checkpoint, so it IS the retry, and
    // a retry of a 900 s run (900 + 60 + 900 s) could not start within the 600 s event age anyway.
    trigger: {
      kind: 'schedule',
      expression: 'cron(0/15 4-6 * * ? *)',
      maxEventAgeSeconds: 600,
      retryAttempts: 0,
    },
    memorySize: 1024,
    // Paced batches (PREWARM_PAUSE_MS between them) over a large user base need the full 15 minutes.
    timeoutSeconds: 900,
    secrets: ['upstash', 'database'],
    environment: SCHEDULED_ENVIRONMENT,
  },
  {
    name: 'audit',
    entry: 'functions/audit.ts',
    description: 'Hourly: audit the next 15,000 cached profiles against PostgreSQL; purge the old outbox',
    // A run later than 30 minutes is dropped: the next one is due soon and audits a fresh sample.
    trigger: { kind: 'schedule', expression: 'rate(1 hour)', maxEventAgeSeconds: 1800, retryAttempts: 0 },
    memorySize: 512,
    // The default sample (AUDIT_SAMPLE_SIZE=15000) is 30 rounds of 500 ids plus a 1 s recheck: seconds.
    // 5 minutes leaves room for the largest sample (100 000 ids, 200 rounds) on a slow day.
    timeoutSeconds: 300,
    // SCAN and HGETALL on Redis, the same ids read back from PostgreSQL.
    secrets: ['upstash', 'database'],
    environment: SCHEDULED_ENVIRONMENT,
  },
] as const satisfies readonly FunctionSpec[];

export type FunctionName = (typeof FUNCTIONS)[number]['name'];
