/**
 * `npm run seed -- --users 20000 [--active-share 0.3] [--seed 42] [--prefix u] [--data-dir .local]`
 * Inserts generated profiles into DATABASE_URL, or into the PGlite database under the data folder.
 */
import { parseArgs } from 'node:util';
import { describeInteger, isIntegerIn } from '../../shared/options.js';
import { DEFAULT_DATA_DIR, openCliDatabase } from '../cliClients.js';
import { seedProfiles } from '../seedData.js';

const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '1000' },
    'active-share': { type: 'string', default: '0.3' },
    seed: { type: 'string', default: '42' },
    prefix: { type: 'string', default: 'u' },
    'data-dir': { type: 'string', default: DEFAULT_DATA_DIR },
  },
});

const users = Number(values.users);
const activeShare = Number(values['active-share']);
const seed = Number(values.seed);
const USERS = { min: 1, max: 5_000_000 };
if (!isIntegerIn(users, USERS)) {
  console.error(`--users must be ${describeInteger(USERS)}`);
  process.exit(2);
}
if (!(activeShare >= 0 && activeShare <= 1) || !isIntegerIn(seed, { min: Number.MIN_SAFE_INTEGER })) {
  console.error('--active-share must be within [0, 1] and --seed an integer');
  process.exit(2);
}
if (!/^[A-Za-z0-9_-]{0,50}$/.test(values.prefix)) {
  console.error('--prefix must be at most 50 characters of A-Z a-z 0-9 _ -');
  process.exit(2);
}

const db = await openCliDatabase(values['data-dir']).catch((error: unknown) => {
  console.error(`seed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
try {
  const started = performance.now();
  const { inserted } = await seedProfiles(db.sql, users, { activeShare, seed, idPrefix: values.prefix });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(
    `${db.describe}: inserted ${inserted} of ${users} profiles in ${seconds} s (existing ids kept)`,
  );
} finally {
  await db.sql.close();
}
