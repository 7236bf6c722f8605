/**
 * JSON responses and the ONE mapping from typed errors to HTTP statuses. Error bodies are
 * `{"error": {"code", "message", "details"}}`; 5xx bodies never carry internals (driver messages, SQL
 * states), which go to the log instead.
 */
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import {
  AlreadyExistsError,
  AppError,
  ConfigError,
  DatabaseError,
  NotFoundError,
  UserCacheError,
  ValidationError,
  VersionConflictError,
} from '../../../shared/errors.js';
import type { LoggerPort } from '../../../shared/ports.js';
import { HttpError } from './httpErrors.js';

export type HttpResult = APIGatewayProxyStructuredResultV2 & {
  statusCode: number;
  headers: Record<string, string>;
};

// Profiles are personal data and change on PUT: no shared or browser cache may keep them.
const BASE_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): HttpResult {
  return { statusCode, headers: { ...BASE_HEADERS, ...headers }, body: JSON.stringify(body) };
}

export function noContent(headers: Record<string, string> = {}): HttpResult {
  return { statusCode: 204, headers: { 'cache-control': 'no-store', ...headers } };
}

/** `ETag: "<version>"`: strong, so it can be sent back as `If-Match`. */
export function etag(version: number): Record<string, string> {
  return { etag: `"${version}"` };
}

/**
 * `Retry-After` (seconds) of every 503: the refusal is temporary (PostgreSQL at its connection limit or
 * unreachable, a secret not loaded yet), so clients and SDKs back off instead of hammering. One second
 * is about how long a held connection or a refused connect takes to clear; it is a hint, not a promise.
 */
export const RETRY_AFTER_SECONDS = 1;

/** Maps any thrown value to a response. Unknown errors are 500 and logged with their stack. */
export function errorResponse(
  error: unknown,
  logger: LoggerPort,
  context: Record<string, unknown> = {},
): HttpResult {
  const mapped = statusOf(error);
  if (mapped.status >= 500) {
    logger.error('request failed', {
      ...context,
      status: mapped.status,
      code: mapped.code,
      error: describe(error),
    });
  } else {
    logger.info('request refused', { ...context, status: mapped.status, code: mapped.code });
  }
  const details = mapped.status < 500 && error instanceof AppError ? (error.details ?? {}) : {};
  return json(
    mapped.status,
    { error: { code: mapped.code, message: mapped.message, details } },
    {
      ...(error instanceof HttpError ? error.headers : {}),
      ...(mapped.status === 503 ? { 'retry-after': String(RETRY_AFTER_SECONDS) } : {}),
    },
  );
}

function statusOf(error: unknown): { status: number; code: string; message: string } {
  if (error instanceof HttpError) return { status: error.status, code: error.code, message: error.message };
  if (error instanceof ValidationError) return { status: 400, code: error.code, message: error.message };
  if (error instanceof NotFoundError) return { status: 404, code: error.code, message: error.message };
  if (error instanceof AlreadyExistsError) return { status: 409, code: error.code, message: error.message };
  if (error instanceof VersionConflictError) return { status: 412, code: error.code, message: error.message };
  if (error instanceof DatabaseError) {
    return { status: 503, code: error.code, message: 'the database is unavailable; retry later' };
  }
  if (error instanceof ConfigError) {
    // A setting needed only by some paths (PostgreSQL's, resolved at first query) is missing or its
    // secret malformed: the same answer `lazyRoute` gives when the dependencies cannot be built at all.
    return {
      status: 503,
      code: 'SERVICE_UNAVAILABLE',
      message: 'the service cannot reach its configuration; retry',
    };
  }
  if (error instanceof UserCacheError) {
    return { status: 503, code: 'CACHE_UNAVAILABLE', message: 'the cache is unavailable; retry later' };
  }
  return { status: 500, code: 'INTERNAL_ERROR', message: 'internal error' };
}

/** Name, message and stack for the log. Driver messages can quote values, so they never reach clients. */
function describe(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { value: String(error).slice(0, 200) };
  const cause =
    error.cause instanceof Error ? { name: error.cause.name, code: codeOf(error.cause) } : undefined;
  return { name: error.name, code: codeOf(error), stack: error.stack, cause };
}

function codeOf(error: Error): unknown {
  return 'code' in error ? (error as { code: unknown }).code : undefined;
}
