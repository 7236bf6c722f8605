/**
 * What API Gateway (HTTP API, payload format 2.0, JWT authorizer) hands a Lambda function, and how it turns
 * the function's result back into an HTTP response. Built from a Node request so handlers run locally
 * exactly as they do behind the real API.
 * @see https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type {
  APIGatewayProxyEventV2WithJWTAuthorizer,
  APIGatewayProxyResultV2,
  APIGatewayProxyStructuredResultV2,
  Context,
} from 'aws-lambda';
import type { JWTPayload } from 'jose';
import { isIntegerIn } from '../shared/options.js';
import type { RouteMatch } from './routes.js';
import { routeKey } from './routes.js';

export type JwtClaims =
  APIGatewayProxyEventV2WithJWTAuthorizer['requestContext']['authorizer']['jwt']['claims'];

export interface EventInput {
  req: IncomingMessage;
  match: RouteMatch;
  rawPath: string;
  rawQueryString: string;
  body: Buffer | undefined;
  claims: JWTPayload;
  requestId: string;
  /** Request arrival, epoch ms. */
  timeEpoch: number;
}

// API Gateway passes these content types as text; anything else arrives base64-encoded.
const TEXT_TYPES = /^(text\/|application\/(json|xml|javascript|x-www-form-urlencoded)|[^;]*\+(json|xml)\b)/i;

export function buildEvent(input: EventInput): APIGatewayProxyEventV2WithJWTAuthorizer {
  const { req, match, rawPath, rawQueryString, body, requestId, timeEpoch } = input;
  const { headers, cookies } = collectHeaders(req);
  const sourceIp = req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '127.0.0.1';
  headers['x-forwarded-for'] = headers['x-forwarded-for']
    ? `${headers['x-forwarded-for']}, ${sourceIp}`
    : sourceIp;
  headers['x-forwarded-proto'] = 'http';
  headers['x-forwarded-port'] = String(req.socket.localPort ?? '');
  const query = parseQuery(rawQueryString);
  const isText = body !== undefined && TEXT_TYPES.test(headers['content-type'] ?? '');
  const key = routeKey(match.route);
  const event: APIGatewayProxyEventV2WithJWTAuthorizer = {
    version: '2.0',
    routeKey: key,
    rawPath,
    rawQueryString,
    headers,
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: headers.host ?? '127.0.0.1',
      domainPrefix: (headers.host ?? '127').split('.')[0] ?? '',
      http: {
        method: match.route.method,
        path: rawPath,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId,
      routeKey: key,
      stage: '$default',
      time: clfTime(timeEpoch),
      timeEpoch,
      authorizer: { jwt: { claims: flattenClaims(input.claims), scopes: scopesOf(input.claims) } },
    },
    isBase64Encoded: body !== undefined && !isText,
  };
  // Absent, not empty, when there is nothing: handlers written against AWS test for `undefined`.
  if (cookies.length > 0) event.cookies = cookies;
  if (query) event.queryStringParameters = query;
  if (Object.keys(match.pathParameters).length > 0) event.pathParameters = { ...match.pathParameters };
  if (body !== undefined) event.body = isText ? body.toString('utf8') : body.toString('base64');
  return event;
}

/** Scopes as the authorizer reports them: the space-separated `scope` claim, or the `scp` array. */
export function scopesOf(claims: JWTPayload): string[] | null {
  if (typeof claims.scope === 'string' && claims.scope.trim()) return claims.scope.trim().split(/\s+/);
  if (Array.isArray(claims.scp)) return claims.scp.filter((s): s is string => typeof s === 'string');
  return null;
}

/**
 * API Gateway hands claims over as strings: numbers become "1700000000", arrays "[a b]" (a well-known
 * quirk with `cognito:groups`). Handlers must cope with that, so the local server does the same.
 */
function flattenClaims(claims: JWTPayload): JwtClaims {
  const flat: JwtClaims = {};
  for (const [name, value] of Object.entries(claims)) {
    if (Array.isArray(value)) flat[name] = `[${value.join(' ')}]`;
    else if (value !== null && typeof value === 'object') flat[name] = JSON.stringify(value);
    else if (value !== undefined) flat[name] = String(value);
  }
  return flat;
}

/** Lower-cased names; repeated headers joined with commas; `cookie` moved to `cookies`, as API Gateway does. */
function collectHeaders(req: IncomingMessage): { headers: Record<string, string>; cookies: string[] } {
  const headers: Record<string, string> = {};
  const cookies: string[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    if (name === 'cookie') cookies.push(...value.split(/;\s*/).filter(Boolean));
    else headers[name] = headers[name] === undefined ? value : `${headers[name]},${value}`;
  }
  return { headers, cookies };
}

/** Decoded parameters, duplicates joined with commas (`?ids=a&ids=b` → `a,b`); undefined when empty. */
function parseQuery(rawQueryString: string): Record<string, string> | undefined {
  if (!rawQueryString) return undefined;
  const query: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(rawQueryString)) {
    query[name] = query[name] === undefined ? value : `${query[name]},${value}`;
  }
  return Object.keys(query).length > 0 ? query : undefined;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `27/Nov/2025:09:31:02 +0000`, the format of `requestContext.time`. */
function clfTime(epochMs: number): string {
  const d = new Date(epochMs);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}

/** An API Gateway-style request id (`JKJaXmPLvHcESHA=`). */
export function newRequestId(): string {
  return randomBytes(10).toString('base64');
}

/** A Lambda context with the fields handlers and Powertools read. */
export function lambdaContext(functionName: string, timeoutMs: number): Context {
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done() {},
    fail() {},
    succeed() {},
  };
}

export interface HttpReply {
  statusCode: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
}

/**
 * Applies API Gateway's rules for payload 2.0 results: a structured result (with `statusCode`) is used as
 * is; anything else (a string, an object without `statusCode`) is a 200 with the value as a JSON body.
 * Returns undefined for a result API Gateway would refuse (it then answers 500).
 */
export function toHttpReply(result: APIGatewayProxyResultV2): HttpReply | undefined {
  if (typeof result === 'object' && result !== null && 'statusCode' in result) {
    const structured = result as APIGatewayProxyStructuredResultV2;
    const status = structured.statusCode;
    if (!isIntegerIn(status, { min: 100, max: 599 })) return undefined;
    const headers: HttpReply['headers'] = {};
    for (const [name, value] of Object.entries(structured.headers ?? {}))
      headers[name.toLowerCase()] = String(value);
    if (structured.cookies?.length) headers['set-cookie'] = structured.cookies;
    const text = structured.body ?? '';
    const body = structured.isBase64Encoded ? Buffer.from(text, 'base64') : Buffer.from(text, 'utf8');
    return { statusCode: status, headers, body };
  }
  const text = typeof result === 'string' ? result : JSON.stringify(result ?? null);
  return {
    statusCode: 200,
    headers: { 'content-type': 'application/json' },
    body: Buffer.from(text, 'utf8'),
  };
}
