/**
 * Hand-written SVG of a chaos run (no chart library): latency p50/p99 per second on a log scale (left
 * axis), cache hit rate per second (right axis), fault windows shaded, server errors marked on top.
 */
import type { FaultWindow } from './faults.js';
import type { SecondPoint } from './report.js';

const W = 1000;
const H = 460;
const M = { left: 70, right: 70, top: 88, bottom: 50 };
const PW = W - M.left - M.right;
const PH = H - M.top - M.bottom;

const WINDOW_STYLE: Record<Exclude<FaultWindow['kind'], 'pollerKilled'>, { fill: string; label: string }> = {
  redisDown: { fill: '#e4572e', label: 'Redis down (SIGKILL)' },
  recovery: { fill: '#f3a712', label: 'recovery' },
  dbPaused: { fill: '#7b2cbf', label: 'PostgreSQL paused' },
};

export function renderChart(input: {
  title: string;
  series: readonly SecondPoint[];
  windows: readonly FaultWindow[];
  durationMs: number;
  /** Stale reads per second (drawn as bars along the bottom). */
  staleReads?: readonly number[];
}): string {
  const { series, windows } = input;
  const seconds = Math.max(1, Math.ceil(input.durationMs / 1000));
  const x = (s: number) => M.left + (s / seconds) * PW;
  const maxLatency = Math.max(10, ...series.map((p) => p.p99 ?? 0));
  const top = 10 ** Math.ceil(Math.log10(maxLatency));
  const bottom = 1;
  const yLat = (ms: number) =>
    M.top + PH - ((Math.log10(Math.max(bottom, ms)) - Math.log10(bottom)) / Math.log10(top / bottom)) * PH;
  const yHit = (rate: number) => M.top + PH - rate * PH;

  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="16" font-weight="bold">${escapeXml(input.title)}</text>`,
  );

  // Fault windows first, so the lines draw over them.
  for (const w of windows) {
    const end = Math.min(seconds, (w.end ?? input.durationMs) / 1000);
    const start = Math.max(0, w.start / 1000);
    if (w.kind === 'pollerKilled') {
      parts.push(
        `<line x1="${f(x(start))}" y1="${M.top}" x2="${f(x(start))}" y2="${M.top + PH}" stroke="#333" stroke-width="1.5" stroke-dasharray="5,4"/>`,
        `<text x="${f(x(start) + 4)}" y="${M.top + PH - 50}" fill="#333">poller killed</text>`,
      );
      continue;
    }
    const style = WINDOW_STYLE[w.kind];
    parts.push(
      `<rect x="${f(x(start))}" y="${M.top}" width="${f(Math.max(1, x(end) - x(start)))}" height="${PH}" fill="${style.fill}" fill-opacity="0.15"/>`,
    );
  }

  // Grid and axes.
  for (let v = bottom; v <= top; v *= 10) {
    parts.push(
      `<line x1="${M.left}" y1="${f(yLat(v))}" x2="${M.left + PW}" y2="${f(yLat(v))}" stroke="#ddd"/>`,
      `<text x="${M.left - 8}" y="${f(yLat(v) + 4)}" text-anchor="end">${v >= 1000 ? `${v / 1000} s` : `${v} ms`}</text>`,
    );
  }
  for (const r of [0, 0.25, 0.5, 0.75, 1]) {
    parts.push(`<text x="${M.left + PW + 8}" y="${f(yHit(r) + 4)}" fill="#2a9d8f">${r * 100}%</text>`);
  }
  const step = niceStep(seconds);
  for (let s = 0; s <= seconds; s += step) {
    parts.push(
      `<line x1="${f(x(s))}" y1="${M.top + PH}" x2="${f(x(s))}" y2="${M.top + PH + 5}" stroke="#333"/>`,
      `<text x="${f(x(s))}" y="${M.top + PH + 18}" text-anchor="middle">${s}</text>`,
    );
  }
  parts.push(
    `<rect x="${M.left}" y="${M.top}" width="${PW}" height="${PH}" fill="none" stroke="#333"/>`,
    `<text x="${M.left + PW / 2}" y="${H - 10}" text-anchor="middle">seconds since the workload started</text>`,
    `<text transform="translate(18 ${M.top + PH / 2}) rotate(-90)" text-anchor="middle">latency (log scale)</text>`,
    `<text transform="translate(${W - 14} ${M.top + PH / 2}) rotate(90)" text-anchor="middle" fill="#2a9d8f">cache hit rate (single GETs)</text>`,
  );

  // Series: one point per second, at the middle of its second; gaps where a second had no data.
  parts.push(
    polyline(
      series,
      (p) => p.p99,
      (p) => [x(p.second + 0.5), yLat(p.p99!)],
      '#1d3557',
      2,
      '6,3',
    ),
    polyline(
      series,
      (p) => p.p50,
      (p) => [x(p.second + 0.5), yLat(p.p50!)],
      '#457b9d',
      2,
    ),
    polyline(
      series,
      (p) => p.hitRate,
      (p) => [x(p.second + 0.5), yHit(p.hitRate!)],
      '#2a9d8f',
      2,
    ),
  );
  const stale = input.staleReads ?? [];
  const maxStale = Math.max(1, ...stale);
  stale.forEach((n, second) => {
    if (n === 0) return;
    const h = Math.max(2, (Math.log1p(n) / Math.log1p(maxStale)) * 40);
    parts.push(
      `<rect x="${f(x(second) + 1)}" y="${f(M.top + PH - h)}" width="${f(Math.max(1, x(1) - x(0) - 2))}" height="${f(h)}" fill="#e76f51"><title>${n} stale reads</title></rect>`,
    );
  });
  for (const p of series) {
    if (p.serverErrors > 0) {
      parts.push(
        `<circle cx="${f(x(p.second + 0.5))}" cy="${M.top - 6}" r="${Math.min(6, 2 + Math.log2(p.serverErrors))}" fill="#d62828"><title>${p.serverErrors} server errors</title></circle>`,
      );
    }
  }

  // Legend.
  const legend: Array<[string, string, string | undefined, 'line' | 'box' | 'dot' | 'bar']> = [
    ['p50 latency', '#457b9d', undefined, 'line'],
    ['p99 latency', '#1d3557', '6,3', 'line'],
    ['hit rate', '#2a9d8f', undefined, 'line'],
    ['5xx in that second', '#d62828', undefined, 'dot'],
    ['stale reads', '#e76f51', undefined, 'bar'],
    ...Object.values(WINDOW_STYLE).map(
      (s) => [s.label, s.fill, undefined, 'box'] as [string, string, undefined, 'box'],
    ),
  ];
  // Two rows when one does not fit (labels are measured at ~6.2 px per character).
  let lx = M.left;
  let ly = 40;
  for (const [label, color, dash, kind] of legend) {
    const width = 27 + label.length * 6.2 + 16;
    if (lx + width > W - M.right + 40) {
      lx = M.left;
      ly += 20;
    }
    if (kind === 'line') {
      parts.push(
        `<line x1="${lx}" y1="${ly}" x2="${lx + 22}" y2="${ly}" stroke="${color}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`,
      );
    } else if (kind === 'dot') {
      parts.push(`<circle cx="${lx + 11}" cy="${ly}" r="4" fill="${color}"/>`);
    } else if (kind === 'bar') {
      parts.push(`<rect x="${lx + 6}" y="${ly - 6}" width="10" height="12" fill="${color}"/>`);
    } else {
      parts.push(
        `<rect x="${lx}" y="${ly - 6}" width="22" height="12" fill="${color}" fill-opacity="0.25"/>`,
      );
    }
    parts.push(`<text x="${lx + 27}" y="${ly + 4}">${escapeXml(label)}</text>`);
    lx += width;
  }

  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

function polyline(
  series: readonly SecondPoint[],
  value: (p: SecondPoint) => number | null,
  at: (p: SecondPoint) => [number, number],
  color: string,
  width: number,
  dash?: string,
): string {
  const runs: string[][] = [[]];
  for (const p of series) {
    if (value(p) === null) {
      if (runs.at(-1)!.length > 0) runs.push([]);
      continue;
    }
    const [px, py] = at(p);
    runs.at(-1)!.push(`${f(px)},${f(py)}`);
  }
  return runs
    .filter((r) => r.length > 0)
    .map(
      (r) =>
        `<polyline points="${r.join(' ')}" fill="none" stroke="${color}" stroke-width="${width}" stroke-linejoin="round"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`,
    )
    .join('\n');
}

function niceStep(seconds: number): number {
  for (const step of [1, 2, 5, 10, 15, 30, 60, 120, 300]) if (seconds / step <= 12) return step;
  return 600;
}

function f(n: number): string {
  return n.toFixed(1);
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
