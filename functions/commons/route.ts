/**
 * What every API handler shares: method and scope checks, error mapping, latency and cache metrics.
 * A handler is then only "parse → one service call → respond".
 */
import type { APIGatewayProxyEventV2WithJWTAuthorizer, Context } from 'aws-lambda';
import type { LoggerPort } from '../../shared/ports.js';
import type { LookupTally, ProfileService } from '../../shared/profile/service.js';
import { requireScope } from './http/auth.js';
import { requireMethod } from './http/request.js';
import { errorResponse, type HttpResult } from './http/response.js';

export type ApiEvent = APIGatewayProxyEventV2WithJWTAuthorizer;
export type ApiHandler = (event: ApiEvent, context?: Context) => Promise<HttpResult>;

/** The subset of Powertools `Metrics` the handlers use (EMF to stdout; flushed once per request). */
export interface MetricsPort {
  addMetric(name: string, unit: 'Count' | 'Milliseconds' | 'Percent', value: number): unknown;
  publishStoredMetrics(): unknown;
}

/** What `createHandler(deps)` of every API route takes (`functions/commons/dependencies.ts` builds the real one). */
export interface ApiDeps {
  service: Pick<
    ProfileService,
    'getProfile' | 'getProfiles' | 'updateProfile' | 'createProfile' | 'deleteProfile' | 'stats'
  >;
  logger: LoggerPort;
  metrics: MetricsPort;
  /** Scope names from `AUTH_READ_SCOPE` / `AUTH_WRITE_SCOPE`. */
  auth: { readScope: string; writeScope: string };
  /**
   * Called with each invocation's Lambda context before anything is logged (Powertools `addContext`), so
   * every log line of the request carries its request id. @default none (local stack, tests)
   */
  bindContext?: (context: Context) => void;
}

export interface RouteSpec {
  /** For logs, e.g. `GET /users/{id}`. */
  name: string;
  method: 'GET' | 'PUT' | 'POST' | 'DELETE';
  scope: 'read' | 'write';
}

/** Wraps a route's logic with the shared checks; the result never throws (errors become responses). */
export function route(
  deps: ApiDeps,
  spec: RouteSpec,
  run: (event: ApiEvent) => Promise<HttpResult>,
): ApiHandler {
  return async (event, lambdaContext) => {
    if (lambdaContext) deps.bindContext?.(lambdaContext);
    const started = performance.now();
    // Built only where something is logged: a hit logs nothing at the default level.
    const context = () => ({ route: spec.name, requestId: event.requestContext?.requestId });
    let result: HttpResult;
    try {
      requireMethod(event, spec.method);
      requireScope(event, spec.scope === 'read' ? deps.auth.readScope : deps.auth.writeScope);
      result = await run(event);
    } catch (error) {
      result = errorResponse(error, deps.logger, context());
    }
    const latencyMs = performance.now() - started;
    deps.metrics.addMetric('Latency', 'Milliseconds', latencyMs);
    try {
      deps.metrics.publishStoredMetrics();
    } catch (error) {
      deps.logger.warn('metrics not published', {
        ...context(),
        error: error instanceof Error ? error.name : 'unknown',
      });
    }
    if (deps.logger.isDebugEnabled?.() ?? true) {
      deps.logger.debug('request done', {
        ...context(),
        status: result.statusCode,
        latencyMs: Math.round(latencyMs),
      });
    }
    return result;
  };
}

/**
 * Turns a service read tally into the CacheHit / CacheMiss / DbFallback metrics. Zero values are left
 * out: CloudWatch sums the datapoints, so a missing 0 changes no figure, and a hit then serialises one
 * metric instead of three. (Alarms on CacheMiss/DbFallback treat missing data as zero.)
 */
export function recordLookups(metrics: MetricsPort, tally: LookupTally): void {
  if (tally.cacheHits > 0) metrics.addMetric('CacheHit', 'Count', tally.cacheHits);
  if (tally.cacheMisses > 0) metrics.addMetric('CacheMiss', 'Count', tally.cacheMisses);
  if (tally.dbFallbacks > 0) metrics.addMetric('DbFallback', 'Count', tally.dbFallbacks);
}
