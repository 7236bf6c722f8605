/**
 * The Lambda configuration parser (functions/commons/config.ts) for local tools. Their clients come from local/
 * (spawned Redis, gateway, PGlite), so the credential settings config insists on are placeholders here;
 * every other setting (TTLs, scopes, stream names, prewarm tuning) is read and validated as in Lambda.
 */
import { type Config, loadConfig } from '../functions/commons/config.js';

export function loadLocalConfig(
  env: NodeJS.ProcessEnv,
  overrides: Record<string, string | undefined> = {},
): Config {
  return loadConfig({
    ...env,
    UPSTASH_SECRET_ARN: undefined,
    DATABASE_SECRET_ARN: undefined,
    UPSTASH_REDIS_REST_URL: 'http://127.0.0.1/',
    UPSTASH_REDIS_REST_TOKEN: 'local',
    DATABASE_URL: 'postgres://local/local',
    ...overrides,
  });
}
