/** The events stream's size bound, in bytes: a stream is ONE Upstash record, refused past 100 MB. */

/**
 * Redis memory of the largest event entry the validators allow: 10,509 B measured (every field at its
 * length limit, which counts code points, in 4-byte characters, the payload JSON included), rounded up.
 * A typical entry is 245 B.
 */
export const MAX_EVENT_ENTRY_BYTES = 11_000;

/** Entries that fit `budgetBytes` even if every one is as large as allowed. */
export function streamMaxLen(budgetBytes: number): number {
  return Math.max(1, Math.floor(budgetBytes / MAX_EVENT_ENTRY_BYTES));
}

/**
 * Half of Upstash's 100 MB single-record limit, over the largest entry: 50,000,000 / 11,000 = 4,545
 * entries. Worst case 50 MB, plus the radix node (100 entries, 1.1 MB) `~` may keep; typical entries
 * make it 1.1 MB. The old 1,000,000 cap was 245 MB of typical entries: past the limit, every XADD would
 * have failed long before it trimmed anything. A consumer more than 4,545 entries behind loses the oldest
 * (the StreamLength alarm fires well before).
 */
export const DEFAULT_STREAM_MAX_LEN = streamMaxLen(50_000_000);
