/**
 * One HTTP request end to end: faults, method, auth, route, request size, JSON in, Redis, JSON out.
 * Status codes follow Upstash: 400 for Redis and request errors (Upstash's limits included), 401, 405,
 * 503 when Redis is down. `/subscribe/…` and `/psubscribe/…` answer event streams (pubsub.ts).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorReply } from 'redis';
import { LIMIT_ERRORS } from './limits.js';
import { encodeError, encodeResult, GatewayRequestError, parseBatch, parseSingle } from './protocol.js';
import { serveSubscription, subscriptionOf } from './pubsub.js';
import type { Outcome, RedisBackend } from './redisBackend.js';

export interface ActiveFaults {
  delayMs: number;
  mode: 'none' | 'reset' | 'http503';
}

export interface RequestHandlerDeps {
  backend: RedisBackend;
  /** The current token: read per request, so a test can rotate it under running clients. */
  token: () => string;
  /** Upstash's max request size: larger bodies are refused with its error text. */
  maxRequestBytes: number;
  /** How to end each open event stream, called by the gateway's close(). */
  streams: Set<() => void>;
  /** Mutated in place: the gateway exposes this very object. */
  metrics: { httpRequests: number; commands: number };
  faults: () => ActiveFaults;
}

const JSON_HEADERS = { 'content-type': 'application/json' };
const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

export function createRequestHandler(
  deps: RequestHandlerDeps,
): (req: IncomingMessage, res: ServerResponse) => void {
  const { backend, maxRequestBytes, metrics } = deps;
  // Hashing both sides gives equal lengths, so timingSafeEqual leaks neither content nor length.
  let expectedFor = '';
  let expectedAuth = digest('');
  const expected = (): Buffer => {
    const token = deps.token();
    if (token !== expectedFor) [expectedFor, expectedAuth] = [token, digest(`Bearer ${token}`)];
    return expectedAuth;
  };
  // Upstash uses this for read-your-writes across replicas; one Redis needs only a monotonic value.
  let syncToken = 0;

  const send = (res: ServerResponse, status: number, body: string, close = false): void => {
    const headers: Record<string, string> = { ...JSON_HEADERS };
    if (status < 300) headers['upstash-sync-token'] = String(++syncToken);
    if (close) headers.connection = 'close';
    res.writeHead(status, headers);
    res.end(body);
  };

  const authorized = (req: IncomingMessage): boolean => {
    let presented = req.headers.authorization;
    if (presented === undefined && req.url?.includes('_token=')) {
      // Upstash also accepts the token as a query parameter.
      const token = new URL(req.url, 'http://gateway').searchParams.get('_token');
      if (token !== null) presented = `Bearer ${token}`;
    }
    return presented !== undefined && timingSafeEqual(digest(presented), expected());
  };

  const execute = async (route: string, body: string, base64: boolean): Promise<string> => {
    if (route === '/') {
      const cmd = parseSingle(body);
      const rejection = await backend.refusal(cmd);
      if (rejection) throw new GatewayRequestError(400, rejection);
      metrics.commands++;
      return encodeResult(await backend.single(cmd), base64);
    }
    const cmds = parseBatch(body);
    let outcomes: Outcome[];
    if (route === '/pipeline') {
      const result = await backend.pipeline(cmds);
      metrics.commands += result.sent;
      outcomes = result.outcomes;
    } else {
      outcomes = await backend.multiExec(cmds);
      metrics.commands += cmds.length;
    }
    let out = '[';
    for (let i = 0; i < outcomes.length; i++) {
      const o = outcomes[i] as Outcome;
      if (i > 0) out += ',';
      out += o.ok ? encodeResult(o.value, base64) : encodeError(o.error);
    }
    return `${out}]`;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, route: string, body: string) => {
    const encoding = req.headers['upstash-encoding'];
    const base64 = typeof encoding === 'string' && encoding.toLowerCase() === 'base64';
    try {
      send(res, 200, await execute(route, body, base64));
    } catch (err) {
      if (err instanceof ErrorReply) send(res, 400, encodeError(err.message));
      else if (err instanceof GatewayRequestError) send(res, err.status, encodeError(err.message));
      else send(res, 500, encodeError(`ERR gateway failure: ${(err as Error).message}`));
    }
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    metrics.httpRequests++;
    const current = deps.faults();
    const proceed = (): void => {
      // A client that gave up during the delay (its timeout fired) is gone: running its command late
      // would bleed a write into whatever the test does next.
      if (req.socket.destroyed) return;
      if (current.mode === 'reset') {
        req.socket.destroy();
        return;
      }
      if (current.mode === 'http503') {
        req.resume();
        send(res, 503, encodeError('Service Unavailable (injected fault)'));
        return;
      }
      receive(req, res);
    };
    if (current.delayMs > 0) void sleep(current.delayMs).then(proceed);
    else proceed();
  };

  const receive = (req: IncomingMessage, res: ServerResponse): void => {
    if (req.method !== 'POST' && req.method !== 'PUT') {
      req.resume();
      send(res, 405, encodeError('ERR only POST is supported by this gateway'));
      return;
    }
    if (!authorized(req)) {
      req.resume();
      send(res, 401, '{"error":"Unauthorized"}');
      return;
    }
    const route = routeOf(req.url);
    const subscription = subscriptionOf(route);
    if (subscription) {
      req.resume();
      void serveSubscription(backend.url, subscription, res, req, deps.streams);
      return;
    }
    if (route !== '/' && route !== '/pipeline' && route !== '/multi-exec') {
      req.resume();
      send(res, 404, encodeError(`ERR unknown route ${route}: use /, /pipeline or /multi-exec`));
      return;
    }
    const tooLarge = (): void => {
      // Connection: close, so the unread rest of the body is dropped with the socket.
      send(res, 400, encodeError(LIMIT_ERRORS.request), true);
      req.resume();
    };
    if (Number(req.headers['content-length'] ?? 0) > maxRequestBytes) {
      tooLarge();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let rejected = false;
    req.on('data', (chunk: Buffer) => {
      if (rejected) return;
      size += chunk.length;
      if (size > maxRequestBytes) {
        rejected = true;
        tooLarge();
      } else chunks.push(chunk);
    });
    req.on('end', () => {
      if (rejected) return;
      const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
      void handle(req, res, route, body.toString('utf8'));
    });
  };

  return onRequest;
}

function routeOf(url: string | undefined): string {
  const path = url ? url.split('?', 1)[0] || '/' : '/';
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}
