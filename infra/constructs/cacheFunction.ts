/**
 * One Lambda function of the service with the defaults every handler shares: Node 24 on arm64, an
 * ESM bundle built by the local esbuild (no Docker), source maps, its own log group, and helpers that
 * grant a secret and set the matching variable together.
 */
import { fileURLToPath } from 'node:url';
import { Duration, Validations } from 'aws-cdk-lib';
import type { ISecurityGroup, IVpc, SubnetSelection } from 'aws-cdk-lib/aws-ec2';
import {
  Alias,
  Architecture,
  ParamsAndSecretsLayerVersion,
  ParamsAndSecretsLogLevel,
  ParamsAndSecretsVersions,
  Runtime,
  Tracing,
} from 'aws-cdk-lib/aws-lambda';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { SETTINGS } from '../../functions/commons/settings.js';
import type { FunctionSpec, SecretUse } from '../functionTable.js';
import { assertNoSecretValues } from './environment.js';

/** Root of the repository (holds package.json, package-lock.json, functions/ and shared/). */
export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * ESM bundles of CommonJS dependencies (pg) call `require` at run time, which ESM lacks:
 * esbuild's shim then throws "Dynamic require of … is not supported" unless a real one exists.
 */
export const REQUIRE_BANNER =
  "import { createRequire } from 'module'; const require = createRequire(import.meta.url);";

const SECRET_ENV: Record<SecretUse, string> = {
  upstash: SETTINGS.upstashSecretArn.env,
  database: SETTINGS.databaseSecretArn.env,
};

/**
 * Secrets are read through the AWS Parameters and Secrets Lambda Extension (`functions/commons/secretReader.ts`),
 * not the AWS SDK, which alone was 65 ms of a cold start. Its cache TTL bounds how long a rotated secret
 * stays invisible after an authentication failure asks for it again; the functions keep the parsed
 * value themselves, so the TTL costs no GetSecretValue calls in steady state.
 */
const SECRETS_EXTENSION_TTL = Duration.seconds(30);

/** Where a database-bound function runs. Omit to run outside any VPC. */
export interface FunctionNetwork {
  readonly vpc: IVpc;
  /** @default the VPC's private subnets */
  readonly vpcSubnets?: SubnetSelection;
  /** @default a new security group with all outbound traffic allowed */
  readonly securityGroups?: ISecurityGroup[];
}

export interface CacheFunctionProps {
  /** The function's row in `FUNCTIONS` (entry, memory, timeout). */
  readonly spec: FunctionSpec;
  /** Variables on top of NODE_OPTIONS; must not carry secret values (throws ConfigError). */
  readonly environment: Record<string, string>;
  readonly logRetention: RetentionDays;
  /** @default no VPC */
  readonly network?: FunctionNetwork;
  /** @default no reserved concurrency (new accounts often cannot reserve any) */
  readonly reservedConcurrentExecutions?: number;
  /** @default PROJECT_ROOT */
  readonly projectRoot?: string;
}

/** The alias every trigger invokes (API integrations, schedules) and CodeDeploy shifts between versions. */
export const LIVE_ALIAS = 'live';

export class CacheFunction extends Construct {
  readonly function: NodejsFunction;
  /**
   * `live`, on the version this deploy published. Triggers target it, never `$LATEST`, so a deploy
   * changes traffic only by moving the alias (all at once, or gradually through CodeDeploy) and a
   * rollback is moving it back.
   */
  readonly alias: Alias;
  readonly logGroup: LogGroup;
  readonly spec: FunctionSpec;

  constructor(scope: Construct, id: string, props: CacheFunctionProps) {
    // Before super(): a refused function must not leave a half-built construct in the tree.
    assertNoSecretValues(props.environment);
    super(scope, id);
    const root = props.projectRoot ?? PROJECT_ROOT;
    this.spec = props.spec;
    this.logGroup = new LogGroup(this, 'Logs', { retention: props.logRetention });
    this.function = new NodejsFunction(this, 'Function', {
      entry: `${root}${props.spec.entry}`,
      handler: 'handler',
      description: props.spec.description,
      // Explicit: without it NodejsFunction may pick an older Node than the code is tested on.
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      // The layer for the function's architecture (arm64), per region.
      paramsAndSecrets: ParamsAndSecretsLayerVersion.fromVersion(ParamsAndSecretsVersions.V1_0_103, {
        secretsManagerTtl: SECRETS_EXTENSION_TTL,
        logLevel: ParamsAndSecretsLogLevel.WARN,
      }),
      memorySize: props.spec.memorySize,
      timeout: Duration.seconds(props.spec.timeoutSeconds),
      logGroup: this.logGroup,
      // X-Ray active tracing: Lambda's own segments (init, invocation, overhead) at no bundle cost.
      // No Powertools Tracer: see docs/runbook.md#tracing for why it does not fit the cold-start budget.
      tracing: Tracing.ACTIVE,
      projectRoot: root,
      depsLockFilePath: `${root}package-lock.json`,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      vpc: props.network?.vpc,
      vpcSubnets: props.network?.vpcSubnets,
      securityGroups: props.network?.securityGroups,
      environment: { ...props.environment, NODE_OPTIONS: '--enable-source-maps' },
      bundling: {
        format: OutputFormat.ESM,
        minify: true,
        sourceMap: true,
        target: 'node24',
        // Prefer ESM builds of dependencies: smaller and tree-shakeable.
        mainFields: ['module', 'main'],
        banner: REQUIRE_BANNER,
        // No function imports the AWS SDK (test/bundles.test.ts checks); should one ever do, it must use
        // the copy the Node 24 runtime ships rather than bundle megabytes of it. `./native` is pg's
        // libpq binding wrapper (8.5 KB), required only when `pg.native` is read, which nothing does:
        // left out, its lazy getter finds no module and answers null.
        externalModules: ['@aws-sdk/*', './native'],
      },
    });
    Validations.of(this.function).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Active tracing adds xray:PutTraceSegments and xray:PutTelemetryRecords, which have no resource-level ' +
        'permissions; they are the only "*" statement in this policy (asserted by test/infra.test.ts).',
    });
    this.alias = new Alias(this, 'Live', { aliasName: LIVE_ALIAS, version: this.function.currentVersion });
  }

  /** Grants read access to `secret` and sets its ARN variable (never the value). */
  readSecret(use: SecretUse, secret: ISecret): this {
    secret.grantRead(this.function);
    this.function.addEnvironment(SECRET_ENV[use], secret.secretArn);
    return this;
  }

  /**
   * Async invocations of the alias (EventBridge Scheduler) fail visibly: after `retryAttempts` Lambda
   * retries, a failed or expired event lands in `queue`.
   */
  sendAsyncFailuresTo(queue: IQueue, maxEventAge: Duration, retryAttempts: number): this {
    this.alias.configureAsyncInvoke({
      retryAttempts,
      maxEventAge,
      onFailure: new SqsDestination(queue),
    });
    return this;
  }
}
