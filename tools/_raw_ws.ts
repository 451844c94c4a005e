/**
 * A minimal WebSocket client over a raw TCP connection, for the fuzzer: it can send what a
 * well-behaved `WebSocket` never sends (text frames that are not UTF-8, frames cut off in the
 * middle, reserved opcodes, unmasked frames) and reports the close code the server answers with.
 *
 * @module
 */

/** A frame received from the server. */
export interface RawFrame {
  /** The opcode (1 text, 2 binary, 8 close, 9 ping, 10 pong). */
  opcode: number;
  /** The payload. */
  payload: Uint8Array;
}

/** How a raw connection ended. */
export interface RawClose {
  /** The close code the server sent, or `undefined` when the connection dropped without one. */
  code: number | undefined;
  /** The close reason. */
  reason: string;
}

/** Options for {@linkcode RawWebSocket.connect}. */
export interface RawConnectOptions {
  /** Subprotocols to offer. @default {[]} */
  protocols?: string[];
  /** Extra request headers. */
  headers?: Record<string, string>;
  /** Answer the server's pings, as every client must. `false` plays a peer gone silent. @default {true} */
  answerPings?: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A raw WebSocket client connection. */
export class RawWebSocket {
  /** The HTTP status of the handshake answer (101 when upgraded). */
  readonly status: number;
  /** The handshake answer's body when it was not an upgrade. */
  readonly body: string;
  /** Frames received, in order (control frames included), unless `onframe` takes them. */
  readonly frames: RawFrame[] = [];
  #onframe: ((frame: RawFrame) => void) | undefined;
  /** Resolves once the server closed or the connection dropped. */
  readonly closed: Promise<RawClose>;
  #conn: Deno.TcpConn;
  #resolveClosed!: (close: RawClose) => void;
  #buffer: Uint8Array;
  #waiters: (() => void)[] = [];
  #answerPings: boolean;

  private constructor(
    conn: Deno.TcpConn,
    status: number,
    body: string,
    rest: Uint8Array,
    answerPings = true,
  ) {
    this.#conn = conn;
    this.#answerPings = answerPings;
    this.status = status;
    this.body = body;
    this.#buffer = rest;
    this.closed = new Promise((resolve) => this.#resolveClosed = resolve);
    if (status === 101) this.#readLoop();
    else this.#finish({ code: undefined, reason: "" });
  }

  /**
   * Connects and performs the handshake.
   *
   * @param url The `ws:` or `http:` URL.
   * @param options Subprotocols and headers.
   * @returns The connection (check `status`).
   */
  static async connect(url: URL | string, options: RawConnectOptions = {}): Promise<RawWebSocket> {
    const u = new URL(url);
    const conn = await Deno.connect({ hostname: u.hostname, port: Number(u.port) });
    const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
    const lines = [
      `GET ${u.pathname}${u.search} HTTP/1.1`,
      `Host: ${u.host}`,
      "Upgrade: websocket",
      "Connection: Upgrade",
      `Sec-WebSocket-Key: ${key}`,
      "Sec-WebSocket-Version: 13",
    ];
    if (options.protocols?.length) {
      lines.push(`Sec-WebSocket-Protocol: ${options.protocols.join(", ")}`);
    }
    for (const [name, value] of Object.entries(options.headers ?? {})) {
      lines.push(`${name}: ${value}`);
    }
    await writeAll(conn, encoder.encode(lines.join("\r\n") + "\r\n\r\n"));
    let buffer: Uint8Array = new Uint8Array(0);
    const chunk = new Uint8Array(16384);
    while (true) {
      const head = indexOfHeaderEnd(buffer);
      if (head >= 0) {
        const headText = decoder.decode(buffer.subarray(0, head));
        const status = Number(headText.slice(9, 12));
        let rest: Uint8Array = buffer.subarray(head + 4);
        if (status !== 101) {
          const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(headText)?.[1] ?? 0);
          while (rest.byteLength < length) {
            const n = await conn.read(chunk).catch(() => null);
            if (n === null) break;
            rest = concat(rest, chunk.subarray(0, n));
          }
          conn.close();
          return new RawWebSocket(conn, status, decoder.decode(rest), new Uint8Array(0));
        }
        return new RawWebSocket(conn, status, "", rest.slice(), options.answerPings);
      }
      const n = await conn.read(chunk).catch(() => null);
      if (n === null) {
        conn.close();
        return new RawWebSocket(conn, 0, "", new Uint8Array(0));
      }
      buffer = concat(buffer, chunk.subarray(0, n));
    }
  }

  /**
   * Hands every data frame (text or binary) to `fn` instead of keeping it in `frames`, starting
   * with those already received.
   *
   * @param fn The consumer.
   */
  listen(fn: (frame: RawFrame) => void): void {
    this.#onframe = fn;
    const kept = this.frames.splice(0);
    for (const frame of kept) {
      if (frame.opcode === 1 || frame.opcode === 2) fn(frame);
      else this.frames.push(frame);
    }
  }

