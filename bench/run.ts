/**
 * `npm run bench`: prints every figure and compares it to a floor measured in the same run, then writes the
 * results JSON. Set BENCH_SCALE=0.2 for a quick pass.
 *
 *   npm run bench [-- --only SECTION[,SECTION]] [--out FILE] [--record]
 *
 * `--out` defaults to bench/results/latest.json, which git ignores, so a run leaves the tree clean.
 * `--record` also writes bench/results/recorded.json: the committed figures the docs quote.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { benchSections, type SectionContext } from './sections.js';

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    out: { type: 'string' },
    record: { type: 'boolean', default: false },
  },
});

const known = benchSections.map((s) => s.name);
const only = values.only
  ?.split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const unknown = only?.filter((name) => !known.includes(name)) ?? [];
if (unknown.length > 0 || (only && only.length === 0)) {
  console.error(`--only takes a comma-separated list of: ${known.join(', ')} (got ${values.only})`);
  process.exit(2);
}
const selected = benchSections.filter((s) => (only ? only.includes(s.name) : s.byDefault !== false));

const resultsDir = fileURLToPath(new URL('./results/', import.meta.url));
const out = resolve(values.out ?? `${resultsDir}latest.json`);
const scale = Number(process.env.BENCH_SCALE ?? '1');
if (!Number.isFinite(scale) || scale <= 0) {
  console.error(`BENCH_SCALE must be a positive number (got ${process.env.BENCH_SCALE})`);
  process.exit(2);
}
const started = new Date();
console.log(
  `# ngomna-user-cache benchmark — ${started.toISOString()} — node ${process.version}, ${os.cpus().length} cpu — ${selected.map((s) => s.name).join(', ')}`,
);

const results: Record<string, unknown> = {
  startedAt: started.toISOString(),
  node: process.version,
  scale,
  sections: selected.map((s) => s.name),
};
const ctx: SectionContext = { scale, results };
for (const section of selected) await section.run(ctx);

const json = `${JSON.stringify(results, null, 2)}\n`;
await mkdir(dirname(out), { recursive: true });
await writeFile(out, json);
console.log(`\nwrote ${out}`);
if (values.record) {
  const recorded = `${resultsDir}recorded.json`;
  await writeFile(recorded, json);
  console.log(`recorded ${recorded}`);
}
