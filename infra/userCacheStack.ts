/**
 * The whole service in one environment-agnostic stack: HTTP API → Lambda functions (from
 * `FUNCTIONS`) → Upstash Redis + PostgreSQL, scheduled poller, prewarm and audit, alarms and a dashboard.
 */
import { CfnOutput, Duration, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import type { ThrottleSettings } from 'aws-cdk-lib/aws-apigatewayv2';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Topic } from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { ConfigError } from '../shared/errors.js';
import { POLLER_SAFETY_MARGIN_MS, POLLER_SCHEDULE } from '../shared/pollerSchedule.js';
import { splitConnectionBudget } from './connectionBudget.js';
import { CacheFunction, type FunctionNetwork } from './constructs/cacheFunction.js';
import { type CacheSettings, settingsToEnvironment } from './constructs/environment.js';
import { FailureQueue } from './constructs/failureQueue.js';
import { type AlarmThresholds, Monitoring } from './constructs/monitoring.js';
import { ScheduledRuns } from './constructs/scheduledRuns.js';
import { type CorsOptions, UserCacheApi } from './constructs/userCacheApi.js';
import { FUNCTIONS, type FunctionName, type FunctionSpec } from './functionTable.js';

export interface UserCacheStackProps extends StackProps {
  /** Issuer (`iss`) of the access tokens, e.g. a Cognito user pool or Keycloak realm URL. */
  readonly jwtIssuer: string;
  /** Accepted audiences (`aud`, or `client_id` for Cognito access tokens). */
  readonly jwtAudience: string[];
  /** Scope required by the GET routes. @default 'users.read' */
  readonly readScope?: string;
  /** Scope required by PUT, POST and DELETE. @default 'users.write' */
  readonly writeScope?: string;
  /** Stage-wide throttling. @default { rateLimit: 500, burstLimit: 1000 } */
  readonly throttle?: ThrottleSettings;
  /** @default CORS off (no preflight route, no CORS headers) */
  readonly cors?: CorsOptions;
  /** Complete ARN of the RDS-style database secret (host, port, username, password, dbname). */
  readonly databaseSecretArn: string;
  /** TLS to PostgreSQL (DATABASE_SSL). @default config.ts default: 'require' with a secret ARN */
  readonly databaseSsl?: 'require' | 'disable';
  /**
   * Complete ARN of an existing Upstash secret (JSON `{"url","token"}`).
   * @default a new secret with a placeholder value: put the real one before the first request
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
   * Reserve two concurrent executions for the poller: a run and the successor it hands over to. The
   * Redis lease is the real guard; new accounts often cannot reserve (minimum 10 unreserved). @default false
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
  /** SNS topic that receives alarm notifications. @default no actions */
  readonly alarmTopicArn?: string;
  /** @default DEFAULT_THRESHOLDS in constructs/monitoring.ts */
  readonly alarmThresholds?: Partial<AlarmThresholds>;
  /** POWERTOOLS_SERVICE_NAME, also the `service` metric dimension. @default 'user-cache' */
  readonly serviceName?: string;
  /** POWERTOOLS_METRICS_NAMESPACE. @default 'NgomnaUserCache' */
  readonly metricsNamespace?: string;
}

/**
 * Node 20+ Lambda runtimes no longer load Amazon's CA bundle (cold-start cost), but `pg` verifies the
 * RDS certificate when DATABASE_SSL=require: point Node at the bundle the runtime ships.
 */
const RDS_CA_ENV = { NODE_EXTRA_CA_CERTS: '/var/runtime/ca-cert.pem' };

export class UserCacheStack extends Stack {
  readonly functions: Record<FunctionName, CacheFunction>;
  readonly api: UserCacheApi;
  readonly upstashSecret: ISecret;
  readonly databaseSecret: ISecret;
  readonly monitoring: Monitoring;

