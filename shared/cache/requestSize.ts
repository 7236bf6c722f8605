/**
 * Splitting Redis work by bytes, not only by count. Upstash refuses any request over 1 MB
 * (`ERR max request size exceeded`): a prewarm batch of 500 profiles at the field limits (200-character
 * name, 2,048-character avatar) is about 1.2 MB as ASCII and up to 4.6 MB with 4-byte characters, in
 * what used to be one EVALSHA. Sizes are measured as `@upstash/redis` sends them: the JSON text of the
 * command array (`JSON.stringify`), in UTF-8, so escapes (`\"`, `\\`) and multi-byte characters count.
 * @see https://upstash.com/docs/redis/troubleshooting/max_request_size_exceeded
 */

/**
 * Upstash's max request size on Free and Pay as You Go, read as 10^6 bytes (the stricter reading of
 * "1 MB"; its pricing page says 10 MB for some plans: this fits both).
 */
export const MAX_REQUEST_BYTES = 1_000_000;

/**
 * Room kept in every request for what is not measured item by item: the JSON envelope of the pipeline,
 * the EVALSHA name, digest and key count, and the stats counters that ride along (a dozen HINCRBYs).
 */
export const REQUEST_OVERHEAD_BYTES = 16_384;

/** Bytes one argument takes in the request body: its JSON text plus the comma after it. */
export function argBytes(value: string | number): number {
  if (typeof value === 'number') return String(value).length + 1;
  return Buffer.byteLength(JSON.stringify(value), 'utf8') + 1;
}

/** Sum of `argBytes` over the arguments. */
export function argsBytes(values: readonly (string | number)[]): number {
  let n = 0;
  for (const v of values) n += argBytes(v);
  return n;
}

/**
 * Consecutive `[start, end)` ranges over items of the given sizes, each summing to at most `budget`,
 * in order, covering every item once. An item alone over the budget gets a range of its own (no input
 * the validators accept comes near: a profile is under 10 KB), so the server's refusal stays visible.
 */
export function byteRanges(sizes: readonly number[], budget: number): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  let start = 0;
  let used = 0;
  for (let i = 0; i < sizes.length; i++) {
    const size = sizes[i] as number;
    if (i > start && used + size > budget) {
      ranges.push([start, i]);
      start = i;
      used = 0;
    }
    used += size;
  }
  if (start < sizes.length) ranges.push([start, sizes.length]);
  return ranges;
}

/** The budget items of one request may use under `maxRequestBytes`, overhead kept aside. */
export function itemBudget(maxRequestBytes: number): number {
  return Math.max(1, maxRequestBytes - REQUEST_OVERHEAD_BYTES);
}

/**
 * Ranges of FENCED_WRITE entries (one key and `slots` arguments each) that fit one request each under
 * `maxRequestBytes`.
 */
export function fencedWriteRanges(
  keys: readonly string[],
  args: readonly string[],
  maxRequestBytes: number,
  slots = args.length / Math.max(1, keys.length),
): Array<[number, number]> {
  const sizes = keys.map((key, i) => argBytes(key) + argsBytes(args.slice(i * slots, (i + 1) * slots)));
  return byteRanges(sizes, itemBudget(maxRequestBytes));
}
