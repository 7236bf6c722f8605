/**
 * POST /users (scope: write). Body: the four profile fields plus an optional `id` (a random UUID when
 * absent). 201 with `Location: /users/{id}`; 409 when the id exists (deleted ids are never reused); 400 for
 * an id a route shadows (`batch`).
 */
import * as z from 'zod/mini';
import { newUserIdSchema, profileFieldsSchema } from '../shared/profile/schemas.js';
import { getDependencies } from './commons/dependencies.js';
import { profileJson } from './commons/http/profileJson.js';
import { jsonBody } from './commons/http/request.js';
import { etag, json } from './commons/http/response.js';
import { lazyRoute } from './commons/lazy.js';
import { type ApiDeps, type ApiHandler, route } from './commons/route.js';

const createBodySchema = z.strictObject({ ...profileFieldsSchema.shape, id: z.optional(newUserIdSchema) });

export function createHandler(deps: ApiDeps): ApiHandler {
  return route(deps, { name: 'POST /users', method: 'POST', scope: 'write' }, async (event) => {
    const { id, ...fields } = jsonBody(event, createBodySchema);
    const profile = await deps.service.createProfile(id, fields);
    return json(201, profileJson(profile), {
      ...etag(profile.version),
      location: `/users/${encodeURIComponent(profile.userId)}`,
    });
  });
}

/** The Lambda entry point: dependencies are built on the first call, once per environment. */
export const handler = lazyRoute(async () => createHandler(await getDependencies()));
