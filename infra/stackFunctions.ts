/**
 * Builds one `CacheFunction` per row of `FUNCTIONS`, with what the stack derives per function: secret
 * grants, the poller's budget, the RDS CA bundle, async failure handling and retries of scheduled jobs.
 */
import { Duration } from 'aws-cdk-lib';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { SETTINGS } from '../functions/commons/settings.js';
import { ConfigError } from '../shared/errors.js';
import { integerOption } from '../shared/options.js';
import { POLLER_SAFETY_MARGIN_MS, POLLER_SCHEDULE } from '../shared/stream/pollerSchedule.js';
import { CacheFunction, type FunctionNetwork } from './constructs/cacheFunction.js';
import { FUNCTIONS, type FunctionName, type FunctionSpec, type SecretUse } from './functionTable.js';

/**
 * Node 20+ Lambda runtimes no longer load Amazon's CA bundle (cold-start cost), but `pg` verifies the
 * RDS certificate when DATABASE_SSL=require: point Node at the bundle the runtime ships.
 */
const RDS_CA_ENV = { NODE_EXTRA_CA_CERTS: '/var/runtime/ca-cert.pem' };
/** Lambda's waits before its first and second async retry (about 1 and 2 minutes). */
const LAMBDA_RETRY_DELAYS_S = [60, 120];

export interface StackFunctionsProps {
  /** Variables every function gets (settings, stage, Powertools, scopes). */
  readonly environment: Record<string, string>;
  readonly databaseSsl?: 'require' | 'disable';
  readonly secrets: Record<SecretUse, ISecret>;
  readonly logRetention: RetentionDays;
  readonly network?: FunctionNetwork;
  readonly reservePollerConcurrency: boolean;
  /** Reserved concurrency per function, from the database connection budget. @default none */
  readonly reservedConcurrency?: Partial<Record<FunctionName, number>>;
  /** Where failed async runs of scheduled functions go. */
  readonly failureQueue: IQueue;
}

export function buildFunctions(
  scope: Construct,
  props: StackFunctionsProps,
): Record<FunctionName, CacheFunction> {
  const functions: Partial<Record<FunctionName, CacheFunction>> = {};
  for (const spec of FUNCTIONS as readonly FunctionSpec[]) {
    const name = spec.name as FunctionName;
    const isPoller = spec.name === 'streamPoller';
    const usesDatabase = spec.secrets.includes('database');
    if (isPoller && spec.timeoutSeconds * 1000 - POLLER_SCHEDULE.budgetMs < POLLER_SAFETY_MARGIN_MS) {
      throw new ConfigError('streamPoller timeout must exceed its budget by the safety margin');
    }
    if (spec.trigger.kind === 'schedule') assertRetriesFit(spec, spec.trigger);
    const fn = new CacheFunction(scope, name, {
      spec,
      logRetention: props.logRetention,
      // Row overrides beat stack-wide settings; values the stack derives per function beat both.
      environment: {
        ...props.environment,
        ...spec.environment,
        ...(usesDatabase && props.databaseSsl !== 'disable' && RDS_CA_ENV),
        ...(isPoller && { [SETTINGS.pollerBudgetMs.env]: String(POLLER_SCHEDULE.budgetMs) }),
      },
      network: usesDatabase ? props.network : undefined,
      reservedConcurrentExecutions:
        // Poller: two, a run and its successor overlap while they hand over.
        isPoller && props.reservePollerConcurrency ? 2 : props.reservedConcurrency?.[name],
    });
    for (const use of spec.secrets) fn.readSecret(use, props.secrets[use]);
    if (spec.trigger.kind === 'schedule') {
      fn.sendAsyncFailuresTo(
        props.failureQueue,
        Duration.seconds(spec.trigger.maxEventAgeSeconds),
        spec.trigger.retryAttempts,
      );
    }
    functions[name] = fn;
  }
  return functions as Record<FunctionName, CacheFunction>;
}

/**
 * Lambda drops an async event older than its maximum age, retries included: a retry that cannot
 * start in time is a retry that silently never happens. Every attempt, run to its timeout, plus
 * Lambda's waits between attempts, must fit.
 */
function assertRetriesFit(
  spec: FunctionSpec,
  trigger: { maxEventAgeSeconds: number; retryAttempts: number },
): void {
  const { retryAttempts, maxEventAgeSeconds } = trigger;
  // 0-2: Lambda's own limit on async retries.
  integerOption(`${spec.name}: retryAttempts`, retryAttempts, { min: 0, max: 2 });
  const waits = LAMBDA_RETRY_DELAYS_S.slice(0, retryAttempts).reduce((a, b) => a + b, 0);
  const worst = (retryAttempts + 1) * spec.timeoutSeconds + waits;
  if (retryAttempts > 0 && worst > maxEventAgeSeconds) {
    throw new ConfigError(
      `${spec.name}: ${retryAttempts} retries of a ${spec.timeoutSeconds} s run need ${worst} s, more than maxEventAgeSeconds (${maxEventAgeSeconds})`,
    );
  }
}
