import { parseArgs } from 'node:util';
import type { MetricsPort } from '../../functions/commons/route.js';
import { SCHEDULED_REDIS_TIMEOUT_MS } from '../../functions/commons/settings.js';
import { prewarmDeps } from '../../functions/prewarm.js';
import { ProfileRepository } from '../../shared/db/profileRepository.js';
import { LeaseHeldError } from '../../shared/errors.js';
import { describeInteger, isIntegerIn } from '../../shared/options.js';
import { silentLogger } from '../../shared/ports.js';
import type { PrewarmProgress } from '../../shared/prewarm/prewarmer.js';
import { UserCache } from '../../shared/userCache.js';
import { type CliClients, DEFAULT_DATA_DIR, openCliClients } from '../cliClients.js';
import { loadLocalConfig } from '../localConfig.js';

const env = process.env;
const { values } = parseArgs({
  options: {
    // Same default as `npm start` (local/localStack.ts).
    'data-dir': { type: 'string', default: DEFAULT_DATA_DIR },
    source: { type: 'string' },
    'batch-size': { type: 'string' },
    'pause-ms': { type: 'string' },
    'window-days': { type: 'string' },
    // One budgeted invocation, like one Lambda run: it resumes at the checkpoint and stops after N ms.
    'budget-ms': { type: 'string' },
    // One final JSON line on stdout (scripts, the scale benchmark) instead of the pretty report.
    json: { type: 'boolean', default: false },
  },
});
const budgetMs = values['budget-ms'] === undefined ? undefined : Number(values['budget-ms']);
if (budgetMs !== undefined && !isIntegerIn(budgetMs, { min: 1 })) {
  console.error(`prewarm: --budget-ms must be ${describeInteger({ min: 1 })} (milliseconds)`);
  process.exit(2);
}

// One parser for every setting: flags override the matching env vars; credentials are handled below.
const config = parseConfig();
function parseConfig() {
  try {
    return loadLocalConfig(env, {
      // Locally the activity set starts empty, so the seeded last_active_at column is the default source.
      PREWARM_SOURCE: values.source ?? (env.PREWARM_SOURCE?.trim() || 'sql'),
      PREWARM_BATCH_SIZE: values['batch-size'] ?? env.PREWARM_BATCH_SIZE,
      PREWARM_PAUSE_MS: values['pause-ms'] ?? env.PREWARM_PAUSE_MS,
      PREWARM_WINDOW_DAYS: values['window-days'] ?? env.PREWARM_WINDOW_DAYS,
      // A scheduled job's timeout, as the deployed prewarm has (infra/functionTable.ts).
      REDIS_TIMEOUT_MS: env.REDIS_TIMEOUT_MS?.trim() || String(SCHEDULED_REDIS_TIMEOUT_MS),
    });
  } catch (error) {
    console.error(`prewarm: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(2);
  }
}

/** The CLI prints its report; nothing collects metrics locally. */
const NO_METRICS: MetricsPort = { addMetric: () => {}, publishStoredMetrics: () => {} };

let clients: CliClients | undefined;
let exitCode = 1;
try {
  clients = await openCliClients({ dataDir: values['data-dir'], redisTimeoutMs: config.redisTimeoutMs });
  const { redis, sql, describe } = clients;
  const db = { sql, describe };
  const cache = new UserCache({ redis, ...config.cache, trackActivity: false });
  const { batchSize, pauseMs, source } = config.prewarm;
  console.error(`prewarm: ${db.describe}, source ${source}, batches of ${batchSize}, ${pauseMs} ms apart`);

  // The Lambda's own wiring (functions/prewarm.ts): the same source, lease and checkpoint keys, so a local
  // run resumes the day's cycle where the last one stopped. The CLI reports by its own JSON line, not metrics.
  const deps = prewarmDeps(
    {
      config,
      redis,
      cache,
      repository: new ProfileRepository({ sql: db.sql }),
      sql: db.sql,
      logger: silentLogger,
      metrics: NO_METRICS,
    },
    { onProgress: drawProgress },
  );
  const prewarmer = deps.prewarmer(budgetMs ?? Number.POSITIVE_INFINITY);
  const report = await prewarmer.run();
  await cache.flushStats();
  if (process.stderr.isTTY) process.stderr.write('\n');
  console.log(values.json ? JSON.stringify(report) : JSON.stringify(report, null, 2));
  exitCode = report.failedBatches === 0 && (report.complete || budgetMs !== undefined) ? 0 : 1;
} catch (error) {
  if (process.stderr.isTTY) process.stderr.write('\n');
  // A skipped invocation is an answer too: the JSON line says nothing was warmed.
  if (values.json && error instanceof LeaseHeldError) {
    console.log(
      JSON.stringify({
        status: 'skipped',
        reason: 'lease-held',
        complete: false,
        cached: 0,
        remaining: null,
      }),
    );
  }
  console.error(
    error instanceof LeaseHeldError
      ? 'prewarm: another prewarm holds the lease; try again when it is done'
      : `prewarm failed: ${error instanceof Error ? error.message : String(error)}`,
  );
} finally {
  await clients?.close();
}
process.exit(exitCode);

function drawProgress(p: PrewarmProgress): void {
  const done = p.cycle.warmed + p.cycle.errors;
  const total = p.total ?? p.candidates;
  const share = total > 0 ? Math.min(1, done / total) : 1;
  const width = 30;
  const filled = Math.round(share * width);
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.round(share * 100)).padStart(3)}%`;
  const line = `${bar} ${done}/${total} · cached ${p.cached} · fresh ${p.skippedFresh} · not found ${p.notFound} · errors ${p.errors} · batch ${p.batches}`;
  // A terminal gets one line redrawn in place; a log file gets one line per batch.
  if (process.stderr.isTTY) process.stderr.write(`\r${line}`);
  else process.stderr.write(`${line}\n`);
}
