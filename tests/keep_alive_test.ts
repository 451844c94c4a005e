// `server.keepAlive` on the wire: a raw WebSocket peer sees the pings, answers them or not.
import assert from "node:assert/strict";
import { startServer, type TestServer, withTimeout } from "./_helpers.ts";

/** A frame from the server (servers never mask). */
interface RawFrame {
  opcode: number;
  payload: Uint8Array;
}

/** A WebSocket client on a plain TCP connection that shows ping and close frames. */
class RawPeer {
  #conn: Deno.Conn;
  #buffer = new Uint8Array(0);

  private constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  static async open(url: URL, protocol: string): Promise<RawPeer> {
    const conn = await Deno.connect({ hostname: url.hostname, port: Number(url.port) });
    await conn.write(new TextEncoder().encode(
      `GET / HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n` +
        `Sec-WebSocket-Protocol: ${protocol}\r\n\r\n`,
    ));
    const peer = new RawPeer(conn);
    const head = new TextDecoder().decode(await peer.#until("\r\n\r\n"));
    assert.match(head, /^HTTP\/1\.1 101 /);
    return peer;
  }

  async #fill(): Promise<boolean> {
    const chunk = new Uint8Array(4096);
    const n = await this.#conn.read(chunk);
    if (n === null) return false;
    const joined = new Uint8Array(this.#buffer.length + n);
    joined.set(this.#buffer);
    joined.set(chunk.subarray(0, n), this.#buffer.length);
    this.#buffer = joined;
    return true;
  }

  async #until(marker: string): Promise<Uint8Array> {
    while (true) {
      const at = new TextDecoder("latin1").decode(this.#buffer).indexOf(marker);
      if (at >= 0) {
        const head = this.#buffer.subarray(0, at);
        this.#buffer = this.#buffer.subarray(at + marker.length);
        return head;
      }
      if (!await this.#fill()) throw new Error("connection closed during the handshake");
    }
  }

  /** The next frame, or `null` when the server closed the TCP connection. */
  async frame(): Promise<RawFrame | null> {
    while (true) {
      const b = this.#buffer;
      const short = b.length >= 2 ? b[1] & 0x7f : -1;
      const offset = short === 126 ? 4 : short === 127 ? 10 : 2;
      if (short >= 0 && b.length >= offset) {
        const view = new DataView(b.buffer, b.byteOffset, b.length);
        const length = short === 126
          ? view.getUint16(2)
          : short === 127
          ? Number(view.getBigUint64(2))
          : short;
        if (b.length >= offset + length) {
          this.#buffer = b.subarray(offset + length);
          return { opcode: b[0] & 0x0f, payload: b.slice(offset, offset + length) };
        }
      }
      if (!await this.#fill()) return null;
    }
  }

  /** Sends a masked frame. */
  async send(opcode: number, payload: Uint8Array): Promise<void> {
    assert.ok(payload.length < 126);
    const mask = crypto.getRandomValues(new Uint8Array(4));
    const frame = new Uint8Array(6 + payload.length);
    frame.set([0x80 | opcode, 0x80 | payload.length, ...mask]);
    for (let i = 0; i < payload.length; i++) frame[6 + i] = payload[i] ^ mask[i % 4];
    await this.#conn.write(frame);
  }

  close(): void {
    try {
      this.#conn.close();
    } catch {
      // already closed by the server
    }
  }
}

const PING = 0x9;
const PONG = 0xa;
const CLOSE = 0x8;

/**
 * The default config with `keepAlive: 2s`: a ping after 1 s without traffic, and a peer gets 1 s
 * to answer it (room for a loaded machine; the answering peer answers at once).
 */
function keepAliveServer(): Promise<TestServer> {
  return startServer({
    configure: (config) => {
      config.server.keepAlive = 2000;
      // A pow-1 peer that sends no call is otherwise closed after a second.
      config.pow1.callDeadline = 60_000;
    },
  });
}

for (const protocol of ["pow.v2", "pow-1"]) {
  Deno.test(`keepAlive (${protocol}): a peer that answers the pings stays connected`, async () => {
    await using server = await keepAliveServer();
    const peer = await RawPeer.open(server.url, protocol);
    try {
      for (let pings = 0; pings < 3;) {
        const frame = await withTimeout(peer.frame(), 10_000, "the next ping");
        assert.ok(frame, "the server closed the connection of a peer that answers its pings");
        assert.notEqual(frame.opcode, CLOSE, "a peer that answers its pings was closed");
        if (frame.opcode === PING) {
          pings++;
          await peer.send(PONG, frame.payload);
        }
      }
    } finally {
      peer.close();
    }
  });

  Deno.test(`keepAlive (${protocol}): a peer silent after a ping is closed with 1001`, async () => {
    await using server = await keepAliveServer();
    const peer = await RawPeer.open(server.url, protocol);
    try {
      const frames: RawFrame[] = [];
      while (true) {
        const frame = await withTimeout(peer.frame(), 10_000, "a ping, then the close");
        if (frame === null) break;
        frames.push(frame);
        if (frame.opcode === CLOSE) break;
      }
      // pow.v2 greets with a text message; only control frames matter here.
      const control = frames.filter((f) => f.opcode >= CLOSE);
      // One ping, unanswered, then the close: not a second ping.
      assert.deepEqual(control.map((f) => f.opcode), [PING, CLOSE]);
      const close = control[1].payload;
      assert.equal((close[0] << 8) | close[1], 1001);
      assert.equal(new TextDecoder().decode(close.subarray(2)), "No response from ping frame.");
    } finally {
      peer.close();
    }
  });
}
