/**
 * Gradual deployment of the API functions: each deploy publishes a version, and CodeDeploy shifts the
 * `live` alias to it in steps (canary by default), rolling back by itself when one of the given alarms
 * fires during the shift. A rollback is then moving the alias back, not a redeploy.
 */

import { Validations } from 'aws-cdk-lib';
import type { IAlarm } from 'aws-cdk-lib/aws-cloudwatch';
import {
  type ILambdaDeploymentConfig,
  LambdaApplication,
  LambdaDeploymentConfig,
  LambdaDeploymentGroup,
} from 'aws-cdk-lib/aws-codedeploy';
import type { Alias } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';

export interface GradualTarget {
  /** Construct-id-safe name (the function's name). */
  readonly name: string;
  readonly alias: Alias;
  /** Alarms that stop and roll back this function's shift: its own errors and the API-wide 5xx. */
  readonly alarms: readonly IAlarm[];
}

export interface GradualDeploymentProps {
  readonly targets: readonly GradualTarget[];
  /** @default LambdaDeploymentConfig.CANARY_10PERCENT_5MINUTES */
  readonly deploymentConfig?: ILambdaDeploymentConfig;
}

export class GradualDeployment extends Construct {
  readonly application: LambdaApplication;
  readonly groups: Record<string, LambdaDeploymentGroup> = {};

  constructor(scope: Construct, id: string, props: GradualDeploymentProps) {
    super(scope, id);
    this.application = new LambdaApplication(this, 'Application');
    for (const target of props.targets) {
      this.groups[target.name] = new LambdaDeploymentGroup(this, target.name, {
        application: this.application,
        alias: target.alias,
        deploymentConfig: props.deploymentConfig ?? LambdaDeploymentConfig.CANARY_10PERCENT_5MINUTES,
        alarms: [...target.alarms],
        autoRollback: { failedDeployment: true, stoppedDeployment: true, deploymentInAlarm: true },
      });
    }
    Validations.of(this).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSCodeDeployRoleForLambdaLimited]',
      reason:
        'The AWS managed CodeDeploy role for Lambda (Limited variant) only lets CodeDeploy read alarms and ' +
        'update aliases of functions; AWS keeps it current with what CodeDeploy needs.',
    });
  }
}
