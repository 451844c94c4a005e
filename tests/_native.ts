/**
 * Helpers for end-to-end tests of the native protocol (`pow.v2`): a real server with test
 * processes on a free port, and a client that records control messages and output per channel,
 * granting credit as it goes.
 *
 * @module
 */

import { createHash } from "node:crypto";
import {
  decodeDataFrame,
  encodeDataFrame,
  encodeMessage,
  type HelloMessage,
  parseServerMessage,
  type ServerMessage,
} from "@pow/protocol";
import {
  createServer,
  defaultConfig,
  defineCommand,
  defineProcess,
  listen,
  type PowConfig,
} from "../mod.ts";
import type { ListeningServer } from "../server/server.ts";
import { nativeWebSocket } from "../server/front_ends/v2/mod.ts";

/**
 * Deterministic pseudo-random bytes (xorshift32), `size` bytes from `seed`, produced in
 * chunks of 64 KiB: the `blob` test process writes them, tests hash the same sequence.
 *
 * @param size How many bytes.
 * @param seed The seed (non-zero).
 */
export function* blobChunks(size: number, seed: number): Generator<Uint8Array<ArrayBuffer>> {
  let x = seed >>> 0 || 1;
  for (let done = 0; done < size;) {
    const n = Math.min(65536, size - done);
    const chunk = new Uint8Array(n);
    const words = new Uint32Array(chunk.buffer, 0, n >>> 2);
    for (let i = 0; i < words.length; i++) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      words[i] = x;
    }
    for (let i = words.length * 4; i < n; i++) chunk[i] = i & 0xff;
    done += n;
    yield chunk;
  }
}

/**
 * The SHA-256 (hex) of {@linkcode blobChunks}.
 *
 * @param size How many bytes.
 * @param seed The seed.
 * @returns The hex digest.
 */
export function blobHash(size: number, seed: number): string {
  const hash = createHash("sha256");
  for (const chunk of blobChunks(size, seed)) hash.update(chunk);
  return hash.digest("hex");
}

/** The processes tests use besides the default configuration's. */
export function testProcesses(): PowConfig["processes"] {
  return {
    blob: defineProcess({
      description: "Write N deterministic pseudo-random bytes from a seed",
      params: [{ name: "n", pattern: "[0-9]{1,10}" }, { name: "seed", pattern: "[0-9]{1,9}" }],
      async run({ params, stdout }) {
        const writer = stdout.getWriter();
        for (const chunk of blobChunks(Number(params[0]), Number(params[1]))) {
          await writer.write(chunk);
        }
        return Number(params[0]);
      },
    }),
    flood: defineCommand(["head", "-c", "1000000000", "/dev/zero"], {
      description: "Write 1 GB of zeros",
    }),
    both: defineCommand(["sh", "-c", "echo out1; echo err1 >&2; echo out2; echo err2 >&2"]),
    terminal: defineCommand(["sh", "-c", "tty; stty size; read line; stty size"], { pty: true }),
    secret: defineCommand(["true"], { allow: ["admins"] }),
    forever: defineProcess({
      description: "Wait until cancelled",
      run: ({ signal }) =>
        new Promise((_, reject) =>
          signal.addEventListener("abort", () => reject(signal.reason), { once: true })
        ),
    }),
  };
}

/** A server started for a test. */
export interface NativeServer extends AsyncDisposable {
  /** The listening server. */
  readonly running: ListeningServer;
  /** The `ws:` URL of the base path. */
  readonly wsUrl: string;
  /** Stops the server. */
  shutdown(): Promise<void>;
}

/**
 * Starts the default configuration plus {@linkcode testProcesses} with the `pow.v2` front end
 * on a free port.
 *
 * @param configure Changes to the config before the server starts.
 * @returns The server.
 */
export async function startNativeServer(
  configure?: (config: PowConfig) => void,
): Promise<NativeServer> {
  const config = defaultConfig();
  config.server.port = 0;
  config.processes = { ...config.processes, ...testProcesses() };
  configure?.(config);
  const running = await listen(createServer(config, { frontEnds: [nativeWebSocket] }), {
    onListen() {},
  });
  const wsUrl = running.url.href.replace(/^http/, "ws");
  const shutdown = () => running.shutdown();
  return { running, wsUrl, shutdown, [Symbol.asyncDispose]: shutdown };
}

