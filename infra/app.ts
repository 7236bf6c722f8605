/**
 * CDK app entry (`cdk.json` → `npx tsx infra/app.ts`). Deployment-specific values come from context:
 * `cdk.json` holds placeholders so `npm run synth` works offline; override them per deployment, e.g.
 * `npx cdk deploy -c jwtIssuer=https://… -c jwtAudience=ngomna-app -c databaseSecretArn=arn:…`.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ConfigError } from '../shared/errors.js';
import { UserCacheStack } from './userCacheStack.js';

const app = new App();

function context(key: string): string | undefined {
  const value: unknown = app.node.tryGetContext(key);
  if (value === undefined || value === null || value === '') return undefined;
  return String(value).trim();
}

function required(key: string): string {
  const value = context(key);
  if (!value) throw new ConfigError(`CDK context "${key}" is required (cdk.json or -c ${key}=…)`);
  return value;
}

/** Comma-separated context value (`-c jwtAudience=a,b`) as a list. */
function list(key: string): string[] | undefined {
  const items = context(key)
    ?.split(',')
    .map((item) => item.trim())
    .filter(Boolean);
  return items?.length ? items : undefined;
}

/** A whole-number context value (`-c databaseConnectionBudget=80`), or undefined when absent. */
function optionalInt(key: string): number | undefined {
  const value = context(key);
  if (value === undefined) return undefined;
  if (!/^\d{1,9}$/.test(value)) throw new ConfigError(`CDK context "${key}" must be a whole number`);
  return Number(value);
}

const corsOrigins = list('corsAllowOrigins');
const databaseSsl = context('databaseSsl');
if (databaseSsl !== undefined && databaseSsl !== 'require' && databaseSsl !== 'disable') {
  throw new ConfigError('CDK context "databaseSsl" must be "require" or "disable"');
}

new UserCacheStack(app, context('stackName') ?? 'NgomnaUserCache', {
  description: 'ngomna user-profile cache: HTTP API, Lambda, Upstash Redis in front of PostgreSQL',
  jwtIssuer: required('jwtIssuer'),
  jwtAudience: list('jwtAudience') ?? [required('jwtAudience')],
  readScope: context('readScope'),
  writeScope: context('writeScope'),
  databaseSecretArn: required('databaseSecretArn'),
  databaseSsl,
  upstashSecretArn: context('upstashSecretArn'),
  prewarmSchedule: context('prewarmSchedule'),
  reservePollerConcurrency: context('reservePollerConcurrency') === 'true',
  databaseConnectionBudget: optionalInt('databaseConnectionBudget'),
  alarmTopicArn: context('alarmTopicArn'),
  cors: corsOrigins && { allowOrigins: corsOrigins },
});

// cdk-nag 3 is a policy-validation plugin: synthesis fails on any unacknowledged AwsSolutions error.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
