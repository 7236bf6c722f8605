/**
 * `npm run bench`: prints every figure and compares it to raw Redis in the same run, then writes
 * bench/results/latest.json. Set BENCH_SCALE=0.2 for a quick pass.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { runApiBench } from './apiBench.js';
import { runBundleBench } from './bundleBench.js';
import { runCacheBench } from './cacheBench.js';
import { runEventsBench } from './eventsBench.js';

const scale = Number(process.env.BENCH_SCALE ?? '1');
const started = new Date();
console.log(
  `# ngomna-user-cache benchmark — ${started.toISOString()} — node ${process.version}, ${os.cpus().length} cpu`,
);

const results: Record<string, unknown> = { startedAt: started.toISOString(), node: process.version, scale };
const cache = await runCacheBench({ scale });
results.cache = cache;
results.events = await runEventsBench({ updates: Math.max(100, Math.round(1_000 * scale)) });
const cacheP50 = (operation: string) => cache.rows.find((r) => r.operation === operation)?.cache.p50;
results.api = await runApiBench({
  scale,
  floor: { get: cacheP50('get (hit)'), batchGet100: cacheP50('batchGet(100)') },
});
results.bundles = await runBundleBench();

await mkdir(new URL('./results/', import.meta.url), { recursive: true });
await writeFile(new URL('./results/latest.json', import.meta.url), `${JSON.stringify(results, null, 2)}\n`);
console.log('\nwrote bench/results/latest.json');
