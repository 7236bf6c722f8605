/**
 * Reads Secrets Manager secrets through the AWS Parameters and Secrets Lambda Extension: one HTTP GET to
 * the extension's localhost port, so no AWS SDK is loaded on the cold path (the SDK was 65 ms of an
 * 86 ms import). Values are parsed once and kept in memory for the environment's life; `refresh()`
 * re-reads one after an authentication failure (a rotated token or password), so a warm environment
 * follows a rotation without a redeploy.
 *
 * The extension keeps its own cache for `SECRETS_MANAGER_TTL` (the stack sets it), so a refresh sees a
 * rotated value at most that long after the rotation.
 * @see https://docs.aws.amazon.com/secretsmanager/latest/userguide/retrieving-secrets_lambda.html
 */
import type * as z from 'zod/mini';
import { ConfigError } from '../../shared/errors.js';
import { SETTINGS } from './settings.js';

/** The header the extension checks against the environment's own `AWS_SESSION_TOKEN` (SSRF guard). */
export const SECRETS_TOKEN_HEADER = 'X-Aws-Parameters-Secrets-Token';

export interface SecretReaderOptions {
  /**
   * Base URL of the extension.
   * @default `http://localhost:<PARAMETERS_SECRETS_EXTENSION_HTTP_PORT's default>` (`settings.ts`)
   */
  baseUrl?: string;
  /** The environment's `AWS_SESSION_TOKEN`; the extension refuses requests without it. */
  sessionToken: string;
  /**
   * Per-request timeout. The extension answers from memory, or after one GetSecretValue call.
   * @default 2000
   */
  timeoutMs?: number;
  /**
   * Least time between two re-reads of one secret: a burst of authentication failures triggers one
   * read, not one per request.
   * @default 5000
   */
  minRefreshIntervalMs?: number;
  /** @default Date.now */
  clock?: () => number;
}

interface Entry {
  value: Promise<unknown>;
  readAt: number;
}

export interface SecretSource {
  /** The secret's JSON value checked against `schema`, read once and then kept. */
  get<T>(secretId: string, schema: z.ZodMiniType<T>, variable: string): Promise<T>;
  /**
   * Forgets the kept value so the next `get` reads the extension again. Returns false (and forgets
   * nothing) when the last read is younger than `minRefreshIntervalMs`.
   */
  refresh(secretId: string): boolean;
}

/** A `SecretSource` over the extension's HTTP API. */
export class SecretReader implements SecretSource {
  readonly #baseUrl: string;
  readonly #token: string;
  readonly #timeoutMs: number;
  readonly #minRefreshIntervalMs: number;
  readonly #clock: () => number;
  readonly #entries = new Map<string, Entry>();

  constructor(options: SecretReaderOptions) {
    this.#baseUrl = (options.baseUrl ?? `http://localhost:${SETTINGS.secretsExtensionPort.default}`).replace(
      /\/$/,
      '',
    );
    this.#token = options.sessionToken;
    this.#timeoutMs = options.timeoutMs ?? 2000;
    this.#minRefreshIntervalMs = options.minRefreshIntervalMs ?? 5000;
    this.#clock = options.clock ?? Date.now;
  }

  get<T>(secretId: string, schema: z.ZodMiniType<T>, variable: string): Promise<T> {
    let entry = this.#entries.get(secretId);
    if (!entry) {
      entry = { value: this.#read(secretId, variable), readAt: this.#clock() };
      this.#entries.set(secretId, entry);
      // A failed read is not kept: the next request tries again.
      const failed = entry;
      failed.value.catch(() => {
        if (this.#entries.get(secretId) === failed) this.#entries.delete(secretId);
      });
    }
    return entry.value.then((value) => parse(value, schema, variable));
  }

  refresh(secretId: string): boolean {
    const entry = this.#entries.get(secretId);
    if (entry && this.#clock() - entry.readAt < this.#minRefreshIntervalMs) return false;
    this.#entries.delete(secretId);
    return true;
  }

  async #read(secretId: string, variable: string): Promise<unknown> {
    const url = `${this.#baseUrl}/secretsmanager/get?secretId=${encodeURIComponent(secretId)}`;
    let response: Response;
    try {
      response = await fetch(url, {
        headers: { [SECRETS_TOKEN_HEADER]: this.#token },
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (error) {
      throw secretError(variable, `the secrets extension is unreachable (${(error as Error).name})`);
    }
    // The body of an error is the extension's own text (never the secret): status only, to be safe.
    if (!response.ok) {
      await response.body?.cancel();
      throw secretError(variable, `the secrets extension answered ${response.status}`, response.status);
    }
    let body: { SecretString?: unknown };
    try {
      body = (await response.json()) as { SecretString?: unknown };
    } catch {
      throw secretError(variable, 'the secrets extension answered something other than JSON');
    }
    if (typeof body.SecretString !== 'string') throw secretError(variable, 'the secret has no SecretString');
    try {
      return JSON.parse(body.SecretString) as unknown;
    } catch {
      throw secretError(variable, 'the secret is not a JSON object');
    }
  }
}

function parse<T>(value: unknown, schema: z.ZodMiniType<T>, variable: string): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  // Field paths only: the secret's values must never reach a log.
  const fields = parsed.error.issues.map((i) => i.path.join('.') || '(root)').join(', ');
  throw secretError(variable, `the secret is missing or lacks fields: ${fields}`);
}

function secretError(variable: string, reason: string, status?: number): ConfigError {
  return new ConfigError(`the secret named by ${variable}: ${reason}`, {
    details: { variable, ...(status !== undefined && { status }) },
  });
}
