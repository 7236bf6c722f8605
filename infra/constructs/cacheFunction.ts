/**
 * One Lambda function of the service with the defaults every handler shares: Node 24 on arm64, an
 * ESM bundle built by the local esbuild (no Docker), source maps, its own log group, and helpers that
 * grant a secret and set the matching variable together.
 */
import { fileURLToPath } from 'node:url';
import { Duration } from 'aws-cdk-lib';
import type { ISecurityGroup, IVpc, SubnetSelection } from 'aws-cdk-lib/aws-ec2';
import {
  Architecture,
  ParamsAndSecretsLayerVersion,
  ParamsAndSecretsLogLevel,
  ParamsAndSecretsVersions,
  Runtime,
} from 'aws-cdk-lib/aws-lambda';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
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
  upstash: 'UPSTASH_SECRET_ARN',
  database: 'DATABASE_SECRET_ARN',
};

/**
 * Secrets are read through the AWS Parameters and Secrets Lambda Extension (`shared/secretReader.ts`),
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

export class CacheFunction extends Construct {
  readonly function: NodejsFunction;
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
  }

  /** Grants read access to `secret` and sets its ARN variable (never the value). */
  readSecret(use: SecretUse, secret: ISecret): this {
    secret.grantRead(this.function);
    this.function.addEnvironment(SECRET_ENV[use], secret.secretArn);
    return this;
  }

  /**
   * Async invocations (EventBridge Scheduler) fail fast and visibly: no Lambda retries (the next
   * scheduled run is the retry) and a failed or expired event lands in `queue`.
   */
  sendAsyncFailuresTo(queue: IQueue, maxEventAge: Duration): this {
    this.function.configureAsyncInvoke({
      retryAttempts: 0,
      maxEventAge,
      onFailure: new SqsDestination(queue),
    });
    return this;
  }
}
