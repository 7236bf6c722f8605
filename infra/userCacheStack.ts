/**
 * The whole service for one stage in one environment-agnostic stack: HTTP API → Lambda `live` aliases
 * (from `FUNCTIONS`) → Upstash Redis + PostgreSQL, scheduled poller, prewarm and audit, alarms from
 * `alarmTable.ts`, a dashboard, and gradual deployment of the API functions.
 */
import { CfnOutput, Duration, Stack, type StackProps, Tags } from 'aws-cdk-lib';
import type { ThrottleSettings } from 'aws-cdk-lib/aws-apigatewayv2';
import type { ILambdaDeploymentConfig } from 'aws-cdk-lib/aws-codedeploy';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Topic } from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { SETTINGS } from '../functions/commons/settings.js';
import { STAGE_PATTERN, stageNames } from '../functions/commons/stage.js';
import { ConfigError } from '../shared/errors.js';
import { splitConnectionBudget } from './connectionBudget.js';
import { type AlarmThresholds, alarmRows, DEFAULT_THRESHOLDS } from './constructs/alarmTable.js';
import type { FunctionNetwork } from './constructs/cacheFunction.js';
import { addRegionRule, checkImports } from './constructs/deploymentChecks.js';
import { type CacheSettings, settingsToEnvironment } from './constructs/environment.js';
import { FailureQueue } from './constructs/failureQueue.js';
import { GradualDeployment } from './constructs/gradualDeployment.js';
import { MetricSources } from './constructs/metrics.js';
import { Monitoring } from './constructs/monitoring.js';
import { acknowledgeNagFindings } from './constructs/nagFindings.js';
import { ScheduledRuns } from './constructs/scheduledRuns.js';
import { createUpstashSecret } from './constructs/upstashSecret.js';
import { type CorsOptions, UserCacheApi } from './constructs/userCacheApi.js';
import { FUNCTIONS } from './functionTable.js';
import { buildFunctions } from './stackFunctions.js';

export interface UserCacheStackProps extends StackProps {
  /**
   * Deployment stage (`prod`, `staging`…): drives the metrics namespace, the service name, alarm and
   * dashboard names, the cache key prefix, the events stream, the consumer group and the lease keys
   * (`functions/commons/stage.ts`), so two stages never share any of them, in one account or one Upstash database.
   */
  readonly stage: string;
  /** A production stage requires `alarmTopicArn` and gets termination protection. @default stage === 'prod' */
  readonly production?: boolean;
  /** Issuer (`iss`) of the access tokens, e.g. a Cognito user pool or Keycloak realm URL. */
  readonly jwtIssuer: string;
  /** Accepted audiences (`aud`, or `client_id` for Cognito access tokens). */
  readonly jwtAudience: string[];
  /** Scope required by the GET routes. @default `SETTINGS.readScope.default` */
  readonly readScope?: string;
  /** Scope required by PUT, POST and DELETE. @default `SETTINGS.writeScope.default` */
  readonly writeScope?: string;
  /** Stage-wide throttling. @default { rateLimit: 500, burstLimit: 1000 } */
  readonly throttle?: ThrottleSettings;
  /** @default CORS off (no preflight route, no CORS headers) */
  readonly cors?: CorsOptions;
  /** Complete ARN (with its 6-character suffix), in the stack's region, of the RDS-style database secret. */
  readonly databaseSecretArn: string;
  /** TLS to PostgreSQL (DATABASE_SSL). @default config.ts default: 'require' with a secret ARN */
  readonly databaseSsl?: 'require' | 'disable';
  /**
   * Complete ARN, in the stack's region, of an existing Upstash secret (JSON `{"url","token"}`).
   * @default a new secret holding a placeholder, retained on stack deletion: put the real value once
   */
  readonly upstashSecretArn?: string;
  /**
   * VPC for the functions that reach PostgreSQL. They then need a NAT gateway (or egress) to reach
   * Upstash and Secrets Manager, which live on the public internet / AWS endpoints.
   * @default no VPC (database reachable publicly over TLS)
   */
  readonly network?: FunctionNetwork;
  /**
   * Prewarm schedule (Scheduler expression, UTC): repeated runs that resume the day's checkpoint.
   * @default 'cron(0/15 4-6 * * ? *)' (every 15 min from 05:00 to 07:45 in Douala)
   */
  readonly prewarmSchedule?: string;
  /**
   * Reserve one concurrent execution for the poller. The Redis lease already prevents overlapping
   * runs; new accounts often cannot reserve (minimum 10 unreserved). @default false
   */
  readonly reservePollerConcurrency?: boolean;
  /**
   * Connections this stack may hold on PostgreSQL (what is left of `max_connections` after other
   * clients and the superuser reserve). Each API function that queries it gets reserved concurrency from
   * this budget, the scheduled ones counted at their worst-case overlap (docs/database.md). Reserved
   * concurrency throttles the functions too, hits included: size it from the traffic.
   * @default no reservation: nothing caps connections (put RDS Proxy or a role CONNECTION LIMIT in front)
   */
  readonly databaseConnectionBudget?: number;
  /** Non-secret tuning of cache, stream, prewarm and audit. @default config.ts defaults */
  readonly settings?: CacheSettings;
  /** Retention of function logs and API access logs. @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
  /** SNS topic (same region) that receives ALARM and OK notifications. @default none; required in production */
  readonly alarmTopicArn?: string;
  /** @default DEFAULT_THRESHOLDS in constructs/alarmTable.ts */
  readonly alarmThresholds?: Partial<AlarmThresholds>;
  /** Base of the runbook links in alarm descriptions. @default 'docs/runbook.md' */
  readonly runbookUrl?: string;
  /** How CodeDeploy shifts the API functions' `live` alias. @default canary, 10 % for 5 minutes */
  readonly deploymentConfig?: ILambdaDeploymentConfig;
}

