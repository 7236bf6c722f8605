/**
 * Upstash's script flag `allow-key-locking`, over a Redis 7.0 that does not know it.
 *
 * Upstash runs a script under a global lock unless its shebang says `#!lua flags=allow-key-locking`; then
 * it locks only the script's KEYS, and every key the script touches must be in KEYS. Redis 7.0 refuses
 * unknown shebang flags ("ERR Unexpected flag in script shebang"), so the gateway strips that one flag
 * before Redis sees the source, and maps digests so clients keep using the ORIGINAL source's SHA1, as they
 * would on Upstash: EVALSHA, SCRIPT LOAD and SCRIPT EXISTS all speak original digests. Redis runs every
 * script alone anyway (one thread): locally the lock is always global, the strict side of the difference.
 *
 * The map lives in the gateway; Redis' script cache may outlive it (a gateway restart) or lose scripts
 * (SCRIPT FLUSH, a Redis restart). Either way an EVALSHA comes back NOSCRIPT and the client's EVAL
 * fallback re-registers the script, exactly as after an Upstash failover.
 * @see https://redis.io/docs/latest/develop/interactive/programmability/lua-api/#script-flags
 */
import { createHash } from 'node:crypto';
import type { Command } from './protocol.js';

export const KEY_LOCKING_FLAG = 'allow-key-locking';

const sha1 = (text: string): string => createHash('sha1').update(text).digest('hex');

/** The shebang's flags, or undefined when the source has no `#!lua` first line. */
function shebangFlags(source: string): { line: string; flags: string[] } | undefined {
  if (!source.startsWith('#!')) return undefined;
  const end = source.indexOf('\n');
  const line = end === -1 ? source : source.slice(0, end);
  const match = /^#!lua(?:\s+flags=([^\s]*))?\s*$/.exec(line);
  if (!match) return undefined;
  return { line, flags: match[1] ? match[1].split(',').filter((f) => f !== '') : [] };
}

/** Whether the source declares `allow-key-locking`. */
export function hasKeyLocking(source: string): boolean {
  return shebangFlags(source)?.flags.includes(KEY_LOCKING_FLAG) ?? false;
}

/**
 * The source Redis 7.0 accepts: the flag removed, the other flags kept, `#!lua` alone when none is left
 * (a shebang with no flags is valid and keeps line numbers in Redis' error messages unchanged).
 */
export function stripKeyLocking(source: string): string {
  const shebang = shebangFlags(source);
  if (!shebang?.flags.includes(KEY_LOCKING_FLAG)) return source;
  const rest = shebang.flags.filter((f) => f !== KEY_LOCKING_FLAG);
  const line = rest.length > 0 ? `#!lua flags=${rest.join(',')}` : '#!lua';
  return line + source.slice(shebang.line.length);
}

/** What to send Redis for one command, and how to turn Redis' reply back into what the client expects. */
export interface Translated {
  cmd: Command;
  reply?: (value: unknown) => unknown;
}

/** Original digest → the digest of what Redis actually holds, for every flagged script seen. */
export class ScriptDigests {
  readonly #redisSha = new Map<string, string>();

  /** Rewrites EVAL/EVALSHA(_RO) and SCRIPT LOAD/EXISTS/FLUSH; any other command is returned as it is. */
  translate(cmd: Command): Translated {
    const name = (cmd[0] ?? '').toUpperCase();
    if ((name === 'EVAL' || name === 'EVAL_RO') && cmd[1] !== undefined) {
      const source = cmd[1];
      const stripped = this.#register(source);
      return stripped === source ? { cmd } : { cmd: [cmd[0] as string, stripped, ...cmd.slice(2)] };
    }
    if ((name === 'EVALSHA' || name === 'EVALSHA_RO') && cmd[1] !== undefined) {
      const mapped = this.#redisSha.get(cmd[1].toLowerCase());
      return mapped ? { cmd: [cmd[0] as string, mapped, ...cmd.slice(2)] } : { cmd };
    }
    if (name !== 'SCRIPT') return { cmd };
    const sub = (cmd[1] ?? '').toUpperCase();
    if (sub === 'LOAD' && cmd[2] !== undefined) {
      const source = cmd[2];
      const stripped = this.#register(source);
      if (stripped === source) return { cmd };
      // Redis answers the stripped source's digest; the client expects its own source's.
      const original = sha1(source);
      return { cmd: ['SCRIPT', cmd[1] as string, stripped], reply: () => original };
    }
    if (sub === 'EXISTS') {
      const shas = cmd.slice(2).map((sha) => this.#redisSha.get(sha.toLowerCase()) ?? sha);
      return { cmd: ['SCRIPT', cmd[1] as string, ...shas] };
    }
    if (sub === 'FLUSH') this.#redisSha.clear();
    return { cmd };
  }

  #register(source: string): string {
    const stripped = stripKeyLocking(source);
    if (stripped !== source) this.#redisSha.set(sha1(source), sha1(stripped));
    return stripped;
  }
}
