/**
 * An SQS queue that only ever receives failures (scheduler dead letters, failed async invocations):
 * encrypted at rest, TLS-only, kept 14 days so someone can read it after an alarm.
 */
import { Duration, Validations } from 'aws-cdk-lib';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export class FailureQueue extends Construct {
  readonly queue: Queue;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.queue = new Queue(this, 'Queue', {
      // SSE-SQS: no KMS key to manage, and no key policy to grant Scheduler/Lambda on.
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.queue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself the dead-letter/failure destination; nothing consumes it automatically, ' +
        'an alarm fires on its depth and operators inspect it.',
    });
  }
}
