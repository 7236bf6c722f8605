/**
 * Redrive of the poller's dead-letter stream (`<stream>:dead`): list, show, replay. A replay re-adds the
 * entry's original fields to the events stream and deletes the dead copy IN ONE SCRIPT, after the XADD
 * succeeded: an entry is never lost (a failed XADD stops the script before the XDEL) and never replayed
 * twice (a second replay finds no dead copy). The replayed event is applied like any other, through the
 * version fence, so an old event never overwrites a newer cached profile.
 */
import type { Redis } from '@upstash/redis';
import { runScript, script } from '../shared/cache/scripts.js';
import { DEAD_LETTER_SUFFIX } from '../shared/defaults.js';

export interface DeadEntry {
  /** Id in the dead-letter stream. */
  id: string;
  reason: string;
  sourceStream: string;
  sourceId: string;
  deliveries: number;
  deadLetteredAt: number;
  /** The original event's fields, as the producer wrote them. */
  fields: Record<string, string>;
}

export interface StreamRedriveOptions {
  redis: Pick<Redis, 'exec' | 'evalsha' | 'eval'>;
  /** The stage's events stream (`config.events.stream`); its dead letters are `${stream}:dead`. */
  stream: string;
  /** XADD MAXLEN ~ of the events stream (`config.events.maxLen`). */
  maxLen: number;
}

export type ReplayOutcome =
  | { id: string; status: 'replayed'; newId: string }
  | { id: string; status: 'gone' }
  | { id: string; status: 'refused'; reason: string };

const META = ['reason', 'sourceStream', 'sourceId', 'deliveries', 'deadLetteredAt'];

/**
 * KEYS: dead stream, events stream. ARGV: dead id, maxlen. Returns the new id, or false when the dead
 * entry is gone (already replayed or deleted). Meta fields are dropped and `orig.<name>` restored.
 */
const REPLAY = script(`
local found = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #found == 0 then return false end
local flat = found[1][2]
local args = {'XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*'}
local meta = {reason=true, sourceStream=true, sourceId=true, deliveries=true, deadLetteredAt=true}
for i = 1, #flat, 2 do
  local name = flat[i]
  if not meta[name] then
    if string.sub(name, 1, 5) == 'orig.' then name = string.sub(name, 6) end
    table.insert(args, name)
    table.insert(args, flat[i + 1])
  end
end
local id = redis.call(unpack(args))
redis.call('XDEL', KEYS[1], ARGV[1])
return id
`);

export class StreamRedrive {
  readonly deadStream: string;
  readonly #o: StreamRedriveOptions;

  constructor(options: StreamRedriveOptions) {
    this.#o = options;
    this.deadStream = `${options.stream}${DEAD_LETTER_SUFFIX}`;
  }

  /** Oldest first, at most `count`. */
  async list(count = 100): Promise<DeadEntry[]> {
    const reply = await this.#o.redis.exec<[string, string[]][]>([
      'XRANGE',
      this.deadStream,
      '-',
      '+',
      'COUNT',
      String(count),
    ]);
    return reply.map(([id, flat]) => decode(id, flat));
  }

  async show(id: string): Promise<DeadEntry | undefined> {
    const reply = await this.#o.redis.exec<[string, string[]][]>(['XRANGE', this.deadStream, id, id]);
    const [first] = reply;
    return first && decode(first[0], first[1]);
  }

  /** Replays `ids` (every listed entry when omitted), one script each; never throws for one entry. */
  async replay(ids?: readonly string[]): Promise<ReplayOutcome[]> {
    const targets = ids ?? (await this.list(1_000)).map((e) => e.id);
    const outcomes: ReplayOutcome[] = [];
    for (const id of targets) {
      const entry = await this.show(id);
      if (!entry) {
        outcomes.push({ id, status: 'gone' });
        continue;
      }
      // An entry another stream dead-lettered (a stage sharing the database) is not ours to replay.
      if (entry.sourceStream !== this.#o.stream) {
        outcomes.push({ id, status: 'refused', reason: `dead-lettered from ${entry.sourceStream}` });
        continue;
      }
      try {
        const newId = await runScript(
          this.#o.redis,
          REPLAY,
          [this.deadStream, this.#o.stream],
          [id, String(this.#o.maxLen)],
        );
        outcomes.push(typeof newId === 'string' ? { id, status: 'replayed', newId } : { id, status: 'gone' });
      } catch (error) {
        outcomes.push({
          id,
          status: 'refused',
          reason: error instanceof Error ? error.message : String(error),
        });
      }
    }
    return outcomes;
  }
}

function decode(id: string, flat: readonly string[]): DeadEntry {
  const all: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) all[flat[i] as string] = flat[i + 1] as string;
  const fields: Record<string, string> = {};
  for (const [name, value] of Object.entries(all)) {
    if (META.includes(name)) continue;
    fields[name.startsWith('orig.') ? name.slice(5) : name] = value;
  }
  return {
    id,
    reason: all.reason ?? '',
    sourceStream: all.sourceStream ?? '',
    sourceId: all.sourceId ?? '',
    deliveries: Number(all.deliveries ?? 0),
    deadLetteredAt: Number(all.deadLetteredAt ?? 0),
    fields,
  };
}
