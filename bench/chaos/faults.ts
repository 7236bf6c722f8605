/**
 * Fault injection for the chaos run. Every fault acts on a real server or a real client, never on an
 * imitation: Redis is SIGKILLed and restarted on its port, PostgreSQL statements are held back by a
 * wrapper around the real `Sql`, and a poller dies between its cache write and its XACK.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { RedisServerHandle } from '../../local/redisServer.js';
import type { Sql, SqlQueryable } from '../../shared/db/sql.js';
import type { StreamConsumerRedis } from '../../shared/stream/consumer.js';

/** A fault window, ms since the run's origin (`end` undefined while it lasts). */
export interface FaultWindow {
  kind: 'redisDown' | 'recovery' | 'dbPaused' | 'pollerKilled';
  start: number;
  end: number | undefined;
  detail?: Record<string, unknown>;
}

/** When each fault happens, ms after the workload starts (proportional to the duration). */
export interface FaultPlan {
  redisKillAt: number;
  redisRestartAt: number;
  /** Length of the window after the restart reported as "recovery". */
  recoveryMs: number;
  pollerKillAt: number;
  dbPauseAt: number;
  dbPauseMs: number;
  /** A statement held longer than this fails like a statement timeout (SQLSTATE 57014). */
  dbMaxWaitMs: number;
}

/** Redis down for ~10% of the run from 25%, poller killed at 55%, PostgreSQL paused at 70%. */
export function planFaults(durationMs: number): FaultPlan {
  const dbPauseMs = Math.max(1_500, Math.round(durationMs * 0.04));
  return {
    redisKillAt: Math.round(durationMs * 0.25),
    redisRestartAt: Math.round(durationMs * 0.35),
    recoveryMs: Math.round(durationMs * 0.1),
    pollerKillAt: Math.round(durationMs * 0.55),
    dbPauseAt: Math.round(durationMs * 0.7),
    dbPauseMs,
    dbMaxWaitMs: Math.min(2_000, Math.round(dbPauseMs / 2)),
  };
}

export interface PausableSql extends Sql {
  /** Holds every new statement until resume() (or until it has waited `maxWaitMs`). */
  pause(): void;
  resume(): void;
  readonly paused: boolean;
  /** Statements held back, and those failed after waiting too long. */
  readonly stats: { held: number; timedOut: number };
}

/** The SQLSTATE PostgreSQL uses when `statement_timeout` cancels a statement. */
const QUERY_CANCELED = '57014';

/**
 * Wraps the real `Sql`: while paused, statements wait (as behind a stalled server or an exhausted pool);
 * one that has waited `maxWaitMs` fails with SQLSTATE 57014, as `statement_timeout` would make it, and
 * the repository maps that to `DatabaseError` → an honest 503.
 */
export function pausableSql(inner: Sql, opts: { maxWaitMs: number }): PausableSql {
  let gate: { promise: Promise<void>; open: () => void } | undefined;
  const stats = { held: 0, timedOut: 0 };

  async function pass(): Promise<void> {
    const current = gate;
    if (!current) return;
    stats.held++;
    const timer = new AbortController();
    const outcome = await Promise.race([
      current.promise.then(() => 'open' as const),
      sleep(opts.maxWaitMs, 'timeout' as const, { signal: timer.signal }).catch(() => 'open' as const),
    ]);
    timer.abort();
    if (outcome === 'timeout') {
      stats.timedOut++;
      throw Object.assign(
        new Error('canceling statement due to statement timeout (chaos: database paused)'),
        {
          code: QUERY_CANCELED,
        },
      );
    }
  }

  const gated = (q: SqlQueryable): SqlQueryable => ({
    async query(text, params) {
      await pass();
      return q.query(text, params);
    },
  });

  return {
    stats,
    get paused() {
      return gate !== undefined;
    },
    pause() {
      if (gate) return;
      let open!: () => void;
      const promise = new Promise<void>((resolve) => {
        open = resolve;
      });
      gate = { promise, open };
    },
    resume() {
      gate?.open();
      gate = undefined;
    },
    query: (text, params) => gated(inner).query(text, params),
    transaction: (fn) => inner.transaction((tx) => fn(gated(tx))),
    close: () => inner.close(),
  };
}

