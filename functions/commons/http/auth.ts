/**
 * Scope check, in depth behind API Gateway's JWT authorizer (which checks the route's scopes too): a
 * route wired without an authorizer, or with the wrong scopes, must still refuse.
 */
import type { APIGatewayProxyEventV2WithJWTAuthorizer } from 'aws-lambda';
import { HttpError } from './httpErrors.js';

/**
 * Throws 401 when the event carries no authorizer claims, 403 when none of the token's scopes is
 * `scope`. Scopes come from `requestContext.authorizer.jwt.scopes` or the space-separated `scope` claim.
 */
export function requireScope(event: APIGatewayProxyEventV2WithJWTAuthorizer, scope: string): void {
  // Typed as always present, but absent when the route has no authorizer: read it defensively.
  const jwt = (event.requestContext as Partial<APIGatewayProxyEventV2WithJWTAuthorizer['requestContext']>)
    .authorizer?.jwt;
  const claims = jwt?.claims;
  if (!jwt || !claims || typeof claims !== 'object' || Object.keys(claims).length === 0) {
    throw new HttpError('UNAUTHORIZED', 'a bearer token is required', {
      headers: { 'www-authenticate': 'Bearer' },
    });
  }
  if (!scopesOf(jwt.scopes, claims.scope).has(scope)) {
    throw new HttpError('FORBIDDEN', `the token lacks the scope "${scope}"`, {
      details: { requiredScope: scope },
      headers: { 'www-authenticate': `Bearer error="insufficient_scope", scope="${scope}"` },
    });
  }
}

function scopesOf(scopes: unknown, claim: unknown): Set<string> {
  const found = new Set<string>();
  if (Array.isArray(scopes)) for (const s of scopes) if (typeof s === 'string') found.add(s);
  if (typeof claim === 'string') for (const s of claim.split(/\s+/)) if (s) found.add(s);
  return found;
}
