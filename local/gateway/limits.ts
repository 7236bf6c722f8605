/**
 * Upstash's size limits, with its error texts verbatim. Plain Redis has none of them, so code that sends a
 * 3 MB request or lets a stream grow past 100 MB would pass every local test and fail in production.
 * Pure functions, no I/O: the backend measures (MEMORY USAGE, INFO memory) and feeds the figures in here.
 *
 * How sizes are measured (see docs/gateway.md):
 * - request: the HTTP body's bytes, before parsing;
 * - record: Redis' `MEMORY USAGE key` (value plus Redis' own overhead, so somewhat more than Upstash's data
 *   size: the strict side) before the command, plus the bytes the command sends for that key;
 * - capacity: `used_memory_dataset` from `INFO memory` before the request, plus the bytes its growing
 *   commands send.
 * Only commands Redis flags `denyoom` (those that may grow memory: SET, HSET, XADD, ZADD…) and scripts are
 * refused; reads, deletes, trims, expiries and acknowledgements always pass, so a full database can
 * always be cleaned up, as on Upstash.
 * @see https://upstash.com/docs/redis/troubleshooting/max_request_size_exceeded
 * @see https://upstash.com/docs/redis/troubleshooting/max_record_size_exceeded
 * @see https://upstash.com/docs/redis/troubleshooting/db_capacity_quota_exceeded
 */
import { isIntegerIn } from '../../shared/options.js';
import type { Command } from './protocol.js';

export const LIMIT_ERRORS = {
  request: 'ERR max request size exceeded',
  record: 'ERR max single record size exceeded',
  capacity: 'ERR DB capacity quota exceeded',
} as const;

export interface SizeLimits {
  /** Largest HTTP request body, in bytes. */
  maxRequestBytes: number;
  /** Largest single key (string, hash, stream…), in bytes. */
  maxRecordBytes: number;
  /** Total data size of the database, in bytes. */
  maxDataBytes: number;
}

/**
 * Upstash's Pay as You Go figures. Its troubleshooting page says 1 MB per request (the pricing page says
 * 10 MB): the smaller, read as 10^6 bytes, is what code must fit. 100 MB per record; 10 GB of data.
 */
export const UPSTASH_LIMITS: SizeLimits = {
  maxRequestBytes: 1_000_000,
  maxRecordBytes: 100_000_000,
  maxDataBytes: 10_000_000_000,
};

/** What the gateway knows of one Redis command from `COMMAND`'s reply: may it grow memory, where its keys are. */
export interface CommandSpec {
  grows: boolean;
  firstKey: number;
  lastKey: number;
  step: number;
  movableKeys: boolean;
}

/** Commands by lower-case name, subcommands as `xgroup|create`. */
export type CommandTable = ReadonlyMap<string, CommandSpec>;

/** Builds the table from `COMMAND`'s RESP2 reply (Buffers or strings; subcommands at index 9 in Redis 7). */
export function parseCommandTable(reply: unknown): CommandTable {
  const table = new Map<string, CommandSpec>();
  const visit = (entries: unknown): void => {
    if (!Array.isArray(entries)) return;
    for (const entry of entries) {
      if (!Array.isArray(entry) || entry.length < 6) continue;
      const flags = Array.isArray(entry[2]) ? entry[2].map((f: unknown) => String(f)) : [];
      table.set(String(entry[0]).toLowerCase(), {
        grows: flags.includes('denyoom'),
        firstKey: Number(entry[3]),
        lastKey: Number(entry[4]),
        step: Number(entry[5]),
        movableKeys: flags.includes('movablekeys'),
      });
      visit(entry[9]);
    }
  };
  visit(reply);
  return table;
}

const SCRIPT_CALLS = new Set(['eval', 'evalsha', 'fcall']);

/** The spec of `cmd`, its subcommand's when it has one (`XGROUP CREATE`), or undefined for unknown commands. */
export function specOf(table: CommandTable, cmd: Command): CommandSpec | undefined {
  const name = (cmd[0] ?? '').toLowerCase();
  const sub = cmd[1] === undefined ? undefined : table.get(`${name}|${cmd[1].toLowerCase()}`);
  return sub ?? table.get(name);
}

