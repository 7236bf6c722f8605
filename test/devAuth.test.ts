import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { base64url, decodeProtectedHeader, importJWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevAuth, type DevAuth, TokenRejectedError, type TokenRejection } from '../local/devAuth.js';

const ISSUER = 'http://127.0.0.1:8001/';
const HOUR_MS = 3_600_000;

let dir: string;
let keyDir: string;
let auth: DevAuth;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'devauth-'));
  keyDir = join(dir, 'jwt');
  auth = await createDevAuth({ keyDir, issuer: ISSUER });
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function rejection(token: string, verifier: DevAuth = auth): Promise<TokenRejection | 'accepted'> {
  try {
    await verifier.verifyToken(token);
    return 'accepted';
  } catch (error) {
    if (error instanceof TokenRejectedError) return error.reason;
    throw error;
  }
}

describe('createDevAuth()', () => {
  it('stores the private key with mode 0600 and publishes only the public half', async () => {
    const mode = (await stat(join(keyDir, 'private.jwk.json'))).mode & 0o777;
    const published = JSON.parse(await readFile(join(keyDir, 'jwks.json'), 'utf8'));

    expect(mode).toBe(0o600);
    expect(published).toEqual(auth.jwks);
    expect(auth.jwks.keys).toHaveLength(1);
    expect(Object.keys(auth.jwks.keys[0]!).sort()).toEqual(['alg', 'e', 'kid', 'kty', 'n', 'use']);
  });

  it('reuses the stored key on the next start, so earlier tokens stay valid', async () => {
    const token = await auth.issueToken({ scopes: ['users.read'] });

    const restarted = await createDevAuth({ keyDir, issuer: ISSUER });

    expect(restarted.jwks).toEqual(auth.jwks);
    expect(await rejection(token, restarted)).toBe('accepted');
  });

  it('creates exactly one key when several starts race', async () => {
    const fresh = join(dir, 'race');
    const auths = await Promise.all(
      Array.from({ length: 4 }, () => createDevAuth({ keyDir: fresh, issuer: ISSUER })),
    );
    const kids = new Set(auths.map((a) => a.jwks.keys[0]!.kid));
    expect(kids.size).toBe(1);
  });
});

describe('DevAuth', () => {
  describe('issueToken()', () => {
    it('signs with RS256 and the published kid, for the configured issuer and audience', async () => {
      const token = await auth.issueToken({ scopes: ['users.read', 'users.write'], subject: 'chat-service' });

      const header = decodeProtectedHeader(token);
      const claims = await auth.verifyToken(token);

      expect(header).toMatchObject({ alg: 'RS256', kid: auth.jwks.keys[0]!.kid });
      expect(claims).toMatchObject({
        iss: ISSUER,
        aud: 'ngomna-user-cache',
        sub: 'chat-service',
        scope: 'users.read users.write',
      });
      expect(claims.exp! - claims.iat!).toBe(3600);
    });
  });

  describe('verifyToken()', () => {
    it('rejects an expired token', async () => {
      const past = await createDevAuth({ keyDir, issuer: ISSUER, clock: () => Date.now() - 2 * HOUR_MS });
      const token = await past.issueToken({ scopes: ['users.read'], expiresIn: 3600 });
      expect(await rejection(token)).toBe('expired');
    });

    it('accepts a token expired by less than the clock tolerance', async () => {
      const past = await createDevAuth({ keyDir, issuer: ISSUER, clock: () => Date.now() - 62_000 });
      const token = await past.issueToken({ scopes: ['users.read'], expiresIn: 60 });
      expect(await rejection(token)).toBe('accepted');
    });

    it('rejects a token that is not valid yet', async () => {
      const future = await createDevAuth({ keyDir, issuer: ISSUER, clock: () => Date.now() + HOUR_MS });
      const token = await future.issueToken({ scopes: ['users.read'] });
      expect(await rejection(token)).toBe('not_yet_valid');
    });

    it('rejects a token issued in the future even without nbf', async () => {
      const token = await signWithStoredKey({ iat: nowSec() + 600, exp: nowSec() + 3600 });
      expect(await rejection(token)).toBe('not_yet_valid');
    });

    it('rejects a token without exp', async () => {
      const token = await signWithStoredKey({ iat: nowSec() });
      expect(await rejection(token)).toBe('missing_claim');
    });

    it('rejects a token from another issuer', async () => {
      const other = await createDevAuth({ keyDir, issuer: 'http://127.0.0.1:9999/' });
      const token = await other.issueToken({ scopes: ['users.read'] });
      expect(await rejection(token)).toBe('bad_issuer');
    });

    it('rejects a token for another audience', async () => {
      const other = await createDevAuth({ keyDir, issuer: ISSUER, audience: 'some-other-api' });
      const token = await other.issueToken({ scopes: ['users.read'] });
      expect(await rejection(token)).toBe('bad_audience');
    });

    it('rejects an unsigned token (alg none)', async () => {
      const header = base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }));
      const payload = base64url.encode(
        JSON.stringify({ iss: ISSUER, aud: 'ngomna-user-cache', exp: nowSec() + 600, scope: 'users.write' }),
      );
      expect(await rejection(`${header}.${payload}.`)).toBe('alg_not_allowed');
    });

    it('rejects HS256 signed with the public key (algorithm confusion)', async () => {
      const publicKeyBytes = new TextEncoder().encode(JSON.stringify(auth.jwks.keys[0]));
      const token = await new SignJWT({ scope: 'users.write' })
        .setProtectedHeader({ alg: 'HS256', kid: auth.jwks.keys[0]!.kid! })
        .setIssuer(ISSUER)
        .setAudience('ngomna-user-cache')
        .setExpirationTime('10m')
        .sign(publicKeyBytes);
      expect(await rejection(token)).toBe('alg_not_allowed');
    });

    it('rejects a token whose payload was altered after signing', async () => {
      const token = await auth.issueToken({ scopes: ['users.read'] });
      const [header, , signature] = token.split('.');
      const forged = base64url.encode(
        JSON.stringify({ iss: ISSUER, aud: 'ngomna-user-cache', exp: nowSec() + 600, scope: 'users.write' }),
      );
      expect(await rejection(`${header}.${forged}.${signature}`)).toBe('bad_signature');
    });

    it('rejects a token signed by another key', async () => {
      const stranger = await createDevAuth({ keyDir: join(dir, 'stranger'), issuer: ISSUER });
      const token = await stranger.issueToken({ scopes: ['users.read'] });
      expect(await rejection(token)).toBe('unknown_key');
    });

    it('rejects garbage', async () => {
      expect(await rejection('not-a-jwt')).toBe('malformed');
      expect(await rejection('a.b.c')).toBe('malformed');
    });
  });
});

function nowSec(): number {
  return Math.floor(Date.now() / 1000);
}

/** Signs arbitrary claims with the stored private key (to build tokens issueToken never would). */
async function signWithStoredKey(claims: Record<string, unknown>): Promise<string> {
  const jwk = JSON.parse(await readFile(join(keyDir, 'private.jwk.json'), 'utf8'));
  const key = await importJWK(jwk, 'RS256');
  return new SignJWT({ iss: ISSUER, aud: 'ngomna-user-cache', scope: 'users.read', ...claims })
    .setProtectedHeader({ alg: 'RS256', kid: jwk.kid })
    .sign(key);
}
