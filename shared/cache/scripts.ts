/**
 * Lua run inside Redis so that "compare versions, then write data and TTL" is one atomic step. Without it a
 * slow read-fill (v5) could land after a PUT wrote v6 and silently roll the profile back.
 *
 * Scripts are sent with EVALSHA (only 40 bytes on the wire) and fall back to EVAL on NOSCRIPT, which also
 * loads them into the script cache for the next call.
 * @see https://redis.io/docs/latest/develop/interactive/programmability/eval-intro/
 */
import { createHash } from 'node:crypto';
import type { Redis } from '@upstash/redis';
import { redisErrorCode } from '../redis/errorText.js';

export interface LuaScript {
  source: string;
  sha1: string;
}

/** Wraps Lua source with its SHA1 (for EVALSHA). */
export function script(source: string): LuaScript {
  return { source, sha1: createHash('sha1').update(source).digest('hex') };
}

/**
 * First line of every script here. Upstash runs a script under a global lock (every other command of the
 * database waits) unless its shebang says `allow-key-locking`; then it locks only the script's KEYS, and
 * every key the script touches must be in KEYS. Each script in shared/ touches only its KEYS.
 */
export const KEY_LOCKING = '#!lua flags=allow-key-locking\n';

/** Number of ARGV slots each key takes in FENCED_WRITE. */
export const FENCED_WRITE_SLOTS = 8;

/**
 * Fenced write of N entries in one command (Upstash bills per command, not per key).
 * KEYS[i]: the profile hash. ARGV per key, 8 slots: kind, version, ttlSeconds, fullName, avatar, matricule,
 * ministere, timeMs, where kind is `p` (profile), `d` (tombstone), `n` (negative) or `i` (invalidate).
 *
 * Rules, per key:
 * - the stored `version` field is the fence; a missing key or a legacy entry without `version` is -1;
 * - `p`, `d`, `n` write only when incoming >= stored (an equal version carries equal data, so rewriting it
 *   merely refreshes the TTL); an older incoming version is rejected and reported as 0;
 * - `i` keeps the fence: the hash becomes a version-only marker (max of stored and incoming version), so a
 *   later read refills from PostgreSQL while an older event or fill still cannot land; an invalidation
 *   older than what is cached changes nothing (reported 0: the newer entry already supersedes it);
 * - DEL before HSET so marker fields of the previous state never linger; PEXPIRE in the same script, because
 *   an HSET alone keeps whatever TTL (or none) the key had.
 * - a key that exists but is not a hash (a legacy or foreign writer's string, list…) is left as it is and
 *   reported as 3: checked with TYPE before any hash command, because a WRONGTYPE error would abort the
 *   whole script and fail every other key of the batch (issue 9). The caller decides per key (the poller
 *   dead-letters that entry; reads of such a key already degrade to PostgreSQL).
 * Returns one integer per key: 1 written, 0 rejected as stale, 2 invalidation with nothing to invalidate,
 * 3 wrong type.
 */
export const FENCED_WRITE = script(`${KEY_LOCKING}local out = {}
for i = 1, #KEYS do
  local key = KEYS[i]
  local b = (i - 1) * ${FENCED_WRITE_SLOTS}
  local kind = ARGV[b + 1]
  local incoming = tonumber(ARGV[b + 2])
  local ttl = tonumber(ARGV[b + 3])
  local keyType = redis.call('TYPE', key)['ok']
  local stored = -1
  if keyType == 'hash' then stored = tonumber(redis.call('HGET', key, 'version')) or -1 end
  if keyType ~= 'hash' and keyType ~= 'none' then
    out[i] = 3
  elseif kind == 'i' then
    if redis.call('EXISTS', key) == 0 and incoming < 0 then
      out[i] = 2
    elseif incoming >= 0 and incoming < stored then
      out[i] = 0
    else
      local v = math.max(stored, incoming)
      redis.call('DEL', key)
      redis.call('HSET', key, 'version', string.format('%d', v), 'invalidatedAt', ARGV[b + 8])
      redis.call('EXPIRE', key, ttl)
      out[i] = 1
    end
  elseif incoming < stored then
    out[i] = 0
  else
    redis.call('DEL', key)
    if kind == 'p' then
      redis.call('HSET', key, 'fullName', ARGV[b + 4], 'avatar', ARGV[b + 5], 'matricule', ARGV[b + 6],
        'ministere', ARGV[b + 7], 'updatedAt', ARGV[b + 8], 'version', ARGV[b + 2])
    elseif kind == 'd' then
      redis.call('HSET', key, 'version', ARGV[b + 2], 'deletedAt', ARGV[b + 8])
    else
      redis.call('HSET', key, 'version', ARGV[b + 2], 'missing', '1')
    end
    redis.call('EXPIRE', key, ttl)
    out[i] = 1
  end
end
return out
`);

/** What a lease-fenced script returns, instead of its own reply, when the lease is not the caller's. */
export const FENCE_REFUSED = -1;

/**
 * `lua` behind a lease fence: KEYS[1] is the lease and ARGV[1] the caller's token, both shifted off
 * before `lua`'s own body runs (as local KEYS/ARGV, so the body is unchanged). When the lease holds
 * another token, or none, nothing runs and the script returns FENCE_REFUSED. Checked in the same atomic
 * step as the write, so a run that stalled past its lease's TTL can never write after another took over.
 * A shebang line stays first.
 */
export function fencedByLease(lua: LuaScript): LuaScript {
  const shebang = lua.source.startsWith('#!') ? `${lua.source.slice(0, lua.source.indexOf('\n'))}\n` : '';
  const prologue = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return ${FENCE_REFUSED} end
local keys, argv = {}, {}
for i = 2, #KEYS do keys[i - 1] = KEYS[i] end
for i = 2, #ARGV do argv[i - 1] = ARGV[i] end
local KEYS, ARGV = keys, argv
`;
  return script(shebang + prologue + lua.source.slice(shebang.length));
}

type ScriptRunner = Pick<Redis, 'evalsha' | 'eval'>;

/** EVALSHA, then EVAL when the server's script cache does not have it (restart, failover, first call). */
export async function runScript(
  redis: ScriptRunner,
  lua: LuaScript,
  keys: string[],
  args: string[],
): Promise<unknown> {
  try {
    return await redis.evalsha(lua.sha1, keys, args);
  } catch (error) {
    if (redisErrorCode(error) === 'NOSCRIPT') {
      return redis.eval(lua.source, keys, args);
    }
    throw error;
  }
}
