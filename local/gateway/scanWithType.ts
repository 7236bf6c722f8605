/**
 * `SCAN cursor … WITHTYPE`, an Upstash extension that `@upstash/redis` sends for `scan(c, { withType: true })`:
 * the keys come back interleaved with their types, `[cursor, [key1, type1, key2, type2, …]]`. Redis 7.0
 * only knows `TYPE t` (a filter) and answers WITHTYPE with a syntax error, so the gateway runs the SCAN
 * without it and asks TYPE for each key returned.
 */
import type { Command } from './protocol.js';

/** The SCAN to send Redis (WITHTYPE removed), or undefined when `cmd` is not a SCAN … WITHTYPE. */
export function withoutWithType(cmd: Command): Command | undefined {
  if ((cmd[0] ?? '').toUpperCase() !== 'SCAN' || cmd.length < 3) return undefined;
  const out: Command = [cmd[0] as string, cmd[1] as string];
  let found = false;
  for (let i = 2; i < cmd.length; i++) {
    const arg = cmd[i] as string;
    const upper = arg.toUpperCase();
    if (upper === 'WITHTYPE') {
      found = true;
      continue;
    }
    out.push(arg);
    // An option's value (MATCH withtype*) is never the flag.
    if ((upper === 'MATCH' || upper === 'COUNT' || upper === 'TYPE') && i + 1 < cmd.length) {
      out.push(cmd[++i] as string);
    }
  }
  return found ? out : undefined;
}

/**
 * Runs the SCAN, then one TYPE per key (sent together). A key deleted in between reports `none`, as a
 * TYPE would; Upstash's own answer for that race is not documented.
 */
export async function scanWithType(
  send: (cmd: readonly (string | Buffer)[]) => Promise<unknown>,
  scan: Command,
): Promise<unknown> {
  const reply = await send(scan);
  if (!Array.isArray(reply) || !Array.isArray(reply[1])) return reply;
  const keys = reply[1] as Array<string | Buffer>;
  const types = await Promise.all(keys.map((key) => send(['TYPE', key])));
  const flat: unknown[] = [];
  keys.forEach((key, i) => {
    flat.push(key, types[i]);
  });
  return [reply[0], flat];
}
