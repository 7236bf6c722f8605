/**
 * The Upstash secret a stack creates when none is imported. It holds the placeholder of
 * `functions/commons/notConfigured.ts` until an operator puts the real `{"url","token"}`, and nothing the
 * stack does afterwards may destroy that value: no generated string (a changed generator or a
 * replacement regenerates it), a template value that never changes (CloudFormation only writes the
 * secret when it does), and RETAIN on deletion (a deleted stack leaves the token for the next one to
 * import through `upstashSecretArn`).
 */
import { RemovalPolicy, SecretValue, Validations } from 'aws-cdk-lib';
import { type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { UPSTASH_PLACEHOLDER } from '../../functions/commons/notConfigured.js';

export function createUpstashSecret(scope: Construct, id: string, stage: string): ISecret {
  const secret = new Secret(scope, id, {
    description: `Upstash Redis REST credentials of stage ${stage}: JSON {"url","token"}`,
    // Not a credential: a fixed marker the functions recognize as "not configured yet".
    secretStringValue: SecretValue.unsafePlainText(JSON.stringify(UPSTASH_PLACEHOLDER)),
    removalPolicy: RemovalPolicy.RETAIN,
  });
  Validations.of(secret).acknowledge({
    id: 'AwsSolutions-SMG4',
    reason:
      'Upstash tokens are issued and rotated in the Upstash console, which Secrets Manager cannot drive.',
  });
  return secret;
}
