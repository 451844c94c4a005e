/**
 * A minimal pow.v2 client for the benchmark (docs/protocol.md): JSON control messages in text
 * frames, data in binary frames with a 13-byte header (kind u8, channel u32 BE, offset u64 BE),
 * per-channel output credit granted as output is consumed, stdin credit from the server.
 *
 * @module
 */

import { type OpenSocket, openSocket } from "./_clients.ts";
import { delay, within } from "./_util.ts";

const HEADER = 13;
const APPEND = 0xffffffffffffffffn;

/** The `exit` message of a channel. */
export interface NativeExit {
  /** The session id. */
  session: string;
  /** The total output length. */
  offset: number;
  /** The session's result. */
  result: { status: "fulfilled" | "rejected"; value?: unknown; reason?: string };
}

/** Handlers and options of one channel. */
export interface ChannelOptions {
  /** Receives output payloads (stdout and stderr) in order; the view is only valid during the call. */
  onData?: (data: Uint8Array, offset: number) => void;
  /** The initial output credit; more is granted as output arrives. @default {4194304} */
  credit?: number;
  /**
   * Ask for the one-message answer to a quick call (`inline: true` on `start`): an `exit` that
   * carries `started`'s fields and the output. @default {false}
   */
  inline?: boolean;
}

/** One channel: a session bound to an id on a connection. */
export class Channel {
  /** The channel id. */
  readonly id: number;
  /** Resolves with the `started` or `attached` message. */
  readonly bound: Promise<Record<string, unknown>>;
  /** Resolves with the `exit` message. */
  readonly exited: Promise<NativeExit>;
  /** Output bytes received. */
  received = 0;
  #conn: NativeConnection;
  #options: ChannelOptions;
  #window: number;
  #consumed = 0;
  #bound = Promise.withResolvers<Record<string, unknown>>();
  #exited = Promise.withResolvers<NativeExit>();
  /** Stdin bytes this channel may still send. */
  stdinCredit: number;
  #creditWaiter: (() => void) | undefined;

  constructor(conn: NativeConnection, id: number, options: ChannelOptions, stdinCredit: number) {
    this.#conn = conn;
    this.id = id;
    this.#options = options;
    this.#window = options.credit ?? 4 * 1024 * 1024;
    this.stdinCredit = stdinCredit;
    this.bound = this.#bound.promise;
    this.exited = this.#exited.promise;
    this.bound.catch(() => {});
    this.exited.catch(() => {});
  }

  /** @internal */
  _data(data: Uint8Array, offset: number): void {
    this.received += data.length;
    this.#options.onData?.(data, offset);
    this.#consumed += data.length;
    if (this.#consumed >= this.#window / 2) {
      this.#conn.send({ type: "credit", id: this.id, bytes: this.#consumed });
      this.#consumed = 0;
    }
  }

  /** @internal */
  _control(message: Record<string, unknown>): void {
    switch (message.type) {
      case "started":
      case "attached":
        return this.#bound.resolve(message);
      case "exit":
        if (Array.isArray(message.output)) {
          // An inline exit: `started`, the output and `exit` in one message.
          this.#bound.resolve(message);
          let offset = 0;
          for (const run of message.output as { data: string }[]) {
            const data = Uint8Array.fromBase64(run.data);
            this.received += data.length;
            this.#options.onData?.(data, offset);
            offset += data.length;
          }
        }
        return this.#exited.resolve(message as unknown as NativeExit);
      case "credit":
        this.stdinCredit += message.bytes as number;
        this.#creditWaiter?.();
        return;
      case "error": {
        const error = new Error(`pow.v2 error ${message.code}: ${message.message}`);
        this.#bound.reject(error);
        this.#exited.reject(error);
      }
    }
  }

  /** @internal */
  _fail(error: Error): void {
    this.#bound.reject(error);
    this.#exited.reject(error);
    this.#creditWaiter?.();
  }

