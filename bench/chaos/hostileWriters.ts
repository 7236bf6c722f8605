/**
 * The chaos run's two writers we do not control (issue 9):
 * - an OUTSIDE WRITER that hard-deletes ids with plain SQL (half the time also XADDing a seed-style
 *   versionless `deleted` event) and re-creates them, through our API or with a plain SQL INSERT. Each
 *   incarnation carries its number in `matricule` (`HX-<n>`), and a reader checks that no read returns
 *   an incarnation whose row was deleted more than the staleness bound before the read started (a
 *   "foreign profile": another person's data for this id);
 * - a POISON PRODUCER that XADDs hostile entries (unsafe versions, junk, missing fields, over-limit
 *   payloads, unknown types, valid events for keys a legacy writer left as strings). Each must end in the
 *   dead-letter stream, or be acknowledged as an unknown type.
 * Their ids (`hx…`, `px…`) are their own, so the workload's ledger checks are unaffected.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Sql } from '../../shared/db/sql.js';
import type { Check } from './check.js';
import { mulberry32 } from './random.js';

export interface HostileWritersOptions {
  sql: Pick<Sql, 'query'>;
  /** XADD of one entry to the events stream; returns the entry id, throws when Redis cannot take it. */
  xadd(fields: Record<string, string>): Promise<string>;
  /** SET of a string at a profile key (the legacy writer). */
  plantLegacyKey(userId: string): Promise<unknown>;
  apiUrl: string;
  token: string;
  durationMs: number;
  /** Reads of a deleted incarnation later than this after its delete count as foreign. */
  boundMs: number;
  /** Ids the outside writer cycles through. @default 40 */
  poolSize?: number;
  /** Deletes or re-creates per second. @default 4 */
  ratePerSecond?: number;
  /** Poison entries per second. @default 2 */
  poisonPerSecond?: number;
  /** @default 3 */
  seed?: number;
}

interface Incarnation {
  n: number;
  /** When its row was deleted (ms, performance clock), once it was. */
  deletedAt?: number;
}

export interface HostileWritersResult {
  hardDeletes: number;
  recreates: { api: number; sql: number };
  /** Writes refused (the database paused, Redis down for the API): nothing committed. */
  failedWrites: number;
  reads: number;
  /** Reads that returned an incarnation deleted more than `boundMs` before they started. */
  foreignReads: Array<{ userId: string; served: number; deletedAgoMs: number }>;
  /** The same within the bound (events in flight): expected, shown for information. */
  foreignWithinBound: number;
  /** After quiescence: ids whose API answer is not their current incarnation. */
  finalForeign: string[];
  poison: { sent: number; expectedDead: string[]; unknownTypes: number; lost: number };
}

const fieldsOf = (n: number) => ({
  fullName: `Incarnation ${n}`,
  avatar: '',
  matricule: `HX-${n}`,
  ministere: 'MINFI',
});

export async function runHostileWriters(o: HostileWritersOptions): Promise<{
  result: HostileWritersResult;
  /** Checks every pool id through the API after quiescence (fills `finalForeign`). */
  verify(): Promise<void>;
}> {
  const random = mulberry32(o.seed ?? 3);
  const ids = Array.from({ length: o.poolSize ?? 40 }, (_, i) => `hx${String(i + 1).padStart(4, '0')}`);
  const lives = new Map<string, Incarnation[]>(ids.map((id) => [id, [{ n: 1 }]]));
  let counter = 1;
  for (const id of ids) await insertRow(o.sql, id, 1);
  const result: HostileWritersResult = {
    hardDeletes: 0,
    recreates: { api: 0, sql: 0 },
    failedWrites: 0,
    reads: 0,
    foreignReads: [],
    foreignWithinBound: 0,
    finalForeign: [],
    poison: { sent: 0, expectedDead: [], unknownTypes: 0, lost: 0 },
  };
  const deadline = performance.now() + o.durationMs;
  const pick = () => ids[Math.floor(random() * ids.length)]!;

  const writer = async () => {
    while (performance.now() < deadline) {
      const id = pick();
      const list = lives.get(id)!;
      const current = list.at(-1)!;
      try {
        if (current.deletedAt === undefined) {
          const { rows } = await o.sql.query('DELETE FROM personnel WHERE id = $1 RETURNING 1', [id]);
          if (rows.length > 0) {
            current.deletedAt = performance.now();
            result.hardDeletes++;
            if (random() < 0.5) await retry(() => o.xadd({ event: 'deleted', userId: id }));
          }
        } else {
          const n = ++counter;
          const viaApi = random() < 0.5;
          if (viaApi ? await createViaApi(o, id, n) : await insertRow(o.sql, id, n)) {
            list.push({ n });
            result.recreates[viaApi ? 'api' : 'sql']++;
          }
        }
      } catch {
        result.failedWrites++;
      }
      await sleep(1000 / (o.ratePerSecond ?? 4));
    }
  };

  const reader = async () => {
    while (performance.now() < deadline) {
      const id = pick();
      const started = performance.now();
      const served = await readIncarnation(o, id);
      result.reads++;
      const incarnation = lives.get(id)!.find((x) => x.n === served);
      if (incarnation?.deletedAt !== undefined && incarnation.deletedAt < started) {
        const deletedAgoMs = Math.round(started - incarnation.deletedAt);
        if (deletedAgoMs > o.boundMs) result.foreignReads.push({ userId: id, served: served!, deletedAgoMs });
        else result.foreignWithinBound++;
      }
      await sleep(50);
    }
  };

  const poison = async () => {
    let k = 0;
    while (performance.now() < deadline) {
      const { fields, dead, setup } = poisonEntry(k++, random);
      // Redis may be down (the fault schedule kills it): the legacy key and the entry are retried.
      const ready = setup ? await retry(() => setup(o)) : true;
      const entryId = ready === undefined ? undefined : await retry(() => o.xadd(fields));
      if (entryId === undefined) result.poison.lost++;
      else {
        result.poison.sent++;
        if (dead) result.poison.expectedDead.push(entryId);
        else result.poison.unknownTypes++;
      }
      await sleep(1000 / (o.poisonPerSecond ?? 2));
    }
  };

  await Promise.all([writer(), reader(), poison()]);
  return {
    result,
    async verify() {
      // Against PostgreSQL's rows, not this writer's notes: a write whose reply was lost still counts.
      const { rows } = await o.sql.query<{ id: string; matricule: string }>(
        'SELECT id, matricule FROM personnel WHERE id = ANY($1) AND deleted_at IS NULL',
        [ids],
      );
      const current = new Map(rows.map((r) => [r.id, Number(r.matricule.slice(3))]));
      for (const id of ids) {
        const served = await readIncarnation(o, id);
        const expected = current.get(id);
        if (served !== expected)
          result.finalForeign.push(`${id}: served ${served ?? 404}, current ${expected ?? 404}`);
      }
    },
  };
}

