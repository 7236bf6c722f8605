/**
 * Synthesis helpers for the infra tests (no AWS account): the stack with bundling skipped
 * (`aws:cdk:bundling-stacks: []`), resources read by logical id, cdk-nag findings.
 */
import { App, type CfnResource, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Vpc } from 'aws-cdk-lib/aws-ec2';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import type { FunctionName } from '../../infra/functionTable.js';
import { UserCacheStack, type UserCacheStackProps } from '../../infra/userCacheStack.js';

export const DB_SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:111111111111:secret:ngomna/db-AbCdEf';
export const UPSTASH_SECRET_ARN =
  'arn:aws:secretsmanager:eu-west-1:111111111111:secret:ngomna/upstash-GhIjKl';
export const ALARM_TOPIC_ARN = 'arn:aws:sns:eu-west-1:111111111111:ngomna-oncall';

export const BASE_PROPS: UserCacheStackProps = {
  stage: 'staging',
  jwtIssuer: 'https://auth.ngomna.test/realms/ngomna',
  jwtAudience: ['ngomna-app'],
  databaseSecretArn: DB_SECRET_ARN,
};

// biome-ignore lint/suspicious/noExplicitAny: synthesized CloudFormation is untyped JSON, read by path.
export type Json = Record<string, any>;

export type Synth = ReturnType<typeof synthNew>;

let defaultSynth: Synth | undefined;

/** Synthesizes the stack; the default one (no props, no changes) once per file, as tests only read it. */
export function synth(props: Partial<UserCacheStackProps> = {}, configure?: (stack: Stack) => void): Synth {
  if (Object.keys(props).length > 0 || configure) return synthNew(props, configure);
  defaultSynth ??= synthNew();
  return defaultSynth;
}

export function synthNew(
  props: Partial<UserCacheStackProps> = {},
  configure?: (stack: Stack) => void,
  app = new App({ context: { 'aws:cdk:bundling-stacks': [] } }),
  id = 'UserCache',
) {
  const stack = new UserCacheStack(app, id, { ...BASE_PROPS, ...props });
  configure?.(stack);
  const template = Template.fromStack(stack);
  const logicalId = (construct: IConstruct) =>
    stack.resolve(stack.getLogicalId(construct.node.defaultChild as CfnResource)) as string;
  const fnId = (name: FunctionName) => logicalId(stack.functions[name].function);
  const aliasId = (name: FunctionName) => logicalId(stack.functions[name].alias);
  return { app, stack, template, fnId, aliasId, logicalId };
}

/** An existing VPC, imported by id: no VPC resources (and no VPC findings) in the stack under test. */
export function importedVpc() {
  return Vpc.fromVpcAttributes(new Stack(new App(), 'Lookup'), 'Vpc', {
    vpcId: 'vpc-0123456789abcdef0',
    availabilityZones: ['eu-west-1a', 'eu-west-1b'],
    privateSubnetIds: ['subnet-0aaaaaaaaaaaaaaa1', 'subnet-0aaaaaaaaaaaaaaa2'],
  });
}

export function lambdas(template: Template): Record<string, Json> {
  return template.findResources('AWS::Lambda::Function');
}

export function envOf(template: Template, fnLogicalId: string): Record<string, unknown> {
  return lambdas(template)[fnLogicalId]?.Properties.Environment.Variables ?? {};
}

export function alarms(template: Template): Json[] {
  return Object.values(template.findResources('AWS::CloudWatch::Alarm'));
}

export function nagFindings(app: App): string[] {
  return new AwsSolutionsChecks()
    .validateScope(app)
    .violations.flatMap((v) =>
      v.violatingResources.map((r) => `${v.severity} ${v.ruleName} at ${r.constructPath}`),
    );
}