  /**
   * Sends one frame, masked as a client must (unless `mask` is false).
   *
   * @param opcode The opcode.
   * @param payload The payload.
   * @param options `fin` (default true), `mask` (default true), `truncate` (send only this
   * many bytes of the encoded frame).
   */
  async send(
    opcode: number,
    payload: Uint8Array,
    options: { fin?: boolean; mask?: boolean; truncate?: number } = {},
  ): Promise<void> {
    const bytes = encodeFrame(opcode, payload, options.fin ?? true, options.mask ?? true);
    const out = options.truncate === undefined ? bytes : bytes.subarray(0, options.truncate);
    await writeAll(this.#conn, out).catch(() => {});
  }

  /**
   * Sends raw bytes on the connection.
   *
   * @param bytes The bytes.
   */
  async sendRaw(bytes: Uint8Array): Promise<void> {
    await writeAll(this.#conn, bytes).catch(() => {});
  }

  /**
   * Waits until a frame matches `predicate` or the connection ends.
   *
   * @param predicate The match.
   * @param timeout Milliseconds.
   * @returns The frame, or `undefined` if none came.
   */
  async waitFor(
    predicate: (frame: RawFrame) => boolean,
    timeout = 5000,
  ): Promise<RawFrame | undefined> {
    const deadline = Date.now() + timeout;
    let ended = false;
    this.closed.then(() => ended = true);
    while (true) {
      const found = this.frames.find(predicate);
      if (found || ended || Date.now() >= deadline) return found;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(50, deadline - Date.now()));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Closes the TCP connection at once (no close handshake). */
  abort(): void {
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }

  async #readLoop(): Promise<void> {
    const chunk = new Uint8Array(65536);
    let closeFrame: RawClose | undefined;
    try {
      while (closeFrame === undefined) {
        let frame: { frame: RawFrame; size: number } | undefined;
        while ((frame = decodeFrame(this.#buffer)) !== undefined) {
          this.#buffer = this.#buffer.subarray(frame.size);
          const op = frame.frame.opcode;
          if (this.#onframe && (op === 1 || op === 2)) this.#onframe(frame.frame);
          else this.frames.push(frame.frame);
          this.#wake();
          if (frame.frame.opcode === 8) {
            const p = frame.frame.payload;
            closeFrame = {
              code: p.byteLength >= 2 ? (p[0] << 8) | p[1] : undefined,
              reason: decoder.decode(p.subarray(2)),
            };
            // Answer the close as a client must, then drop the connection.
            await this.send(8, p.subarray(0, 2));
            break;
          }
          if (frame.frame.opcode === 9 && this.#answerPings) {
            await this.send(10, frame.frame.payload);
          }
        }
        if (closeFrame) break;
        const n = await this.#conn.read(chunk);
        if (n === null) break;
        this.#buffer = concat(this.#buffer, chunk.subarray(0, n));
      }
    } catch {
      // the connection dropped
    }
    this.abort();
    this.#finish(closeFrame ?? { code: undefined, reason: "" });
  }

  #finish(close: RawClose): void {
    this.#resolveClosed(close);
    this.#wake();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}

/**
 * Encodes a WebSocket frame.
 *
 * @param opcode The opcode.
 * @param payload The payload.
 * @param fin The FIN bit.
 * @param mask Whether to mask (clients must).
 * @returns The frame bytes.
 */
export function encodeFrame(
  opcode: number,
  payload: Uint8Array,
  fin = true,
  mask = true,
): Uint8Array {
  const n = payload.byteLength;
  const lengthBytes = n < 126 ? 0 : n < 65536 ? 2 : 8;
  const head = 2 + lengthBytes + (mask ? 4 : 0);
  const out = new Uint8Array(head + n);
  out[0] = (fin ? 0x80 : 0) | (opcode & 0x0f);
  out[1] = (mask ? 0x80 : 0) | (n < 126 ? n : n < 65536 ? 126 : 127);
  const view = new DataView(out.buffer);
  if (lengthBytes === 2) view.setUint16(2, n);
  if (lengthBytes === 8) view.setBigUint64(2, BigInt(n));
  if (mask) {
    const key = crypto.getRandomValues(new Uint8Array(4));
    out.set(key, 2 + lengthBytes);
    for (let i = 0; i < n; i++) out[head + i] = payload[i] ^ key[i & 3];
  } else {
    out.set(payload, head);
  }
  return out;
}

function decodeFrame(buffer: Uint8Array): { frame: RawFrame; size: number } | undefined {
  if (buffer.byteLength < 2) return undefined;
  const opcode = buffer[0] & 0x0f;
  let length = buffer[1] & 0x7f;
  let at = 2;
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  if (length === 126) {
    if (buffer.byteLength < 4) return undefined;
    length = view.getUint16(2);
    at = 4;
  } else if (length === 127) {
    if (buffer.byteLength < 10) return undefined;
    length = Number(view.getBigUint64(2));
    at = 10;
  }
  if (buffer[1] & 0x80) at += 4; // servers never mask, but skip a key if one is there
  if (buffer.byteLength < at + length) return undefined;
  return { frame: { opcode, payload: buffer.slice(at, at + length) }, size: at + length };
}

function indexOfHeaderEnd(buffer: Uint8Array): number {
  for (let i = 0; i + 3 < buffer.byteLength; i++) {
    if (buffer[i] === 13 && buffer[i + 1] === 10 && buffer[i + 2] === 13 && buffer[i + 3] === 10) {
      return i;
    }
  }
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a);
  out.set(b, a.byteLength);
  return out;
}

async function writeAll(conn: Deno.TcpConn, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.byteLength) done += await conn.write(bytes.subarray(done));
}