async function insertRow(sql: Pick<Sql, 'query'>, id: string, n: number): Promise<boolean> {
  const f = fieldsOf(n);
  const { rows } = await sql.query(
    `INSERT INTO personnel (id, matricule, full_name, avatar_url, ministere) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (id) DO NOTHING RETURNING 1`,
    [id, f.matricule, f.fullName, f.avatar, f.ministere],
  );
  return rows.length > 0;
}

async function createViaApi(o: HostileWritersOptions, id: string, n: number): Promise<boolean> {
  const response = await fetch(`${o.apiUrl}/users`, {
    method: 'POST',
    headers: { authorization: `Bearer ${o.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ id, ...fieldsOf(n) }),
    signal: AbortSignal.timeout(10_000),
  });
  await response.body?.cancel();
  return response.status === 201;
}

/** The incarnation number an API read returned; undefined for a 404 or a failure. */
async function readIncarnation(o: HostileWritersOptions, id: string): Promise<number | undefined> {
  try {
    const response = await fetch(`${o.apiUrl}/users/${id}`, {
      headers: { authorization: `Bearer ${o.token}` },
      signal: AbortSignal.timeout(10_000),
    });
    const body = (await response.json().catch(() => undefined)) as { matricule?: unknown } | undefined;
    const match = response.status === 200 ? /^HX-(\d+)$/.exec(String(body?.matricule)) : null;
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** The k-th poison entry: what it is, and whether it must be dead-lettered (else: unknown type). */
interface Poison {
  fields: Record<string, string>;
  dead: boolean;
  setup?: (o: HostileWritersOptions) => Promise<unknown>;
}

function poisonEntry(k: number, random: () => number): Poison {
  const userId = `px${k}`;
  const payload = JSON.stringify(fieldsOf(k));
  const junk = String.fromCharCode(...Array.from({ length: 12 }, () => Math.floor(random() * 256)));
  const kinds: Poison[] = [
    { fields: { type: 'user.profile.deleted', userId, version: '9007199254740993' }, dead: true },
    { fields: { type: 'user.profile.updated', userId, version: '2', payload: `{${junk}` }, dead: true },
    { fields: { type: 'user.profile.updated', userId: `bad id ${junk}`, version: '2', payload }, dead: true },
    { fields: { version: '3', userId }, dead: true },
    {
      fields: {
        type: 'user.profile.updated',
        userId,
        version: '4',
        payload: JSON.stringify({ ...fieldsOf(k), fullName: 'X'.repeat(50_000) }),
      },
      dead: true,
    },
    { fields: { type: 'user.presence.changed', userId }, dead: false },
    {
      fields: { type: 'user.profile.created', userId, version: '1', payload },
      dead: true,
      setup: (o: HostileWritersOptions) => o.plantLegacyKey(userId),
    },
  ];
  return kinds[k % kinds.length]!;
}

/** Retries until Redis takes it, for up to 60 s; undefined when it never did. */
async function retry<T>(fn: () => Promise<T>): Promise<T | undefined> {
  const giveUp = performance.now() + 60_000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch {
      if (performance.now() > giveUp) return undefined;
      await sleep(Math.min(1000, 50 * 2 ** attempt));
    }
  }
}

/** The run's criteria for these writers. `deadSources`: the `sourceId` of every dead letter. */
export function hostileChecks(h: HostileWritersResult, deadSources: ReadonlySet<string>): Check[] {
  const missing = h.poison.expectedDead.filter((id) => !deadSources.has(id));
  return [
    {
      name: '0 foreign profiles served',
      pass: h.foreignReads.length === 0 && h.finalForeign.length === 0 && h.hardDeletes > 0,
      detail: `${h.hardDeletes} hard deletes, ${h.recreates.api} re-creates via the API and ${h.recreates.sql} via SQL; ${h.reads} reads: ${h.foreignReads.length} served a deleted incarnation past the bound (${h.foreignWithinBound} within it); after quiescence ${h.finalForeign.length} wrong${h.finalForeign.length ? `: ${h.finalForeign.slice(0, 5).join('; ')}` : ''}`,
    },
    {
      name: 'every poison entry dead-lettered or acknowledged as unknown',
      pass: missing.length === 0 && h.poison.lost === 0 && h.poison.sent > 0,
      detail: `${h.poison.sent} sent: ${h.poison.expectedDead.length - missing.length}/${h.poison.expectedDead.length} dead-lettered, ${h.poison.unknownTypes} unknown types, ${h.poison.lost} not sent${missing.length ? `; missing ${missing.slice(0, 5).join(', ')}` : ''}`,
    },
  ];
}
