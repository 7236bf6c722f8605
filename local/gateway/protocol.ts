/**
 * The Upstash REST wire format: request bodies in, JSON replies out. Pure functions, no I/O.
 * @see https://upstash.com/docs/redis/features/restapi
 */
import { ErrorReply } from 'redis';

/** A command as sent to Redis: name first, every argument already a string. */
export type Command = string[];

/** A request the gateway answers with an error status before Redis sees anything. */
export class GatewayRequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'GatewayRequestError';
  }
}

/**
 * Commands that would block or change the state of a connection shared by every request (or that the
 * REST API cannot express). Upstash rejects them too; callers must poll instead of blocking.
 */
const REJECTED = new Set([
  'BLPOP',
  'BRPOP',
  'BLMOVE',
  'BRPOPLPUSH',
  'BZPOPMIN',
  'BZPOPMAX',
  'BLMPOP',
  'BZMPOP',
  'WAIT',
  'WAITAOF',
  'SUBSCRIBE',
  'PSUBSCRIBE',
  'SSUBSCRIBE',
  'UNSUBSCRIBE',
  'PUNSUBSCRIBE',
  'SUNSUBSCRIBE',
  'MONITOR',
  'SYNC',
  'PSYNC',
  'SELECT',
  'MULTI',
  'EXEC',
  'DISCARD',
  'WATCH',
  'UNWATCH',
  'CLIENT',
  // Not in Upstash's list, but each would break the shared connection: HELLO 3 switches it to RESP3,
  // RESET/AUTH change its user or state, QUIT closes it.
  'HELLO',
  'RESET',
  'AUTH',
  'QUIT',
]);

/** Why the gateway refuses `cmd`, or undefined when Redis may run it. */
export function rejectionOf(cmd: Command): string | undefined {
  const name = (cmd[0] ?? '').toUpperCase();
  if (REJECTED.has(name)) {
    return `ERR Command is not allowed: ${name} (blocking and connection-state commands are not supported by Upstash REST: poll)`;
  }
  if (name === 'XREAD' || name === 'XREADGROUP') {
    // Only options before STREAMS count: after it come key names, and a stream may be called "block".
    for (let i = 1; i < cmd.length; i++) {
      const arg = (cmd[i] as string).toUpperCase();
      if (arg === 'STREAMS') break;
      if (arg === 'BLOCK') return `ERR ${name} with BLOCK is not supported by Upstash REST: poll`;
    }
  }
  return undefined;
}

type Reviver = (key: string, value: unknown, context?: { source?: string }) => unknown;

/**
 * JSON.parse hands revivers the literal text of each primitive from V8 11.4 (Node 21+); Node 20
 * does not, and there `1.50` can only come back as `String(1.5)`. Decided once at load.
 */
const numberSource: Reviver | undefined = (() => {
  let supported = false;
  const probe: Reviver = (_key, value, context) => {
    supported = context?.source === '1.50';
    return value;
  };
  JSON.parse('1.50', probe as (key: string, value: unknown) => unknown);
  if (!supported) return undefined;
  return (_key, value, context) => (typeof value === 'number' ? context?.source : value);
})();

/** True when numeric arguments keep their literal text (`1.50` stays `1.50`), i.e. Node 21+. */
export const keepsNumberLiterals = numberSource !== undefined;

function parseJson(text: string, reviver?: Reviver): unknown {
  try {
    return reviver ? JSON.parse(text, reviver as (key: string, value: unknown) => unknown) : JSON.parse(text);
  } catch {
    throw new GatewayRequestError(400, 'ERR failed to parse the request body as JSON');
  }
}

/**
 * Parses a request body. A reviver runs for every value and made a 100-command pipeline ~8x slower to
 * parse on Node 24, for the literal text of numbers that most bodies do not hold (the client sends
 * strings): bodies are parsed plainly, and only one that holds a number is parsed again with it.
 */
function parseBody(text: string): unknown {
  const body = parseJson(text);
  return numberSource && holdsNumber(body) ? parseJson(text, numberSource) : body;
}

