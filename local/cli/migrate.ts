/**
 * `npm run migrate [-- --data-dir .local]`: applies pending migrations to DATABASE_URL, or to the PGlite
 * database under the data folder (`.local/pgdata` by default).
 */
import { parseArgs } from 'node:util';
import { DEFAULT_DATA_DIR, openCliDatabase } from '../cliClients.js';

const { values } = parseArgs({ options: { 'data-dir': { type: 'string', default: DEFAULT_DATA_DIR } } });

// Opening the database applies the migrations; this only reports what happened.
const db = await openCliDatabase(values['data-dir']).catch((error: unknown) => {
  console.error(`migrate: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
try {
  console.log(
    db.applied.length === 0
      ? `${db.describe}: schema up to date`
      : `${db.describe}: applied ${db.applied.join(', ')}`,
  );
} finally {
  await db.sql.close();
}
