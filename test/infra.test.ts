/**
 * The CDK stack, verified by synthesis only (no AWS account): template assertions and cdk-nag.
 * Bundling is skipped here (`aws:cdk:bundling-stacks: []`); test/bundles.test.ts really bundles.
 * Alarms: infra.alarms.test.ts; deploy settings and stages: infra.deploy.test.ts; versions, aliases,
 * gradual deployment and tracing: infra.rollout.test.ts.
 */
import { App, type CfnResource, Stack, Validations } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { UPSTASH_PLACEHOLDER } from '../functions/commons/notConfigured.js';
import { splitConnectionBudget } from '../infra/connectionBudget.js';
import { CacheFunction } from '../infra/constructs/cacheFunction.js';
import { FORBIDDEN_ENV } from '../infra/constructs/environment.js';
import { FUNCTIONS, type FunctionName, type SecretUse } from '../infra/functionTable.js';
import { UserCacheStack } from '../infra/userCacheStack.js';
import { PG_POOL_DEFAULTS } from '../shared/db/pgSql.js';
import { ConfigError } from '../shared/errors.js';
import { POLLER_SCHEDULE } from '../shared/stream/pollerSchedule.js';
import {
  ALARM_TOPIC_ARN,
  BASE_PROPS,
  DB_SECRET_ARN,
  envOf,
  importedVpc,
  type Json,
  lambdas,
  nagFindings,
  synth,
  UPSTASH_SECRET_ARN,
} from './support/infra.js';

const ROUTES = FUNCTIONS.flatMap((f) => (f.trigger.kind === 'route' ? [{ ...f, trigger: f.trigger }] : []));
const SCHEDULED = FUNCTIONS.flatMap((f) =>
  f.trigger.kind === 'schedule' ? [{ ...f, trigger: f.trigger }] : [],
);

/** Which secrets (by kind) each function's role may read, from the IAM policies in the template. */
function secretReaders(template: Template, fnId: (n: FunctionName) => string, upstashRef: unknown) {
  const roleToFn = new Map<string, FunctionName>();
  for (const spec of FUNCTIONS) {
    const role = lambdas(template)[fnId(spec.name)]!.Properties.Role['Fn::GetAtt'][0] as string;
    roleToFn.set(role, spec.name);
  }
  const readers = new Map<string, Set<SecretUse>>();
  for (const policy of Object.values(template.findResources('AWS::IAM::Policy'))) {
    for (const statement of policy.Properties.PolicyDocument.Statement as Json[]) {
      const actions = [statement.Action].flat();
      if (!actions.includes('secretsmanager:GetSecretValue')) continue;
      for (const resource of [statement.Resource].flat()) {
        const kind: SecretUse | 'other' =
          resource === DB_SECRET_ARN
            ? 'database'
            : JSON.stringify(resource) === JSON.stringify(upstashRef)
              ? 'upstash'
              : 'other';
        for (const role of policy.Properties.Roles as Json[]) {
          const who = roleToFn.get(role.Ref) ?? `role ${role.Ref}`;
          readers.set(who, (readers.get(who) ?? new Set()).add(kind as SecretUse));
        }
      }
    }
  }
  return readers;
}

function expectEncryptedTlsOnlyQueue(template: Template, queueId: string): void {
  expect(template.findResources('AWS::SQS::Queue')[queueId]?.Properties).toMatchObject({
    SqsManagedSseEnabled: true,
  });
  template.hasResourceProperties('AWS::SQS::QueuePolicy', {
    Queues: [{ Ref: queueId }],
    PolicyDocument: {
      Statement: Match.arrayWith([
        Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      ]),
    },
  });
}

