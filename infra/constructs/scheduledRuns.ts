/**
 * EventBridge Scheduler schedules that invoke functions' `live` aliases asynchronously. Deliveries are
 * retried only for jobs whose row allows it (the prewarm); a missed poller run is superseded by the next
 * one. Undeliverable invocations go to a dead-letter queue.
 */
import type { Duration, TimeZone } from 'aws-cdk-lib';
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
  /** Scheduler's delivery retries (throttled or failed Invoke calls). */
  readonly retryAttempts: number;
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
        // Given the alias (not the function), LambdaInvoke grants lambda:InvokeFunction on its ARN alone.
        target: new LambdaInvoke(run.handler, {
          retryAttempts: run.retryAttempts,
          maxEventAge: run.maxEventAge,
          deadLetterQueue: props.deadLetterQueue,
        }),
      });
    }
  }
}
