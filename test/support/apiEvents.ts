/**
 * Hand-built API Gateway HTTP API (payload 2.0) events with a JWT authorizer, for tests that call the
 * handlers directly (the shape `local/apiEvent.ts` builds from real HTTP requests).
 */
import type { ApiEvent } from '../../functions/commons/route.js';

export interface ApiEventInput {
  /** @default 'GET' */
  method?: string;
  /**
   * The route as API Gateway names it, e.g. `/users/{id}`: sets `routeKey` (`GET /users/{id}`) and the
   * raw path (with `id` percent-encoded into it). The handlers never read these; a bundle test sends
   * them to be faithful. @default the `$default` route on `/`
   */
  route?: string;
  /** The `{id}` path parameter (as API Gateway passes it: already percent-decoded). */
  id?: string;
  query?: Record<string, string>;
  /** JSON-encoded unless `rawBody` is given. */
  body?: unknown;
  /** Sent exactly as given. */
  rawBody?: string;
  base64?: boolean;
  /** Merged over `content-type: application/json`, which is only there when there is a body. */
  headers?: Record<string, string>;
  /** `jwt.scopes`; `null` as API Gateway sends when the token has no `scp` claim. @default both scopes */
  scopes?: string[] | null;
  /** The space-separated `scope` claim (where API Gateway finds no scopes, the handlers read this). */
  scopeClaim?: string;
  /** No authorizer at all (a route wired without one). */
  anonymous?: boolean;
  /** @default a new `req<n>` per event */
  requestId?: string;
}

let requests = 0;

/** A hand-built API Gateway HTTP API (payload 2.0) event with a JWT authorizer. */
export function apiEvent(input: ApiEventInput = {}): ApiEvent {
  const method = input.method ?? 'GET';
  const text = input.rawBody ?? (input.body === undefined ? undefined : JSON.stringify(input.body));
  const body = text !== undefined && input.base64 ? Buffer.from(text, 'utf8').toString('base64') : text;
  const routeKey = input.route === undefined ? '$default' : `${method} ${input.route}`;
  // Only with a route: encodeURIComponent throws on the lone surrogates the property tests send as ids.
  const rawPath = input.route?.replace('{id}', () => encodeURIComponent(input.id ?? '')) ?? '/';
  const claims: Record<string, string> = { sub: 'client-1', iss: 'https://auth.ngomna.cm' };
  if (input.scopeClaim !== undefined) claims.scope = input.scopeClaim;
  const now = Date.now();
  const e = {
    version: '2.0',
    routeKey,
    rawPath,
    rawQueryString: new URLSearchParams(input.query ?? {}).toString(),
    headers: { ...(body !== undefined && { 'content-type': 'application/json' }), ...input.headers },
    ...(input.query ? { queryStringParameters: input.query } : {}),
    ...(input.id !== undefined ? { pathParameters: { id: input.id } } : {}),
    ...(body !== undefined ? { body } : {}),
    isBase64Encoded: input.base64 ?? false,
    requestContext: {
      accountId: '000000000000',
      apiId: 'test',
      domainName: 'api.test',
      domainPrefix: 'api',
      http: { method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'vitest' },
      requestId: input.requestId ?? `req${requests++}`,
      routeKey,
      stage: '$default',
      time: new Date(now).toUTCString(),
      timeEpoch: now,
      ...(input.anonymous
        ? {}
        : {
            authorizer: {
              jwt: {
                claims,
                scopes: input.scopes === undefined ? ['users.read', 'users.write'] : input.scopes,
              },
              principalId: '',
              integrationLatency: 0,
            },
          }),
    },
  };
  return e as unknown as ApiEvent;
}

/** The parsed JSON body (`JSON.parse`'s type: tests index into it freely). */
export const bodyOf = (r: { body?: string }) => JSON.parse(r.body ?? 'null');
