import { safeErrorText } from '../../shared/redis/errorText.js';
import { json, RETRY_AFTER_SECONDS } from './http/response.js';
import type { ApiHandler } from './route.js';

/**
 * Lambda entry points build their dependencies on the first invocation, once per environment, instead of
 * at import: a configuration or secret error then surfaces as a logged invocation error (retried on the
 * next call) rather than an init crash loop, and tests can import handler modules without any env.
 */
export function lazy<A extends unknown[], R>(
  build: () => Promise<(...args: A) => Promise<R>>,
): (...args: A) => Promise<R> {
  let ready: Promise<(...args: A) => Promise<R>> | undefined;
  return async (...args) => {
    // Memoize the promise (not its value) so concurrent first calls share one build; forget a failed
    // build so a transient Secrets Manager error does not poison the environment for good.
    ready ??= build().catch((error: unknown) => {
      ready = undefined;
      throw error;
    });
    const handler = await ready;
    return handler(...args);
  };
}

/**
 * `lazy` for API routes: when the dependencies cannot be built (Secrets Manager throttled, a bad
 * setting), the route still answers in the API's error shape, as a 503 the caller may retry, instead of
 * a bare Lambda failure that API Gateway turns into `{"message":"Internal Server Error"}`.
 */
export function lazyRoute(build: () => Promise<ApiHandler>): ApiHandler {
  const handler = lazy(build);
  return async (event, context) => {
    try {
      // The Lambda context travels on: the route gives it to the logger (request id on every line).
      return await handler(event, context);
    } catch (error) {
      // No logger exists yet (building it is what failed): one structured line on stderr, PII-free.
      console.error(
        JSON.stringify({ level: 'ERROR', message: 'dependencies unavailable', error: safeErrorText(error) }),
      );
      return json(
        503,
        {
          error: {
            code: 'SERVICE_UNAVAILABLE',
            message: 'the service cannot reach its configuration; retry',
            details: {},
          },
        },
        { 'retry-after': String(RETRY_AFTER_SECONDS) },
      );
    }
  };
}
