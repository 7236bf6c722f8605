/**
 * CDK app entry (`cdk.json` → `npx tsx infra/app.ts`). Every deployment-specific value comes from
 * context (`-c stage=prod -c jwtIssuer=https://… -c databaseSecretArn=arn:…`, see docs/deploying.md);
 * `deploySettings` refuses missing and placeholder values. `npm run synth` passes
 * `-c allowPlaceholders=true` to synthesize offline.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { deploySettings } from './deploySettings.js';
import { UserCacheStack } from './userCacheStack.js';

const app = new App();
const { stackName, props } = deploySettings((key) => app.node.tryGetContext(key));
// The CLI sets these from the profile: with them the region checks on imported ARNs run at synthesis.
const region = process.env.CDK_DEFAULT_REGION;
const account = process.env.CDK_DEFAULT_ACCOUNT;
new UserCacheStack(app, stackName, { ...props, ...(region && account && { env: { region, account } }) });

// cdk-nag 3 is a policy-validation plugin: synthesis fails on any unacknowledged AwsSolutions error.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
