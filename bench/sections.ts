/**
 * The benchmark's sections, in run order. Each writes its figures under its own key of the results JSON;
 * `npm run bench -- --only NAME` runs a subset.
 */
import { runApiBench } from './apiBench.js';
import { runBundleBench } from './bundleBench.js';
import { runCacheBench, runCacheBenchOnLambdaNode } from './cacheBench.js';
import { runDeployedScheduleBench } from './deployedScheduleBench.js';
import { runEventsBench } from './eventsBench.js';
import { runScaleBench } from './scaleBench.js';
import { runScriptBench } from './scriptBench.js';

export interface SectionContext {
  /** BENCH_SCALE: multiplies iteration counts. */
  scale: number;
  /** The results JSON being built; a section writes its own key and may read earlier sections'. */
  results: Record<string, unknown>;
}

export interface BenchSection {
  name: string;
  /** False for long sections that run only when named with `--only`. @default true */
  byDefault?: boolean;
  run(ctx: SectionContext): Promise<void>;
}

type CacheResults = Awaited<ReturnType<typeof runCacheBench>>;

export const benchSections: BenchSection[] = [
  {
    name: 'cache',
    async run(ctx) {
      // The local Node's figures, and the Lambda runtime's beside them (the deployed functions run Node 24).
      const local = await runCacheBench({ scale: ctx.scale });
      ctx.results.cache = { ...local, lambdaRuntime: await runCacheBenchOnLambdaNode({ scale: ctx.scale }) };
    },
  },
  {
    name: 'events',
    async run(ctx) {
      ctx.results.events = {
        ...(ctx.results.events as object | undefined),
        ...(await runEventsBench({ updates: Math.max(100, Math.round(1_000 * ctx.scale)) })),
      };
    },
  },
  {
    name: 'api',
    async run(ctx) {
      // The cache section's p50s are the API's floor when it ran in the same invocation.
      const cache = ctx.results.cache as CacheResults | undefined;
      const cacheP50 = (operation: string) => cache?.rows.find((r) => r.operation === operation)?.cache.p50;
      ctx.results.api = await runApiBench({
        scale: ctx.scale,
        floor: { get: cacheP50('get (hit)'), batchGet100: cacheP50('batchGet(100)') },
      });
    },
  },
  {
    // Three full 60 s periods of the deployed poller schedule: over three minutes, so only when named.
    name: 'deployed-schedule',
    byDefault: false,
    async run(ctx) {
      ctx.results.events = {
        ...(ctx.results.events as object | undefined),
        deployedSchedule: await runDeployedScheduleBench(),
      };
    },
  },
  {
    // 350,000 profiles on DATABASE_URL: minutes of seeding and prewarming, so only with --only scale.
    name: 'scale',
    byDefault: false,
    async run(ctx) {
      ctx.results.scale = await runScaleBench();
    },
  },
  {
    // The longest single script during a prewarm (Upstash runs unflagged scripts under a global lock).
    name: 'scripts',
    async run(ctx) {
      ctx.results.scripts = await runScriptBench();
    },
  },
  {
    name: 'bundles',
    async run(ctx) {
      ctx.results.bundles = await runBundleBench();
    },
  },
];
