/**
 * A local API Gateway (HTTP API): matches the route, runs the JWT authorizer's checks, builds the payload
 * 2.0 event and calls the same handler modules Lambda runs (`createHandler(deps)`). Refusals that API
 * Gateway makes itself (401, 403, 413, 500, 503) use its `{"message": …}` bodies, so clients see locally
 * what they will see in AWS.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2WithJWTAuthorizer, APIGatewayProxyResultV2, Context } from 'aws-lambda';
import type { JWTPayload } from 'jose';
import { SETTINGS } from '../functions/commons/settings.js';
import {
  buildEvent,
  type HttpReply,
  lambdaContext,
  newRequestId,
  scopesOf,
  toHttpReply,
} from './apiEvent.js';
import { type DevAuth, TokenRejectedError } from './devAuth.js';
import { type HttpHandlerName, matchRoute, ROUTES, type RouteSpec, type ScopeKind } from './routes.js';

/** A Lambda handler for HTTP API events, as `createHandler(deps)` returns it. */
export type HttpHandler = (
  event: APIGatewayProxyEventV2WithJWTAuthorizer,
  context: Context,
) => Promise<APIGatewayProxyResultV2>;

export interface ApiServerOptions {
  /** One handler per route target. */
  handlers: Record<HttpHandlerName, HttpHandler>;
  /**
   * The token verifier, or a factory called once the port is known (the issuer names the port).
   */
  auth: DevAuth | ((origin: string) => Promise<DevAuth>);
  /**
   * Scope strings each route kind requires (AUTH_READ_SCOPE / AUTH_WRITE_SCOPE).
   * @default the defaults of AUTH_READ_SCOPE / AUTH_WRITE_SCOPE (`functions/commons/settings.ts`)
   */
  scopes?: Record<ScopeKind, string>;
  /** @default ROUTES (the CDK stack's routes) */
  routes?: readonly RouteSpec[];
  /**
   * Port on 127.0.0.1; 0 picks a free one.
   * @default 8001
   */
  port?: number;
  /**
   * Largest request body; API Gateway's own quota is 10 MB. The handlers enforce the API's smaller limit.
   * @default 10485760
   */
  maxBodyBytes?: number;
  /**
   * API Gateway gives up on an integration after 30 s and answers 503.
   * @default 30000
   */
  handlerTimeoutMs?: number;
  /** Access log sink: one line per request, never tokens or bodies. @default console.log */
  log?: (line: string) => void;
}

export interface ApiServer {
  /** `http://127.0.0.1:PORT` (no trailing slash). */
  url: string;
  port: number;
  auth: DevAuth;
  close(): Promise<void>;
}

const JSON_TYPE = { 'content-type': 'application/json' };

