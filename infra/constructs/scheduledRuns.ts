/**
 * EventBridge Scheduler schedules that invoke functions asynchronously, never retried: a missed run
 * is superseded by the next one, and a retried poller run would only pile up behind the Redis lease.
 * Undeliverable invocations go to a dead-letter queue.
 */
import { type CfnResource, type Duration, Stack, type TimeZone, Validations } from 'aws-cdk-lib';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Schedule, ScheduleExpression } from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke } from 'aws-cdk-lib/aws-scheduler-targets';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export interface ScheduledRun {
  /** Construct-id-safe name (the function's name). */
  readonly name: string;
  readonly handler: IFunction;
  /** `rate(…)`, `cron(…)` or `at(…)`. */
  readonly expression: string;
  /** Scheduler drops an invocation it could not deliver within this age (60 s minimum). */
  readonly maxEventAge: Duration;
  readonly description: string;
}

export interface ScheduledRunsProps {
  readonly runs: readonly ScheduledRun[];
  /** Receives invocations Scheduler could not deliver (throttled, function missing, no permission). */
  readonly deadLetterQueue: IQueue;
  /** @default UTC */
  readonly timeZone?: TimeZone;
}

export class ScheduledRuns extends Construct {
  readonly schedules: Record<string, Schedule> = {};

  constructor(scope: Construct, id: string, props: ScheduledRunsProps) {
    super(scope, id);
    for (const run of props.runs) {
      this.schedules[run.name] = new Schedule(this, run.name, {
        description: run.description,
        schedule: ScheduleExpression.expression(run.expression, props.timeZone),
        target: new LambdaInvoke(run.handler, {
          retryAttempts: 0,
          maxEventAge: run.maxEventAge,
          deadLetterQueue: props.deadLetterQueue,
        }),
      });
      this.acknowledgeVersionWildcard(run.handler);
    }
  }

  /**
   * LambdaInvoke grants `lambda:InvokeFunction` on `<function ARN>:*` as well (any version or alias).
   * The role is a stack-level singleton shared by targets, so the finding is acknowledged on the
   * stack, narrowed to this function's exact finding id.
   */
  private acknowledgeVersionWildcard(handler: IFunction): void {
    const stack = Stack.of(this);
    const logicalId = stack.resolve(stack.getLogicalId(handler.node.defaultChild as CfnResource));
    Validations.of(stack).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${logicalId}.Arn>:*]`,
      reason:
        'Scheduler may invoke any version or alias of this one function; no other function is reachable.',
    });
  }
}
