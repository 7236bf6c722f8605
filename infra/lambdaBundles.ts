/**
 * The real Lambda bundles, built exactly as `npm run synth` builds them (cdk.json → infra/app.ts,
 * cdk-nag, local esbuild, offline), for the code that inspects or runs them outside AWS: the bundle
 * tests (test/bundles.test.ts) and the bundle benchmark (bench/bundleBench.ts).
 */
import { execFile } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PROJECT_ROOT } from './constructs/cacheFunction.js';
import type { FunctionName } from './functionTable.js';

const run = promisify(execFile);

// biome-ignore lint/suspicious/noExplicitAny: the template is JSON, read by path.
type Json = any;

/** The stack `infra/app.ts` synthesizes with `allowPlaceholders` and no `stage` or `stackName`. */
export const STACK_NAME = 'NgomnaUserCache-dev';

export interface LambdaBundle {
  /** The function's asset directory (`index.mjs` and its source map, nothing else). */
  dir: string;
  /** `<dir>/index.mjs`, the file Lambda loads. */
  file: string;
  /** Size of `index.mjs` on disk. */
  bytes: number;
  /** NODE_OPTIONS the stack gives the function (`--enable-source-maps`), to load it as deployed. */
  nodeOptions: string | undefined;
}

export interface SynthesizedBundles {
  /** `<outdir>/cdk.out`: the template, assets and cdk-nag's `validation-report.json`. */
  cdkOut: string;
  bundles: Map<FunctionName, LambdaBundle>;
}

/**
 * Runs `cdk synth` into `<outdir>/cdk.out` and returns one bundle per Lambda function of the template.
 * The bundles import nothing from outside themselves (no AWS SDK either), so they load from any
 * directory. Takes 20-60 s (esbuild runs once per function).
 */
export async function synthLambdaBundles(
  outdir: string,
  opts: { timeoutMs?: number } = {},
): Promise<SynthesizedBundles> {
  const cdkOut = join(outdir, 'cdk.out');
  // No network but loopback: no telemetry, notices or version check (cdk.json disables the first two too).
  await run(
    'npx',
    ['cdk', 'synth', '--quiet', '--no-notices', '-c', 'allowPlaceholders=true', '--output', cdkOut],
    {
      cwd: PROJECT_ROOT,
      env: { ...process.env, CDK_DISABLE_CLI_TELEMETRY: '1', CDK_DISABLE_VERSION_CHECK: '1' },
      maxBuffer: 32 * 1024 * 1024,
      timeout: opts.timeoutMs ?? 230_000,
    },
  );
  const template: Json = JSON.parse(readFileSync(join(cdkOut, `${STACK_NAME}.template.json`), 'utf8'));
  const bundles = new Map<FunctionName, LambdaBundle>();
  for (const resource of Object.values<Json>(template.Resources)) {
    if (resource.Type !== 'AWS::Lambda::Function') continue;
    const name = String(resource.Metadata['aws:cdk:path']).split('/')[1] as FunctionName;
    const dir = join(cdkOut, String(resource.Metadata['aws:asset:path']));
    const file = join(dir, 'index.mjs');
    const nodeOptions: unknown = resource.Properties?.Environment?.Variables?.NODE_OPTIONS;
    bundles.set(name, {
      dir,
      file,
      bytes: statSync(file).size,
      nodeOptions: typeof nodeOptions === 'string' ? nodeOptions : undefined,
    });
  }
  return { cdkOut, bundles };
}
