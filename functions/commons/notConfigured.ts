/**
 * A stack deployed without `upstashSecretArn` creates the Upstash secret holding this placeholder, and
 * the operator puts the real `{"url","token"}` afterwards. Until then the functions recognize it and
 * do nothing: the API answers 503, the scheduled functions skip their runs (`commons/scheduledRun.ts`), instead of
 * failing every minute against a host that does not exist.
 */
import { AppError } from '../../shared/errors.js';

/**
 * The secret's initial value. The stack writes it once, at creation: CloudFormation updates a secret
 * only when this template value changes, so NEVER edit it, or the next deploy overwrites the real token.
 */
export const UPSTASH_PLACEHOLDER = Object.freeze({
  url: 'https://not-configured.upstash.invalid',
  token: 'not-configured',
});

/** The Upstash secret still holds `UPSTASH_PLACEHOLDER`. */
export class NotConfiguredError extends AppError {
  readonly code = 'NOT_CONFIGURED';
}

/** Throws NotConfiguredError when `credentials` are the placeholder (same URL: the token alone proves nothing). */
export function assertUpstashConfigured(credentials: { url: string }, variable: string): void {
  if (credentials.url === UPSTASH_PLACEHOLDER.url) {
    throw new NotConfiguredError(
      `the secret named by ${variable} still holds its placeholder: put the Upstash {"url","token"} there`,
      { details: { variable } },
    );
  }
}