  constructor(scope: Construct, id: string, props: UserCacheStackProps) {
    super(scope, id, props);
    const scopes = { read: props.readScope ?? 'users.read', write: props.writeScope ?? 'users.write' };
    const serviceName = props.serviceName ?? 'user-cache';
    const namespace = props.metricsNamespace ?? 'NgomnaUserCache';
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;

    this.databaseSecret = Secret.fromSecretCompleteArn(this, 'DatabaseSecret', props.databaseSecretArn);
    this.upstashSecret = props.upstashSecretArn
      ? Secret.fromSecretCompleteArn(this, 'UpstashSecret', props.upstashSecretArn)
      : this.createUpstashSecret();
    const secrets = { upstash: this.upstashSecret, database: this.databaseSecret };

    const environment: Record<string, string> = {
      ...settingsToEnvironment(props.settings),
      POWERTOOLS_SERVICE_NAME: serviceName,
      POWERTOOLS_METRICS_NAMESPACE: namespace,
      AUTH_READ_SCOPE: scopes.read,
      AUTH_WRITE_SCOPE: scopes.write,
      ...(props.databaseSsl && { DATABASE_SSL: props.databaseSsl }),
    };
    const failures = new FailureQueue(this, 'FailedRuns').queue;
    const connections =
      props.databaseConnectionBudget === undefined
        ? undefined
        : splitConnectionBudget({
            budget: props.databaseConnectionBudget,
            functions: FUNCTIONS,
            expressions: { prewarm: props.prewarmSchedule },
          });
    const functions: Partial<Record<FunctionName, CacheFunction>> = {};
    for (const spec of FUNCTIONS as readonly FunctionSpec[]) {
      const name = spec.name as FunctionName;
      const isPoller = spec.name === 'streamPoller';
      const usesDatabase = spec.secrets.includes('database');
      if (isPoller && spec.timeoutSeconds * 1000 - POLLER_SCHEDULE.budgetMs < POLLER_SAFETY_MARGIN_MS) {
        throw new ConfigError('streamPoller timeout must exceed its budget by the safety margin');
      }
      const fn = new CacheFunction(this, name, {
        spec,
        logRetention,
        // Row overrides beat stack-wide settings; values the stack derives per function beat both.
        environment: {
          ...environment,
          ...spec.environment,
          ...(usesDatabase && props.databaseSsl !== 'disable' && RDS_CA_ENV),
          ...(isPoller && { POLLER_BUDGET_MS: String(POLLER_SCHEDULE.budgetMs) }),
        },
        network: usesDatabase ? props.network : undefined,
        // Poller: two, a run and its successor overlap while they hand over.
        reservedConcurrentExecutions:
          isPoller && props.reservePollerConcurrency ? 2 : connections?.reserved[spec.name],
      });
      for (const use of spec.secrets) fn.readSecret(use, secrets[use]);
      if (spec.trigger.kind === 'schedule') {
        fn.sendAsyncFailuresTo(failures, Duration.seconds(spec.trigger.maxEventAgeSeconds));
      }
      functions[name] = fn;
    }
    this.functions = functions as Record<FunctionName, CacheFunction>;

    this.api = new UserCacheApi(this, 'Api', {
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
                handler: this.functions[spec.name].function,
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
                handler: this.functions[spec.name].function,
                expression:
                  spec.name === 'prewarm'
                    ? (props.prewarmSchedule ?? spec.trigger.expression)
                    : spec.trigger.expression,
                maxEventAge: Duration.seconds(spec.trigger.maxEventAgeSeconds),
                description: spec.description,
              },
            ]
          : [],
      ),
    });

    this.monitoring = new Monitoring(this, 'Monitoring', {
      api: this.api,
      readRoute: { method: 'GET', path: '/users/{id}' },
      namespace,
      service: serviceName,
      schedulerDeadLetterQueue: deadLetters,
      failureQueue: failures,
      thresholds: props.alarmThresholds,
      alarmTopic: props.alarmTopicArn
        ? Topic.fromTopicArn(this, 'AlarmTopic', props.alarmTopicArn)
        : undefined,
    });

    this.acknowledgeNagFindings(props.network !== undefined);
    new CfnOutput(this, 'ApiUrl', { value: this.api.url, description: 'Base URL of the HTTP API' });
    new CfnOutput(this, 'UpstashSecretArn', {
      value: this.upstashSecret.secretArn,
      description: 'Put {"url","token"} of the Upstash database here',
    });
    new CfnOutput(this, 'DashboardName', { value: this.monitoring.dashboard.dashboardName });
  }

  private createUpstashSecret(): ISecret {
    // The token is random filler so no plain value sits in the template; the real {"url","token"} is
    // put with `aws secretsmanager put-secret-value` after the first deploy.
    const secret = new Secret(this, 'UpstashSecret', {
      description: 'Upstash Redis REST credentials: JSON {"url","token"}',
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ url: 'https://replace-me.upstash.io' }),
        generateStringKey: 'token',
        excludePunctuation: true,
      },
    });
    Validations.of(secret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'Upstash tokens are issued and rotated in the Upstash console, which Secrets Manager cannot drive.',
    });
    return secret;
  }

  /** Findings that are deliberate, each with the reason it is acceptable here. */
  private acknowledgeNagFindings(inVpc: boolean): void {
    const managed = 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role';
    Validations.of(this).acknowledge({
      id: `${managed}/AWSLambdaBasicExecutionRole]`,
      reason:
        'The AWS managed basic execution role only allows writing to CloudWatch Logs; scoping it to each ' +
        'log group would add a custom policy per function for no security gain.',
    });
    if (inVpc) {
      Validations.of(this).acknowledge({
        id: `${managed}/AWSLambdaVPCAccessExecutionRole]`,
        reason:
          'Lambda needs ec2:CreateNetworkInterface and friends on "*" to attach to the VPC; the AWS managed ' +
          'policy is the documented minimum and is kept current by AWS.',
      });
    }
  }
}
