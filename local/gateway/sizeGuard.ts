/**
 * Measures what a request's growing commands would add against Upstash's record and capacity limits, on
 * the shared connection (so it sees every command sent before it), and returns the refusals. The
 * decisions themselves are the pure functions of limits.ts.
 */
import { ErrorReply } from 'redis';
import {
  type CommandTable,
  commandBytes,
  datasetBytes,
  type Growth,
  growthOf,
  type SizeLimits,
  sizeRefusals,
} from './limits.js';
import type { Command } from './protocol.js';

type Send = (cmd: Command) => Promise<unknown>;

export class SizeGuard {
  constructor(
    readonly limits: SizeLimits,
    readonly table: CommandTable,
    readonly send: Send,
  ) {}

  /**
   * Refusal text by command index, for the commands that would pass a limit; empty when none grows data.
   * Like the PEL check, not atomic with the commands that follow: a concurrent request may grow the same
   * key in between (Upstash checks inside the server). A local stand-in accepts that race.
   */
  async refusals(cmds: readonly Command[]): Promise<Map<number, string>> {
    const growths: Growth[] = [];
    for (let index = 0; index < cmds.length; index++) {
      const cmd = cmds[index] as Command;
      const growth = growthOf(this.table, cmd);
      if (!growth.grows) continue;
      const keys = growth.keys ?? (await this.#movableKeys(cmd));
      growths.push({ index, keys, bytes: commandBytes(cmd) });
    }
    if (growths.length === 0) return new Map();
    const unique = [...new Set(growths.flatMap((g) => g.keys))];
    const [data, ...usages] = await Promise.all([
      this.send(['INFO', 'memory']).then(datasetBytes),
      ...unique.map((key) => this.send(['MEMORY', 'USAGE', key]).then(Number, zeroOnReplyError)),
    ]);
    const record = new Map<string, number>();
    unique.forEach((key, i) => {
      record.set(key, Number(usages[i]) || 0);
    });
    return sizeRefusals(growths, { record, data: data as number }, this.limits);
  }

  /** Keys of a command whose key positions depend on its arguments (rare among growing ones: SORT … STORE). */
  async #movableKeys(cmd: Command): Promise<string[]> {
    try {
      const keys = await this.send(['COMMAND', 'GETKEYS', ...cmd]);
      return Array.isArray(keys) ? keys.map((k: unknown) => String(k)) : [];
    } catch (error) {
      // Malformed: Redis will refuse the command itself with its own error.
      if (error instanceof ErrorReply) return [];
      throw error;
    }
  }
}

function zeroOnReplyError(error: unknown): number {
  if (error instanceof ErrorReply) return 0;
  throw error;
}