  /**
   * Sends stdin, waiting for credit and for the socket's send buffer to drain.
   *
   * @param total Bytes to send (ASCII filler).
   * @param chunk Bytes per frame.
   */
  async sendStdin(total: number, chunk = 64 * 1024): Promise<void> {
    const frame = new Uint8Array(HEADER + chunk).fill(0x61);
    const view = new DataView(frame.buffer);
    view.setUint8(0, 0);
    view.setUint32(1, this.id);
    view.setBigUint64(5, APPEND);
    const ws = this.#conn.socket.ws;
    for (let sent = 0; sent < total;) {
      const n = Math.min(chunk, total - sent);
      while (this.stdinCredit < n) {
        if (ws.readyState !== WebSocket.OPEN) throw new Error("Socket closed while sending stdin");
        await new Promise<void>((resolve) => (this.#creditWaiter = resolve));
        this.#creditWaiter = undefined;
      }
      ws.send(n === chunk ? frame : frame.subarray(0, HEADER + n));
      this.stdinCredit -= n;
      sent += n;
      for (let i = 0; ws.bufferedAmount > 1024 * 1024 && i < 100_000; i++) {
        await delay(i < 4 ? 0 : 1);
      }
    }
  }
}

/** A pow.v2 connection. */
export class NativeConnection {
  /** The socket. */
  readonly socket: OpenSocket;
  /** The `hello` message. */
  hello: Record<string, unknown> = {};
  #channels = new Map<number, Channel>();
  #nextId = 1;
  #pongs: (() => void)[] = [];
  #hello = Promise.withResolvers<void>();

  private constructor(socket: OpenSocket) {
    this.socket = socket;
  }

  /**
   * Opens a connection and waits for `hello`.
   *
   * @param url The server's WebSocket URL.
   * @param timeout Milliseconds to wait.
   * @returns The connection.
   */
  static async open(url: string, timeout = 10_000): Promise<NativeConnection> {
    const early: (string | ArrayBuffer)[] = [];
    const box: { conn?: NativeConnection } = {};
    const socket = await openSocket(
      url,
      "pow.v2",
      (m) => (box.conn ? box.conn.#message(m) : early.push(m)),
      timeout,
    );
    const conn = box.conn = new NativeConnection(socket);
    for (const m of early) conn.#message(m);
    socket.closed.then((c) => {
      const error = new Error(`pow.v2 connection closed (${c.code} ${c.reason})`);
      conn.#hello.reject(error);
      for (const channel of conn.#channels.values()) channel._fail(error);
    });
    conn.#hello.promise.catch(() => {});
    await within(conn.#hello.promise, timeout, "pow.v2 hello");
    return conn;
  }

  /**
   * Sends a control message.
   *
   * @param message The message.
   */
  send(message: Record<string, unknown>): void {
    this.socket.ws.send(JSON.stringify(message));
  }

  /**
   * Starts a process on a new channel.
   *
   * @param name The process.
   * @param params Its params.
   * @param options Output handler and credit.
   * @returns The channel.
   */
  start(name: string, params: string[] = [], options: ChannelOptions = {}): Channel {
    const channel = this.#bind(options);
    this.send({
      type: "start",
      id: channel.id,
      name,
      params,
      credit: options.credit ?? 4 * 1024 * 1024,
      ...(options.inline ? { inline: true } : {}),
    });
    return channel;
  }

  /**
   * Attaches a new channel to a session.
   *
   * @param session The session id.
   * @param options Output handler and credit.
   * @returns The channel.
   */
  attach(session: string, options: ChannelOptions = {}): Channel {
    const channel = this.#bind(options);
    this.send({
      type: "attach",
      id: channel.id,
      session,
      offset: 0,
      credit: options.credit ?? 4 * 1024 * 1024,
    });
    return channel;
  }

  /**
   * Sends `ping` and waits for its `pong`: the round trip of one message each way on this
   * connection, the floor for a call on an open connection.
   *
   * @returns A promise that resolves when the `pong` arrives.
   */
  ping(): Promise<void> {
    const pong = Promise.withResolvers<void>();
    this.#pongs.push(pong.resolve);
    this.send({ type: "ping" });
    return pong.promise;
  }

  /** Closes the connection. */
  close(): void {
    this.socket.ws.close(1000);
  }

  #bind(options: ChannelOptions): Channel {
    const id = this.#nextId++;
    const channel = new Channel(this, id, options, Number(this.hello.stdinCredit ?? 1024 * 1024));
    this.#channels.set(id, channel);
    channel.exited.then(() => this.#channels.delete(id), () => this.#channels.delete(id));
    return channel;
  }

  #message(m: string | ArrayBuffer): void {
    if (typeof m === "string") {
      const message = JSON.parse(m) as Record<string, unknown>;
      if (message.type === "hello") {
        this.hello = message;
        return this.#hello.resolve();
      }
      if (message.type === "pong") return this.#pongs.shift()?.();
      const channel = typeof message.id === "number" ? this.#channels.get(message.id) : undefined;
      return channel?._control(message);
    }
    const view = new DataView(m);
    const channel = this.#channels.get(view.getUint32(1));
    channel?._data(new Uint8Array(m, HEADER), Number(view.getBigUint64(5)));
  }
}
