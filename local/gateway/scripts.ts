/**
 * Upstash's script flag `allow-key-locking`, over a Redis 7.0 that does not know it.
 *
 * Upstash runs a script under a global lock unless its shebang says `#!lua flags=allow-key-locking`; then
 * it locks only the script's KEYS, and every key the script touches must be in KEYS. Redis 7.0 refuses
 * unknown shebang flags ("ERR Unexpected flag in script shebang"), so the gateway strips that one flag
 * before Redis sees the source, and maps digests so clients keep using the ORIGINAL source's SHA1, as they
 * would on Upstash: EVALSHA, SCRIPT LOAD and SCRIPT EXISTS all speak original digests. Given Redis'
 * command table it also refuses a flagged script's call on a key not in KEYS (keyGuard). Redis runs every
 * script alone anyway (one thread): locally the lock is always global, the strict side of the difference.
 *
 * The map lives in the gateway; Redis' script cache may outlive it (a gateway restart) or lose scripts
 * (SCRIPT FLUSH, a Redis restart). Either way an EVALSHA comes back NOSCRIPT and the client's EVAL
 * fallback re-registers the script, exactly as after an Upstash failover.
 * @see https://redis.io/docs/latest/develop/interactive/programmability/lua-api/#script-flags
 */
import { createHash } from 'node:crypto';
import type { CommandTable } from './limits.js';
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
 * The source Redis 7.0 accepts: the flag removed and the other flags kept. When it was the only flag the
 * shebang line is emptied (line numbers stay), so the script runs exactly as it did before it had the
 * flag: a Redis 7 shebang, even a bare `#!lua`, changes semantics (such a script is refused outright
 * under maxmemory, where a legacy one runs and only its growing commands fail).
 */
export function stripKeyLocking(source: string): string {
  const shebang = shebangFlags(source);
  if (!shebang?.flags.includes(KEY_LOCKING_FLAG)) return source;
  const rest = shebang.flags.filter((f) => f !== KEY_LOCKING_FLAG);
  const line = rest.length > 0 ? `#!lua flags=${rest.join(',')}` : '';
  return line + source.slice(shebang.line.length);
}

/**
 * Lua run before a flagged script, all on one line (so Redis' line numbers stay the script's own): every
 * `redis.call`/`redis.pcall` of the script goes through a check that each key argument is in KEYS, as
 * Upstash requires of `allow-key-locking` scripts. Key positions come from Redis' `COMMAND` table, for the
 * commands the source names; a command it does not know, or whose keys move (XREADGROUP…), is not checked.
 */
function keyGuard(source: string, table: CommandTable): string {
  const named = new Set(
    [...source.matchAll(/['"]([A-Za-z_]+)['"]/g)].map((m) => (m[1] as string).toLowerCase()),
  );
  const specs: string[] = [];
  for (const [name, spec] of table) {
    if (!named.has(name.split('|')[0] as string) || spec.movableKeys || spec.firstKey <= 0) continue;
    specs.push(`['${name.toUpperCase()}']={${spec.firstKey},${spec.lastKey},${Math.max(1, spec.step)}}`);
  }
  return (
    'local __k={} for _,k in ipairs(KEYS) do __k[k]=true end ' +
    `local __s={${specs.join(',')}} ` +
    'local function __chk(a) local n=string.upper(tostring(a[1])) ' +
    "local s=(a[2]~=nil and __s[n..'|'..string.upper(tostring(a[2]))]) or __s[n] if s==nil then return end " +
    'local last=s[2]>=0 and s[2]+1 or #a+s[2]+1 for i=s[1]+1,last,s[3] do ' +
    `if a[i]~=nil and not __k[a[i]] then error({err='${UNDECLARED_KEY} '..tostring(a[i])}) end end end ` +
    'local function __call(...) __chk({...}) return redis.call(...) end ' +
    'local function __pcall(...) __chk({...}) return redis.pcall(...) end '
  );
}

/** The refusal when a flagged script touches a key it did not declare (the gateway's wording). */
export const UNDECLARED_KEY = 'ERR allow-key-locking script accessed a key not in KEYS:';

/** The stripped source with the key guard in front of the script's line 2 and its calls routed through it. */
function guarded(stripped: string, table: CommandTable): string {
  const end = stripped.indexOf('\n');
  if (end === -1) return stripped;
  const body = stripped
    .slice(end + 1)
    .replace(/\bredis\.call\(/g, '__call(')
    .replace(/\bredis\.pcall\(/g, '__pcall(');
  return `${stripped.slice(0, end + 1)}${keyGuard(stripped, table)}${body}`;
}

/** What to send Redis for one command, and how to turn Redis' reply back into what the client expects. */
export interface Translated {
  cmd: Command;
  reply?: (value: unknown) => unknown;
}

/** Original digest → the digest of what Redis actually holds, for every flagged script seen. */
export class ScriptDigests {
  readonly #redisSha = new Map<string, string>();

  /** `table`: Redis' commands, for the key guard of flagged scripts (none without it). */
  constructor(readonly table?: CommandTable) {}

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
    let stripped = stripKeyLocking(source);
    if (stripped === source) return source;
    if (this.table) stripped = guarded(stripped, this.table);
    this.#redisSha.set(sha1(source), sha1(stripped));
    return stripped;
  }
}
