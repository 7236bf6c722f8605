/**
 * The fault schedule of a chaos run, at fixed points of the traffic phase (see `planFaults`): Redis
 * SIGKILLed then restarted on its port, a poller killed between its cache write and its XACK, PostgreSQL
 * paused. Each fault is recorded as a window for the report and the chart.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { RedisServerHandle } from '../../local/redisServer.js';
import { type FaultPlan, type FaultWindow, killRedis, type PausableSql, type PollerTrap } from './faults.js';

export interface FaultScheduleOptions {
  plan: FaultPlan;
  /** ms since the run's origin. */
  now: () => number;
  log: (line: string) => void;
  redisServer: RedisServerHandle;
  sql: PausableSql;
  /** The running poller's trap. */
  trap: PollerTrap;
  /** Starts the consumer that takes over once the trapped one is dead. */
  replacePoller: () => unknown;
  /** Filled in as faults happen. */
  windows: FaultWindow[];
  faults: { redisKilled: boolean; redisRestarted: boolean };
}

export async function runFaultSchedule(o: FaultScheduleOptions): Promise<void> {
  const { plan, now, log, windows } = o;
  const at = (ms: number) => sleep(Math.max(0, ms - now()));
  const stamp = () => `t=${(now() / 1000).toFixed(1)}s`;

  await at(plan.redisKillAt);
  const down: FaultWindow = { kind: 'redisDown', start: now(), end: undefined };
  windows.push(down);
  await killRedis(o.redisServer);
  o.faults.redisKilled = true;
  log(`${stamp()} redis SIGKILLed`);
  await at(plan.redisRestartAt);
  await o.redisServer.restart();
  o.faults.redisRestarted = true;
  down.end = now();
  windows.push({ kind: 'recovery', start: down.end, end: down.end + plan.recoveryMs });
  log(`${stamp()} redis restarted on port ${o.redisServer.port}`);

  await at(plan.pollerKillAt);
  await killPoller(o);

  await at(plan.dbPauseAt);
  const pause: FaultWindow = { kind: 'dbPaused', start: now(), end: undefined };
  windows.push(pause);
  o.sql.pause();
  log(`${stamp()} PostgreSQL paused for ${plan.dbPauseMs} ms`);
  await sleep(plan.dbPauseMs);
  o.sql.resume();
  pause.end = now();
}

/**
 * Arms the trap, waits for the poller to die between its cache write and its XACK, and starts a fresh
 * consumer (new name) that must claim what the dead one left pending.
 */
async function killPoller(o: FaultScheduleOptions): Promise<void> {
  o.trap.arm();
  const unacked = await Promise.race([o.trap.tripped, sleep(15_000, undefined)]);
  if (!unacked) {
    o.log('poller kill: no batch arrived within 15 s; the poller was not killed');
    return;
  }
  const t = o.now();
  o.windows.push({ kind: 'pollerKilled', start: t, end: t, detail: { unacked: unacked.length } });
  o.log(
    `t=${(t / 1000).toFixed(1)}s poller killed between apply and XACK (${unacked.length} entries unacked)`,
  );
  o.replacePoller();
}
