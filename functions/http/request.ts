/**
 * Request parsing for API Gateway HTTP API (payload 2.0) events. Everything a client sends is validated
 * here or by the service before any I/O; a bad request changes nothing and never becomes a 5xx.
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type * as z from 'zod/mini';
import { ValidationError } from '../../shared/errors.js';
import { assertUserId, LIMITS, summarizeIssues } from '../../shared/profile.js';
import { HttpError } from './httpErrors.js';

/** Throws 405 (with `Allow`) unless the event's method is `method`. */
export function requireMethod(event: APIGatewayProxyEventV2, method: string): void {
  const actual = event.requestContext?.http?.method?.toUpperCase();
  if (actual !== method) {
    throw new HttpError('METHOD_NOT_ALLOWED', `use ${method} on this route`, { headers: { allow: method } });
  }
}

/**
 * The `{id}` path parameter, validated. No percent-decoding here: API Gateway (and the local server)
 * already decoded it, and decoding twice would let `%252F` become `/`.
 */
export function pathUserId(event: APIGatewayProxyEventV2): string {
  const id = event.pathParameters?.id;
  assertUserId(id);
  return id;
}

/**
 * `?ids=a,b,c` (API Gateway joins repeated `ids=` parameters with commas). Distinct ids in request order;
 * at most `LIMITS.httpBatchMax`; every id validated.
 */
export function queryUserIds(event: APIGatewayProxyEventV2): string[] {
  const raw = event.queryStringParameters?.ids;
  if (raw === undefined || raw === '') {
    throw new ValidationError(
      'INVALID_QUERY',
      'query parameter "ids" is required (comma-separated user ids)',
    );
  }
  const ids = [...new Set(raw.split(','))];
  if (ids.length > LIMITS.httpBatchMax) {
    throw new ValidationError('BATCH_TOO_LARGE', `at most ${LIMITS.httpBatchMax} distinct ids per request`, {
      max: LIMITS.httpBatchMax,
      received: ids.length,
    });
  }
  for (const id of ids) assertUserId(id);
  return ids;
}

/**
 * `If-Match` as a version: `3` or the ETag form `"3"`. `*` (any current version) and an absent header
 * mean "unconditional". Anything else is a 400: guessing would turn a typo into a lost update.
 */
export function ifMatchVersion(event: APIGatewayProxyEventV2): number | undefined {
  const raw = header(event, 'if-match')?.trim();
  if (raw === undefined || raw === '' || raw === '*') return undefined;
  const digits = /^"?([1-9]\d{0,15})"?$/.exec(raw);
  const version = digits?.[1] === undefined ? Number.NaN : Number(digits[1]);
  // The quotes must pair: `"3` and `3"` are malformed.
  if (!Number.isSafeInteger(version) || raw.startsWith('"') !== raw.endsWith('"')) {
    throw new ValidationError('INVALID_VERSION', 'If-Match must be a version number, e.g. "3"');
  }
  return version;
}

/**
 * The JSON body, size-checked (413 past `LIMITS.bodyMaxBytes`), decoded (`isBase64Encoded`), parsed and
 * validated with `schema` (strict: unknown fields are refused). Schema failures are `INVALID_PROFILE`
 * with field paths only, never the values.
 */
export function jsonBody<T>(event: APIGatewayProxyEventV2, schema: z.ZodMiniType<T>): T {
  const type = header(event, 'content-type');
  if (type !== undefined && !/^application\/([\w.+-]+\+)?json\s*(;|$)/i.test(type.trim())) {
    throw new HttpError('UNSUPPORTED_MEDIA_TYPE', 'the body must be JSON (content-type: application/json)');
  }
  const raw = event.body;
  if (raw === undefined || raw === null || raw === '')
    throw new ValidationError('INVALID_BODY', 'a JSON body is required');
  // Check the encoded size first so a huge body is refused before it is decoded.
  if (raw.length > LIMITS.bodyMaxBytes * (event.isBase64Encoded ? 4 / 3 : 1) + 4) throw tooLarge();
  const bytes = event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  if (bytes.length > LIMITS.bodyMaxBytes) throw tooLarge();
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new ValidationError('INVALID_BODY', 'the body is not valid UTF-8 JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ValidationError('INVALID_BODY', 'the body must be a JSON object');
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new ValidationError('INVALID_PROFILE', 'the body is not a valid profile', {
      issues: summarizeIssues(parsed.error),
    });
  }
  return parsed.data;
}

/** Header lookup by lower-case name (API Gateway lower-cases them; hand-built events may not). */
export function header(event: APIGatewayProxyEventV2, name: string): string | undefined {
  const headers = event.headers ?? {};
  if (headers[name] !== undefined) return headers[name];
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === name) return value;
  return undefined;
}

function tooLarge(): HttpError {
  return new HttpError('PAYLOAD_TOO_LARGE', `the body must be at most ${LIMITS.bodyMaxBytes} bytes`, {
    details: { maxBytes: LIMITS.bodyMaxBytes },
  });
}
