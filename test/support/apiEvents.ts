/**
 * Hand-built API Gateway HTTP API (payload 2.0) events with a JWT authorizer, for tests that call the
 * handlers directly (the shape `local/apiEvent.ts` builds from real HTTP requests).
 */
import type { ApiEvent } from '../../functions/commons/route.js';

export interface ApiEventInput {
  method?: string;
  /** The `{id}` path parameter (as API Gateway passes it: already percent-decoded). */
  id?: string;
  query?: Record<string, string>;
  /** JSON-encoded unless `rawBody` is given. */
  body?: unknown;
  /** Sent exactly as given. */
  rawBody?: string;
  base64?: boolean;
  /** Merged over `content-type: application/json`. */
  headers?: Record<string, string>;
  /** `jwt.scopes`. @default both scopes */
  scopes?: string[];
}

let requests = 0;

export function apiEvent(input: ApiEventInput): ApiEvent {
  const text = input.rawBody ?? (input.body === undefined ? undefined : JSON.stringify(input.body));
  const body = text !== undefined && input.base64 ? Buffer.from(text, 'utf8').toString('base64') : text;
  const e = {
    version: '2.0',
    routeKey: '$default',
    rawPath: '/',
    rawQueryString: '',
    headers: { 'content-type': 'application/json', ...input.headers },
    ...(input.query ? { queryStringParameters: input.query } : {}),
    ...(input.id !== undefined ? { pathParameters: { id: input.id } } : {}),
    ...(body !== undefined ? { body } : {}),
    isBase64Encoded: input.base64 ?? false,
    requestContext: {
      accountId: '000000000000',
      apiId: 'test',
      domainName: 'api.test',
      domainPrefix: 'api',
      http: {
        method: input.method ?? 'GET',
        path: '/',
        protocol: 'HTTP/1.1',
        sourceIp: '127.0.0.1',
        userAgent: 'vitest',
      },
      requestId: `req${requests++}`,
      routeKey: '$default',
      stage: '$default',
      time: '',
      timeEpoch: 0,
      authorizer: {
        jwt: {
          claims: { sub: 'client-1', iss: 'https://auth.ngomna.cm' },
          scopes: input.scopes ?? ['users.read', 'users.write'],
        },
      },
    },
  };
  return e as unknown as ApiEvent;
}

/** The parsed JSON body (`JSON.parse`'s type: tests index into it freely). */
export const bodyOf = (r: { body?: string }) => JSON.parse(r.body ?? 'null');
