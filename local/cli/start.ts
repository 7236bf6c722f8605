/**
 * `npm start`: the whole service on this machine, zero configuration. Data persists in `.local/`
 * (a second start reuses it); Ctrl-C stops everything it started.
 *
 * Optional env: PORT (8001), SEED_USERS (5000), REDIS_URL, DATABASE_URL, JWT_ISSUER, JWT_AUDIENCE, and
 * every setting of functions/commons/config.ts (TTLs, scopes, stream names, POWERTOOLS_LOG_LEVEL).
 */
import { describeInteger, isIntegerIn } from '../../shared/options.js';
import { startLocalStack } from '../localStack.js';

function intFromEnv(name: string, fallback: number, max: number): number {
  const raw = process.env[name]?.trim();
  if (!raw) return fallback;
  const bounds = { min: 0, max };
  const value = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!isIntegerIn(value, bounds)) {
    console.error(`${name} must be ${describeInteger(bounds)}`);
    process.exit(2);
  }
  return value;
}

const port = intFromEnv('PORT', 8001, 65_535);
const seedUsers = intFromEnv('SEED_USERS', 5000, 5_000_000);

console.log('starting the local stack (redis-server, Upstash gateway, PostgreSQL, API)…');
let stack: Awaited<ReturnType<typeof startLocalStack>>;
try {
  stack = await startLocalStack({ port, seedUsers });
} catch (error) {
  console.error(`npm start failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}

const { apiUrl, token } = stack;
console.log(`
  API              ${apiUrl}
  JWKS             ${apiUrl}/.well-known/jwks.json
  Upstash REST     ${stack.gatewayUrl}  (token: ${stack.gatewayToken})
  Redis            ${stack.redisUrl}
  PostgreSQL       ${stack.database}

  Dev token (scopes ${stack.config.auth.readScope} ${stack.config.auth.writeScope}, valid 24 h), also in ${stack.tokenFile}:
  ${token}

  Try:
  TOKEN=$(cat ${stack.tokenFile})
  curl -s -H "Authorization: Bearer $TOKEN" ${apiUrl}/users/u000001
  curl -s -H "Authorization: Bearer $TOKEN" "${apiUrl}/users/batch?ids=u000001,u000002,nobody"
  curl -s -X PUT -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" -H 'If-Match: "1"' \\
    -d '{"fullName":"NANA Paul","avatar":"","matricule":"123456-A","ministere":"MINFOP"}' ${apiUrl}/users/u000001
  curl -s -H "Authorization: Bearer $TOKEN" ${apiUrl}/cache/stats

  Ctrl-C to stop.
`);

let stopping = false;
const shutdown = (signal: NodeJS.Signals) => {
  // One Ctrl-C under `npm start` arrives twice (the terminal signals the whole group, and npm forwards
  // it to its child): later signals are ignored rather than taken as "force quit".
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: stopping…`);
  // stop() is bounded (each job ends after its call in flight); this only guards against a hang.
  setTimeout(() => {
    console.error('stop took longer than 20 s: exiting anyway');
    process.exit(1);
  }, 20_000).unref();
  stack.stop().then(
    () => {
      console.log('stopped');
      process.exit(0);
    },
    (error: unknown) => {
      console.error(`stop failed: ${String(error)}`);
      process.exit(1);
    },
  );
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
