/**
 * Upstash runs a script under a GLOBAL lock unless its shebang says `#!lua flags=allow-key-locking`
 * (then it locks only the script's KEYS, which must be every key it touches). A 500-profile fenced write
 * held Redis for 6.5–12 ms here: without the flag it would block every other command on Upstash. Every
 * script in shared/ touches only its KEYS, so every one must carry the flag.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FENCED_WRITE, KEY_LOCKING } from '../shared/cache/scripts.js';

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

describe('Lua scripts in shared/', () => {
  it('declare allow-key-locking on their first line', () => {
    const calls = sourceFiles('shared').flatMap((file) =>
      [...readFileSync(file, 'utf8').matchAll(/\bscript\(`([^\n]*)/g)].map((m) => ({ file, head: m[1] })),
    );

    expect(calls.length).toBeGreaterThanOrEqual(5);
    for (const call of calls)
      expect(call, call.file).toMatchObject({ head: expect.stringMatching(/^\$\{KEY_LOCKING\}/) });
  });

  it('KEY_LOCKING is the shebang line Upstash expects', () => {
    expect(KEY_LOCKING).toBe('#!lua flags=allow-key-locking\n');
    expect(FENCED_WRITE.source.startsWith('#!lua flags=allow-key-locking\n')).toBe(true);
  });
});
