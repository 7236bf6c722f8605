/**
 * Shared setup of the gateway tests (test/gateway.*.test.ts): one gateway per test file on the run's
 * real Redis, the default-configured `@upstash/redis` client, and raw HTTP to see what goes over the wire.
 *
 * `useGatewayTests()` registers the file's hooks; `t` and `defaultClient` are live bindings set by its
 * `beforeAll` (vitest loads this module once per test file, so they are the calling file's own).
 */
import { Redis } from '@upstash/redis';
import { afterAll, afterEach, beforeAll } from 'vitest';
import type { UpstashGateway } from '../../local/upstashGateway.js';
import { type TestRedis, useTestRedis } from './redis.js';

/** This file's gateway, client and key prefix. */
export let t: TestRedis;
/** `@upstash/redis` with its defaults: base64 responses and automatic JSON deserialization. */
export let defaultClient: Redis;

/** Starts the file's gateway before its tests, clears faults after each and cleans up after all. */
export function useGatewayTests(): void {
  beforeAll(async () => {
    t = await useTestRedis();
    defaultClient = new Redis({ url: t.gateway.url, token: t.gateway.token, enableTelemetry: false });
  });

  afterAll(async () => {
    await t.cleanup();
  });

  afterEach(() => {
    t.gateway.setFaults({});
  });
}

export interface RawResponse {
  status: number;
  headers: Headers;
  /** The body parsed as JSON; `undefined` when it is not JSON. */
  body: unknown;
  text: string;
}

/** POSTs straight to a gateway (this file's by default): what goes over the wire, without the client's decoding. */
export async function post(
  path: string,
  body: unknown,
  opts: { headers?: Record<string, string>; gateway?: UpstashGateway; raw?: boolean } = {},
): Promise<RawResponse> {
  const gateway = opts.gateway ?? t.gateway;
  const res = await fetch(gateway.url + path, {
    method: 'POST',
    headers: { authorization: `Bearer ${gateway.token}`, ...opts.headers },
    body: opts.raw ? (body as string) : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, body: parsed, text };
}

export const b64 = (s: string | Buffer): string => Buffer.from(s).toString('base64');
/** The request header that asks for base64-encoded strings in the response. */
export const BASE64 = { 'upstash-encoding': 'base64' };
