/**
 * PUT /users/{id} (scope: write). Replaces the four editable fields (all required, nothing else allowed).
 * `If-Match: "<version>"` makes it conditional (412 when stale). PostgreSQL commits first; the cache and
 * the events stream follow, and their failure never fails the request (the outbox relay catches up).
 */
import { profileFieldsSchema } from '../shared/profile/schemas.js';
import { getDependencies } from './commons/dependencies.js';
import { profileJson } from './commons/http/profileJson.js';
import { ifMatchVersions, jsonBody, pathUserId } from './commons/http/request.js';
import { etag, json } from './commons/http/response.js';
import { lazyRoute } from './commons/lazy.js';
import { type ApiDeps, type ApiHandler, route } from './commons/route.js';

export function createHandler(deps: ApiDeps): ApiHandler {
  return route(deps, { name: 'PUT /users/{id}', method: 'PUT', scope: 'write' }, async (event) => {
    const id = pathUserId(event);
    const ifMatch = ifMatchVersions(event);
    const fields = jsonBody(event, profileFieldsSchema);
    const profile = await deps.service.updateProfile(id, fields, { ifMatch });
    return json(200, profileJson(profile), etag(profile.version));
  });
}

/** The Lambda entry point: dependencies are built on the first call, once per environment. */
export const handler = lazyRoute(async () => createHandler(await getDependencies()));
