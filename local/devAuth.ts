/**
 * Local stand-in for the identity provider behind API Gateway's JWT authorizer: an RS256 key pair kept in
 * `.local/jwt/` (created on first start, reused afterwards so issued tokens survive restarts), tokens
 * issued for the local API, and verification with the same checks the authorizer makes.
 * @see https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-jwt-authorizer.html
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  calculateJwkThumbprint,
  createLocalJWKSet,
  errors,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JSONWebKeySet,
  type JWK,
  type JWTPayload,
  jwtVerify,
  SignJWT,
} from 'jose';
import { AppError, ConfigError } from '../shared/errors.js';
import { type Clock, systemClock } from '../shared/ports.js';

/** Why a token was refused. `missing` never comes from verifyToken (the API server detects it). */
export type TokenRejection =
  | 'missing'
  | 'malformed'
  | 'alg_not_allowed'
  | 'unknown_key'
  | 'bad_signature'
  | 'expired'
  | 'not_yet_valid'
  | 'bad_issuer'
  | 'bad_audience'
  | 'missing_claim';

/** The token was refused. API Gateway answers 401 without calling the function; so does the local server. */
export class TokenRejectedError extends AppError {
  readonly code = 'TOKEN_REJECTED';
  constructor(
    readonly reason: TokenRejection,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, options);
  }
}

export interface DevAuthOptions {
  /** Directory holding `private.jwk.json` (mode 0600) and `jwks.json`; created if missing. */
  keyDir: string;
  /** `iss` of issued tokens and the only issuer accepted, e.g. `http://127.0.0.1:8001/`. */
  issuer: string;
  /**
   * `aud` of issued tokens and the only audience accepted.
   * @default 'ngomna-user-cache'
   */
  audience?: string;
  /**
   * Leeway for `exp`, `nbf` and `iat`, in seconds (clocks of issuer and verifier drift).
   * @default 5
   */
  clockToleranceSec?: number;
  /** @default Date.now */
  clock?: Clock;
}

export interface IssueTokenOptions {
  /** OAuth scopes, sent as the space-separated `scope` claim (as Cognito and most IdPs do). */
  scopes: readonly string[];
  /** @default 'local-dev' */
  subject?: string;
  /**
   * Lifetime in seconds.
   * @default 3600
   */
  expiresIn?: number;
}

export interface DevAuth {
  readonly issuer: string;
  readonly audience: string;
  /** Public keys, as served at `/.well-known/jwks.json`. */
  readonly jwks: JSONWebKeySet;
  issueToken(options: IssueTokenOptions): Promise<string>;
  /** The verified claims, or throws `TokenRejectedError`. */
  verifyToken(token: string): Promise<JWTPayload>;
}

export const DEFAULT_AUDIENCE = 'ngomna-user-cache';
const ALG = 'RS256';

/** Loads the key pair from `keyDir` (generating it on first use) and returns an issuer/verifier. */
export async function createDevAuth(options: DevAuthOptions): Promise<DevAuth> {
  const audience = options.audience ?? DEFAULT_AUDIENCE;
  const tolerance = options.clockToleranceSec ?? 5;
  const clock = options.clock ?? systemClock;
  if (!options.issuer) throw new ConfigError('issuer must not be empty');
  const privateJwk = await loadOrCreateKey(options.keyDir);
  const jwks = toJwks(privateJwk);
  const signingKey = await importJWK(privateJwk, ALG);
  const keySet = createLocalJWKSet(jwks);
  const nowSec = () => Math.floor(clock() / 1000);

  return {
    issuer: options.issuer,
    audience,
    jwks,
    async issueToken({ scopes, subject = 'local-dev', expiresIn = 3600 }) {
      const now = nowSec();
      return new SignJWT({ scope: scopes.join(' '), token_use: 'access' })
        .setProtectedHeader({ alg: ALG, kid: privateJwk.kid!, typ: 'JWT' })
        .setIssuer(options.issuer)
        .setAudience(audience)
        .setSubject(subject)
        .setIssuedAt(now)
        .setNotBefore(now)
        .setExpirationTime(now + expiresIn)
        .setJti(randomBytes(12).toString('base64url'))
        .sign(signingKey);
    },
    async verifyToken(token) {
      try {
        const { payload } = await jwtVerify(token, keySet, {
          // Only RS256: refuses `none` and HS256-signed-with-the-public-key confusion attacks.
          algorithms: [ALG],
          issuer: options.issuer,
          audience,
          clockTolerance: tolerance,
          currentDate: new Date(clock()),
          // API Gateway requires `exp`; a token without one would otherwise never expire.
          requiredClaims: ['exp'],
        });
        // jose checks a future `iat` only with maxTokenAge; API Gateway refuses it outright.
        if (payload.iat !== undefined && payload.iat > nowSec() + tolerance) {
          throw new TokenRejectedError('not_yet_valid', 'the token was issued in the future');
        }
        return payload;
      } catch (error) {
        throw toRejection(error);
      }
    },
  };
}

