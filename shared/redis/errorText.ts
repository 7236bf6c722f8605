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
