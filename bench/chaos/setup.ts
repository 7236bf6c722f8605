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

/**
 * `chaos-latest.json` and `chaos-latest.svg` in `dir` (git ignores them), and with `record` also
 * `chaos-recorded.json`/`.svg`, the committed copies the docs show.
 */
export async function writeResults(
  dir: string,
  report: ChaosReport,
  svg: string,
  record = false,
): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files = [join(dir, 'chaos-latest.json'), join(dir, 'chaos-latest.svg')];
  if (record) files.push(join(dir, 'chaos-recorded.json'), join(dir, 'chaos-recorded.svg'));
  for (const f of files)
    await writeFile(f, f.endsWith('.json') ? `${JSON.stringify(report, null, 2)}\n` : svg);
  return files;
}