export class UserCacheStack extends Stack {
  readonly stage: string;
  readonly production: boolean;
  readonly functions: ReturnType<typeof buildFunctions>;
  readonly api: UserCacheApi;
  readonly upstashSecret: ISecret;
  readonly databaseSecret: ISecret;
  readonly monitoring: Monitoring;
  readonly deployment: GradualDeployment;

  constructor(scope: Construct, id: string, props: UserCacheStackProps) {
    const production = props.production ?? props.stage === 'prod';
    // Before super(): a refused configuration must not leave a half-built stack in the app.
    if (!STAGE_PATTERN.test(props.stage)) {
      throw new ConfigError('stage must be 1-20 characters of a-z 0-9 -, starting with a letter', {
        details: { setting: 'stage' },
      });
    }
    if (production && !props.alarmTopicArn) {
      throw new ConfigError(`alarmTopicArn is required for the production stage "${props.stage}"`, {
        details: { setting: 'alarmTopicArn' },
      });
    }
    const imports = checkImports(
      [
        { setting: 'databaseSecretArn', arn: props.databaseSecretArn, kind: 'secret' },
        ...(props.upstashSecretArn
          ? [{ setting: 'upstashSecretArn', arn: props.upstashSecretArn, kind: 'secret' } as const]
          : []),
        ...(props.alarmTopicArn
          ? [{ setting: 'alarmTopicArn', arn: props.alarmTopicArn, kind: 'topic' } as const]
          : []),
      ],
      props.env?.region,
    );
    super(scope, id, { ...props, terminationProtection: props.terminationProtection ?? production });
    this.stage = props.stage;
    this.production = production;
    const names = stageNames(props.stage);
    Tags.of(this).add('service', 'ngomna-user-cache');
    Tags.of(this).add('stage', props.stage);

    addRegionRule(this, imports);

    const scopes = {
      read: props.readScope ?? SETTINGS.readScope.default,
      write: props.writeScope ?? SETTINGS.writeScope.default,
    };
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;
    this.databaseSecret = Secret.fromSecretCompleteArn(this, 'DatabaseSecret', props.databaseSecretArn);
    this.upstashSecret = props.upstashSecretArn
      ? Secret.fromSecretCompleteArn(this, 'UpstashSecret', props.upstashSecretArn)
      : createUpstashSecret(this, 'UpstashSecret', props.stage);

    const failures = new FailureQueue(this, 'FailedRuns').queue;
    const connections =
      props.databaseConnectionBudget === undefined
        ? undefined
        : splitConnectionBudget({
            budget: props.databaseConnectionBudget,
            functions: FUNCTIONS,
            expressions: { prewarm: props.prewarmSchedule },
          });
    this.functions = buildFunctions(this, {
      environment: {
        ...settingsToEnvironment(props.settings),
        [SETTINGS.stage.env]: props.stage,
        [SETTINGS.serviceName.env]: names.serviceName,
        [SETTINGS.metricsNamespace.env]: names.metricsNamespace,
        [SETTINGS.readScope.env]: scopes.read,
        [SETTINGS.writeScope.env]: scopes.write,
        ...(props.databaseSsl && { [SETTINGS.databaseSsl.env]: props.databaseSsl }),
      },
      databaseSsl: props.databaseSsl,
      secrets: { upstash: this.upstashSecret, database: this.databaseSecret },
      logRetention,
      network: props.network,
      reservePollerConcurrency: props.reservePollerConcurrency ?? false,
      reservedConcurrency: connections?.reserved,
      failureQueue: failures,
    });

    this.api = new UserCacheApi(this, 'Api', {
      name: `ngomna-${names.serviceName}`,
      jwtIssuer: props.jwtIssuer,
      jwtAudience: props.jwtAudience,
      throttle: props.throttle ?? { rateLimit: 500, burstLimit: 1000 },
      cors: props.cors && { maxAge: Duration.hours(1), ...props.cors },
      logRetention,
      routes: FUNCTIONS.flatMap((spec) =>
        spec.trigger.kind === 'route'
          ? [
              {
                ...spec.trigger,
                name: spec.name,
                scope: scopes[spec.trigger.access],
                handler: this.functions[spec.name].alias,
              },
            ]
          : [],
      ),
    });

    const deadLetters = new FailureQueue(this, 'SchedulerDeadLetters').queue;
    new ScheduledRuns(this, 'Schedules', {
      deadLetterQueue: deadLetters,
      runs: FUNCTIONS.flatMap((spec) =>
        spec.trigger.kind === 'schedule'
          ? [
              {
                name: spec.name,
                handler: this.functions[spec.name].alias,
                expression:
                  spec.name === 'prewarm'
                    ? (props.prewarmSchedule ?? spec.trigger.expression)
                    : spec.trigger.expression,
                maxEventAge: Duration.seconds(spec.trigger.maxEventAgeSeconds),
                retryAttempts: spec.trigger.retryAttempts,
                description: spec.description,
              },
            ]
          : [],
      ),
    });

    const metrics = new MetricSources({
      api: this.api,
      readRoute: { method: 'GET', path: '/users/{id}' },
      namespace: names.metricsNamespace,
      service: names.serviceName,
    });
    const fnHandles = Object.fromEntries(
      Object.entries(this.functions).map(([name, fn]) => [name, fn.function]),
    );
    this.monitoring = new Monitoring(this, 'Monitoring', {
      metrics,
      rows: alarmRows({
        metrics,
        thresholds: { ...DEFAULT_THRESHOLDS, ...props.alarmThresholds },
        functions: fnHandles,
        schedulerDeadLetterQueue: deadLetters,
        failureQueue: failures,
      }),
      namePrefix: names.serviceName,
      runbookUrl: props.runbookUrl ?? 'docs/runbook.md',
      schedulerDeadLetterQueue: deadLetters,
      failureQueue: failures,
      alarmTopic: props.alarmTopicArn
        ? Topic.fromTopicArn(this, 'AlarmTopic', props.alarmTopicArn)
        : undefined,
    });

    const alarm = (alarmId: string) => {
      const found = this.monitoring.alarms[alarmId];
      if (!found) throw new Error(`no alarm ${alarmId}`);
      return found;
    };
    this.deployment = new GradualDeployment(this, 'Deployment', {
      deploymentConfig: props.deploymentConfig,
      targets: FUNCTIONS.flatMap((spec) =>
        spec.trigger.kind === 'route'
          ? [
              {
                name: spec.name,
                alias: this.functions[spec.name].alias,
                alarms: [alarm(`Errors${capitalize(spec.name)}`), alarm('Api5xxRate')],
              },
            ]
          : [],
      ),
    });

    acknowledgeNagFindings(this, { inVpc: props.network !== undefined });
    new CfnOutput(this, 'ApiUrl', { value: this.api.url, description: 'Base URL of the HTTP API' });
    new CfnOutput(this, 'UpstashSecretArn', {
      value: this.upstashSecret.secretArn,
      description: 'Put {"url","token"} of the Upstash database here',
    });
    new CfnOutput(this, 'DashboardName', { value: this.monitoring.dashboard.dashboardName });
    // For `npm run dlq -- … --queue failed-runs|scheduler-dead-letters`.
    new CfnOutput(this, 'FailedRunsQueueUrl', { value: failures.queueUrl });
    new CfnOutput(this, 'SchedulerDeadLettersQueueUrl', { value: deadLetters.queueUrl });
  }
}

function capitalize(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}