function toRejection(error: unknown): TokenRejectedError {
  if (error instanceof TokenRejectedError) return error;
  const reject = (reason: TokenRejection, message: string) =>
    new TokenRejectedError(reason, message, { cause: error });
  if (error instanceof errors.JWTExpired) return reject('expired', 'the token has expired');
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf') return reject('not_yet_valid', 'the token is not valid yet');
    if (error.claim === 'iss') return reject('bad_issuer', 'the token has an invalid issuer');
    if (error.claim === 'aud') return reject('bad_audience', 'the token has an invalid audience');
    return reject('missing_claim', `the token has an invalid or missing "${error.claim}" claim`);
  }
  if (error instanceof errors.JOSEAlgNotAllowed)
    return reject('alg_not_allowed', 'the signing method is not allowed');
  if (error instanceof errors.JWKSNoMatchingKey)
    return reject('unknown_key', 'the token was signed by an unknown key');
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return reject('bad_signature', 'the token signature is invalid');
  }
  return reject('malformed', 'the token is malformed');
}

/**
 * Reads `private.jwk.json`, or generates and stores it. Created with link(2) from a temp file, so two
 * processes starting at once never both write a key, and a crash never leaves half a file behind.
 */
async function loadOrCreateKey(keyDir: string): Promise<JWK & { kid: string }> {
  const file = join(keyDir, 'private.jwk.json');
  const existing = await readKey(file);
  if (existing) return existing;
  await mkdir(keyDir, { recursive: true, mode: 0o700 });
  const { privateKey } = await generateKeyPair(ALG, { extractable: true, modulusLength: 2048 });
  const jwk = await exportJWK(privateKey);
  const key = { ...jwk, kid: await calculateJwkThumbprint(jwk) };
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(temp, `${JSON.stringify(key)}\n`, { mode: 0o600 });
  try {
    await link(temp, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    await unlink(temp);
  }
  const stored = (await readKey(file))!;
  // For tools that want the public keys without running the server (the server also serves them).
  await writeFile(join(keyDir, 'jwks.json'), `${JSON.stringify(toJwks(stored))}\n`);
  return stored;
}

/** The public half only: the private members (d, p, q, dp, dq, qi) must never be served. */
function toJwks(privateJwk: JWK): JSONWebKeySet {
  const { kty, n, e, kid } = privateJwk;
  return { keys: [{ kty: kty!, n, e, kid, use: 'sig', alg: ALG }] };
}

async function readKey(file: string): Promise<(JWK & { kid: string }) | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const jwk = JSON.parse(text) as JWK;
  if (jwk.kty !== 'RSA' || !jwk.d || typeof jwk.kid !== 'string') {
    throw new ConfigError(`${file} is not an RSA private JWK with a kid; delete it to generate a new key`);
  }
  return jwk as JWK & { kid: string };
}
