/**
 * Upstash's cap on a consumer's pending entries list (PEL): it refuses an XREADGROUP that could take the
 * consumer past 1000 unacknowledged entries, before reading anything. Plain Redis has no such cap, so a
 * consumer that never acknowledges would pass every local test and fail in production. Pure functions,
 * no I/O: the backend runs the XPENDING queries and feeds their replies back here.
 * @see https://upstash.com/docs/redis/troubleshooting/stream_pel_limit
 */
import type { Command } from './protocol.js';

/** Entries one consumer of one group may hold unacknowledged on Upstash. */
export const PEL_LIMIT = 1000;

/** What an XREADGROUP asks for: who reads, how many, from which streams. */
export interface ReadGroupRequest {
  group: string;
  consumer: string;
  /** COUNT, or undefined when absent or 0 (Redis then returns every entry: unbounded). */
  count: number | undefined;
  /** Distinct stream keys, in command order. */
  keys: string[];
}

/**
 * The XREADGROUP's group, consumer, COUNT and keys, or undefined for any other command and for an
 * XREADGROUP Redis will refuse anyway (bad syntax, non-numeric COUNT): Redis' own error is then answered.
 * Every read is checked, `>` or history and NOACK alike: Upstash does not document exempting any, and a
 * gateway stricter than production is the safe side of the difference.
 */
export function parseReadGroup(cmd: Command): ReadGroupRequest | undefined {
  if ((cmd[0] ?? '').toUpperCase() !== 'XREADGROUP') return undefined;
  if ((cmd[1] ?? '').toUpperCase() !== 'GROUP' || cmd.length < 4) return undefined;
  const group = cmd[2] as string;
  const consumer = cmd[3] as string;
  let count: number | undefined;
  let i = 4;
  for (; i < cmd.length; i++) {
    const option = (cmd[i] as string).toUpperCase();
    if (option === 'STREAMS') break;
    if (option === 'COUNT') {
      const value = cmd[++i];
      if (value === undefined || !/^-?\d{1,15}$/.test(value)) return undefined;
      // As in Redis: the last COUNT wins, and 0 or less means "no limit".
      count = Number(value) > 0 ? Number(value) : undefined;
    }
  }
  const rest = cmd.length - i - 1;
  if (i >= cmd.length || rest === 0 || rest % 2 !== 0) return undefined;
  const keys = [...new Set(cmd.slice(i + 1, i + 1 + rest / 2))];
  return { group, consumer, count, keys };
}

/**
 * The consumer's PEL size from an XPENDING summary reply `[total, min, max, [[consumer, "n"], …]]`
 * (names and counts arrive as Buffers, numbers as numbers), 0 when it holds nothing.
 */
export function consumerPending(reply: unknown, consumer: string): number {
  const consumers = Array.isArray(reply) ? reply[3] : undefined;
  if (!Array.isArray(consumers)) return 0;
  const name = Buffer.from(consumer, 'utf8');
  for (const row of consumers) {
    if (!Array.isArray(row)) continue;
    const [who, n] = row as [unknown, unknown];
    const matches = Buffer.isBuffer(who) ? who.equals(name) : who === consumer;
    if (matches) return Number(Buffer.isBuffer(n) ? n.toString('utf8') : n);
  }
  return 0;
}

/**
 * Upstash's refusal text for `key` when `pending + COUNT` would pass the limit (without COUNT: when the
 * list is already full), else undefined. The wording is Upstash's, from its troubleshooting page; how it
 * words an absent COUNT is not documented, so "unbounded" is this gateway's choice.
 */
export function pelRefusal(req: ReadGroupRequest, key: string, pending: number): string | undefined {
  const over = req.count === undefined ? pending >= PEL_LIMIT : pending + req.count > PEL_LIMIT;
  if (!over) return undefined;
  return (
    'ERR XReadGroup is cancelled. Pending Entries List limit per consumer is about to be reached. ' +
    `Limit: ${PEL_LIMIT}, Current PEL size: ${pending}, Requested Read: ${req.count ?? 'unbounded'}, ` +
    `Key: ${key}, Group: ${req.group}, Consumer: ${req.consumer}.`
  );
}
