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
