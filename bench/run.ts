/**
 * `npm run bench`: prints every figure and compares it to raw Redis in the same run, then writes
 * bench/results/latest.json. Set BENCH_SCALE=0.2 for a quick pass.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { runCacheBench } from './cacheBench.js';
import { runEventsBench } from './eventsBench.js';

const scale = Number(process.env.BENCH_SCALE ?? '1');
const started = new Date();
console.log(
  `# ngomna-user-cache benchmark — ${started.toISOString()} — node ${process.version}, ${os.cpus().length} cpu`,
);

const results: Record<string, unknown> = { startedAt: started.toISOString(), node: process.version, scale };
results.cache = await runCacheBench({ scale });
results.events = await runEventsBench({ updates: Math.max(100, Math.round(1_000 * scale)) });

await mkdir(new URL('./results/', import.meta.url), { recursive: true });
await writeFile(new URL('./results/latest.json', import.meta.url), `${JSON.stringify(results, null, 2)}\n`);
console.log('\nwrote bench/results/latest.json');