export async function startApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const routes = options.routes ?? ROUTES;
  const scopes = options.scopes ?? {
    read: SETTINGS.readScope.default,
    write: SETTINGS.writeScope.default,
  };
  const maxBodyBytes = options.maxBodyBytes ?? 10 * 1024 * 1024;
  const timeoutMs = options.handlerTimeoutMs ?? 30_000;
  const log = options.log ?? console.log;
  // Requests may arrive before the factory has finished: they wait for it.
  let setAuth!: (auth: DevAuth) => void;
  const authReady = new Promise<DevAuth>((resolve) => {
    setAuth = resolve;
  });

  const server = createServer((req, res) => {
    const started = performance.now();
    const requestId = newRequestId();
    const rawPath = (req.url ?? '/').split('?')[0] ?? '/';
    res.setHeader('apigw-requestid', requestId);
    res.once('close', () => {
      const ms = (performance.now() - started).toFixed(1);
      log(`${req.method} ${rawPath} ${res.statusCode} ${ms}ms ${requestId}`);
    });
    authReady
      .then((auth) => handle(req, res, requestId, auth))
      .catch((error: unknown) => {
        log(
          `internal error ${requestId}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
        );
        if (!res.headersSent)
          send(res, { statusCode: 500, headers: JSON_TYPE, body: message('Internal Server Error') });
        else res.destroy();
      });
  });

  async function handle(req: IncomingMessage, res: ServerResponse, requestId: string, verifier: DevAuth) {
    const timeEpoch = Date.now();
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const rawPath = query === -1 ? url : url.slice(0, query);
    const rawQueryString = query === -1 ? '' : url.slice(query + 1);
    const method = req.method ?? 'GET';

    // The identity provider's endpoints (API Gateway itself has none; a real authorizer would fetch them).
    if (method === 'GET' && rawPath === '/.well-known/jwks.json') return sendJson(res, 200, verifier.jwks);
    if (method === 'GET' && rawPath === '/.well-known/openid-configuration') {
      const jwksUri = new URL('.well-known/jwks.json', verifier.issuer).toString();
      return sendJson(res, 200, {
        issuer: verifier.issuer,
        jwks_uri: jwksUri,
        id_token_signing_alg_values_supported: ['RS256'],
      });
    }

    const found = matchRoute(routes, method, rawPath);
    // API Gateway itself says `{"message":"Not Found"}`; the contract asks for the API's error shape here.
    if (found.kind === 'not_found')
      return sendError(res, 404, 'ROUTE_NOT_FOUND', `no route for ${method} ${rawPath.slice(0, 200)}`);
    if (found.kind === 'method_not_allowed') {
      res.setHeader('allow', found.allow.join(', '));
      return sendError(
        res,
        405,
        'METHOD_NOT_ALLOWED',
        `${method} is not allowed on ${rawPath.slice(0, 200)}`,
      );
    }
    const { match } = found;

    const claims = await authorize(req, res, verifier, scopes[match.route.scope]);
    if (!claims) return;

    const body = await readBody(req, maxBodyBytes);
    if (body === 'too_large') {
      return send(res, { statusCode: 413, headers: JSON_TYPE, body: message('Request Entity Too Large') });
    }

    const event = buildEvent({ req, match, rawPath, rawQueryString, body, claims, requestId, timeEpoch });
    const context = lambdaContext(`local-${match.route.handler}`, timeoutMs);
    const handler = options.handlers[match.route.handler];
    const result = await withTimeout(handler(event, context), timeoutMs);
    if (result === TIMED_OUT) {
      return send(res, { statusCode: 503, headers: JSON_TYPE, body: message('Service Unavailable') });
    }
    const reply = toHttpReply(result);
    if (!reply) throw new Error(`${match.route.handler} returned an invalid result`);
    send(res, reply);
  }

  /** The JWT authorizer: 401 for a missing or invalid token, 403 for a missing scope. */
  async function authorize(
    req: IncomingMessage,
    res: ServerResponse,
    verifier: DevAuth,
    requiredScope: string,
  ): Promise<JWTPayload | undefined> {
    const header = req.headers.authorization?.trim() ?? '';
    // The authorizer takes `Bearer <jwt>` or the bare token.
    const token = header.replace(/^bearer\s+/i, '');
    if (!token) {
      res.setHeader('www-authenticate', 'Bearer');
      send(res, { statusCode: 401, headers: JSON_TYPE, body: message('Unauthorized') });
      return undefined;
    }
    let claims: JWTPayload;
    try {
      claims = await verifier.verifyToken(token);
    } catch (error) {
      if (!(error instanceof TokenRejectedError)) throw error;
      res.setHeader(
        'www-authenticate',
        `Bearer scope="" error="invalid_token" error_description="${error.message}"`,
      );
      send(res, { statusCode: 401, headers: JSON_TYPE, body: message('Unauthorized') });
      return undefined;
    }
    if (!(scopesOf(claims) ?? []).includes(requiredScope)) {
      res.setHeader(
        'www-authenticate',
        `Bearer scope="${requiredScope}" error="insufficient_scope" error_description="the token does not have the required scope"`,
      );
      send(res, { statusCode: 403, headers: JSON_TYPE, body: message('Forbidden') });
      return undefined;
    }
    return claims;
  }

  server.keepAliveTimeout = 5_000;
  server.listen(options.port ?? 8001, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  let auth: DevAuth;
  try {
    auth = typeof options.auth === 'function' ? await options.auth(url) : options.auth;
  } catch (error) {
    server.close();
    server.closeAllConnections();
    throw error;
  }
  setAuth(auth);

  return {
    url,
    port,
    auth,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const TIMED_OUT = Symbol('timed out');

async function withTimeout<T>(work: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The whole body, undefined when there is none, or 'too_large'. On overflow the rest is discarded (not
 * buffered) so the client still reads the 413 instead of a reset connection.
 */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined | 'too_large'> {
  const declared = Number(req.headers['content-length'] ?? Number.NaN);
  if (declared > limit) {
    req.resume();
    return Promise.resolve('too_large');
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      req.off('data', onData);
      req.resume();
      resolve('too_large');
    };
    req.on('data', onData);
    req.once('end', () => resolve(size === 0 ? undefined : Buffer.concat(chunks)));
    req.once('error', reject);
    // A client that goes away mid-upload: never run a handler on half a body.
    req.once('close', () => {
      if (!req.complete) reject(new Error('the client closed the request before its end'));
    });
  });
}

function message(text: string): Buffer {
  return Buffer.from(JSON.stringify({ message: text }));
}

function sendJson(res: ServerResponse, statusCode: number, value: unknown): void {
  send(res, { statusCode, headers: JSON_TYPE, body: Buffer.from(JSON.stringify(value)) });
}

function sendError(res: ServerResponse, statusCode: number, code: string, text: string): void {
  sendJson(res, statusCode, { error: { code, message: text } });
}

function send(res: ServerResponse, reply: HttpReply): void {
  res.writeHead(reply.statusCode, { ...reply.headers, 'content-length': String(reply.body.length) });
  res.end(reply.body);
}
