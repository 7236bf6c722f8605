/**
 * What reaches a deploy: settings from CDK context (placeholders and missing values refused, naming the
 * setting), imported ARNs (complete, same region), stage isolation, the access-log group's name, tags
 * and termination protection. Synthesis only, bundling skipped.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../infra/constructs/cacheFunction.js';
import { deploySettings, PLACEHOLDERS } from '../infra/deploySettings.js';
import { UserCacheStack } from '../infra/userCacheStack.js';
import { ConfigError } from '../shared/errors.js';
import { ALARM_TOPIC_ARN, BASE_PROPS, DB_SECRET_ARN, type Json, synth, synthNew } from './support/infra.js';

const run = promisify(execFile);

const REAL = {
  stage: 'staging',
  jwtIssuer: 'https://auth.ngomna.cm/realms/ngomna',
  jwtAudience: 'ngomna-app',
  databaseSecretArn: 'arn:aws:secretsmanager:eu-west-1:210987654321:secret:ngomna/db-AbCdEf',
};

function settingOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).details?.setting;
  }
  throw new Error('expected a ConfigError');
}

const fromContext = (context: Record<string, string>) => () => deploySettings((key) => context[key]);

describe('deploy settings (CDK context)', { timeout: 120_000 }, () => {
  it('refuses each missing setting by name', () => {
    for (const key of ['stage', 'jwtIssuer', 'jwtAudience', 'databaseSecretArn'] as const) {
      const { [key]: _gone, ...rest } = REAL;
      expect(settingOf(fromContext(rest)), key).toBe(key);
    }
  });

  it('refuses the placeholders of offline synthesis in a real deploy', () => {
    expect(settingOf(fromContext({ ...REAL, jwtIssuer: PLACEHOLDERS.jwtIssuer }))).toBe('jwtIssuer');
    expect(settingOf(fromContext({ ...REAL, jwtIssuer: 'https://login.example.com/realm' }))).toBe(
      'jwtIssuer',
    );
    expect(settingOf(fromContext({ ...REAL, jwtIssuer: 'http://auth.ngomna.cm/realm' }))).toBe('jwtIssuer');
    expect(settingOf(fromContext({ ...REAL, databaseSecretArn: PLACEHOLDERS.databaseSecretArn }))).toBe(
      'databaseSecretArn',
    );
    expect(
      settingOf(
        fromContext({
          ...REAL,
          upstashSecretArn: REAL.databaseSecretArn.replace('210987654321', '123456789012'),
        }),
      ),
    ).toBe('upstashSecretArn');
  });

  it('fills missing settings with placeholders only when allowPlaceholders=true is given', () => {
    const { stackName, props } = deploySettings((key) => ({ allowPlaceholders: 'true' })[key]);
    expect(stackName).toBe('NgomnaUserCache-dev');
    expect(props).toMatchObject({
      stage: PLACEHOLDERS.stage,
      jwtIssuer: PLACEHOLDERS.jwtIssuer,
      jwtAudience: [PLACEHOLDERS.jwtAudience],
      databaseSecretArn: PLACEHOLDERS.databaseSecretArn,
    });
  });

  it('never accepts placeholders for a production stage', () => {
    expect(settingOf(fromContext({ allowPlaceholders: 'true', stage: 'prod' }))).toBe('allowPlaceholders');
    expect(settingOf(fromContext({ allowPlaceholders: 'true', production: 'true' }))).toBe(
      'allowPlaceholders',
    );
  });

  it('names the stack after the stage and reads the optional settings', () => {
    const { stackName, props } = deploySettings(
      (key) =>
        ({
          ...REAL,
          jwtAudience: 'a, b',
          corsAllowOrigins: 'https://app.ngomna.cm',
          reservePollerConcurrency: 'true',
          deployment: 'all-at-once',
        })[key],
    );
    expect(stackName).toBe('NgomnaUserCache-staging');
    expect(props).toMatchObject({
      jwtAudience: ['a', 'b'],
      production: false,
      reservePollerConcurrency: true,
      cors: { allowOrigins: ['https://app.ngomna.cm'] },
    });
    expect(props.deploymentConfig?.deploymentConfigName).toBe('CodeDeployDefault.LambdaAllAtOnce');
    expect(settingOf(fromContext({ ...REAL, deployment: 'yolo' }))).toBe('deployment');
  });

  it('makes `cdk deploy` without settings fail at synthesis, naming the first missing one', async () => {
    const out = mkdtempSync(join(tmpdir(), 'cdk-out-'));
    try {
      // As the CDK CLI runs the app: context as JSON in the environment. Nothing is bundled or deployed.
      const failed = await run('npx', ['tsx', 'infra/app.ts'], {
        cwd: PROJECT_ROOT,
        env: { ...process.env, CDK_CONTEXT_JSON: '{}', CDK_OUTDIR: out },
        timeout: 60_000,
      }).then(
        () => undefined,
        (error: { stderr: string }) => error.stderr,
      );
      expect(failed).toMatch(/CDK context "stage" is required/);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

describe('imported ARNs', { timeout: 120_000 }, () => {
  it('refuses a partial secret ARN (without the 6-character suffix), naming the setting', () => {
    const partial = 'arn:aws:secretsmanager:eu-west-1:111111111111:secret:ngomna/db';
    expect(settingOf(() => synthNew({ databaseSecretArn: partial }))).toBe('databaseSecretArn');
    expect(settingOf(() => synthNew({ upstashSecretArn: `${partial}-Ab` }))).toBe('upstashSecretArn');
    expect(settingOf(() => synthNew({ alarmTopicArn: 'ngomna-oncall' }))).toBe('alarmTopicArn');
  });

  it('refuses an ARN of another region when the stack region is known', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const create = () =>
      new UserCacheStack(app, 'Elsewhere', {
        ...BASE_PROPS,
        env: { region: 'af-south-1', account: '111111111111' },
      });
    expect(settingOf(create)).toBe('databaseSecretArn');
    expect(create).toThrow(/databaseSecretArn is in eu-west-1, but the stack deploys to af-south-1/);
  });

  it('adds a CloudFormation rule that stops a deploy to another region before any change', () => {
    const { template } = synth({ alarmTopicArn: ALARM_TOPIC_ARN });
    const rules = template.toJSON().Rules as Json;
    const ours = Object.entries(rules).filter(([id]) => id.startsWith('ImportsInStackRegion'));
    expect(ours).toHaveLength(1);
    const assertions = ours[0]![1].Assertions as Json[];
    expect(assertions.map((a) => a.Assert)).toEqual([
      { 'Fn::Equals': [{ Ref: 'AWS::Region' }, 'eu-west-1'] },
      { 'Fn::Equals': [{ Ref: 'AWS::Region' }, 'eu-west-1'] },
    ]);
    expect(assertions.map((a) => a.AssertDescription)).toEqual([
      expect.stringMatching(/^databaseSecretArn is in eu-west-1/),
      expect.stringMatching(/^alarmTopicArn is in eu-west-1/),
    ]);
  });
});

describe('stages', { timeout: 120_000 }, () => {
  /** Properties that name something account-wide (or Redis-wide, for the functions' variables). */
  const NAME_KEYS =
    /^(AlarmName|DashboardName|LogGroupName|QueueName|RoleName|TopicName|ApplicationName|DeploymentGroupName|Name|FunctionName|Namespace|STAGE|CACHE_KEY_PREFIX|EVENTS_STREAM|EVENTS_GROUP|POWERTOOLS_SERVICE_NAME|POWERTOOLS_METRICS_NAMESPACE)$/;

  /** Every literal string under a name property (tokens such as Ref are per stack by construction). */
  function physicalNames(template: Json): string[] {
    const names: string[] = [];
    const visit = (value: unknown, key: string) => {
      if (typeof value === 'string') {
        if (NAME_KEYS.test(key)) names.push(value);
      } else if (Array.isArray(value)) {
        for (const v of value) visit(v, key);
      } else if (value && typeof value === 'object') {
        const join = (value as Json)['Fn::Join'];
        if (join) {
          // A joined name: its literal parts, with '*' for the tokens.
          const [separator, parts] = join as [string, unknown[]];
          if (NAME_KEYS.test(key))
            names.push(parts.map((p) => (typeof p === 'string' ? p : '*')).join(separator));
          return;
        }
        for (const [k, v] of Object.entries(value)) {
          // Metric dimensions name AWS's own keys (ApiId, FunctionName…), not resources.
          if (k !== 'Dimensions') visit(v, k.startsWith('Fn::') ? key : k);
        }
      }
    };
    for (const resource of Object.values(template.Resources as Json))
      visit((resource as Json).Properties, '');
    return names;
  }

  it('synthesizes two stages into one account with no name in common', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    // Both stacks first: an app cannot grow after its first synthesis.
    const stacks = [
      new UserCacheStack(app, 'Prod', { ...BASE_PROPS, stage: 'prod', alarmTopicArn: ALARM_TOPIC_ARN }),
      new UserCacheStack(app, 'Staging', { ...BASE_PROPS, stage: 'staging' }),
    ];
    const [prod, staging] = stacks.map((stack) => Template.fromStack(stack).toJSON()) as [Json, Json];
    const [a, b] = [physicalNames(prod), physicalNames(staging)];
    expect(a).toEqual(
      expect.arrayContaining([
        'user-cache-prod-Api5xxRate',
        'user-cache-prod',
        'prod',
        'NgomnaUserCache/prod',
      ]),
    );
    const shared = a.filter((name) => b.includes(name));
    // Only names scoped to their parent: the alias of each function, the API's stage and authorizer,
    // AWS's own metric namespaces (with per-stack dimensions).
    expect(new Set(shared)).toEqual(
      new Set(['live', 'JwtAuthorizer', 'AWS/ApiGateway', 'AWS/Lambda', 'AWS/SQS']),
    );
    // Secrets, schedules, log groups, queues and the CodeDeploy application carry no fixed name, so
    // CloudFormation gives each stack its own; the access-log group's name includes the stack name.
    for (const t of [prod, staging]) {
      for (const [type, property] of [
        ['AWS::SecretsManager::Secret', 'Name'],
        ['AWS::Scheduler::Schedule', 'Name'],
        ['AWS::SQS::Queue', 'QueueName'],
        ['AWS::Lambda::Function', 'FunctionName'],
      ] as const) {
        for (const r of Object.values(t.Resources as Json).filter((x: Json) => x.Type === type)) {
          expect((r as Json).Properties?.[property], type).toBeUndefined();
        }
      }
    }
  });

  it('derives the key prefix, stream, group, service and namespace from the stage (functions/commons/stage.ts)', () => {
    const { template, fnId } = synth();
    const env = template.toJSON().Resources[fnId('streamPoller')].Properties.Environment.Variables;
    expect(env).toMatchObject({
      STAGE: 'staging',
      POWERTOOLS_SERVICE_NAME: 'user-cache-staging',
      POWERTOOLS_METRICS_NAMESPACE: 'NgomnaUserCache/staging',
    });
  });

  it('requires an alarm topic for a production stage, and protects its stack from termination', () => {
    expect(settingOf(() => synthNew({ stage: 'prod' }))).toBe('alarmTopicArn');
    expect(settingOf(() => synthNew({ stage: 'live', production: true }))).toBe('alarmTopicArn');
    expect(synthNew({ stage: 'prod', alarmTopicArn: ALARM_TOPIC_ARN }).stack.terminationProtection).toBe(
      true,
    );
    expect(synth().stack.terminationProtection).toBe(false);
  });

  it('refuses a stage name that cannot prefix keys and resource names', () => {
    for (const stage of ['', 'Prod', 'pr od', '1st', 'a'.repeat(21)]) {
      expect(
        settingOf(() => synthNew({ stage })),
        stage,
      ).toBe('stage');
    }
  });

  it('tags every taggable resource with the service and the stage', () => {
    const { template } = synth();
    const fns = Object.values(template.findResources('AWS::Lambda::Function'));
    for (const fn of fns) {
      expect(fn.Properties.Tags).toEqual(
        expect.arrayContaining([
          { Key: 'service', Value: 'ngomna-user-cache' },
          { Key: 'stage', Value: 'staging' },
        ]),
      );
    }
    template.hasResourceProperties('AWS::SQS::Queue', {
      Tags: Match.arrayWith([{ Key: 'stage', Value: 'staging' }]),
    });
  });
});

describe('API access logs', { timeout: 120_000 }, () => {
  it('go to a log group under /aws/vendedlogs/, unique per stack instance', () => {
    const { template, stack, logicalId } = synth();
    const group = template.toJSON().Resources[logicalId(stack.api.accessLogs)].Properties;
    expect(group.LogGroupName).toEqual({
      'Fn::Join': [
        '',
        [
          '/aws/vendedlogs/apigateway/UserCache/',
          { 'Fn::Select': [2, { 'Fn::Split': ['/', { Ref: 'AWS::StackId' }] }] },
        ],
      ],
    });
  });
});

it('keeps DB_SECRET_ARN in the region the rule expects', () => {
  expect(DB_SECRET_ARN.split(':')[3]).toBe('eu-west-1');
});
