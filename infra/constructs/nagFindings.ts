/**
 * cdk-nag findings that are deliberate, each with the reason it is acceptable here. Findings tied to
 * one construct are acknowledged next to it (failureQueue.ts, upstashSecret.ts, scheduledRuns.ts).
 */
import { type Stack, Validations } from 'aws-cdk-lib';

export function acknowledgeNagFindings(stack: Stack, opts: { inVpc: boolean }): void {
  const managed = 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role';
  Validations.of(stack).acknowledge({
    id: `${managed}/AWSLambdaBasicExecutionRole]`,
    reason:
      'The AWS managed basic execution role only allows writing to CloudWatch Logs; scoping it to each ' +
      'log group would add a custom policy per function for no security gain.',
  });
  if (opts.inVpc) {
    Validations.of(stack).acknowledge({
      id: `${managed}/AWSLambdaVPCAccessExecutionRole]`,
      reason:
        'Lambda needs ec2:CreateNetworkInterface and friends on "*" to attach to the VPC; the AWS managed ' +
        'policy is the documented minimum and is kept current by AWS.',
    });
  }
}
