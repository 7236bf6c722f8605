/**
 * Maps driver errors to the project's typed errors at the repository's edge, so nothing above it ever
 * sees a `pg` or PGlite error class.
 */
import { AlreadyExistsError, AppError, DatabaseError, ValidationError } from '../errors.js';
import { sqlErrorCode } from './sql.js';

/** SQLSTATEs that mean "the row broke a constraint", i.e. bad input that slipped past validation. */
// check_violation, string too long, not null, invalid byte sequence (a NUL), untranslatable character
const CONSTRAINT_CODES = new Set(['23514', '22001', '23502', '22021', '22P05']);

/**
 * Returns the error to throw for a failed query. Typed errors pass through; `23505` (the only unique key
 * is `personnel.id`) becomes `AlreadyExistsError`; other constraint violations become
 * `ValidationError('INVALID_PROFILE')`; everything else (connection refused, `53300` too many
 * connections at `max_connections` or a role's `CONNECTION LIMIT`, the pool's connect timeout, `57014`
 * statement timeout, `57P01` admin shutdown…) is `DatabaseError`, code `DATABASE_UNAVAILABLE`, cause
 * kept: the API answers it 503 with `Retry-After` (docs/database.md).
 */
export function mapDbError(error: unknown, operation: string, userId?: string): AppError {
  if (error instanceof AppError) return error;
  const code = sqlErrorCode(error);
  if (code === '23505') {
    return new AlreadyExistsError('a profile with this id already exists', {
      cause: error,
      details: { userId },
    });
  }
  if (code !== undefined && CONSTRAINT_CODES.has(code)) {
    return new ValidationError('INVALID_PROFILE', 'profile violates a database constraint', {
      operation,
      sqlState: code,
      constraint: (error as { constraint?: string }).constraint,
    });
  }
  return new DatabaseError(`PostgreSQL ${operation} failed`, {
    cause: error,
    details: { operation, ...(code === undefined ? {} : { sqlState: code }), ...(userId ? { userId } : {}) },
  });
}
