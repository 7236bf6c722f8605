/**
 * The REST floor of the cache bench: an Upstash REST request written as raw HTTP/1.1 bytes on one kept-alive
 * TCP socket, its reply read and its JSON parsed, and nothing else. Any REST client pays at least this (the
 * gateway's work and the loopback hops included), so the cache's ratio to it is what the client stack
 * (`UserCache`, `@upstash/redis`, `fetch`) adds. One request at a time, as the bench sends them.
 */
import { connect, type Socket } from 'node:net';

export class RestFloorClient {
  readonly #socket: Socket;
  readonly #host: string;
  readonly #auth: string;
  #buffer: Buffer = Buffer.alloc(0);
  #waiting: { resolve: (body: unknown) => void; reject: (error: Error) => void } | undefined;

  private constructor(socket: Socket, host: string, token: string) {
    this.#socket = socket;
    this.#host = host;
    this.#auth = `Bearer ${token}`;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
      this.#drain();
    });
    socket.on('error', (error) => this.#fail(error));
    socket.on('close', () => this.#fail(new Error('REST floor: connection closed')));
  }

  static async connect(url: string, token: string): Promise<RestFloorClient> {
    const { hostname, port } = new URL(url);
    const socket = connect(Number(port), hostname);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RestFloorClient(socket, `${hostname}:${port}`, token);
  }

  /** POSTs `commands` (JSON) to `path` and resolves with the parsed JSON reply. */
  post(path: '/' | '/pipeline', commands: unknown, headers = ''): Promise<unknown> {
    if (this.#waiting) return Promise.reject(new Error('REST floor: one request at a time'));
    const body = JSON.stringify(commands);
    const head =
      `POST ${path} HTTP/1.1\r\nHost: ${this.#host}\r\nAuthorization: ${this.#auth}\r\n` +
      `Content-Type: application/json\r\n${headers}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
    return new Promise((resolve, reject) => {
      this.#waiting = { resolve, reject };
      this.#socket.write(head + body);
    });
  }

  close(): void {
    this.#socket.destroy();
  }

  #fail(error: Error): void {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.reject(error);
  }

  /** Completes the waiting request once its whole reply (Content-Length or chunked) has arrived. */
  #drain(): void {
    const buf = this.#buffer;
    const headEnd = buf.indexOf('\r\n\r\n');
    if (headEnd < 0 || !this.#waiting) return;
    const head = buf.subarray(0, headEnd).toString('latin1');
    const status = Number(head.slice(9, 12));
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    let body: Buffer | undefined;
    let end = 0;
    if (length) {
      end = headEnd + 4 + Number(length[1]);
      if (buf.length >= end) body = buf.subarray(headEnd + 4, end);
    } else {
      // Chunked: size line, data, CRLF, … up to the zero-size chunk.
      const parts: Buffer[] = [];
      let at = headEnd + 4;
      for (;;) {
        const lineEnd = buf.indexOf('\r\n', at);
        if (lineEnd < 0) return;
        const size = Number.parseInt(buf.subarray(at, lineEnd).toString('latin1'), 16);
        if (buf.length < lineEnd + 2 + size + 2) return;
        if (size === 0) {
          end = lineEnd + 4;
          body = Buffer.concat(parts);
          break;
        }
        parts.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
        at = lineEnd + 2 + size + 2;
      }
    }
    if (body === undefined) return;
    this.#buffer = buf.subarray(end);
    const waiting = this.#waiting;
    this.#waiting = undefined;
    if (status !== 200) waiting.reject(new Error(`REST floor: HTTP ${status} ${body.toString('utf8')}`));
    else waiting.resolve(JSON.parse(body.toString('utf8')));
  }
}
