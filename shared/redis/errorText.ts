/**
 * Error text safe for logs and error messages. @upstash/redis appends ", command was: [...]" to its
 * errors, and the command holds whatever was sent: profile fields (PII) for a fenced write, a dead-letter
 * XADD or an event publish. The Redis error itself (NOSCRIPT, BUSYGROUP, WRONGTYPE…) comes before the cut.
 */
export function safeErrorText(error: unknown, maxLength = 300): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  const cut = text.indexOf(', command was');
  return (cut === -1 ? text : text.slice(0, cut)).slice(0, maxLength);
}

/**
 * Whether a client error is a timeout: the per-request `AbortSignal.timeout` surfaces as an AbortError or
 * TimeoutError (name or message, depending on the runtime's fetch).
 */
export function isTimeoutError(error: unknown): boolean {
  return error instanceof Error && /abort|timeout/i.test(`${error.name} ${error.message}`);
}

/** Redis error kinds this project acts on; any other kind is still returned, as its text. */
export type RedisErrorCode = 'NOGROUP' | 'BUSYGROUP' | 'NOSCRIPT' | 'WRONGTYPE' | 'ERR' | (string & {});

/**
 * The kind of a Redis error reply: its first word (NOGROUP, BUSYGROUP, NOSCRIPT, WRONGTYPE, ERR…), from a
 * thrown `UpstashError` (whose message starts with Redis' text) or a pipeline reply's `error` string.
 * `undefined` for anything that is not a Redis reply (a network failure, a timeout). Callers match this
 * code, never the message: Redis' wording after the kind changes between versions, the kind does not.
 * @see https://redis.io/docs/latest/develop/reference/protocol-spec/#simple-errors
 */
export function redisErrorCode(error: unknown): RedisErrorCode | undefined {
  const text = typeof error === 'string' ? error : error instanceof Error ? error.message : undefined;
  // Upper-case letters up to a space or the end: "This operation was aborted" or "fetch failed" is no kind.
  return text === undefined ? undefined : /^([A-Z][A-Z_]*)(?=\s|$)/.exec(text)?.[1];
}
