/**
 * The PostgreSQL connection arithmetic of the stack (docs/database.md). Every Lambda environment keeps
 * its own pool of `PG_POOL_DEFAULTS.max` connections, frozen environments included, so the database
 * sees up to (environments × pool size) connections. Environments of a function never outnumber its
 * concurrency, so the budget is split into:
 * - the worst-case concurrent runs of each scheduled function (its schedule bounds them: no retries,
 *   a run lasts at most its timeout, so ceil(timeout / shortest interval) runs overlap at most);
 * - reserved concurrency for each API function that queries PostgreSQL: one each, the rest by weight.
 * (Σ reserved + Σ scheduled runs) × pool size never exceeds the budget.
 */

import { PG_POOL_DEFAULTS } from '../shared/db/pgSql.js';
import { ConfigError } from '../shared/errors.js';
import { integerOption } from '../shared/options.js';
import type { FunctionSpec } from './functionTable.js';

/**
 * Share of the API functions' connections, relative: single reads are the hot path and miss most; a
 * batch read misses up to 100 ids in one query; writes always query but are rare. Unlisted: 1.
 */
export const API_CONNECTION_WEIGHTS: Readonly<Record<string, number>> = { getUser: 4, batchGetUsers: 2 };

export interface ConnectionSplitInput {
  /** Connections the stack may hold on the database at most (what is left of `max_connections`). */
  budget: number;
  /** The function table (`FUNCTIONS`); only functions that read the database secret count. */
  functions: ReadonlyArray<Pick<FunctionSpec, 'name' | 'trigger' | 'timeoutSeconds' | 'secrets'>>;
  /** Schedule expressions that replace a function's own (e.g. the `prewarmSchedule` stack prop). */
  expressions?: Readonly<Record<string, string | undefined>>;
  /** Connections one environment opens at most. @default PG_POOL_DEFAULTS.max (1) */
  connectionsPerEnvironment?: number;
}

export interface ConnectionSplit {
  /** Reserved concurrency of each API function that queries PostgreSQL. */
  reserved: Record<string, number>;
  /** Worst-case concurrent runs of each scheduled function that queries PostgreSQL (not reserved). */
  scheduledRuns: Record<string, number>;
  /** The most connections all of them can hold: never above the budget. */
  maxConnections: number;
}

export function splitConnectionBudget(input: ConnectionSplitInput): ConnectionSplit {
  const perEnvironment = input.connectionsPerEnvironment ?? PG_POOL_DEFAULTS.max;
  integerOption('databaseConnectionBudget', input.budget, { min: 1 });
  const usesDatabase = input.functions.filter((f) => f.secrets.includes('database'));
  const scheduledRuns: Record<string, number> = {};
  const api: string[] = [];
  for (const f of usesDatabase) {
    if (f.trigger.kind === 'schedule') {
      const expression = input.expressions?.[f.name] ?? f.trigger.expression;
      scheduledRuns[f.name] = Math.max(1, Math.ceil(f.timeoutSeconds / shortestIntervalSeconds(expression)));
    } else api.push(f.name);
  }
  const scheduled = Object.values(scheduledRuns).reduce((a, b) => a + b, 0);
  const environments = Math.floor(input.budget / perEnvironment);
  const spare = environments - scheduled - api.length;
  if (spare < 0) {
    throw new ConfigError(
      `databaseConnectionBudget ${input.budget} is too small: the scheduled functions can hold ` +
        `${scheduled * perEnvironment} connections and each of the ${api.length} API functions needs ` +
        `${perEnvironment}; at least ${(scheduled + api.length) * perEnvironment}`,
    );
  }
  const reserved: Record<string, number> = Object.fromEntries(api.map((name) => [name, 1]));
  // Largest remainder: floors of each weighted share, then the leftovers to the largest fractions.
  const weight = (name: string) => API_CONNECTION_WEIGHTS[name] ?? 1;
  const total = api.reduce((sum, name) => sum + weight(name), 0);
  const shares = api.map((name) => ({ name, exact: (spare * weight(name)) / total }));
  let left = spare;
  for (const s of shares) {
    const whole = Math.floor(s.exact);
    reserved[s.name] = (reserved[s.name] ?? 0) + whole;
    left -= whole;
  }
  const byFraction = [...shares].sort((a, b) => (b.exact % 1) - (a.exact % 1));
  for (const s of byFraction.slice(0, left)) reserved[s.name] = (reserved[s.name] ?? 0) + 1;
  const environmentsUsed = scheduled + Object.values(reserved).reduce((a, b) => a + b, 0);
  return { reserved, scheduledRuns, maxConnections: environmentsUsed * perEnvironment };
}

/**
 * A lower bound on the time between two runs of a Scheduler expression: `rate(n unit)` exactly; a
 * `cron` with a fixed minute runs at most hourly, with a fixed minute and hour at most daily, with a
 * stepped minute (`0/15`) at most once per step, anything else is taken as every minute; `at(…)` runs once.
 */
export function shortestIntervalSeconds(expression: string): number {
  const rate = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(expression.trim());
  if (rate) {
    const unit = { minute: 60, hour: 3600, day: 86_400 }[rate[2]!.replace(/s$/, '') as 'minute'];
    return Number(rate[1]) * unit;
  }
  if (/^at\(.+\)$/.test(expression.trim())) return Number.POSITIVE_INFINITY;
  const cron = /^cron\((\S+) (\S+) \S+ \S+ \S+(?: \S+)?\)$/.exec(expression.trim());
  if (!cron) throw new ConfigError(`cannot read the schedule expression ${JSON.stringify(expression)}`);
  const fixed = (field: string) => /^\d+$/.test(field);
  if (fixed(cron[1]!) && fixed(cron[2]!)) return 86_400;
  if (fixed(cron[1]!)) return 3600;
  // `0/15`: every 15 minutes (the prewarm's repeated runs), so at most one per step.
  const step = /^\d+\/(\d+)$/.exec(cron[1]!);
  if (step) return Math.max(1, Number(step[1])) * 60;
  return 60;
}
