/**
 * How code reaches traffic: versions, `live` aliases, CodeDeploy shifting that rolls back on alarms,
 * and X-Ray tracing. Synthesis only, bundling skipped.
 */
import { LambdaDeploymentConfig } from 'aws-cdk-lib/aws-codedeploy';
import { describe, expect, it } from 'vitest';
import { FUNCTIONS } from '../infra/functionTable.js';
import { type Json, lambdas, synth } from './support/infra.js';

const ROUTES = FUNCTIONS.filter((f) => f.trigger.kind === 'route');

describe('UserCacheStack rollout', { timeout: 120_000 }, () => {
  it('gives every function a version and a live alias on it', () => {
    const { template, fnId, aliasId } = synth();
    const aliases = template.findResources('AWS::Lambda::Alias');
    expect(Object.keys(aliases)).toHaveLength(FUNCTIONS.length);
    for (const spec of FUNCTIONS) {
      const alias = aliases[aliasId(spec.name)]!.Properties;
      expect(alias.Name).toBe('live');
      expect(alias.FunctionName).toEqual({ Ref: fnId(spec.name) });
      const versionId = alias.FunctionVersion['Fn::GetAtt'][0];
      expect(template.findResources('AWS::Lambda::Version')[versionId]?.Properties.FunctionName).toEqual({
        Ref: fnId(spec.name),
      });
    }
  });

  it('shifts API traffic by CodeDeploy canary, rolling back on the function errors and API 5xx alarms', () => {
    const { template, aliasId, stack, logicalId } = synth();
    const groups = template.findResources('AWS::CodeDeploy::DeploymentGroup');
    expect(Object.keys(groups)).toHaveLength(ROUTES.length);
    const aliases = template.findResources('AWS::Lambda::Alias');
    for (const spec of ROUTES) {
      const alias = aliases[aliasId(spec.name)]!;
      const groupId = alias.UpdatePolicy.CodeDeployLambdaAliasUpdate.DeploymentGroupName.Ref as string;
      const group = groups[groupId]!.Properties;
      expect(group).toMatchObject({
        DeploymentConfigName: 'CodeDeployDefault.LambdaCanary10Percent5Minutes',
        AutoRollbackConfiguration: {
          Enabled: true,
          Events: expect.arrayContaining(['DEPLOYMENT_FAILURE', 'DEPLOYMENT_STOP_ON_ALARM']),
        },
        AlarmConfiguration: { Enabled: true },
      });
      const suffix = spec.name.charAt(0).toUpperCase() + spec.name.slice(1);
      expect(group.AlarmConfiguration.Alarms).toEqual([
        { Name: { Ref: logicalId(stack.monitoring.alarms[`Errors${suffix}`]!) } },
        { Name: { Ref: logicalId(stack.monitoring.alarms.Api5xxRate!) } },
      ]);
    }
  });

  it('moves the scheduled functions all at once (no deployment group), through their alias', () => {
    const { template, aliasId } = synth();
    const aliases = template.findResources('AWS::Lambda::Alias');
    for (const spec of FUNCTIONS.filter((f) => f.trigger.kind === 'schedule')) {
      expect(aliases[aliasId(spec.name)]!.UpdatePolicy, spec.name).toBeUndefined();
    }
  });

  it('takes the deployment configuration from props', () => {
    const { template } = synth({ deploymentConfig: LambdaDeploymentConfig.LINEAR_10PERCENT_EVERY_1MINUTE });
    for (const group of Object.values(template.findResources('AWS::CodeDeploy::DeploymentGroup'))) {
      expect(group.Properties.DeploymentConfigName).toBe(
        'CodeDeployDefault.LambdaLinear10PercentEvery1Minute',
      );
    }
  });

  it('traces every function with X-Ray, and X-Ray is the only "*" resource in their policies', () => {
    const { template } = synth();
    for (const [id, fn] of Object.entries(lambdas(template))) {
      expect(fn.Properties.TracingConfig, id).toEqual({ Mode: 'Active' });
    }
    for (const policy of Object.values(template.findResources('AWS::IAM::Policy'))) {
      for (const statement of policy.Properties.PolicyDocument.Statement as Json[]) {
        if (![statement.Resource].flat().includes('*')) continue;
        expect([statement.Action].flat().sort()).toEqual([
          'xray:PutTelemetryRecords',
          'xray:PutTraceSegments',
        ]);
      }
    }
  });
});
