/**
 * A local stand-in for the AWS Parameters and Secrets Lambda Extension's Secrets Manager API, for tests
 * and the local stack. It reproduces what the functions can observe of the real one:
 *
 * - `GET /secretsmanager/get?secretId=…[&versionId=…|&versionStage=…]`, answered with the JSON of
 *   Secrets Manager's GetSecretValue (ARN, Name, VersionId, SecretString, VersionStages, CreatedDate);
 * - the `X-Aws-Parameters-Secrets-Token` header must equal the environment's AWS_SESSION_TOKEN (403
 *   otherwise), `secretId` is required and unknown parameters are refused (400), an unknown secret is
 *   404, any method but GET is 405; `GET /ping` answers `healthy` without a token;
 * - its cache: a value read once is served for `ttlMs` (the extension's SECRETS_MANAGER_TTL, 300 s by
 *   default), so a rotation is seen only after the cached copy expires. That delay is the real
 *   extension's, and the code must live with it.
 *
 * @see https://docs.aws.amazon.com/secretsmanager/latest/userguide/retrieving-secrets_lambda.html
 */
import { randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SecretsExtensionOptions {
  /** The token callers must send (the Lambda environment's AWS_SESSION_TOKEN). */
  sessionToken: string;
  /**
   * How long a read value is served from the cache, in ms (SECRETS_MANAGER_TTL).
   * @default 300000
   */
  ttlMs?: number;
  /** @default 0 (a free port) */
  port?: number;
  /** @default Date.now */
  clock?: () => number;
}

interface StoredVersion {
  versionId: string;
  secretString: string;
  createdDate: number;
}

export interface SecretsExtension {
  /** `http://127.0.0.1:PORT`. */
  url: string;
  port: number;
  /** Creates or rotates a secret (a new AWSCURRENT version); `name` or its ARN both find it. */
  putSecret(arn: string, value: unknown): void;
  /** Requests received (every one), for tests. */
  readonly requests: number;
  /** Calls that reached Secrets Manager (cache misses), for tests. */
  readonly backendCalls: number;
  close(): Promise<void>;
}

const ALLOWED = new Set(['secretId', 'versionId', 'versionStage']);

export async function startSecretsExtension(options: SecretsExtensionOptions): Promise<SecretsExtension> {
  const ttlMs = options.ttlMs ?? 300_000;
  const clock = options.clock ?? Date.now;
  const expected = Buffer.from(options.sessionToken);
  const secrets = new Map<string, { arn: string; name: string; versions: StoredVersion[] }>();
  const cache = new Map<string, { body: string; until: number }>();
  let backendCalls = 0;
  let requests = 0;

  const find = (id: string) => secrets.get(id) ?? [...secrets.values()].find((s) => s.name === id);

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    requests += 1;
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === '/ping' && req.method === 'GET') return send(res, 200, 'healthy');
    if (req.method !== 'GET') return send(res, 405, 'method not allowed');
    const token = req.headers['x-aws-parameters-secrets-token'];
    const given = Buffer.from(typeof token === 'string' ? token : '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return send(res, 403, 'forbidden: missing or invalid X-Aws-Parameters-Secrets-Token');
    }
    if (req.headers['x-forwarded-for'] !== undefined) return send(res, 403, 'forbidden: forwarded request');
    if (url.pathname !== '/secretsmanager/get') return send(res, 404, 'not found');
    for (const key of url.searchParams.keys()) {
      if (!ALLOWED.has(key)) return send(res, 400, `bad request: unknown parameter ${key}`);
    }
    const secretId = url.searchParams.get('secretId');
    if (!secretId) return send(res, 400, 'bad request: secretId is required');
    const versionId = url.searchParams.get('versionId');
    const stage = url.searchParams.get('versionStage') ?? (versionId ? null : 'AWSCURRENT');
    const key = `${secretId}\n${versionId ?? ''}\n${stage ?? ''}`;
    const cached = cache.get(key);
    if (cached && cached.until > clock()) return send(res, 200, cached.body, 'application/json');

    backendCalls += 1;
    const secret = find(secretId);
    const current = secret?.versions[secret.versions.length - 1];
    const previous = secret?.versions[secret.versions.length - 2];
    const version =
      versionId !== null
        ? secret?.versions.find((v) => v.versionId === versionId)
        : stage === 'AWSCURRENT'
          ? current
          : stage === 'AWSPREVIOUS'
            ? previous
            : undefined;
    if (!secret || !version) return send(res, 404, 'ResourceNotFoundException: secret not found');
    const stages = version === current ? ['AWSCURRENT'] : version === previous ? ['AWSPREVIOUS'] : [];
    const body = JSON.stringify({
      ARN: secret.arn,
      Name: secret.name,
      VersionId: version.versionId,
      SecretString: version.secretString,
      VersionStages: stages,
      CreatedDate: (version.createdDate / 1000).toFixed(3),
    });
    cache.set(key, { body, until: clock() + ttlMs });
    send(res, 200, body, 'application/json');
  };

  const server = createServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    putSecret(arn, value) {
      // ARN …:secret:NAME-xxxxxx (six random characters), as Secrets Manager names them.
      const name = arn.split(':secret:')[1]?.replace(/-[A-Za-z0-9]{6}$/, '') ?? arn;
      const entry = secrets.get(arn) ?? { arn, name, versions: [] };
      entry.versions.push({
        versionId: randomUUID(),
        secretString: typeof value === 'string' ? value : JSON.stringify(value),
        createdDate: clock(),
      });
      secrets.set(arn, entry);
    },
    get requests() {
      return requests;
    },
    get backendCalls() {
      return backendCalls;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function send(res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
