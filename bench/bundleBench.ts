/**
 * Bundle benchmark: the real Lambda bundles (`cdk synth`, as deployed) and what each costs a cold start
 * before the handler runs: its minified size and the time a fresh Node process takes to import it.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import type { FunctionName } from '../infra/functionTable.js';
import { synthLambdaBundles } from '../infra/lambdaBundles.js';
import { printTable, round } from './measure.js';

const run = promisify(execFile);

/** Targets from the brief: a bundle under 300 KB loads in under 150 ms. */
const MAX_KB = 300;
const MAX_LOAD_MS = 150;

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

export interface BundleBenchRow {
  name: FunctionName;
  bytes: number;
  /** `import()` of index.mjs alone, ms, median of `runs` fresh processes. */
  loadMs: { median: number; min: number; max: number; samples: number[] };
  /** Process start to module loaded (Node boot + import), ms, median. */
  sinceStartMs: number;
}

export interface BundleBenchResult {
  synthMs: number;
  runs: number;
  rows: BundleBenchRow[];
}

const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

export async function runBundleBench(opts: { runs?: number } = {}): Promise<BundleBenchResult> {
  const runs = opts.runs ?? 5;
  const outdir = await mkdtemp(join(tmpdir(), 'user-cache-bundles-'));
  try {
    const synthStart = performance.now();
    const { bundles } = await synthLambdaBundles(outdir);
    const synthMs = round(performance.now() - synthStart, 0);
    const loader = join(outdir, 'load.mjs');
    await writeFile(loader, LOADER);

    const load = async (file: string, nodeOptions: string | undefined) => {
      // Only PATH and the function's own NODE_OPTIONS: nothing from this process leaks into the import.
      const { stdout } = await run(process.execPath, [loader, file], {
        env: { PATH: process.env.PATH ?? '', ...(nodeOptions && { NODE_OPTIONS: nodeOptions }) },
        timeout: 30_000,
      });
      return JSON.parse(stdout) as { before: number; after: number };
    };

    const entries = [...bundles];
    // One unmeasured start, so the first function does not pay for a cold `node` binary and page cache.
    if (entries[0]) await load(entries[0][1].file, entries[0][1].nodeOptions);
    const samples = new Map(entries.map(([name]) => [name, [] as Array<{ before: number; after: number }>]));
    // Round-robin rather than function after function: a burst of load on the machine then spreads
    // over every function instead of skewing one.
    for (let i = 0; i < runs; i++) {
      for (const [name, bundle] of entries)
        samples.get(name)!.push(await load(bundle.file, bundle.nodeOptions));
    }

    const rows: BundleBenchRow[] = entries.map(([name, bundle]) => {
      const times = samples.get(name)!;
      const importMs = times.map((t) => round(t.after - t.before, 1));
      return {
        name,
        bytes: bundle.bytes,
        loadMs: {
          median: median(importMs),
          min: Math.min(...importMs),
          max: Math.max(...importMs),
          samples: importMs,
        },
        sinceStartMs: round(median(times.map((t) => t.after)), 1),
      };
    });

    printTable(
      `Lambda bundles (cdk synth, minified ESM) and cold module load, median of ${runs} fresh node processes`,
      rows.map((r) => ({
        function: r.name,
        KB: round(r.bytes / 1024, 1),
        [`< ${MAX_KB} KB`]: r.bytes < MAX_KB * 1024 ? 'yes' : 'NO',
        'import ms': r.loadMs.median,
        'min ms': r.loadMs.min,
        'max ms': r.loadMs.max,
        [`< ${MAX_LOAD_MS} ms`]: r.loadMs.median < MAX_LOAD_MS ? 'yes' : 'NO',
        'process start → loaded ms': r.sinceStartMs,
      })),
    );
    const nodeOptions = [...new Set(entries.map(([, b]) => b.nodeOptions ?? '(none)'))].join(', ');
    console.log(`synth ${round(synthMs / 1000, 1)} s; loaded with the deployed NODE_OPTIONS: ${nodeOptions}`);
    return { synthMs, runs, rows };
  } finally {
    await rm(outdir, { recursive: true, force: true });
  }
}
