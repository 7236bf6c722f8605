/**
 * Request parsing for API Gateway HTTP API (payload 2.0) events. Everything a client sends is validated
 * here or by the service before any I/O; a bad request changes nothing and never becomes a 5xx.
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type * as z from 'zod/mini';
import { ValidationError } from '../../../shared/errors.js';
import { assertUserId, LIMITS, summarizeIssues } from '../../../shared/profile/schemas.js';
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
 * `If-Match` (RFC 9110 section 13.1.1) as the versions it accepts. Absent, empty or `*` is `undefined`
 * ("unconditional": `*` matches any existing profile, and a missing one is a 404 whatever the header says,
 * section 13.2.1). Otherwise a list of entity tags compared strongly with our ETags (`"<version>"`): a
 * weak tag (`W/"3"`) or one that is no version of ours (`"abc"`, `"03"`) can never match, so a list of
 * only those is `[]` and the write answers 412. A bare number (`3`) is accepted as `"3"`. Malformed
 * syntax is a 400: guessing would turn a typo into a lost update.
 */
export function ifMatchVersions(event: APIGatewayProxyEventV2): readonly number[] | undefined {
  const raw = header(event, 'if-match')?.trim();
  if (raw === undefined || raw === '' || raw === '*') return undefined;
  if (/^[1-9]\d{0,15}$/.test(raw) && Number.isSafeInteger(Number(raw))) return [Number(raw)];
  const tags = parseEntityTags(raw);
  if (tags === undefined) {
    throw new ValidationError('INVALID_VERSION', 'If-Match must be * or a list of entity tags, e.g. "3"');
  }
  if (tags.length > LIMITS.ifMatchMaxTags) {
    throw new ValidationError(
      'INVALID_VERSION',
      `If-Match lists at most ${LIMITS.ifMatchMaxTags} entity tags`,
      {
        max: LIMITS.ifMatchMaxTags,
      },
    );
  }
  const versions = new Set<number>();
  for (const { weak, opaque } of tags) {
    const version = Number(opaque);
    if (!weak && /^[1-9]\d{0,15}$/.test(opaque) && Number.isSafeInteger(version)) versions.add(version);
  }
  return [...versions];
}

// entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE, etagc = %x21 / %x23-7E / obs-text (%x80-FF); list
// elements are separated by OWS "," OWS, and empty elements are ignored (RFC 9110 sections 8.8.3, 5.6.1).
const ENTITY_TAG = /^(W\/)?"([\x21\x23-\x7e\x80-\xff]*)"$/;

/** The tags of a `#entity-tag` list, or `undefined` when it is malformed or lists none. */
function parseEntityTags(raw: string): Array<{ weak: boolean; opaque: string }> | undefined {
  const tags: Array<{ weak: boolean; opaque: string }> = [];
  for (const element of raw.split(',')) {
    const item = element.replace(/^[ \t]+|[ \t]+$/g, '');
    if (item === '') continue;
    const match = ENTITY_TAG.exec(item);
    if (!match) return undefined;
    tags.push({ weak: match[1] !== undefined, opaque: match[2] ?? '' });
  }
  return tags.length === 0 ? undefined : tags;
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