/**
 * Whether `cmd` may grow the data, and which keys it writes. Scripts count as growing every key in KEYS
 * (the gateway cannot know what they write); a script flagged `no-writes` runs as EVAL_RO/EVALSHA_RO,
 * which are not in the set. `undefined` keys: movable keys the caller must ask Redis about (COMMAND GETKEYS).
 */
export function growthOf(
  table: CommandTable,
  cmd: Command,
): { grows: false } | { grows: true; keys: string[] | undefined } {
  const name = (cmd[0] ?? '').toLowerCase();
  if (SCRIPT_CALLS.has(name)) {
    const n = Number(cmd[2]);
    if (!isIntegerIn(n, { min: 0 })) return { grows: false };
    return { grows: true, keys: cmd.slice(3, 3 + n) };
  }
  const spec = specOf(table, cmd);
  if (!spec?.grows) return { grows: false };
  if (spec.movableKeys || spec.firstKey <= 0) return { grows: true, keys: spec.movableKeys ? undefined : [] };
  const last = spec.lastKey < 0 ? cmd.length + spec.lastKey : spec.lastKey;
  const keys: string[] = [];
  for (let i = spec.firstKey; i <= last && i < cmd.length; i += Math.max(1, spec.step)) {
    keys.push(cmd[i] as string);
  }
  return { grows: true, keys };
}

/** UTF-8 bytes of a command's arguments (what Redis will store, at most, from it). */
export function commandBytes(cmd: Command): number {
  let n = 0;
  for (let i = 1; i < cmd.length; i++) n += Buffer.byteLength(cmd[i] as string, 'utf8');
  return n;
}

/** One growing command of a request, with what Redis holds now for its keys. */
export interface Growth {
  index: number;
  keys: string[];
  bytes: number;
}

/**
 * The refusal (Upstash's text) for each growing command, in request order, or undefined where it fits.
 * Earlier commands of the same request count towards later ones (a pipeline of XADDs to one stream), and
 * a script's bytes are spread over its keys. Refused commands add nothing.
 */
export function sizeRefusals(
  growths: readonly Growth[],
  sizes: { record: ReadonlyMap<string, number>; data: number },
  limits: Pick<SizeLimits, 'maxRecordBytes' | 'maxDataBytes'>,
): Map<number, string> {
  const refusals = new Map<number, string>();
  const added = new Map<string, number>();
  let data = sizes.data;
  for (const g of growths) {
    if (data + g.bytes > limits.maxDataBytes) {
      refusals.set(g.index, LIMIT_ERRORS.capacity);
      continue;
    }
    const share = g.keys.length > 0 ? g.bytes / g.keys.length : 0;
    const over = g.keys.some(
      (key) => (sizes.record.get(key) ?? 0) + (added.get(key) ?? 0) + share > limits.maxRecordBytes,
    );
    if (over) {
      refusals.set(g.index, LIMIT_ERRORS.record);
      continue;
    }
    data += g.bytes;
    for (const key of g.keys) added.set(key, (added.get(key) ?? 0) + share);
  }
  return refusals;
}

/**
 * `used_memory_dataset` from an `INFO memory` reply (a Buffer or string), 0 when absent. Redis computes it
 * as used_memory minus its overhead in unsigned arithmetic, so on a fresh server it can wrap around to
 * about 1.8e19: a value above used_memory is read as 0.
 */
export function datasetBytes(info: unknown): number {
  const text = Buffer.isBuffer(info) ? info.toString('utf8') : String(info);
  const dataset = /^used_memory_dataset:(\d+)/m.exec(text);
  const used = /^used_memory:(\d+)/m.exec(text);
  if (!dataset) return 0;
  const value = Number(dataset[1]);
  return used && value > Number(used[1]) ? 0 : value;
}