describe('UserCacheStack', { timeout: 120_000 }, () => {
  describe('HTTP API', () => {
    it("routes every API function's live alias behind the JWT authorizer with its read or write scope", () => {
      const { template, aliasId } = synth();
      template.resourceCountIs('AWS::ApiGatewayV2::Route', ROUTES.length);
      const authorizerId = Object.keys(template.findResources('AWS::ApiGatewayV2::Authorizer'))[0];
      const integrations = template.findResources('AWS::ApiGatewayV2::Integration');
      for (const { trigger, name } of ROUTES) {
        const routes = template.findResources('AWS::ApiGatewayV2::Route', {
          Properties: { RouteKey: `${trigger.method} ${trigger.path}` },
        });
        const route = Object.values(routes)[0];
        expect(route?.Properties, `${trigger.method} ${trigger.path}`).toMatchObject({
          AuthorizationType: 'JWT',
          AuthorizerId: { Ref: authorizerId },
          AuthorizationScopes: [trigger.access === 'read' ? 'users.read' : 'users.write'],
        });
        const integrationId = route!.Properties.Target['Fn::Join'][1][1].Ref as string;
        expect(integrations[integrationId]!.Properties.IntegrationUri).toEqual({ Ref: aliasId(name) });
      }
    });

    it('requires the scopes given as props, and passes them to the functions', () => {
      const { template, fnId } = synth({ readScope: 'profiles:read', writeScope: 'profiles:write' });
      template.hasResourceProperties('AWS::ApiGatewayV2::Route', {
        RouteKey: 'GET /users/{id}',
        AuthorizationScopes: ['profiles:read'],
      });
      template.hasResourceProperties('AWS::ApiGatewayV2::Route', {
        RouteKey: 'DELETE /users/{id}',
        AuthorizationScopes: ['profiles:write'],
      });
      expect(envOf(template, fnId('getUser'))).toMatchObject({
        AUTH_READ_SCOPE: 'profiles:read',
        AUTH_WRITE_SCOPE: 'profiles:write',
      });
    });

    it('validates tokens against the issuer and audiences given as props', () => {
      const { template } = synth({ jwtAudience: ['ngomna-app', 'ngomna-admin'] });
      template.resourceCountIs('AWS::ApiGatewayV2::Authorizer', 1);
      template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
        AuthorizerType: 'JWT',
        IdentitySource: ['$request.header.Authorization'],
        JwtConfiguration: { Issuer: BASE_PROPS.jwtIssuer, Audience: ['ngomna-app', 'ngomna-admin'] },
      });
    });

    it('throttles the $default stage and writes JSON access logs to a log group with retention', () => {
      const { template, stack } = synth({ throttle: { rateLimit: 50, burstLimit: 100 } });
      const logGroupId = stack.resolve(
        stack.getLogicalId(stack.api.accessLogs.node.defaultChild as CfnResource),
      );
      template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
        StageName: '$default',
        AutoDeploy: true,
        DefaultRouteSettings: {
          ThrottlingRateLimit: 50,
          ThrottlingBurstLimit: 100,
          DetailedMetricsEnabled: true,
        },
        AccessLogSettings: { DestinationArn: { 'Fn::GetAtt': [logGroupId, 'Arn'] } },
      });
      const stage = Object.values(template.findResources('AWS::ApiGatewayV2::Stage'))[0]!;
      const format = JSON.parse(stage.Properties.AccessLogSettings.Format);
      expect(format).toMatchObject({ requestId: '$context.requestId', status: '$context.status' });
      template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    });

    it('has no CORS configuration by default', () => {
      const api = Object.values(synth().template.findResources('AWS::ApiGatewayV2::Api'))[0]!;
      expect(api.Properties.CorsConfiguration).toBeUndefined();
    });

    it('answers CORS preflights for the origins given as props', () => {
      const { template } = synth({ cors: { allowOrigins: ['https://app.ngomna.cm'] } });
      template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
        CorsConfiguration: {
          AllowOrigins: ['https://app.ngomna.cm'],
          AllowMethods: Match.arrayWith(['GET', 'PUT', 'POST', 'DELETE']),
          AllowHeaders: Match.arrayWith(['authorization', 'if-match']),
        },
      });
    });
  });

  describe('functions', () => {
    it('runs every function of the table on nodejs24.x, arm64, with its memory and timeout', () => {
      const { template, fnId } = synth();
      template.resourceCountIs('AWS::Lambda::Function', FUNCTIONS.length);
      for (const spec of FUNCTIONS) {
        expect(lambdas(template)[fnId(spec.name)]?.Properties, spec.name).toMatchObject({
          Runtime: 'nodejs24.x',
          Architectures: ['arm64'],
          Handler: 'index.handler',
          MemorySize: spec.memorySize,
          Timeout: spec.timeoutSeconds,
        });
      }
    });

    it('gives every function its own log group with retention, and source maps', () => {
      const { template, stack, fnId, logicalId } = synth({ logRetention: RetentionDays.TWO_WEEKS });
      for (const spec of FUNCTIONS) {
        const fn = lambdas(template)[fnId(spec.name)]!.Properties;
        const logGroupId = logicalId(stack.functions[spec.name].logGroup);
        expect(fn.LoggingConfig, spec.name).toEqual({ LogGroup: { Ref: logGroupId } });
        expect(template.findResources('AWS::Logs::LogGroup')[logGroupId]?.Properties).toMatchObject({
          RetentionInDays: 14,
        });
        expect(fn.Environment.Variables.NODE_OPTIONS).toBe('--enable-source-maps');
      }
    });

    it('sets the Powertools variables and the settings given as props', () => {
      const { template, fnId } = synth({
        settings: {
          keyPrefix: 'prod:',
          ttlSeconds: 86_400,
          prewarmSource: 'sql',
          auditSampleSize: 250,
          logLevel: 'DEBUG',
        },
      });
      for (const spec of FUNCTIONS) {
        expect(envOf(template, fnId(spec.name)), spec.name).toMatchObject({
          STAGE: 'staging',
          POWERTOOLS_SERVICE_NAME: 'user-cache-staging',
          POWERTOOLS_METRICS_NAMESPACE: 'NgomnaUserCache/staging',
          POWERTOOLS_LOG_LEVEL: 'DEBUG',
          CACHE_KEY_PREFIX: 'prod:',
          CACHE_TTL_SECONDS: '86400',
          PREWARM_SOURCE: 'sql',
          AUDIT_SAMPLE_SIZE: '250',
        });
      }
    });

    it('gives the scheduled functions a 2 s Redis timeout and leaves the API ones on the default', () => {
      const { template, fnId } = synth();
      expect(SCHEDULED.map((f) => f.name).sort()).toEqual(['audit', 'prewarm', 'streamPoller']);
      for (const spec of SCHEDULED) {
        expect(envOf(template, fnId(spec.name)).REDIS_TIMEOUT_MS, spec.name).toBe('2000');
      }
      for (const spec of ROUTES) {
        expect(envOf(template, fnId(spec.name)), spec.name).not.toHaveProperty('REDIS_TIMEOUT_MS');
      }
    });

    it('keeps the scheduled functions at 2 s when the stack-wide Redis timeout is set', () => {
      const { template, fnId } = synth({ settings: { redisTimeoutMs: 400 } });
      for (const spec of ROUTES) {
        expect(envOf(template, fnId(spec.name)).REDIS_TIMEOUT_MS, spec.name).toBe('400');
      }
      for (const spec of SCHEDULED) {
        expect(envOf(template, fnId(spec.name)).REDIS_TIMEOUT_MS, spec.name).toBe('2000');
      }
    });

    it('leaves unset settings to the defaults of functions/commons/config.ts', () => {
      const { template, fnId } = synth();
      const env = envOf(template, fnId('getUser'));
      for (const name of ['CACHE_KEY_PREFIX', 'CACHE_TTL_SECONDS', 'REDIS_TIMEOUT_MS', 'EVENTS_STREAM']) {
        expect(env).not.toHaveProperty(name);
      }
    });

    it('gives the poller a timeout and a budget past its one-minute period, so runs overlap and hand over', () => {
      const { template, fnId } = synth();
      const poller = lambdas(template)[fnId('streamPoller')]!.Properties;
      const budgetMs = Number(poller.Environment.Variables.POLLER_BUDGET_MS);
      // A run must still be consuming when the next one is invoked a minute later, and stop taking work
      // at least 10 s before Lambda would kill it.
      expect(budgetMs).toBeGreaterThan(60_000);
      expect(poller.Timeout * 1000 - budgetMs).toBeGreaterThanOrEqual(10_000);
      expect(poller.Timeout).toBe(POLLER_SCHEDULE.timeoutMs / 1000);
      expect(budgetMs).toBe(POLLER_SCHEDULE.budgetMs);
    });

    it('reserves poller concurrency only when the stack prop allows it', () => {
      const without = synth();
      expect(lambdas(without.template)[without.fnId('streamPoller')]!.Properties).not.toHaveProperty(
        'ReservedConcurrentExecutions',
      );
      const withReserve = synth({ reservePollerConcurrency: true });
      const functions = lambdas(withReserve.template);
      // A run and its successor overlap during the handover.
      expect(functions[withReserve.fnId('streamPoller')]!.Properties.ReservedConcurrentExecutions).toBe(2);
      const reserved = Object.values(functions).filter((f) => 'ReservedConcurrentExecutions' in f.Properties);
      expect(reserved).toHaveLength(1);
    });

    it('trusts the RDS CA bundle only where TLS to PostgreSQL is on', () => {
      const tls = synth();
      expect(envOf(tls.template, tls.fnId('getUser')).NODE_EXTRA_CA_CERTS).toBe('/var/runtime/ca-cert.pem');
      const plain = synth({ databaseSsl: 'disable' });
      expect(envOf(plain.template, plain.fnId('getUser'))).toMatchObject({ DATABASE_SSL: 'disable' });
      expect(envOf(plain.template, plain.fnId('getUser'))).not.toHaveProperty('NODE_EXTRA_CA_CERTS');
    });

    it('puts the database functions in the VPC given as props', () => {
      const outside = synth();
      for (const spec of FUNCTIONS) {
        expect(lambdas(outside.template)[outside.fnId(spec.name)]!.Properties).not.toHaveProperty(
          'VpcConfig',
        );
      }
      const { template, fnId } = synth({ network: { vpc: importedVpc() } });
      for (const spec of FUNCTIONS) {
        const inVpc = (spec.secrets as readonly SecretUse[]).includes('database');
        const config = lambdas(template)[fnId(spec.name)]!.Properties.VpcConfig;
        if (!inVpc) expect(config, spec.name).toBeUndefined();
        else {
          expect(config, spec.name).toMatchObject({
            SubnetIds: ['subnet-0aaaaaaaaaaaaaaa1', 'subnet-0aaaaaaaaaaaaaaa2'],
            SecurityGroupIds: [expect.anything()],
          });
        }
      }
    });
  });

  describe('PostgreSQL connection budget (databaseConnectionBudget)', () => {
    const usesDb = FUNCTIONS.filter((f) => (f.secrets as readonly SecretUse[]).includes('database'));
    const reservedOf = (synthed: ReturnType<typeof synth>, name: FunctionName): number | undefined =>
      lambdas(synthed.template)[synthed.fnId(name)]!.Properties.ReservedConcurrentExecutions;

    it('reserves concurrency for every API function that queries PostgreSQL, within the budget', () => {
      const budget = 40;
      const synthed = synth({ databaseConnectionBudget: budget });
      const split = splitConnectionBudget({ budget, functions: FUNCTIONS });
      let environments = 0;
      for (const f of usesDb) {
        if (f.trigger.kind === 'route') {
          expect(reservedOf(synthed, f.name), f.name).toBe(split.reserved[f.name]);
          expect(reservedOf(synthed, f.name), f.name).toBeGreaterThanOrEqual(1);
          environments += reservedOf(synthed, f.name)!;
        } else {
          // Scheduled runs are bounded by their schedule (no retries), not by a reservation.
          expect(reservedOf(synthed, f.name), f.name).toBeUndefined();
          environments += split.scheduledRuns[f.name]!;
        }
      }
      // One connection per environment (the pool size), so this is the most the stack can hold.
      expect(environments * PG_POOL_DEFAULTS.max).toBeLessThanOrEqual(budget);
      expect(environments * PG_POOL_DEFAULTS.max).toBe(split.maxConnections);
      // The default table: 4 scheduled runs (the poller's runs overlap two deep while they hand over),
      // 36 environments for the API split 15/8/5/4/4 by weight.
      expect(split).toEqual({
        reserved: { getUser: 15, batchGetUsers: 8, putUser: 5, createUser: 4, deleteUser: 4 },
        scheduledRuns: { streamPoller: 2, prewarm: 1, audit: 1 },
        maxConnections: 40,
      });
      // GET /cache/stats never queries PostgreSQL: nothing to reserve.
      expect(reservedOf(synthed, 'getCacheStats')).toBeUndefined();
    });

    it('reserves nothing without a budget (new accounts often cannot reserve)', () => {
      const synthed = synth();
      for (const f of FUNCTIONS) expect(reservedOf(synthed, f.name), f.name).toBeUndefined();
    });

    it('counts the prewarm schedule the stack is given', () => {
      const every5 = synth({ databaseConnectionBudget: 40, prewarmSchedule: 'cron(0/5 * * * ? *)' });
      // 900 s runs every 5 minutes (a stepped minute: one run per step) overlap 3 deep.
      const split = splitConnectionBudget({
        budget: 40,
        functions: FUNCTIONS,
        expressions: { prewarm: 'cron(0/5 * * * ? *)' },
      });
      expect(split.scheduledRuns.prewarm).toBe(3);
      // Any other moving minute is taken as every minute: 15 deep.
      expect(
        splitConnectionBudget({
          budget: 40,
          functions: FUNCTIONS,
          expressions: { prewarm: 'cron(* 4 * * ? *)' },
        }).scheduledRuns.prewarm,
      ).toBe(15);
      expect(reservedOf(every5, 'getUser')).toBe(split.reserved.getUser);
      expect(split.maxConnections).toBeLessThanOrEqual(40);
    });

    it('refuses a budget too small for one environment per function, naming the minimum', () => {
      expect(() => synth({ databaseConnectionBudget: 8 })).toThrow(ConfigError);
      expect(() => synth({ databaseConnectionBudget: 8 })).toThrow(/at least 9/);
      expect(() => synth({ databaseConnectionBudget: 9 })).not.toThrow();
    });
    it('gives every function the arm64 Parameters and Secrets extension, with a 30 s cache', () => {
      const { template, fnId } = synth();
      for (const spec of FUNCTIONS) {
        const fn = lambdas(template)[fnId(spec.name)]!.Properties;
        // The layer ARN is looked up per region in a mapping, under the arm64 build's key.
        expect(JSON.stringify(fn.Layers), spec.name).toMatch(
          /"Fn::FindInMap":\[".*",\{"Ref":"AWS::Region"\},"[^"]*arm64"\]/,
        );
        expect(envOf(template, fnId(spec.name)), spec.name).toMatchObject({
          PARAMETERS_SECRETS_EXTENSION_HTTP_PORT: '2773',
          PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED: 'true',
          SECRETS_MANAGER_TTL: '30',
        });
      }
    });
  });

  describe('secrets', () => {
    it('lets each function read exactly the secrets its table row names, and nothing else does', () => {
      const { template, fnId, stack } = synth();
      const upstashRef = stack.resolve(stack.upstashSecret.secretArn);
      const readers = secretReaders(template, fnId, upstashRef);
      expect(Object.fromEntries(readers)).toEqual(
        Object.fromEntries(FUNCTIONS.map((f) => [f.name, new Set(f.secrets)])),
      );
    });

    it('passes secret ARNs to the functions, never secret values', () => {
      const { template, fnId, stack } = synth();
      for (const spec of FUNCTIONS) {
        const env = envOf(template, fnId(spec.name));
        for (const name of FORBIDDEN_ENV) expect(env, spec.name).not.toHaveProperty(name);
        expect(JSON.stringify(env)).not.toContain('{{resolve:secretsmanager');
        expect(env).toMatchObject({ UPSTASH_SECRET_ARN: stack.resolve(stack.upstashSecret.secretArn) });
        // Only functions whose row names the database get its ARN (GET /cache/stats runs without it).
        const usesDatabase = (spec.secrets as readonly SecretUse[]).includes('database');
        expect(env.DATABASE_SECRET_ARN, spec.name).toBe(usesDatabase ? DB_SECRET_ARN : undefined);
      }
    });

    it('creates the Upstash secret once with the placeholder, never generated, retained on deletion', () => {
      const { template } = synth();
      template.resourceCountIs('AWS::SecretsManager::Secret', 1);
      const secret = Object.values(template.findResources('AWS::SecretsManager::Secret'))[0]!;
      // A generated string is regenerated whenever its settings change or the secret is replaced.
      expect(secret.Properties).not.toHaveProperty('GenerateSecretString');
      expect(JSON.parse(secret.Properties.SecretString)).toEqual(UPSTASH_PLACEHOLDER);
      expect(secret.DeletionPolicy).toBe('Retain');
      expect(secret.UpdateReplacePolicy).toBe('Retain');
    });

    it('imports the Upstash secret when its ARN is given', () => {
      const { template, fnId } = synth({ upstashSecretArn: UPSTASH_SECRET_ARN });
      template.resourceCountIs('AWS::SecretsManager::Secret', 0);
      expect(envOf(template, fnId('getUser')).UPSTASH_SECRET_ARN).toBe(UPSTASH_SECRET_ARN);
      template.hasOutput('UpstashSecretArn', { Value: UPSTASH_SECRET_ARN });
    });

    it('refuses an environment that would carry a secret value', () => {
      const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Refuse');
      const create = () =>
        new CacheFunction(stack, 'Leaky', {
          spec: FUNCTIONS[0],
          logRetention: RetentionDays.ONE_DAY,
          environment: { DATABASE_URL: 'postgres://user:secret@db/ngomna' },
        });
      expect(create).toThrow(ConfigError);
      expect(stack.node.tryFindChild('Leaky')).toBeUndefined();
      expect(create).toThrow(/DATABASE_URL must not be set/);
    });
  });

  describe('schedules', () => {
    it('invokes the poller every minute, prewarm every 15 min from 04:00 UTC (05:00 in Douala), the audit hourly, on their live aliases', () => {
      const { template, aliasId } = synth();
      template.resourceCountIs('AWS::Scheduler::Schedule', SCHEDULED.length);
      template.hasResourceProperties('AWS::Scheduler::Schedule', {
        ScheduleExpression: 'rate(1 minute)',
        Target: Match.objectLike({ Arn: { Ref: aliasId('streamPoller') } }),
      });
      template.hasResourceProperties('AWS::Scheduler::Schedule', {
        ScheduleExpression: 'cron(0/15 4-6 * * ? *)',
        Target: Match.objectLike({ Arn: { Ref: aliasId('prewarm') } }),
      });
      template.hasResourceProperties('AWS::Scheduler::Schedule', {
        ScheduleExpression: 'rate(1 hour)',
        Target: Match.objectLike({ Arn: { Ref: aliasId('audit') } }),
      });
    });

    it('lets Scheduler invoke only the live alias of each scheduled function', () => {
      const { template, aliasId } = synth();
      const invokes = Object.values(template.findResources('AWS::IAM::Policy')).flatMap((p) =>
        (p.Properties.PolicyDocument.Statement as Json[]).filter(
          (st) => st.Action === 'lambda:InvokeFunction',
        ),
      );
      expect(invokes.map((st) => st.Resource).sort((x, y) => (x.Ref < y.Ref ? -1 : 1))).toEqual(
        SCHEDULED.map((f) => ({ Ref: aliasId(f.name) })).sort((x, y) => (x.Ref < y.Ref ? -1 : 1)),
      );
    });

    it('invokes the audit hourly, once per due run, with both secrets', () => {
      const { template, fnId, aliasId, stack } = synth();
      const [schedule, ...others] = Object.values(
        template.findResources('AWS::Scheduler::Schedule', {
          Properties: { Target: { Arn: { Ref: aliasId('audit') } } },
        }),
      );
      expect(others).toEqual([]);
      expect(schedule?.Properties).toMatchObject({
        ScheduleExpression: 'rate(1 hour)',
        FlexibleTimeWindow: { Mode: 'OFF' },
        Target: { RetryPolicy: { MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 1800 } },
      });
      expect(envOf(template, fnId('audit'))).toMatchObject({
        DATABASE_SECRET_ARN: DB_SECRET_ARN,
        UPSTASH_SECRET_ARN: stack.resolve(stack.upstashSecret.secretArn),
      });
    });

    it('takes the prewarm schedule from props', () => {
      const { template, aliasId } = synth({ prewarmSchedule: 'cron(30 3 ? * MON-FRI *)' });
      template.hasResourceProperties('AWS::Scheduler::Schedule', {
        ScheduleExpression: 'cron(30 3 ? * MON-FRI *)',
        Target: Match.objectLike({ Arn: { Ref: aliasId('prewarm') } }),
      });
    });

    it('retries deliveries as each row says and dead-letters undeliverable ones to an encrypted, TLS-only queue', () => {
      const { template, aliasId } = synth();
      const dlqIds = new Set<string>();
      for (const spec of SCHEDULED) {
        const [schedule] = Object.values(
          template.findResources('AWS::Scheduler::Schedule', {
            Properties: { Target: { Arn: { Ref: aliasId(spec.name) } } },
          }),
        );
        expect(schedule?.Properties.Target.RetryPolicy, spec.name).toEqual({
          MaximumRetryAttempts: spec.trigger.retryAttempts,
          MaximumEventAgeInSeconds: spec.trigger.maxEventAgeSeconds,
        });
        dlqIds.add(schedule!.Properties.Target.DeadLetterConfig.Arn['Fn::GetAtt'][0]);
      }
      expect(dlqIds.size).toBe(1);
      expectEncryptedTlsOnlyQueue(template, [...dlqIds][0]!);
    });

    it('never retries the poller, the audit or the prewarm: the next scheduled run is their retry', () => {
      for (const name of ['streamPoller', 'audit', 'prewarm']) {
        const row = SCHEDULED.find((f) => f.name === name)!;
        expect(row.trigger.retryAttempts, name).toBe(0);
      }
      const { template, fnId } = synth();
      for (const name of ['streamPoller', 'audit', 'prewarm'] as const) {
        template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
          FunctionName: { Ref: fnId(name) },
          MaximumRetryAttempts: 0,
        });
      }
    });

    it('drops a late prewarm before the next 15-minute run is due, which resumes at the checkpoint', () => {
      const prewarm = SCHEDULED.find((f) => f.name === 'prewarm')!;
      expect(prewarm.trigger.maxEventAgeSeconds).toBeLessThan(15 * 60);
      // Even one Lambda retry (a 900 s run, the 60 s wait, a second run) could not start in time.
      expect(2 * prewarm.timeoutSeconds + 60).toBeGreaterThan(prewarm.trigger.maxEventAgeSeconds);
    });

    it('refuses retries that cannot all start within the maximum event age', () => {
      const prewarm = FUNCTIONS.find((f) => f.name === 'prewarm')!;
      const trigger = prewarm.trigger as { retryAttempts: number };
      const original = trigger.retryAttempts;
      try {
        trigger.retryAttempts = 2;
        expect(() => synth({ stage: 'retries' })).toThrow(
          /prewarm: 2 retries of a 900 s run need 2880 s, more than maxEventAgeSeconds \(600\)/,
        );
        trigger.retryAttempts = 1;
        expect(() => synth({ stage: 'retries' })).toThrow(/prewarm: 1 retries of a 900 s run need 1860 s/);
      } finally {
        trigger.retryAttempts = original;
      }
    });

    it('sends failed async runs of the live aliases to the failure queue', () => {
      const { template, fnId, aliasId } = synth();
      const configs = Object.values(template.findResources('AWS::Lambda::EventInvokeConfig'));
      expect(configs.map((c) => c.Properties.FunctionName.Ref).sort()).toEqual(
        SCHEDULED.map((f) => fnId(f.name)).sort(),
      );
      const failureQueues = new Set<string>();
      for (const spec of SCHEDULED) {
        const config = configs.find((c) => c.Properties.FunctionName.Ref === fnId(spec.name))!;
        expect(config.Properties, spec.name).toMatchObject({
          MaximumRetryAttempts: spec.trigger.retryAttempts,
          MaximumEventAgeInSeconds: spec.trigger.maxEventAgeSeconds,
          // The alias's name, read from its ARN: the configuration applies to what Scheduler invokes.
          Qualifier: { 'Fn::Select': [7, { 'Fn::Split': [':', { Ref: aliasId(spec.name) }] }] },
        });
        failureQueues.add(config.Properties.DestinationConfig.OnFailure.Destination['Fn::GetAtt'][0]);
      }
      expect(failureQueues.size).toBe(1);
      expectEncryptedTlsOnlyQueue(template, [...failureQueues][0]!);
    });
  });

  describe('outputs', () => {
    it('exports the API URL, the Upstash secret ARN and the dashboard name', () => {
      const { template, stack, logicalId } = synth();
      template.hasOutput('ApiUrl', { Value: Match.objectLike({ 'Fn::Join': Match.anyValue() }) });
      template.hasOutput('UpstashSecretArn', { Value: stack.resolve(stack.upstashSecret.secretArn) });
      template.hasOutput('DashboardName', { Value: { Ref: logicalId(stack.monitoring.dashboard) } });
    });
  });

  describe('cdk-nag (AwsSolutions)', () => {
    it('has no unacknowledged error or warning with the default props', () => {
      expect(nagFindings(synth().app)).toEqual([]);
    });

    it('has no unacknowledged error or warning with every option on', () => {
      const { app } = synth({
        upstashSecretArn: UPSTASH_SECRET_ARN,
        alarmTopicArn: ALARM_TOPIC_ARN,
        cors: { allowOrigins: ['https://app.ngomna.cm'] },
        reservePollerConcurrency: true,
        network: { vpc: importedVpc() },
      });
      expect(nagFindings(app)).toEqual([]);
    });

    it('still reports findings nobody acknowledged', () => {
      const { app } = synth({}, (stack) => new Queue(stack, 'Stray'));
      const findings = nagFindings(app);
      expect(findings).toContain('error AwsSolutions-SQS3 at UserCache/Stray/Resource');
      expect(findings).toContain('error AwsSolutions-SQS4 at UserCache/Stray/Resource');
    });

    it('gives every acknowledgement a written reason', () => {
      const { app } = synth({ network: { vpc: importedVpc() } });
      const acknowledgements: [string, string][] = [];
      for (const construct of app.node.findAll()) {
        for (const entry of construct.node.metadata) {
          if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
          acknowledgements.push(
            ...(Object.entries(entry.data as Record<string, string>) as [string, string][]),
          );
        }
      }
      expect(acknowledgements.length).toBeGreaterThan(0);
      for (const [id, reason] of acknowledgements) {
        expect(reason.split(' ').length, id).toBeGreaterThanOrEqual(8);
      }
    });

    it('makes synthesis fail through the validation plugin on an unacknowledged error', () => {
      // As infra/app.ts registers it; the plugin runs once, at the app's first synthesis.
      const appWithNag = (configure?: (stack: Stack) => void) => {
        const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
        const stack = new UserCacheStack(app, 'UserCache', BASE_PROPS);
        configure?.(stack);
        Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
        return app;
      };
      expect(() => appWithNag().synth()).not.toThrow();
      expect(() => appWithNag((stack) => new Queue(stack, 'Stray')).synth()).toThrow(/AwsSolutions-SQS3/);
    });
  });
});