/** What a {@linkcode V2Client} received on one channel. */
export class ChannelOutput {
  /** stdout text (when not hashing). */
  stdout = "";
  /** stderr text (when not hashing). */
  stderr = "";
  /** Payload bytes received. */
  bytes = 0;
  /** The offset after the last byte received. */
  next = 0;
  /** Offsets and streams of the frames, in order. */
  readonly frames: { kind: string; offset: number; length: number }[] = [];
  /** Offsets were not contiguous (a frame did not start at `next`). */
  discontinuity: string | undefined;
  /** Output credit granted but not yet used. */
  window = 0;
  /** Bytes consumed since the last grant. */
  consumed = 0;
  /** Grant credit automatically (window size), or not at all (`0`). */
  autoCredit = 0;
  /** Hash the bytes instead of keeping text. */
  hash: ReturnType<typeof createHash> | undefined;
}

/** Options for {@linkcode V2Client.connect}. */
export interface ConnectOptions {
  /** A bearer token sent as `Authorization`. */
  token?: string;
  /** The subprotocols to offer. @default {["pow.v2"]} */
  protocols?: string[];
}

/** A `pow.v2` test client. */
export class V2Client implements AsyncDisposable {
  /** The socket. */
  readonly ws: WebSocket;
  /** Every control message received, in order. */
  readonly messages: ServerMessage[] = [];
  /** Output per channel id. */
  readonly channels: Map<number, ChannelOutput> = new Map();
  /** The channel id of every data frame received, in order. */
  readonly frameOrder: number[] = [];
  /** The `hello` message. */
  hello!: HelloMessage;
  /** Resolves with the close code and reason. */
  readonly closed: Promise<{ code: number; reason: string }>;
  #waiters: (() => void)[] = [];
  #refs = 0;

  private constructor(url: string, options: ConnectOptions) {
    const protocols = options.protocols ?? ["pow.v2"];
    this.ws = options.token
      ? new WebSocket(url, { protocols, headers: { authorization: `Bearer ${options.token}` } })
      : new WebSocket(url, protocols);
    this.ws.binaryType = "arraybuffer";
    const closed = Promise.withResolvers<{ code: number; reason: string }>();
    this.closed = closed.promise;
    this.ws.onmessage = ({ data }) => {
      if (typeof data === "string") {
        const parsed = parseServerMessage(data);
        if (!parsed.ok) throw new Error(`Bad server message ${data}: ${parsed.error.message}`);
        this.messages.push(parsed.value);
      } else {
        const frame = decodeDataFrame(data as ArrayBuffer, { from: "server" });
        if (!frame.ok) throw new Error(frame.error.message);
        this.#data(frame.value.id, frame.value.kind, frame.value.offset, frame.value.data);
      }
      this.#wake();
    };
    this.ws.onerror = () => {};
    this.ws.onclose = ({ code, reason }) => {
      closed.resolve({ code, reason });
      this.#wake();
    };
  }

  /**
   * Connects and waits for `hello`.
   *
   * @param url The `ws:` URL.
   * @param options Token and subprotocols.
   * @returns The client.
   */
  static async connect(url: string, options: ConnectOptions = {}): Promise<V2Client> {
    const client = new V2Client(url, options);
    const hello = await client.next((m) => m.type === "hello");
    client.hello = hello as HelloMessage;
    return client;
  }

  /**
   * The output record of a channel (created on first use).
   *
   * @param id The channel id.
   * @returns Its output.
   */
  channel(id: number): ChannelOutput {
    let out = this.channels.get(id);
    if (!out) this.channels.set(id, out = new ChannelOutput());
    return out;
  }

  /**
   * Sends a control message (raw text if a string).
   *
   * @param message The message.
   */
  send(message: Record<string, unknown> | string): void {
    const text = typeof message === "string" ? message : JSON.stringify(message);
    this.ws.send(text);
  }

  /**
   * Sends a stdin frame.
   *
   * @param id The channel.
   * @param data The bytes or text.
   * @param offset The stdin offset. @default {-1, append}
   */
  stdin(id: number, data: Uint8Array | string, offset = -1): void {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    this.ws.send(encodeDataFrame({ kind: "stdin", id, offset, data: bytes }));
  }

