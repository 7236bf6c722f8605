/**
 * Stream housekeeping, each step one atomic Lua script (one billed command, no race with readers):
 *
 * - `trimAcknowledged`: XTRIM MINID ~ <floor>, where floor is, over every consumer group of the stream
 *   but abandoned ones, the smallest of (oldest pending id, first id after last-delivered-id). Everything
 *   below the floor has been delivered to and acknowledged by every live group, so trimming never drops
 *   an entry a live group still needs. `~` only removes whole radix-tree nodes, so it keeps more than the
 *   floor, never less. A group other than the poller's own that lags more than ABANDONED_GROUP_LAG_MS is
 *   abandoned: left to pin the floor, it would keep the stream at the publisher's `MAXLEN ~` cap forever.
 *   That cap is the only other trim, sized in bytes so the stream stays under Upstash's 100 MB record
 *   limit whatever the consumers do (see eventPublisher.ts). The script also reports the stream's length
 *   and the own group's oldest pending age, which the poller emits as metrics (both are alarmed).
 * - `pruneConsumers`: deletes consumers with no pending entries. The poller uses a fresh consumer name per
 *   invocation (1,440 a day), which would otherwise accumulate in the group forever.
 *
 * Both read state and act on it inside one script. Done as separate commands, an XREADGROUP between the
 * check and the XGROUP DELCONSUMER could hand entries to a consumer that is then deleted together with
 * its pending list, losing them.
 * @see https://redis.io/docs/latest/commands/xtrim/
 * @see https://redis.io/docs/latest/commands/xgroup-delconsumer/
 */
import type { Redis } from '@upstash/redis';
import { KEY_LOCKING, runScript, script } from '../cache/scripts.js';

export type StreamTrimRedis = Pick<Redis, 'evalsha' | 'eval'>;

/** Lua helpers for stream ids `ms-seq` (both parts fit a Lua double for any realistic id). */
const ID_HELPERS = `
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function less(a, b)
  local am, as = parse(a)
  local bm, bs = parse(b)
  return am < bm or (am == bm and as < bs)
end
local function field(flat, name)
  for i = 1, #flat, 2 do
    if flat[i] == name then return flat[i + 1] end
  end
  return nil
end
`;

/**
 * KEYS[1] stream; ARGV own group, abandonedAfterMs. Returns { removed, floor, length, oldestPendingAgeMs,
 * excluded }: floor '' when nothing bounds it, age -1 when the own group has nothing pending.
 *
 * A group other than the own one whose oldest needed entry (pending, or first undelivered) is older than
 * abandonedAfterMs by Redis' clock is left out of the floor: its unread entries may then be trimmed. A
 * caught-up group needs no entry and never counts as lagging, however quiet the stream.
 */
const TRIM_ACKNOWLEDGED = script(`${KEY_LOCKING}${ID_HELPERS}
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, '', 0, -1, {}} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local bound = tonumber(ARGV[2])
local oldest = -1
local excluded = {}
local floor = nil
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local name = field(g, 'name')
  local last = field(g, 'last-delivered-id')
  local ms, seq = parse(last)
  local candidate = string.format('%d-%d', ms, seq + 1)
  local summary = redis.call('XPENDING', KEYS[1], name)
  local pending = tonumber(summary[1]) > 0
  if pending and less(summary[2], candidate) then candidate = summary[2] end
  local needed = nil
  if pending then needed = summary[2] else
    local first = redis.call('XRANGE', KEYS[1], candidate, '+', 'COUNT', 1)
    if #first > 0 then needed = first[1][1] end
  end
  if name == ARGV[1] and pending then oldest = now - parse(summary[2]) end
  if name ~= ARGV[1] and needed ~= nil and now - parse(needed) > bound then
    excluded[#excluded + 1] = name
  elseif floor == nil or less(candidate, floor) then
    floor = candidate
  end
end
local removed = 0
if floor ~= nil then removed = redis.call('XTRIM', KEYS[1], 'MINID', '~', floor) end
return {removed, floor or '', redis.call('XLEN', KEYS[1]), oldest, excluded}
`);

/**
 * KEYS[1] stream; ARGV group, minIdleMs, self. Deletes consumers with 0 pending entries that are idle for
 * at least minIdleMs, or named `self` (a poller removing itself when done). Returns how many were deleted.
 */
const PRUNE_CONSUMERS = script(`${KEY_LOCKING}${ID_HELPERS}
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local ok, consumers = pcall(redis.call, 'XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
if not ok then return 0 end
local deleted = 0
for _, c in ipairs(consumers) do
  local name = field(c, 'name')
  local pending = tonumber(field(c, 'pending'))
  local idle = tonumber(field(c, 'idle'))
  if pending == 0 and (name == ARGV[3] or idle >= tonumber(ARGV[2])) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], name)
    deleted = deleted + 1
  end
end
return deleted
`);

/**
 * How far behind a group other than the poller's own may fall before it stops holding the trim floor: a
 * day. A consumer down longer than that loses the entries the MINID trim then removes (it should be
 * deleted, or its owner alerted by the StreamGroupsExcluded metric); the poller's own group is never
 * excluded (its lag is alarmed instead).
 */
export const ABANDONED_GROUP_LAG_MS = 86_400_000;

export interface TrimResult {
  removed: number;
  floor: string | undefined;
  /** XLEN after the trim. */
  length: number;
  /** Age of the own group's oldest pending entry (by its id's time, Redis' clock), -1 when none. */
  oldestPendingAgeMs: number;
  /** Groups left out of the floor because they lag past `abandonedAfterMs`. */
  excluded: string[];
}

/** Trims entries every live group has acknowledged. Throws on Redis failure (the caller logs and carries on). */
export async function trimAcknowledged(
  redis: StreamTrimRedis,
  stream: string,
  opts: {
    /** The poller's group: it always holds the floor. Without it, no group is ever excluded. */
    group?: string;
    /** @default ABANDONED_GROUP_LAG_MS */
    abandonedAfterMs?: number;
  } = {},
): Promise<TrimResult> {
  const bound =
    opts.group === undefined ? Number.MAX_SAFE_INTEGER : (opts.abandonedAfterMs ?? ABANDONED_GROUP_LAG_MS);
  const reply = await runScript(redis, TRIM_ACKNOWLEDGED, [stream], [opts.group ?? '', String(bound)]);
  const [removed, floor, length, oldest, excluded] = Array.isArray(reply) ? reply : [];
  return {
    removed: Number(removed) || 0,
    floor: typeof floor === 'string' && floor !== '' ? floor : undefined,
    length: Number(length) || 0,
    oldestPendingAgeMs: oldest === undefined ? -1 : Number(oldest),
    excluded: Array.isArray(excluded) ? excluded.map(String) : [],
  };
}

/** Deletes idle consumers that hold no pending entries (and `self` when it holds none). */
export async function pruneConsumers(
  redis: StreamTrimRedis,
  stream: string,
  group: string,
  opts: { minIdleMs: number; self?: string },
): Promise<number> {
  const reply = await runScript(
    redis,
    PRUNE_CONSUMERS,
    [stream],
    [group, String(opts.minIdleMs), opts.self ?? ''],
  );
  return Number(reply) || 0;
}
