/**
 * Bundle benchmark: the real Lambda bundles (`cdk synth`, as deployed) and what each costs a cold start
 * before the handler runs: its minified size and the time a fresh Node process takes to import it, on
 * Node 24 (the Lambda runtime, `bench/node24.ts`) and on the local Node. Beside them, in the same run, a
 * floor bundle built with the same esbuild options that holds only `@upstash/redis`: no function can
 * load faster than the client it cannot do without, so the targets are ratios to it.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { PROJECT_ROOT, REQUIRE_BANNER } from '../infra/constructs/cacheFunction.js';
import { FUNCTIONS, type FunctionName } from '../infra/functionTable.js';
import { synthLambdaBundles } from '../infra/lambdaBundles.js';
import { printTable, round } from './measure.js';
import { lambdaNode } from './node24.js';

const run = promisify(execFile);

/** Targets (issue 13): every API function at most 225 KB, importing in at most 2.5x the floor's time. */
export const BUNDLE_TARGETS = { maxApiKB: 225, maxImportVsFloor: 2.5 } as const;

/**
 * Runs in a fresh `node`: `performance.now()` counts from the process start, so `after` is also the
 * whole time to a loaded module (Node's own boot included). The handlers build their clients on the
 * first call, so importing needs no configuration and opens no connection.
 */
const LOADER = `
import { pathToFileURL } from 'node:url';
const before = performance.now();
await import(pathToFileURL(process.argv[2]).href);
const after = performance.now();
process.stdout.write(JSON.stringify({ before, after }));
process.exit(0);
`;

export interface LoadFigures {
  median: number;
  min: number;
  max: number;
  samples: number[];
}

export interface BundleBenchRow {
  name: FunctionName;
  bytes: number;
  /** `import()` of index.mjs alone on Node 24 (the Lambda runtime), ms, over `runs` fresh processes. */
  loadMs: LoadFigures;
  /** The same on the local Node (`localNode`). */
  localLoadMs: LoadFigures;
  /** Process start to module loaded (Node boot + import) on Node 24, ms, median. */
  sinceStartMs: number;
  /** `loadMs.median / floor.loadMs.median`. */
  vsFloor: number;
}

export interface BundleBenchResult {
  synthMs: number;
  runs: number;
  /** Node that `loadMs` figures come from (24.x; the local Node when no Node 24 could be had). */
  node: string;
  localNode: string;
  /** Why Node 24 figures are the local Node's, when they are. */
  node24Missing?: string;
  floor: { bytes: number; loadMs: LoadFigures; localLoadMs: LoadFigures };
  rows: BundleBenchRow[];
  targets: typeof BUNDLE_TARGETS & { pass: boolean };
}

const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

const figures = (times: Array<{ before: number; after: number }>): LoadFigures => {
  const ms = times.map((t) => round(t.after - t.before, 1));
  return { median: median(ms), min: Math.min(...ms), max: Math.max(...ms), samples: ms };
};

/** The floor: `@upstash/redis` alone, bundled with the options `CacheFunction` gives every function. */
async function buildFloor(outdir: string): Promise<{ file: string; bytes: number }> {
  const file = join(outdir, 'floor', 'index.mjs');
  await build({
    stdin: {
      contents: "import { Redis } from '@upstash/redis';\nexport const handler = async () => typeof Redis;\n",
      resolveDir: PROJECT_ROOT,
      loader: 'ts',
    },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    minify: true,
    sourcemap: true,
    mainFields: ['module', 'main'],
    banner: { js: REQUIRE_BANNER },
    outfile: file,
    logLevel: 'silent',
  });
  return { file, bytes: (await stat(file)).size };
}

