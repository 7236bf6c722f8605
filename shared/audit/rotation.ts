/**
 * The audit's rotation through the keyspace. Each hourly run continues the SCAN at the cursor the previous
 * run saved; SCAN guarantees that a key present for a whole iteration is returned at least once, even
 * across rehashing (its cursor walks reversed bit order), so one pass of the rotation audits every
 * profile that stayed cached throughout. A pass ends when SCAN returns cursor 0; the next run starts the
 * next pass.
 *
 * Arithmetic (docs/scale.md): 350,000 cached profiles / 24 hourly runs = 14,584 per run, so the default
 * sample is 15,000 and a pass takes at most 24 runs.
 * @see https://redis.io/docs/latest/commands/scan/#scan-guarantees
 */
import type { Redis } from '@upstash/redis';
import type { Clock } from '../ports.js';

/** Where the rotation stands after a run. */
export interface RotationReport {
  /** Passes completed so far (SCAN returned cursor 0). */
  passes: number;
  /** Profiles audited by the current pass so far (the one that just ended, when `passCompleted`). */
  passAudited: number;
  /** Set when this run ended a pass: how long the whole keyspace took, and the day's coverage it implies. */
  passCompleted?: {
    durationMs: number;
    audited: number;
    /** Share of cached profiles audited per 24 hours at this pace: min(1, 24 h / pass duration). */
    dailyCoverage: number;
  };
}

interface RotationState {
  cursor: string;
  passStartedAt: number;
  passAudited: number;
  passes: number;
}

const DAY_MS = 86_400_000;

export class AuditRotation {
  readonly #redis: Pick<Redis, 'exec'>;
  readonly #key: string;
  readonly #clock: Clock;

  constructor(redis: Pick<Redis, 'exec'>, key: string, clock: Clock) {
    this.#redis = redis;
    this.#key = key;
    this.#clock = clock;
  }

  /** The saved state; undefined when there is none (or it is unreadable): start a pass at cursor 0. */
  async load(): Promise<RotationState | undefined> {
    const flat = await this.#redis.exec<unknown>(['HGETALL', this.#key]);
    if (!Array.isArray(flat) || flat.length === 0) return undefined;
    const f = new Map<string, string>();
    for (let i = 0; i + 1 < flat.length; i += 2) f.set(String(flat[i]), String(flat[i + 1]));
    const cursor = f.get('cursor') ?? '';
    const [passStartedAt, passAudited, passes] = ['passStartedAt', 'passAudited', 'passes'].map((k) =>
      Number(f.get(k)),
    );
    if (!/^\d+$/.test(cursor) || ![passStartedAt, passAudited, passes].every(Number.isSafeInteger)) {
      return undefined;
    }
    return { cursor, passStartedAt: passStartedAt!, passAudited: passAudited!, passes: passes! };
  }

  /**
   * Saves the cursor after a run that audited `audited` ids. Two audits racing (a slow run and the next
   * one) may audit the same keys twice and save either cursor: harmless, the pass still completes.
   */
  async advance(
    start: RotationState | undefined,
    cursor: string,
    audited: number,
    wrapped: boolean,
  ): Promise<RotationReport> {
    const now = this.#clock();
    // A pass starts when the previous one ended (saved with cursor 0), so its duration counts every run.
    const passStartedAt = start ? start.passStartedAt : now;
    const passAudited = (start && start.cursor !== '0' ? start.passAudited : 0) + audited;
    const passes = (start?.passes ?? 0) + (wrapped ? 1 : 0);
    const report: RotationReport = { passes, passAudited };
    if (wrapped) {
      const durationMs = Math.max(1, now - passStartedAt);
      // A pass that fits in one run covers everything each run.
      report.passCompleted = {
        durationMs,
        audited: passAudited,
        dailyCoverage: Math.min(1, DAY_MS / durationMs),
      };
    }
    await this.#redis.exec([
      'HSET',
      this.#key,
      'cursor',
      cursor,
      'passStartedAt',
      String(wrapped ? now : passStartedAt),
      'passAudited',
      String(wrapped ? 0 : passAudited),
      'passes',
      String(passes),
    ]);
    return report;
  }
}
