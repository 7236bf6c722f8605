/**
 * `@chatapp-ngomna/shared/pg`: the `Sql` port over a `pg` Pool. A separate entry because `pg` is an
 * optional peer dependency: only a service that talks to PostgreSQL through `pg` installs it and imports
 * this (`./server` itself never loads a driver).
 * @see ../docs/api.md
 */

export { createPgSql, type PgSqlOptions } from './db/pgSql.js';
