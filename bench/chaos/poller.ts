/**
 * The stream poller as the chaos run drives it: back-to-back `runFor` slices (like `local/backgroundJobs`)
 * but keeping every slice's report (event lag, dead letters) and able to be killed mid-batch.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Clock } from '../../shared/ports.js';
import type { PollReport, Relay, StreamConsumer } from '../../shared/stream/consumer.js';

/** One `runFor` slice's report and when it ended (epoch ms). */
export interface SliceReport {
  endedAt: number;
  report: PollReport;
}

export interface ChaosPoller {
  readonly reports: SliceReport[];
  /** Ends the loop through its normal path and waits for it. Never call it on a killed poller. */
  stop(): Promise<void>;
}

/**
 * `build` receives the clock and sleep the consumer must use: stop() moves that clock past every deadline
 * and cuts the current pause short, so the slice ends normally (the consumer removes itself from the group).
 */
export function startChaosPoller(
  build: (ports: { clock: Clock; sleep: (ms: number) => Promise<void> }) => StreamConsumer,
  opts: { sliceMs: number; relay: Relay; onError?: (error: unknown) => void },
): ChaosPoller {
  const abort = new AbortController();
  const clock = () => Date.now() + (abort.signal.aborted ? opts.sliceMs + 1 : 0);
  const sleep = (ms: number) => delay(ms, undefined, { signal: abort.signal }).catch(() => {});
  const consumer = build({ clock, sleep });
  const reports: SliceReport[] = [];
  const done = (async () => {
    while (!abort.signal.aborted) {
      try {
        const report = await consumer.runFor(opts.sliceMs, { relay: opts.relay });
        reports.push({ endedAt: Date.now(), report });
      } catch (error) {
        if (abort.signal.aborted) break;
        opts.onError?.(error);
        await sleep(500);
      }
    }
  })();
  return {
    reports,
    async stop() {
      abort.abort();
      await done;
    },
  };
}