function holdsNumber(value: unknown): boolean {
  if (typeof value === 'number') return true;
  if (!Array.isArray(value)) return false;
  for (const item of value) if (holdsNumber(item)) return true;
  return false;
}

/** Validates one command in place: Redis takes strings only, so numbers and booleans become text. */
function toCommand(value: unknown, where: string): Command {
  if (!Array.isArray(value) || value.length === 0) {
    throw new GatewayRequestError(400, `ERR ${where} must be a non-empty JSON array`);
  }
  for (let i = 0; i < value.length; i++) {
    const arg: unknown = value[i];
    if (typeof arg === 'string') continue;
    if (typeof arg === 'number' || typeof arg === 'boolean') value[i] = String(arg);
    else
      throw new GatewayRequestError(400, `ERR ${where}: argument ${i} must be a string, number or boolean`);
  }
  return value as Command;
}

/** `POST /` body: `["SET", "k", "v"]`. */
export function parseSingle(text: string): Command {
  return toCommand(parseBody(text), 'the command');
}

/** `POST /pipeline` and `/multi-exec` body: `[["SET", "k", "v"], ["GET", "k"]]`. */
export function parseBatch(text: string): Command[] {
  const body = parseBody(text);
  if (!Array.isArray(body) || body.length === 0) {
    throw new GatewayRequestError(400, 'ERR the body must be a non-empty JSON array of commands');
  }
  for (let i = 0; i < body.length; i++) toCommand(body[i], `command ${i}`);
  return body as Command[];
}

/**
 * Serialises a RESP2 reply as JSON: blob strings arrive as Buffers and are either decoded (invalid UTF-8
 * becomes U+FFFD, as on Upstash) or base64-encoded, at any depth.
 */
export function encodeValue(value: unknown, base64: boolean): string {
  return base64 ? base64Json(value) : JSON.stringify(textValue(value));
}

/**
 * Base64 needs no JSON escaping, so writing the text directly is the cheapest way (measured here: ~1.3x
 * faster than building a tree for JSON.stringify).
 */
function base64Json(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : 'null';
  if (Buffer.isBuffer(value)) return `"${value.toString('base64')}"`;
  if (typeof value === 'string') return `"${Buffer.from(value, 'utf8').toString('base64')}"`;
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      out += base64Json(value[i]);
    }
    return `${out}]`;
  }
  return JSON.stringify(scalarValue(value));
}

/**
 * The reply as the tree its JSON carries, for one native JSON.stringify: escaping each string by hand and
 * concatenating took ~1.4x as long for a 100-key batch (1,200 strings).
 */
function textValue(value: unknown): unknown {
  // toString() without arguments is Buffer's UTF-8 fast path (the same decoding as 'utf8').
  if (Buffer.isBuffer(value)) return value.toString();
  // JSON.stringify writes non-finite numbers as null, as Upstash does.
  if (typeof value === 'string' || typeof value === 'number' || value === null) return value;
  if (value === undefined) return null;
  if (Array.isArray(value)) {
    const out = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) out[i] = textValue(value[i]);
    return out;
  }
  return scalarValue(value);
}

function scalarValue(value: unknown): unknown {
  // An error nested in an array (a Lua table holding error_reply): its text is never encoded.
  if (value instanceof ErrorReply) return value.message;
  // RESP2 integers come from node-redis as numbers; a bigint would need a type mapping the gateway does
  // not set. Upstash answers integers as JSON numbers.
  if (typeof value === 'bigint') return Number(value);
  return String(value);
}

/**
 * `{"result": …}` for one reply. Upstash leaves a top-level "OK" status unencoded even in base64 mode,
 * and the client special-cases exactly that; nested strings are always encoded.
 */
export function encodeResult(value: unknown, base64: boolean): string {
  if (value === 'OK') return '{"result":"OK"}';
  return `{"result":${encodeValue(value, base64)}}`;
}

/** `{"error": "…"}`: Redis' text verbatim (clients look for prefixes such as NOSCRIPT). */
export function encodeError(message: string): string {
  return `{"error":${JSON.stringify(message)}}`;
}
