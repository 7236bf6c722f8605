/**
 * The README and docs/ stay navigable: every relative link (and #anchor) resolves, every repository path
 * they name exists (a moved file leaves no stale mention), and the README stays a product page.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const pages = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];
const read = (page: string) => readFileSync(join(ROOT, page), 'utf8');
const withoutCode = (text: string) => text.replace(/```[\s\S]*?```/g, '');

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes, repeats numbered. */
function anchors(page: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const line of withoutCode(read(page)).split('\n')) {
    const m = /^#{1,6}\s+(.*?)\s*$/.exec(line);
    if (!m) continue;
    const slug = m[1]!
      .toLowerCase()
      .replace(/<[^>]+>/g, '')
      .replace(/[^\p{L}\p{N}_\- ]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return out;
}

describe('README and docs/', () => {
  it('has a README of at most ~200 lines that links every docs page', () => {
    const readme = read('README.md');
    expect(readme.split('\n').length).toBeLessThanOrEqual(200);
    for (const page of pages.filter((p) => p.startsWith('docs/'))) expect(readme).toContain(`](${page}`);
  });

  it('links only to files and anchors that exist', () => {
    const broken: string[] = [];
    let links = 0;
    for (const page of pages) {
      const text = withoutCode(read(page)).replace(/`[^`\n]*`/g, (m) => (m.includes('](') ? m : ''));
      for (const [, target] of text.matchAll(/!?\[[^\]]*\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue;
        links += 1;
        const [path, anchor] = target!.split('#') as [string, string | undefined];
        const dest = path ? normalize(join(dirname(join(ROOT, page)), path)) : join(ROOT, page);
        if (!existsSync(dest)) broken.push(`${page}: ${target} (no such file)`);
        else if (anchor && dest.endsWith('.md') && !anchors(relative(ROOT, dest)).has(anchor))
          broken.push(`${page}: ${target} (no such heading)`);
      }
    }
    expect(links).toBeGreaterThan(50);
    expect(broken).toEqual([]);
  });

  it('names only repository paths that exist', () => {
    const stale: string[] = [];
    for (const page of [...pages, 'shared/CHANGELOG.md']) {
      for (const [path] of read(page).matchAll(
        /\b(?:shared|functions|local|infra|bench|test)\/[\w/.-]+\.ts\b/g,
      ))
        if (!existsSync(join(ROOT, path))) stale.push(`${page}: ${path}`);
    }
    expect(stale).toEqual([]);
  });
});