  /**
   * Sends a message with a fresh `ref` and waits for the answer carrying it.
   *
   * @param message The message (without `ref`).
   * @param timeout Milliseconds. @default {10000}
   * @returns The answer.
   */
  async request(message: Record<string, unknown>, timeout = 10_000): Promise<ServerMessage> {
    const ref = `r${++this.#refs}`;
    const from = this.messages.length;
    if (message.type === "start" || message.type === "attach") {
      const out = this.channel(message.id as number);
      out.window = (message.credit as number | undefined) ?? 1_048_576;
    }
    this.ws.send(encodeMessage({ ...message, ref } as never));
    return await this.next((m) => "ref" in m && m.ref === ref, timeout, from);
  }

  /**
   * Starts a process on channel `id` and waits for `started` (throws on `error`).
   *
   * @param id The channel id.
   * @param name The process.
   * @param params Its params.
   * @param extra More fields of `start`.
   * @returns The `started` message.
   */
  async start(
    id: number,
    name: string,
    params: string[] = [],
    extra: Record<string, unknown> = {},
  ): Promise<Extract<ServerMessage, { type: "started" }>> {
    const answer = await this.request({ type: "start", id, name, params, ...extra });
    if (answer.type !== "started") throw new Error(`Cannot start: ${JSON.stringify(answer)}`);
    return answer;
  }

  /**
   * Waits for the `exit` of channel `id`.
   *
   * @param id The channel id.
   * @param timeout Milliseconds. @default {20000}
   * @returns The `exit` message.
   */
  async exit(id: number, timeout = 20_000): Promise<Extract<ServerMessage, { type: "exit" }>> {
    return await this.next((m) => m.type === "exit" && m.id === id, timeout) as Extract<
      ServerMessage,
      { type: "exit" }
    >;
  }

  /**
   * Waits for a control message matching `predicate`, among those received from index `from`.
   *
   * @param predicate The match.
   * @param timeout Milliseconds. @default {10000}
   * @param from The first index to look at. @default {0}
   * @returns The message.
   */
  async next(
    predicate: (m: ServerMessage) => boolean,
    timeout = 10_000,
    from = 0,
  ): Promise<ServerMessage> {
    return await this.until(() => this.messages.slice(from).find(predicate), timeout);
  }

  /**
   * Waits until `check` returns something other than `undefined` (checked after every message).
   *
   * @param check The condition.
   * @param timeout Milliseconds. @default {10000}
   * @returns What `check` returned.
   */
  async until<T>(check: () => T | undefined, timeout = 10_000): Promise<T> {
    const deadline = Date.now() + timeout;
    while (true) {
      const value = check();
      if (value !== undefined) return value;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`Timed out; messages: ${JSON.stringify(this.messages.slice(-10))}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Closes the socket and waits for the close. */
  async close(): Promise<void> {
    if (this.ws.readyState < WebSocket.CLOSING) this.ws.close(1000);
    await this.closed;
  }

  /** Closes the socket. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #data(id: number, kind: string, offset: number, data: Uint8Array): void {
    const out = this.channel(id);
    this.frameOrder.push(id);
    if (offset !== out.next && out.discontinuity === undefined) {
      out.discontinuity = `frame at ${offset}, expected ${out.next}`;
    }
    if (data.byteLength > out.window) {
      out.discontinuity ??= `frame of ${data.byteLength} bytes beyond a window of ${out.window}`;
    }
    out.window -= data.byteLength;
    out.frames.push({ kind, offset, length: data.byteLength });
    out.next = offset + data.byteLength;
    out.bytes += data.byteLength;
    if (out.hash) out.hash.update(data);
    else if (kind === "stdout") out.stdout += new TextDecoder().decode(data);
    else out.stderr += new TextDecoder().decode(data);
    if (out.autoCredit > 0) {
      out.consumed += data.byteLength;
      if (out.consumed >= out.autoCredit / 2) {
        this.send({ type: "credit", id, bytes: out.consumed });
        out.window += out.consumed;
        out.consumed = 0;
      }
    }
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}
