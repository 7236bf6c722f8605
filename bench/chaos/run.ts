/**
 * `npm run chaos`: one bounded chaos run against the whole local stack (see scenario.ts), then the JSON
 * report and the SVG chart in bench/results/. Exits 1 when a pass criterion is not met.
 *
 *   npm run chaos -- --duration 120 --users 20000 --clients 32 [--seed 1] [--outside-rate 5] [--record]
 *
 * Results go to bench/results/chaos-latest.* (ignored by git); `--record` also writes the committed
 * chaos-recorded.* copies.
 *
 * DATABASE_URL set: a fresh schema on that server (dropped afterwards); otherwise PGlite in a temp dir.
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runChaos } from './scenario.js';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '120' },
    users: { type: 'string', default: '20000' },
    clients: { type: 'string', default: '32' },
    seed: { type: 'string', default: '1' },
    'outside-rate': { type: 'string', default: '5' },
    record: { type: 'boolean', default: false },
  },
});

function int(name: string, raw: string, min: number, max: number): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < min || n > max) {
    console.error(`--${name} must be a whole number from ${min} to ${max}`);
    process.exit(2);
  }
  return n;
}

const { report } = await runChaos({
  durationSec: int('duration', values.duration, 10, 3_600),
  users: int('users', values.users, 100, 1_000_000),
  clients: int('clients', values.clients, 1, 512),
  seed: int('seed', values.seed, 0, 2 ** 31),
  outsideRatePerSecond: int('outside-rate', values['outside-rate'], 1, 1_000),
  databaseUrl: process.env.DATABASE_URL?.trim() || undefined,
  resultsDir: fileURLToPath(new URL('../results/', import.meta.url)),
  record: values.record,
});
process.exit(report.passed ? 0 : 1);
