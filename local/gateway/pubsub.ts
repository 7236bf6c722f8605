/**
 * Upstash's pub/sub over REST: `POST /subscribe/<channel>` and `POST /psubscribe/<pattern>` with
 * `Accept: text/event-stream` answer a Server-Sent Events stream that lasts until the client goes away.
 * `@upstash/redis` (its `Subscriber`) opens one such request per channel and reads lines `data: …`:
 *
 *   data: subscribe,<channel>,<count>
 *   data: message,<channel>,<payload>
 *   data: psubscribe,<pattern>,<count>
 *   data: pmessage,<pattern>,<channel>,<payload>
 *
 * The payload goes as published, not base64-encoded (the client decodes none of it). Each stream gets a
 * Redis connection of its own, since a subscribed RESP2 connection can run nothing else.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createClient } from 'redis';
import { connectionOptions, discard } from './connections.js';

export type SubscribeKind = 'subscribe' | 'psubscribe';

/** `/subscribe/a/b` → `{ kind: 'subscribe', channel: 'a/b' }` (the client does not escape the channel). */
export function subscriptionOf(path: string): { kind: SubscribeKind; channel: string } | undefined {
  const match = /^\/(subscribe|psubscribe)\/(.+)$/.exec(path);
  if (!match) return undefined;
  let channel: string;
  try {
    channel = decodeURIComponent(match[2] as string);
  } catch {
    return undefined;
  }
  return { kind: match[1] as SubscribeKind, channel };
}

/**
 * One SSE line. A line break inside a payload would end the event early (the client splits on `\n`), so
 * CR and LF are sent as spaces; Upstash's handling of them is not documented.
 */
function event(parts: string[]): string {
  return `data: ${parts.join(',').replace(/[\r\n]/g, ' ')}\n\n`;
}

interface Subscriber {
  readonly isOpen: boolean;
  connect(): Promise<unknown>;
  destroy(): void;
  on(event: 'error', listener: (err: unknown) => void): unknown;
  subscribe(channel: string, listener: (message: string, channel: string) => void): Promise<void>;
  pSubscribe(pattern: string, listener: (message: string, channel: string) => void): Promise<void>;
}

/**
 * Serves one subscription until the client disconnects or the gateway stops (it calls every function
 * left in `streams`).
 * Redis unreachable: 503 before any event, as for every other request.
 */
export async function serveSubscription(
  redisUrl: string,
  sub: { kind: SubscribeKind; channel: string },
  res: ServerResponse,
  req: IncomingMessage,
  streams: Set<() => void>,
): Promise<void> {
  const conn = createClient(connectionOptions(redisUrl, false, () => true)) as unknown as Subscriber;
  const end = (): void => {
    streams.delete(end);
    discard(conn);
    if (!res.writableEnded) res.end();
  };
  conn.on('error', end);
  try {
    await conn.connect();
  } catch {
    discard(conn);
    res.writeHead(503, { 'content-type': 'application/json' });
    res.end('{"error":"ERR Redis is unavailable"}');
    return;
  }
  if (req.socket.destroyed) {
    discard(conn);
    return;
  }
  streams.add(end);
  // The response's close, not the request's: the request closes as soon as its body has been read.
  res.on('close', end);
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
  const { kind, channel } = sub;
  try {
    if (kind === 'subscribe') {
      await conn.subscribe(channel, (message) => res.write(event(['message', channel, message])));
    } else {
      await conn.pSubscribe(channel, (message, from) =>
        res.write(event(['pmessage', channel, from, message])),
      );
    }
  } catch {
    end();
    return;
  }
  // One channel per connection: the subscription count is always 1 (what Upstash reports per request).
  res.write(event([kind, channel, '1']));
}
