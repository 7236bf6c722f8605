/**
 * DELETE /users/{id} (scope: write). Soft-deletes in PostgreSQL, then tombstones the cache entry (fenced by
 * the deletion's version, so no late fill or event can bring the profile back). `If-Match` optional.
 * 204; 404 when the id is unknown or already deleted.
 */
import { getDependencies } from './commons/dependencies.js';
import { ifMatchVersions, pathUserId } from './commons/http/request.js';
import { noContent } from './commons/http/response.js';
import { lazyRoute } from './commons/lazy.js';
import { type ApiDeps, type ApiHandler, route } from './commons/route.js';

export function createHandler(deps: ApiDeps): ApiHandler {
  return route(deps, { name: 'DELETE /users/{id}', method: 'DELETE', scope: 'write' }, async (event) => {
    const id = pathUserId(event);
    const ifMatch = ifMatchVersions(event);
    await deps.service.deleteProfile(id, { ifMatch });
    return noContent();
  });
}

/** The Lambda entry point: dependencies are built on the first call, once per environment. */
export const handler = lazyRoute(async () => createHandler(await getDependencies()));
