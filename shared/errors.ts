/**
 * Typed errors with a stable `code`. Modules throw these; only the HTTP edge (`functions/http/`) maps a
 * code to a status, so `shared/` stays transport-agnostic.
 */

/** Every error this project throws on purpose. `code` is stable and safe to show to API clients. */
export abstract class AppError extends Error {
  abstract readonly code: string;
  /** Machine-readable context (field paths, limits). Never carries profile values (PII). */
  readonly details: Record<string, unknown> | undefined;

  constructor(message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.details = options.details;
  }
}

export type ValidationCode =
  | 'INVALID_USER_ID'
  | 'INVALID_PROFILE'
  | 'INVALID_BODY'
  | 'INVALID_QUERY'
  | 'BATCH_TOO_LARGE'
  | 'INVALID_VERSION'
  | 'INVALID_EVENT';

/** Bad input: nothing was read or written because of it. Maps to 400 (413 for oversized payloads). */
export class ValidationError extends AppError {
  readonly code: ValidationCode;
  constructor(code: ValidationCode, message: string, details?: Record<string, unknown>) {
    super(message, { details });
    this.code = code;
  }
}

/** A configuration value (env var or constructor option) is missing or invalid. Thrown at start-up. */
export class ConfigError extends AppError {
  readonly code = 'CONFIG_INVALID';
}

export type UserCacheErrorCode =
  | 'CACHE_UNAVAILABLE'
  | 'CACHE_TIMEOUT'
  | 'CACHE_CIRCUIT_OPEN'
  | 'CACHE_PROTOCOL';

/** Redis could not answer. Callers treat it as "unknown" and go to PostgreSQL; it is never fatal. */
export class UserCacheError extends AppError {
  readonly code: UserCacheErrorCode;
  /**
   * The kind of Redis' error reply (`NOGROUP`, `BUSYGROUP`…, see `redisErrorCode` in redis/errorText.ts)
   * when Redis answered with one; undefined for a network failure or a timeout. Match this, not the text.
   */
  readonly redisCode: string | undefined;
  constructor(
    code: UserCacheErrorCode,
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown>; redisCode?: string | undefined } = {},
  ) {
    super(message, options);
    this.code = code;
    this.redisCode = options.redisCode;
  }
}

/** The profile does not exist (or was deleted) in the source of truth. Maps to 404. */
export class NotFoundError extends AppError {
  readonly code = 'USER_NOT_FOUND';
}

/** `If-Match` named a version that is no longer current. Maps to 412. */
export class VersionConflictError extends AppError {
  readonly code = 'VERSION_MISMATCH';
}

/** A create named an id that already exists. Maps to 409. */
export class AlreadyExistsError extends AppError {
  readonly code = 'USER_EXISTS';
}

/** PostgreSQL failed (not the caller's fault). Maps to 503: the one place a server error is honest. */
export class DatabaseError extends AppError {
  readonly code = 'DATABASE_UNAVAILABLE';
}

/** Another instance holds the lease (poller, prewarmer): this run did nothing on purpose. */
export class LeaseHeldError extends AppError {
  readonly code = 'LEASE_HELD';
}

/**
 * This run no longer holds the lease its write was fenced by (it stalled past the TTL and another run
 * took over): nothing was written. The run stops; what it had not acknowledged is the next holder's.
 */
export class LeaseLostError extends AppError {
  readonly code = 'LEASE_LOST';
}
