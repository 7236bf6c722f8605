/**
 * GET /cache/stats (scope: read). Counters of every instance (hits, misses, fallbacks…) with `hitRate`
 * and `dbFallbackShare`. 503 when Redis cannot answer: the counters live there, and a partial answer
 * (this instance only) would look like a real, tiny number.
 */
import { getDependencies } from './commons/dependencies.js';
import { json } from './commons/http/response.js';
import { lazyRoute } from './commons/lazy.js';
import { type ApiDeps, type ApiHandler, route } from './commons/route.js';

export function createHandler(deps: ApiDeps): ApiHandler {
  return route(deps, { name: 'GET /cache/stats', method: 'GET', scope: 'read' }, async () => {
    const stats = await deps.service.stats();
    return json(200, stats);
  });
}

/** The Lambda entry point: dependencies are built on the first call, once per environment. */
export const handler = lazyRoute(async () => createHandler(await getDependencies()));
