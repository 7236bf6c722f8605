import { parseArgs } from 'node:util';
import { type AuditReport, ConsistencyAuditor } from '../../shared/audit/auditor.js';
import { ProfileRepository } from '../../shared/db/profileRepository.js';
import type { Sql } from '../../shared/db/sql.js';
import { UserCache } from '../../shared/userCache.js';
import { type CliClients, DEFAULT_DATA_DIR, openCliClients } from '../cliClients.js';
import { loadLocalConfig } from '../localConfig.js';

const { values } = parseArgs({
  options: {
    'data-dir': { type: 'string', default: DEFAULT_DATA_DIR },
    all: { type: 'boolean', default: false },
    sample: { type: 'string' },
    ids: { type: 'string' },
  },
});

const env = process.env;
let clients: CliClients | undefined;
let exitCode = 2;
try {
  const config = loadLocalConfig(env, {
    AUDIT_SAMPLE_SIZE: values.sample ?? env.AUDIT_SAMPLE_SIZE,
  });
  clients = await openCliClients({ dataDir: values['data-dir'], redisTimeoutMs: 2_000 });
  const { sql, redis } = clients;
  const cache = new UserCache({ redis, ...config.cache, trackActivity: false });
  // The Lambda's rotation key: a local sample continues the same walk through the keyspace.
  const rotationKey = `${config.cache.keyPrefix}user:audit:rotation`;
  const auditor = new ConsistencyAuditor({
    cache,
    repository: new ProfileRepository({ sql }),
    redis,
    rotationKey,
  });
  console.error(`audit: ${clients.describe}`);
  let report: AuditReport;
  if (values.ids) report = await auditor.auditIds(values.ids.split(',').filter(Boolean));
  else if (values.all) report = await auditor.auditIds(allIds(sql));
  else report = await auditor.auditSample(config.audit.sampleSize);
  console.log(JSON.stringify(report, null, 2));
  exitCode = report.inconsistent === 0 ? 0 : 1;
} catch (error) {
  console.error(`audit failed: ${error instanceof Error ? error.message : String(error)}`);
} finally {
  await clients?.close();
}
process.exit(exitCode);

/** Every id in `personnel`, deleted ones included, in keyset pages of 1,000. */
async function* allIds(sql: Sql): AsyncIterable<string[]> {
  let after = '';
  for (;;) {
    const { rows } = await sql.query<{ id: string }>(
      'SELECT id FROM personnel WHERE id > $1 ORDER BY id LIMIT 1000',
      [after],
    );
    if (rows.length === 0) return;
    yield rows.map((r) => r.id);
    after = rows.at(-1)!.id;
  }
}
