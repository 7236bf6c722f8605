/**
 * `npm run migrate [-- --data-dir DIR]`: applies pending migrations to DATABASE_URL, or to the PGlite
 * directory (default `.local/pgdata`).
 */
import { parseArgs } from 'node:util';
import { openLocalDatabase } from './database.js';

const { values } = parseArgs({ options: { 'data-dir': { type: 'string' } } });

// Opening the database applies the migrations; this only reports what happened.
const db = await openLocalDatabase({ dataDir: values['data-dir'] });
try {
  console.log(
    db.applied.length === 0
      ? `${db.describe}: schema up to date`
      : `${db.describe}: applied ${db.applied.join(', ')}`,
  );
} finally {
  await db.sql.close();
}