/** SIGKILL (no AOF rewrite, no goodbye to clients), then waits until the process is gone. */
export async function killRedis(server: RedisServerHandle): Promise<number> {
  const pid = server.pid;
  if (pid === undefined) throw new Error('killRedis: this Redis is not ours (or already stopped)');
  process.kill(pid, 'SIGKILL');
  for (let i = 0; i < 200 && isAlive(pid); i++) await sleep(10);
  return pid;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A redis client for one stream consumer that can be "killed" mid-batch. */
export interface PollerTrap {
  redis: StreamConsumerRedis;
  /** Kill at the next plain XACK: it is never sent, and every later call of this client hangs forever. */
  arm(): void;
  /** Resolves with the stream ids of the batch that was applied but never acknowledged. */
  readonly tripped: Promise<string[]>;
  readonly dead: boolean;
}

/**
 * Simulates a poller process dying between "cache written" and "XACK sent" (a Lambda timeout or crash at
 * the worst moment). Redis never sees the XACK, so the entries stay pending under the dead consumer's
 * name; another consumer must claim and re-apply them (at-least-once delivery, made harmless by the
 * version fence). A dead process makes no further calls: every call after the trip never settles, so the
 * consumer's loop stops exactly there, as a killed process would.
 */
export function pollerTrap(inner: StreamConsumerRedis): PollerTrap {
  let armed = false;
  let dead = false;
  let trip!: (ids: string[]) => void;
  const tripped = new Promise<string[]>((resolve) => {
    trip = resolve;
  });
  const never = <T>() => new Promise<T>(() => {});

  const redis = {
    exec(args: [string, ...string[]]) {
      if (dead) return never();
      if (armed && String(args[0]).toUpperCase() === 'XACK') {
        dead = true;
        trip(args.slice(3).map(String));
        return never();
      }
      return inner.exec(args);
    },
    multi() {
      const tx = inner.multi();
      // The dead-letter path acknowledges inside MULTI: once dead, that EXEC never leaves either.
      return new Proxy(tx, {
        get(target, prop, receiver) {
          if (prop === 'exec' && dead) return () => never();
          const value = Reflect.get(target, prop, receiver);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    },
    evalsha: (...a: Parameters<StreamConsumerRedis['evalsha']>) => (dead ? never() : inner.evalsha(...a)),
    eval: (...a: Parameters<StreamConsumerRedis['eval']>) => (dead ? never() : inner.eval(...a)),
  } as StreamConsumerRedis;

  return {
    redis,
    tripped,
    get dead() {
      return dead;
    },
    arm() {
      armed = true;
    },
  };
}

/**
 * Wraps a consumer's client to record which entry ids it took over with XCLAIM, so the run can prove the
 * killed poller's entries were re-delivered to another consumer.
 */
export function claimRecorder(inner: StreamConsumerRedis): {
  redis: StreamConsumerRedis;
  claimed: Set<string>;
} {
  const claimed = new Set<string>();
  const redis = Object.create(inner) as StreamConsumerRedis;
  redis.exec = (async (args: [string, ...string[]]) => {
    const reply = await inner.exec(args);
    if (String(args[0]).toUpperCase() === 'XCLAIM' && Array.isArray(reply)) {
      for (const entry of reply) if (Array.isArray(entry)) claimed.add(String(entry[0]));
    }
    return reply;
  }) as StreamConsumerRedis['exec'];
  redis.multi = () => inner.multi();
  redis.evalsha = ((...a: Parameters<StreamConsumerRedis['evalsha']>) =>
    inner.evalsha(...a)) as StreamConsumerRedis['evalsha'];
  redis.eval = ((...a: Parameters<StreamConsumerRedis['eval']>) =>
    inner.eval(...a)) as StreamConsumerRedis['eval'];
  return { redis, claimed };
}
