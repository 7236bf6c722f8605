/**
 * The HTTP API's routes: method + path template → handler module + required scope, derived from the
 * stack's function table (`infra/functionTable.ts`), so the local server serves and refuses exactly what
 * API Gateway does. That table is plain data: no CDK code is loaded here.
 */
import { FUNCTIONS, type HttpVerb } from '../infra/functionTable.js';

type RouteFunction = Extract<(typeof FUNCTIONS)[number], { trigger: { kind: 'route' } }>;

/** A module in `functions/` that exports `createHandler(deps)` and `handler`, behind a route. */
export type HttpHandlerName = RouteFunction['name'];

/** Which configured scope a route needs (`AUTH_READ_SCOPE` or `AUTH_WRITE_SCOPE`). */
export type ScopeKind = 'read' | 'write';

export type HttpMethod = HttpVerb;

export interface RouteSpec {
  method: HttpMethod;
  /** API Gateway syntax: literal segments and `{name}` parameters (one whole segment each). */
  path: string;
  handler: HttpHandlerName;
  scope: ScopeKind;
}

export const ROUTES: readonly RouteSpec[] = FUNCTIONS.flatMap((f): RouteSpec[] =>
  f.trigger.kind === 'route'
    ? [
        {
          method: f.trigger.method,
          path: f.trigger.path,
          handler: f.name as HttpHandlerName,
          scope: f.trigger.access,
        },
      ]
    : [],
);

/** `GET /users/{id}`: the event's `routeKey`. */
export const routeKey = (route: RouteSpec): string => `${route.method} ${route.path}`;

export interface RouteMatch {
  route: RouteSpec;
  /** Decoded path parameters, e.g. `{ id: 'u000001' }`. */
  pathParameters: Record<string, string>;
}

export type RouteLookup =
  | { kind: 'found'; match: RouteMatch }
  /** The path exists for other methods (405); `allow` lists them. */
  | { kind: 'method_not_allowed'; allow: HttpMethod[] }
  | { kind: 'not_found' };

/**
 * Finds the route for a request. As in API Gateway, the most specific template wins: at the first
 * segment where two templates differ, a literal beats a `{parameter}` (`/users/batch` over `/users/{id}`).
 */
export function matchRoute(routes: readonly RouteSpec[], method: string, rawPath: string): RouteLookup {
  const segments = rawPath.split('/').slice(1);
  const candidates: RouteMatch[] = [];
  for (const route of routes) {
    const params = matchTemplate(route.path, segments);
    if (params) candidates.push({ route, pathParameters: params });
  }
  if (candidates.length === 0) return { kind: 'not_found' };
  const forMethod = candidates.filter((c) => c.route.method === method).sort(bySpecificity);
  const best = forMethod[0];
  if (best) return { kind: 'found', match: best };
  return { kind: 'method_not_allowed', allow: [...new Set(candidates.map((c) => c.route.method))] };
}

function matchTemplate(template: string, segments: readonly string[]): Record<string, string> | undefined {
  const parts = template.split('/').slice(1);
  if (parts.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (const [i, part] of parts.entries()) {
    const segment = segments[i]!;
    const name = /^\{(\w+)\}$/.exec(part)?.[1];
    if (name === undefined) {
      if (part !== segment) return undefined;
      continue;
    }
    // An empty segment (`/users/`) matches no parameter, as in API Gateway.
    if (segment === '') return undefined;
    params[name] = safeDecode(segment);
  }
  return params;
}

function bySpecificity(a: RouteMatch, b: RouteMatch): number {
  const pa = a.route.path.split('/');
  const pb = b.route.path.split('/');
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const literalA = !pa[i]!.startsWith('{');
    const literalB = !pb[i]!.startsWith('{');
    if (literalA !== literalB) return literalA ? -1 : 1;
  }
  return 0;
}

/** Malformed percent-encoding is passed through as is; the handler's id validation then refuses it. */
function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
