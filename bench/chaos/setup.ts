/** What a chaos run reads and leaves behind: the stats it reads, its result files. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CacheStats } from '../../shared/userCache.js';
import type { ChaosReport } from './report.js';

/** `GET /cache/stats` over the API; null when it cannot answer. */
export async function fetchStats(apiUrl: string, token: string): Promise<CacheStats | null> {
  try {
    const response = await fetch(`${apiUrl}/cache/stats`, { headers: { authorization: `Bearer ${token}` } });
    return response.ok ? ((await response.json()) as CacheStats) : null;
  } catch {
    return null;
  }
}

/** `chaos-latest.json` and `chaos-latest.svg` in `dir`. */
export async function writeResults(dir: string, report: ChaosReport, svg: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const json = join(dir, 'chaos-latest.json');
  const chart = join(dir, 'chaos-latest.svg');
  await writeFile(json, `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(chart, svg);
  return [json, chart];
}
