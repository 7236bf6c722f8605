/**
 * GET /users/batch?ids=a,b,c (scope: read). Up to `LIMITS.httpBatchMax` distinct ids; the service answers
 * in at most three round trips (one Redis pipeline, one SQL query, one fenced Redis write).
 * 200 `{ users: [...request order...], notFound: [...] }`.
 */
import { getDependencies } from './commons/dependencies.js';
import { profileJson } from './commons/http/profileJson.js';
import { queryUserIds } from './commons/http/request.js';
import { json } from './commons/http/response.js';
import { lazyRoute } from './commons/lazy.js';
import { type ApiDeps, type ApiHandler, route } from './commons/route.js';

export function createHandler(deps: ApiDeps): ApiHandler {
  return route(deps, { name: 'GET /users/batch', method: 'GET', scope: 'read' }, async (event) => {
    const ids = queryUserIds(event);
    const { profiles, notFound } = await deps.service.getProfiles(ids);
    return json(200, { users: profiles.map(profileJson), notFound });
  });
}

/** The Lambda entry point: dependencies are built on the first call, once per environment. */
export const handler = lazyRoute(async () => createHandler(await getDependencies()));
