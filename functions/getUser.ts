/**
 * GET /users/{id} (scope: read). One profile, cache first; PostgreSQL on a miss or when Redis cannot
 * answer. 200 with `ETag: "<version>"`, 404 for unknown and deleted ids.
 */
import { getDependencies } from './commons/dependencies.js';
import { profileJson } from './commons/http/profileJson.js';
import { pathUserId } from './commons/http/request.js';
import { etag, json } from './commons/http/response.js';
import { lazyRoute } from './commons/lazy.js';
import { type ApiDeps, type ApiHandler, route } from './commons/route.js';

export function createHandler(deps: ApiDeps): ApiHandler {
  return route(deps, { name: 'GET /users/{id}', method: 'GET', scope: 'read' }, async (event) => {
    const id = pathUserId(event);
    const { profile, source } = await deps.service.getProfile(id);
    return json(200, profileJson(profile), {
      ...etag(profile.version),
      'x-cache': source === 'cache' ? 'HIT' : 'MISS',
    });
  });
}

/** The Lambda entry point: dependencies are built on the first call, once per environment. */
export const handler = lazyRoute(async () => createHandler(await getDependencies()));
