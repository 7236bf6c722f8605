/** Timing helpers for `npm run bench`. Benchmarks print figures; they never assert (tests do that). */
import { performance } from 'node:perf_hooks';

export interface Figures {
  n: number;
  p50: number;
  p99: number;
  mean: number;
}

/** Runs `op` `warmup` times unmeasured, then `n` times one after another; latencies in ms. */
export async function measure(
  n: number,
  op: (i: number) => Promise<unknown>,
  warmup = Math.min(50, n),
): Promise<Figures> {
  return summarize(await sample(n, op, warmup));
}

/** `measure`'s raw latencies in ms, in order; `from` offsets the index handed to `op`. */
export async function sample(
  n: number,
  op: (i: number) => Promise<unknown>,
  warmup = Math.min(50, n),
  from = 0,
): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await op(from + i);
  const samples = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    await op(from + i);
    samples[i] = performance.now() - start;
  }
  return Array.from(samples);
}

export function summarize(samples: number[]): Figures {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  const mean = sorted.reduce((s, x) => s + x, 0) / Math.max(1, sorted.length);
  return { n: sorted.length, p50: round(at(0.5)), p99: round(at(0.99)), mean: round(mean) };
}

export function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Prints rows as an aligned table on stdout. */
export function printTable(title: string, rows: Array<Record<string, string | number>>): void {
  console.log(`\n## ${title}`);
  if (rows.length === 0) return;
  const cols = Object.keys(rows[0]!);
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(width[i]!)).join('  ');
  console.log(line(cols));
  console.log(line(width.map((w) => '-'.repeat(w))));
  for (const r of rows) console.log(line(cols.map((c) => String(r[c] ?? ''))));
}
