/**
 * Turns CDK context (`cdk.json`, `-c key=value`) into the stack's name and props, refusing what would
 * deploy a broken service: a missing setting, or one still holding a placeholder (an `.invalid` issuer
 * makes every request a 401, a 4xx no alarm sees; a fake account's secret denies every database call).
 * Every refusal is a ConfigError naming the setting, thrown at synthesis, before CloudFormation changes
 * anything. `-c allowPlaceholders=true` fills missing settings with `PLACEHOLDERS` instead, for offline
 * synthesis (`npm run synth`, the bundle tests); a production stage never accepts it.
 */
import { LambdaDeploymentConfig } from 'aws-cdk-lib/aws-codedeploy';
import { ConfigError } from '../shared/errors.js';
import type { UserCacheStackProps } from './userCacheStack.js';

/** Stand-ins for offline synthesis only. Each one is recognized and refused by a real deploy. */
export const PLACEHOLDERS = {
  stage: 'dev',
  jwtIssuer: 'https://auth.example.invalid/realms/ngomna',
  jwtAudience: 'ngomna-app',
  databaseSecretArn: 'arn:aws:secretsmanager:eu-west-1:111111111111:secret:ngomna/user-cache/db-AbCdEf',
} as const;

/** Accounts that appear in documentation and examples, never in a real deployment. */
const EXAMPLE_ACCOUNTS = new Set(['111111111111', '000000000000', '123456789012']);
/** Reserved or example hosts (RFC 2606, RFC 6761): no real token issuer lives there. */
const EXAMPLE_HOST = /(^|\.)(invalid|test|example|localhost)$|(^|\.)example\.(com|net|org)$/;
const DEPLOYMENTS = {
  canary: LambdaDeploymentConfig.CANARY_10PERCENT_5MINUTES,
  linear: LambdaDeploymentConfig.LINEAR_10PERCENT_EVERY_1MINUTE,
  'all-at-once': LambdaDeploymentConfig.ALL_AT_ONCE,
} as const;

export interface DeploySettings {
  readonly stackName: string;
  readonly props: UserCacheStackProps;
}

/** `read(key)` returns the context value (`app.node.tryGetContext`). */
export function deploySettings(read: (key: string) => unknown): DeploySettings {
  const text = (key: string): string | undefined => {
    const value = read(key);
    if (value === undefined || value === null) return undefined;
    const trimmed = String(value).trim();
    return trimmed === '' ? undefined : trimmed;
  };
  const flag = (key: string): boolean | undefined => {
    const value = text(key);
    if (value === undefined) return undefined;
    if (value !== 'true' && value !== 'false') throw settingError(key, `${key} must be "true" or "false"`);
    return value === 'true';
  };
  const placeholdersAllowed = flag('allowPlaceholders') ?? false;
  const required = (key: keyof typeof PLACEHOLDERS): string => {
    const value = text(key);
    if (value !== undefined) return value;
    if (placeholdersAllowed) return PLACEHOLDERS[key];
    throw settingError(key, `CDK context "${key}" is required: -c ${key}=… (see docs/deploying.md)`);
  };
  const list = (value: string) =>
    value
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean);

  const stage = required('stage');
  const production = flag('production') ?? stage === 'prod';
  if (production && placeholdersAllowed) {
    throw settingError(
      'allowPlaceholders',
      `allowPlaceholders is refused for the production stage "${stage}"`,
    );
  }
  const jwtIssuer = required('jwtIssuer');
  const databaseSecretArn = required('databaseSecretArn');
  const upstashSecretArn = text('upstashSecretArn');
  const alarmTopicArn = text('alarmTopicArn');
  if (!placeholdersAllowed) {
    refusePlaceholderIssuer(jwtIssuer);
    for (const [key, arn] of [
      ['databaseSecretArn', databaseSecretArn],
      ['upstashSecretArn', upstashSecretArn],
      ['alarmTopicArn', alarmTopicArn],
    ] as const) {
      const account = arn?.split(':')[4];
      if (account !== undefined && EXAMPLE_ACCOUNTS.has(account)) {
        throw settingError(key, `${key} names the example account ${account}: give the real ARN`);
      }
    }
  }
  const databaseSsl = text('databaseSsl');
  if (databaseSsl !== undefined && databaseSsl !== 'require' && databaseSsl !== 'disable') {
    throw settingError('databaseSsl', 'CDK context "databaseSsl" must be "require" or "disable"');
  }
  const deployment = text('deployment') ?? 'canary';
  if (!(deployment in DEPLOYMENTS)) {
    throw settingError('deployment', `deployment must be one of: ${Object.keys(DEPLOYMENTS).join(', ')}`);
  }
  const budget = text('databaseConnectionBudget');
  if (budget !== undefined && !/^\d{1,9}$/.test(budget)) {
    throw settingError(
      'databaseConnectionBudget',
      'CDK context "databaseConnectionBudget" must be a whole number',
    );
  }
  const corsOrigins = text('corsAllowOrigins');
  return {
    stackName: text('stackName') ?? `NgomnaUserCache-${stage}`,
    props: {
      description: `ngomna user-profile cache (${stage}): HTTP API, Lambda, Upstash Redis in front of PostgreSQL`,
      stage,
      production,
      jwtIssuer,
      jwtAudience: list(required('jwtAudience')),
      readScope: text('readScope'),
      writeScope: text('writeScope'),
      databaseSecretArn,
      databaseSsl,
      upstashSecretArn,
      prewarmSchedule: text('prewarmSchedule'),
      reservePollerConcurrency: flag('reservePollerConcurrency') ?? false,
      databaseConnectionBudget: budget === undefined ? undefined : Number(budget),
      alarmTopicArn,
      runbookUrl: text('runbookUrl'),
      deploymentConfig: DEPLOYMENTS[deployment as keyof typeof DEPLOYMENTS],
      cors: corsOrigins ? { allowOrigins: list(corsOrigins) } : undefined,
    },
  };
}

function refusePlaceholderIssuer(issuer: string): void {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    throw settingError('jwtIssuer', 'jwtIssuer must be the https URL of the token issuer');
  }
  if (url.protocol !== 'https:') throw settingError('jwtIssuer', 'jwtIssuer must be an https URL');
  if (EXAMPLE_HOST.test(url.hostname)) {
    throw settingError(
      'jwtIssuer',
      `jwtIssuer is a placeholder (${url.hostname} is a reserved example host): every request would get 401`,
    );
  }
}

function settingError(setting: string, message: string): ConfigError {
  return new ConfigError(message, { details: { setting } });
}
