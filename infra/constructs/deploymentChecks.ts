/**
 * Checks on what a deployment imports by ARN. A partial secret ARN (no 6-character suffix) makes IAM
 * grants miss the secret; an ARN in another region is denied at run time, after the deploy "worked".
 * Both are refused at synthesis, and where the stack's region is only known at deploy time a
 * CloudFormation rule stops the deploy before any resource changes.
 */
import { Aws, CfnRule, Fn, Stack, Token } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { ConfigError } from '../../shared/errors.js';

/** A complete Secrets Manager ARN: Secrets Manager appends `-` and 6 random characters to the name. */
const SECRET_ARN =
  /^arn:aws[a-z-]*:secretsmanager:([a-z]{2}(?:-[a-z]+)+-\d):(\d{12}):secret:[\w/+=.@-]+-[A-Za-z0-9]{6}$/;
const TOPIC_ARN = /^arn:aws[a-z-]*:sns:([a-z]{2}(?:-[a-z]+)+-\d):(\d{12}):[\w-]{1,256}$/;

export interface ImportedArn {
  /** The setting's name, as the operator writes it (`databaseSecretArn`). */
  readonly setting: string;
  readonly arn: string;
  readonly kind: 'secret' | 'topic';
}

/** Throws a ConfigError naming the setting for a malformed ARN; returns the ARN's region. */
export function arnRegion({ setting, arn, kind }: ImportedArn): string {
  const match = (kind === 'secret' ? SECRET_ARN : TOPIC_ARN).exec(arn);
  if (!match?.[1]) {
    const shape =
      kind === 'secret'
        ? 'arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 characters> (the complete ARN, with the suffix Secrets Manager added)'
        : 'arn:aws:sns:<region>:<account>:<topic>';
    throw new ConfigError(`${setting} must be ${shape}`, { details: { setting } });
  }
  return match[1];
}

export interface CheckedArn extends ImportedArn {
  readonly region: string;
}

/**
 * Every imported ARN must be well formed and, when the stack's region is fixed at synthesis
 * (`env.region`), in that region. Runs before the stack exists, so a refusal leaves nothing behind.
 */
export function checkImports(arns: readonly ImportedArn[], stackRegion: string | undefined): CheckedArn[] {
  const checked = arns.map((a) => ({ ...a, region: arnRegion(a) }));
  for (const a of checked) {
    if (stackRegion !== undefined && !Token.isUnresolved(stackRegion) && a.region !== stackRegion) {
      throw new ConfigError(`${a.setting} is in ${a.region}, but the stack deploys to ${stackRegion}`, {
        details: { setting: a.setting },
      });
    }
  }
  return checked;
}

/** For an environment-agnostic stack: a CloudFormation rule compares each ARN's region with `AWS::Region`. */
export function addRegionRule(scope: Construct, checked: readonly CheckedArn[]): void {
  if (!Token.isUnresolved(Stack.of(scope).region) || checked.length === 0) return;
  new CfnRule(scope, 'ImportsInStackRegion', {
    assertions: checked.map((a) => ({
      assert: Fn.conditionEquals(Aws.REGION, a.region),
      assertDescription: `${a.setting} is in ${a.region}: deploy the stack to ${a.region}, or use a ${a.kind} of this region`,
    })),
  });
}
