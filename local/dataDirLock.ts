/**
 * One local stack per data directory: PGlite and an AOF-persisting redis-server must never be opened by
 * two processes at once (both would corrupt their files).
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '../shared/errors.js';
import { isIntegerIn } from '../shared/options.js';

/**
 * Takes `<dataDir>/stack.pid` and returns its release. A lock left by a process that died is taken over;
 * one held by a live process (this one included) is a `ConfigError`.
 */
export async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const file = join(dataDir, 'stack.pid');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(file, `${process.pid}\n`, { flag: 'wx' });
      return () => rm(file, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const pid = Number((await readFile(file, 'utf8').catch(() => '')).trim());
    if (isIntegerIn(pid, { min: 1 }) && isAlive(pid)) {
      throw new ConfigError(`${dataDir} is in use by another local stack (pid ${pid}); stop it first`);
    }
    await rm(file, { force: true });
  }
  throw new ConfigError(`could not lock ${dataDir}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
