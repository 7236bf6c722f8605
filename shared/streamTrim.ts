/**
 * Stream housekeeping, each step one atomic Lua script (one billed command, no race with readers):
 *
 * - `trimAcknowledged`: XTRIM MINID ~ <floor>, where floor is, over EVERY consumer group of the stream,
 *   the smallest of (oldest pending id, first id after last-delivered-id). Everything below the floor has
 *   been delivered to and acknowledged by every group, so trimming never drops an unacknowledged or
 *   undelivered entry. `~` only removes whole radix-tree nodes, so it keeps more than the floor, never less.
 *   The bound: the stream holds at least the entries not yet acknowledged by the slowest group, plus up
 *   to one node (100 entries by default) of acknowledged ones; the publisher's `MAXLEN ~` cap is the only
 *   other trim, a safety net for a consumer that stalls for days.
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
import { KEY_LOCKING, runScript, script } from './cache/scripts.js';

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

/** KEYS[1] stream. Returns { removed, floor } (floor '' when the stream or its groups do not exist). */
const TRIM_ACKNOWLEDGED = script(`${KEY_LOCKING}${ID_HELPERS}
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, ''} end
local groups = redis.call('XINFO', 'GROUPS', KEYS[1])
if #groups == 0 then return {0, ''} end
local floor = nil
for _, g in ipairs(groups) do
  local last = field(g, 'last-delivered-id')
  local ms, seq = parse(last)
  local candidate = string.format('%d-%d', ms, seq + 1)
  local summary = redis.call('XPENDING', KEYS[1], field(g, 'name'))
  if tonumber(summary[1]) > 0 and less(summary[2], candidate) then candidate = summary[2] end
  if floor == nil or less(candidate, floor) then floor = candidate end
end
local removed = redis.call('XTRIM', KEYS[1], 'MINID', '~', floor)
return {removed, floor}
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

/** Trims entries every group has acknowledged. Throws on Redis failure (the caller logs and carries on). */
export async function trimAcknowledged(
  redis: StreamTrimRedis,
  stream: string,
): Promise<{ removed: number; floor: string | undefined }> {
  const reply = await runScript(redis, TRIM_ACKNOWLEDGED, [stream], []);
  const [removed, floor] = Array.isArray(reply) ? reply : [];
  return {
    removed: Number(removed) || 0,
    floor: typeof floor === 'string' && floor !== '' ? floor : undefined,
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