export async function runBundleBench(opts: { runs?: number } = {}): Promise<BundleBenchResult> {
  const runs = opts.runs ?? 7;
  const outdir = await mkdtemp(join(tmpdir(), 'user-cache-bundles-'));
  try {
    const node24 = await lambdaNode();
    const lambda = 'path' in node24 ? node24.path : process.execPath;
    const synthStart = performance.now();
    const { bundles } = await synthLambdaBundles(outdir);
    const synthMs = round(performance.now() - synthStart, 0);
    const floor = await buildFloor(outdir);
    const loader = join(outdir, 'load.mjs');
    await writeFile(loader, LOADER);
    const nodeOptions = [...bundles.values()][0]?.nodeOptions;

    const load = async (node: string, file: string) => {
      // Only PATH and the functions' NODE_OPTIONS: nothing from this process leaks into the import.
      const { stdout } = await run(node, [loader, file], {
        env: { PATH: process.env.PATH ?? '', ...(nodeOptions && { NODE_OPTIONS: nodeOptions }) },
        timeout: 30_000,
      });
      return JSON.parse(stdout) as { before: number; after: number };
    };

    const files: Array<[string, string]> = [
      ['(floor)', floor.file],
      ...[...bundles].map(([n, b]) => [n, b.file] as [string, string]),
    ];
    const samples = new Map(
      files.flatMap(
        ([name]) =>
          [
            [`24:${name}`, []],
            [`local:${name}`, []],
          ] as Array<[string, Array<{ before: number; after: number }>]>,
      ),
    );
    // One unmeasured start per binary, so the first file does not pay for a cold binary and page cache.
    await load(lambda, floor.file);
    await load(process.execPath, floor.file);
    // Round-robin over files and binaries rather than one after another: a burst of load on the machine
    // then spreads over every figure, the floor's included, instead of skewing one ratio.
    for (let i = 0; i < runs; i++) {
      for (const [name, file] of files) {
        samples.get(`24:${name}`)!.push(await load(lambda, file));
        samples.get(`local:${name}`)!.push(await load(process.execPath, file));
      }
    }

    const floorLoad = figures(samples.get('24:(floor)')!);
    const api = new Set<string>(FUNCTIONS.filter((f) => f.trigger.kind === 'route').map((f) => f.name));
    const rows: BundleBenchRow[] = [...bundles].map(([name, bundle]) => {
      const times = samples.get(`24:${name}`)!;
      const loadMs = figures(times);
      return {
        name,
        bytes: bundle.bytes,
        loadMs,
        localLoadMs: figures(samples.get(`local:${name}`)!),
        sinceStartMs: round(median(times.map((t) => t.after)), 1),
        vsFloor: round(loadMs.median / floorLoad.median, 2),
      };
    });
    const passes = (r: BundleBenchRow) =>
      r.bytes <= BUNDLE_TARGETS.maxApiKB * 1024 && r.vsFloor <= BUNDLE_TARGETS.maxImportVsFloor;
    const pass = rows.filter((r) => api.has(r.name)).every(passes);

    const nodeLabel = 'path' in node24 ? `node ${node24.version}` : `local node (${node24.missing})`;
    printTable(
      `Lambda bundles (cdk synth, minified ESM) vs the @upstash/redis floor: import ms, median of ${runs} fresh processes; ratio and target on ${nodeLabel}`,
      [
        {
          function: '(floor: @upstash/redis only)',
          KB: round(floor.bytes / 1024, 1),
          bytes: floor.bytes,
          loadMs: floorLoad,
          localLoadMs: figures(samples.get('local:(floor)')!),
          vsFloor: 1,
          api: false,
        },
        ...rows.map((r) => ({
          function: r.name,
          KB: round(r.bytes / 1024, 1),
          bytes: r.bytes,
          loadMs: r.loadMs,
          localLoadMs: r.localLoadMs,
          vsFloor: r.vsFloor,
          api: api.has(r.name),
          row: r,
        })),
      ].map((r) => ({
        function: r.function,
        KB: r.KB,
        'node24 ms': r.loadMs.median,
        'min-max': `${r.loadMs.min}-${r.loadMs.max}`,
        [`${process.version} ms`]: r.localLoadMs.median,
        'x floor': r.vsFloor,
        [`target (API: <= ${BUNDLE_TARGETS.maxApiKB} KB, <= ${BUNDLE_TARGETS.maxImportVsFloor}x)`]: !r.api
          ? '-'
          : r.bytes <= BUNDLE_TARGETS.maxApiKB * 1024 && r.vsFloor <= BUNDLE_TARGETS.maxImportVsFloor
            ? 'pass'
            : 'FAIL',
      })),
    );
    console.log(
      `bundles: ${pass ? 'PASS' : 'FAIL'} (every API function <= ${BUNDLE_TARGETS.maxApiKB} KB and <= ${BUNDLE_TARGETS.maxImportVsFloor}x the floor's import); synth ${round(synthMs / 1000, 1)} s; NODE_OPTIONS ${nodeOptions ?? '(none)'}`,
    );
    return {
      synthMs,
      runs,
      node: 'path' in node24 ? node24.version : process.version,
      localNode: process.version,
      ...('missing' in node24 && { node24Missing: node24.missing }),
      floor: { bytes: floor.bytes, loadMs: floorLoad, localLoadMs: figures(samples.get('local:(floor)')!) },
      rows,
      targets: { ...BUNDLE_TARGETS, pass },
    };
  } finally {
    await rm(outdir, { recursive: true, force: true });
  }
}
