// Copyright the pow authors. MIT license.
/**
 * {@linkcode PowClient}: the native (`pow.v2`) client.
 *
 * @module
 */

import { deferred } from "./_deferred.ts";
import {
  type ClientMessage,
  decodeDataFrame,
  decodeInlineOutput,
  DEFAULT_MAX_MESSAGE_SIZE,
  DEFAULT_STDIN_CREDIT,
  encodeMessage,
  type ExitMessage,
  type HelloMessage,
  MAX_CHANNEL_ID,
  parseServerMessage,
  type ProcessInfo,
  type Ref,
  type ServerMessage,
  type SessionInfo,
  type StartedMessage,
  V2_SUBPROTOCOL,
} from "./protocol/mod.ts";
import type { BackoffOptions } from "./backoff.ts";
import { ChannelCore, type ChannelHost, ConnectionDropped } from "./_channel.ts";
import {
  type CloseInfo,
  Connection,
  type ConnectionCallbacks,
  type ConnectionState,
} from "./connection.ts";
import { ConnectionError, RemoteError } from "./errors.ts";
import {
  type AttachOptions,
  newRemoteProcess,
  type RemoteProcess,
  type StartOptions,
} from "./remote_process.ts";
import { type Clock, systemClock, type TimerHandle } from "./timers.ts";
import { type ProvideHandler, type ProvideOptions, Provider } from "./provider.ts";
import { activeTraceContext, type TraceContext } from "./_trace.ts";
import type { TokenTransport, WebSocketFactory } from "./websocket.ts";

/** Options of {@linkcode PowClient}. */
export interface PowClientOptions extends ConnectionCallbacks {
  /**
   * A bearer token, or a function returning the current one (called before every connection
   * attempt).
   */
  token?: string | (() => string | undefined);
  /**
   * Where the token travels.
   *
   * @default {"header" outside browsers, "subprotocol" in browsers}
   */
  tokenTransport?: TokenTransport;
  /**
   * Reconnect after a dropped connection and reattach running processes.
   *
   * @default {true}
   */
  reconnect?: boolean | BackoffOptions;
  /**
   * Also retry when the very first connection attempt fails.
   *
   * @default {false}
   */
  retryFirstConnect?: boolean;
  /**
   * Send a `ping` after this many milliseconds without sending anything; 0 disables.
   *
   * @default {25000}
   */
  keepAlive?: number;
  /**
   * Drop the connection (and reconnect) when a `pong` takes longer than this, in milliseconds.
   *
   * @default {10000}
   */
  pongTimeout?: number;
  /** Called with the server's `hello` on every connection. */
  onHello?(hello: HelloMessage): void;
  /**
   * Opens sockets (for tests, or to customize the socket).
   *
   * @default {the global WebSocket}
   */
  WebSocket?: WebSocketFactory;
  /**
   * Time and timers.
   *
   * @default {systemClock}
   */
  clock?: Clock;
}

interface Pending {
  message: ClientMessage;
  resolve(message: ServerMessage): void;
  reject(error: unknown): void;
  channel: ChannelCore | undefined;
}

/**
 * A client of the native pow protocol (`pow.v2`): many remote processes on one WebSocket
 * connection, reconnecting and reattaching them transparently when the connection drops.
 *
 * The connection opens when the client is created. Processes started while it is not open
 * are started as soon as it is.
 *
 * @example Run a process and read its output (with a fake server; see `@pow/client/testing`)
 * ```ts
 * import { PowClient } from "@pow/client";
 * import { FakeServer } from "@pow/client/testing";
 * import { equal } from "node:assert/strict";
 *
 * const server = new FakeServer();
 * server.onConnection = (socket) => {
 *   socket.onClientMessage = () => {
 *     for (const m of socket.takeMessages()) {
 *       if (m.type !== "start") continue;
 *       socket.sendMessage({ type: "started", id: m.id, ref: m.ref, session: "s1", pty: false });
 *       socket.sendData({ kind: "stdout", id: m.id, offset: 0, data: new TextEncoder().encode(m.params.join(" ")) });
 *       socket.sendMessage({ type: "exit", id: m.id, session: "s1", offset: 5, result: { status: "fulfilled", value: null, exitCode: 0 } });
 *     }
 *   };
 * };
 *
 * await using client = new PowClient("ws://pow.test/", { WebSocket: server.WebSocket });
 * const proc = client.start("echo", ["hello"]);
 * equal(await new Response(proc.stdout).text(), "hello");
 * equal((await proc.result).exitCode, 0);
 * ```
 */
export class PowClient implements AsyncDisposable {
  #connection: Connection;
  #options: PowClientOptions;
  #clock: Clock;
  #hello: HelloMessage | undefined;
  #channels = new Map<number, ChannelCore>();
  #pending = new Map<Ref, Pending>();
  #outbox: ClientMessage[] = [];
  #nextRef = 1;
  #nextId = 1;
  #closedError: ConnectionError | undefined;
  #keepAliveTimer: TimerHandle | undefined;
  #pongTimer: TimerHandle | undefined;
  #lastSent = 0;
  #host: ChannelHost;
  #ready: Promise<void>;
  #provider: Provider;
  /** What `provide` sent, to send again after a reconnect. */
  #provides = new Map<string, ClientMessage>();

  /**
   * Creates the client and starts connecting.
   *
   * @param url The server's `ws:` or `wss:` URL (its base path).
   * @param options Token, reconnect policy, callbacks, test doubles.
   */
  constructor(url: string | URL, options: PowClientOptions = {}) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#connection = new Connection(url, {
      ...options,
      protocol: V2_SUBPROTOCOL,
      onOpen: (info) => {
        this.#onOpen();
        options.onOpen?.(info);
      },
      onMessage: (data) => {
        this.#onMessage(data);
        return options.onMessage?.(data);
      },
      onClose: (info) => {
        this.#onClose(info);
        options.onClose?.(info);
      },
    });
    const hello = () => this.#hello;
    this.#host = {
      send: (message) => this.#send(message),
      sendBinary: (bytes) => {
        const sent = this.#connection.send(bytes);
        if (sent) this.#lastSent = this.#clock.now();
        return sent;
      },
      request: (message, channel) => this.#request(message, channel),
      get maxMessageSize() {
        return hello()?.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
      },
      get stdinCredit() {
        return hello()?.stdinCredit ?? DEFAULT_STDIN_CREDIT;
      },
      release: (channel) => {
        if (this.#channels.get(channel.id) === channel) this.#channels.delete(channel.id);
      },
    };
    this.#provider = new Provider({
      send: (message) => this.#send(message),
      sendBinary: (bytes) => this.#host.sendBinary(bytes),
      get maxMessageSize() {
        return hello()?.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
      },
    });
    this.#ready = this.#connection.connect();
    this.#ready.catch(() => {});
    this.#connection.closed.then((info) => this.#onClosedForGood(info));
  }

  /** The connection state. */
  get state(): ConnectionState {
    return this.#connection.state;
  }

  /** The `hello` of the current (or last) connection. */
  get hello(): HelloMessage | undefined {
    return this.#hello;
  }

  /**
   * Waits for the first connection.
   *
   * @returns Resolves once connected; rejects with a {@linkcode ConnectionError} when the
   * server cannot be reached.
   */
  ready(): Promise<void> {
    return this.#ready;
  }

  /** Resolves once the client is closed for good (by `close()` or a final close code). */
  get closed(): Promise<CloseInfo> {
    return this.#connection.closed;
  }

  /**
   * Starts a process on the server.
   *
   * @param name The process definition's name.
   * @param params Its parameters.
   * @param options pty, terminal size, cancellation, trace context, output credit.
   * @returns The handle, at once; `started` and `result` tell how it goes.
   *
   * @example Write to stdin, close it, read stdout (see the class example for the fake server)
   * ```ts ignore
   * const proc = client.start("cat");
   * await proc.write("hello\n");
   * await proc.closeInput();
   * console.log(await new Response(proc.stdout).text()); // "hello\n"
   * ```
   */
  start(name: string, params: string[] = [], options: StartOptions = {}): RemoteProcess {
    const channel = new ChannelCore(this.#host, this.#allocateId(), {
      kind: "start",
      name,
      params,
      pty: options.pty,
      cols: options.cols,
      rows: options.rows,
      ...traceOf(options),
    }, options.credit);
    return this.#open(channel, options);
  }

  /**
   * Follows an existing session (started by this or another connection of the same identity).
   *
   * @param session The session id.
   * @param options Where to start reading, output credit, cancellation.
   * @returns The handle.
   *
   * @example
   * ```ts ignore
   * const [session] = await client.list();
   * const proc = client.attach(session.session, { offset: session.offset });
   * ```
   */
  attach(session: string, options: AttachOptions = {}): RemoteProcess {
    const channel = new ChannelCore(this.#host, this.#allocateId(), {
      kind: "attach",
      session,
      offset: options.offset ?? 0,
    }, options.credit);
    return this.#open(channel, options);
  }

  #open(channel: ChannelCore, options: StartOptions): RemoteProcess {
    const proc = newRemoteProcess(channel, options);
    if (this.#closedError) {
      channel.fail(this.#closedError);
      return proc;
    }
    if (options.signal?.aborted) {
      channel.fail(options.signal.reason);
      return proc;
    }
    this.#channels.set(channel.id, channel);
    if (this.#connection.state === "open") channel.bind();
    return proc;
  }

  /**
   * Lists the caller's sessions on the server.
   *
   * @returns The sessions, oldest first.
   */
  async list(): Promise<SessionInfo[]> {
    const answer = await this.#request({ type: "list" });
    return answer.type === "sessions" ? answer.sessions : [];
  }

  /**
   * Lists the process definitions the caller may start.
   *
   * @returns The definitions, with params and descriptions.
   */
  async processes(): Promise<ProcessInfo[]> {
    const answer = await this.#request({ type: "processes" });
    return answer.type === "processes" ? answer.processes : [];
  }

  /**
   * Provides a process: while this client is connected, the server's catalogue has a process
   * `name` that callers on any front end (pow.v2, pow-1, REST, `main.ts call`) can start. Each
   * start calls `handler` with a {@linkcode ProvidedCall}: the caller's params and stdin, stdout
   * and stderr that go to the caller's session, and a signal that aborts when the caller
   * cancels. What the handler returns is the session's result value; what it throws rejects the
   * session. After a reconnect the process is provided again. It is withdrawn when the client
   * closes.
   *
   * @example Uppercase stdin
   * ```ts ignore
   * await client.provide("upper", async (call) => {
   *   await call.stdin
   *     .pipeThrough(new TextDecoderStream())
   *     .pipeThrough(new TransformStream({ transform: (s, c) => c.enqueue(s.toUpperCase()) }))
   *     .pipeThrough(new TextEncoderStream())
   *     .pipeTo(call.stdout);
   *   return { done: true };
   * }, { description: "Uppercases stdin" });
   * ```
   *
   * @param name The process name: 1 to 64 letters, digits, `_`, `-`, `.`, `:`, `@` or `+`.
   * @param handler Serves each call.
   * @param options Description and params.
   * @returns Resolves once the server has the process in its catalogue.
   * @throws {RemoteError} `not_allowed`, `conflict` (a configured process or one already
   * provided has the name), `limit_reached` or `bad_message` (a bad name or params).
   */
  async provide(
    name: string,
    handler: ProvideHandler,
    options: ProvideOptions = {},
  ): Promise<void> {
    const message: ClientMessage = {
      type: "provide",
      name,
      params: options.params ?? [],
      ...(options.description === undefined ? {} : { description: options.description }),
    };
    await this.#request(message);
    this.#provides.set(name, message);
    this.#provider.add(name, handler);
  }

  /**
   * Sends a `ping` and waits for the `pong`.
   *
   * @returns The round trip time in milliseconds.
   */
  async ping(): Promise<number> {
    const start = this.#clock.now();
    await this.#request({ type: "ping" });
    return this.#clock.now() - start;
  }

  /**
   * Closes the connection gracefully. Processes keep running on the server (they linger) and
   * their handles fail with a {@linkcode ConnectionError}.
   *
   * @returns Resolves once closed.
   */
  async close(): Promise<void> {
    await this.#connection.close(1000, "");
  }

  /**
   * Closes the client (for `await using`).
   *
   * @returns Resolves once closed.
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // -------------------------------------------------------------------------

  #allocateId(): number {
    for (let i = 0; i < MAX_CHANNEL_ID; i++) {
      const id = this.#nextId;
      this.#nextId = id >= MAX_CHANNEL_ID ? 1 : id + 1;
      if (!this.#channels.has(id) && !this.#provider.has(id)) return id;
    }
    throw new RangeError("Cannot start more processes: every channel id is in use");
  }

  #send(message: ClientMessage): boolean {
    const sent = this.#connection.send(encodeMessage(message));
    if (sent) this.#lastSent = this.#clock.now();
    return sent;
  }

  #request(message: ClientMessage, channel?: ChannelCore): Promise<ServerMessage> {
    if (this.#closedError) return Promise.reject(this.#closedError);
    const ref = this.#nextRef++;
    const withRef = { ...message, ref } as ClientMessage;
    const { promise, resolve, reject } = deferred<ServerMessage>();
    this.#pending.set(ref, { message: withRef, resolve, reject, channel });
    if (!this.#send(withRef)) {
      if (channel === undefined) {
        this.#outbox.push(withRef);
      } else {
        this.#pending.delete(ref);
        reject(new ConnectionDropped(false));
      }
    }
    return promise;
  }

  #onOpen(): void {
    this.#hello = undefined;
    this.#lastSent = this.#clock.now();
    const outbox = this.#outbox;
    this.#outbox = [];
    for (const message of outbox) this.#send(message);
    // Provide again what was provided before the connection was lost.
    for (const message of this.#provides.values()) {
      this.#request(message).catch((error) => this.#connection.reportReadError(error));
    }
    for (const channel of [...this.#channels.values()]) {
      if (channel.phase === "pending" || channel.phase === "waiting") channel.bind();
    }
    this.#scheduleKeepAlive();
  }

  #onClose(info: CloseInfo): void {
    this.#stopKeepAlive();
    this.#provider.disconnected("connection lost");
    if (!info.reconnecting) return;
    // Requests in flight: global ones are sent again, channel ones fail (their channel knows).
    const pending = [...this.#pending.entries()];
    for (const [ref, entry] of pending) {
      if (entry.channel === undefined && entry.message.type !== "ping") {
        this.#outbox.push(entry.message);
      } else {
        this.#pending.delete(ref);
        entry.reject(new ConnectionDropped(true));
      }
    }
    for (const channel of this.#channels.values()) channel.disconnected();
  }

  #onClosedForGood(info: CloseInfo): void {
    this.#stopKeepAlive();
    const error = this.#closedError = new ConnectionError(
      info.clientInitiated
        ? "Cannot continue: the client was closed"
        : `Cannot continue: the connection closed with code ${info.code}${
          info.reason ? `: ${info.reason}` : ""
        }`,
      { code: info.code, reason: info.reason },
    );
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const entry of pending) entry.reject(error);
    for (const channel of [...this.#channels.values()]) channel.fail(error);
    this.#channels.clear();
  }

  #onMessage(data: string | ArrayBuffer): void {
    if (typeof data !== "string") {
      // The server also sends stdin: the input of calls this client serves.
      const any = decodeDataFrame(data);
      if (any.ok && any.value.kind === "stdin" && this.#provider.has(any.value.id)) {
        return this.#provider.stdin(any.value.id, any.value.offset, any.value.data);
      }
      // Output decodes the same either way; anything else is decoded again for its error.
      const decoded = any.ok && any.value.kind !== "stdin"
        ? any
        : decodeDataFrame(data, { from: "server" });
      if (!decoded.ok) return this.#badMessage(decoded.error.message);
      const frame = decoded.value;
      const channel = this.#channels.get(frame.id);
      if (channel !== undefined && frame.kind !== "stdin") {
        channel.data(frame.kind, frame.offset, frame.data);
      }
      return;
    }
    const parsed = parseServerMessage(data);
    if (!parsed.ok) return this.#badMessage(parsed.error.message);
    const message = parsed.value;
    if (this.#provider.message(message)) return;
    switch (message.type) {
      case "hello":
        this.#hello = message;
        this.#options.onHello?.(message);
        return;
      case "credit":
        this.#channels.get(message.id)?.stdinGrant(message.bytes);
        return;
      case "gap":
        this.#channels.get(message.id)?.gap(message.offset, message.skipped);
        return;
      case "exit":
        if (message.output !== undefined) return this.#inlineExit(message);
        this.#channels.get(message.id)?.exit(message);
        return;
    }
    const ref = "ref" in message ? message.ref : undefined;
    const pending = ref === undefined ? undefined : this.#pending.get(ref);
    if (pending !== undefined) {
      this.#pending.delete(ref as Ref);
      if (message.type === "pong" && this.#pongTimer !== undefined) {
        this.#clock.clearTimeout(this.#pongTimer);
        this.#pongTimer = undefined;
      }
      if (message.type === "error") {
        pending.reject(new RemoteError(message.code, message.message));
      } else {
        if (message.type === "started" || message.type === "attached") {
          pending.channel?.bound(message);
        }
        pending.resolve(message);
      }
      return;
    }
    if (message.type === "error") {
      const channel = message.id === undefined ? undefined : this.#channels.get(message.id);
      if (channel !== undefined) channel.error(message);
      else this.#connection.reportReadError(new RemoteError(message.code, message.message));
    }
  }

  /** An inline `exit`: the answer to `start`, the whole output and the end, in one message. */
  #inlineExit(message: ExitMessage): void {
    const { id, ref, session, pid, pty = false } = message;
    const pending = ref === undefined ? undefined : this.#pending.get(ref);
    if (pending !== undefined) this.#pending.delete(ref as Ref);
    const started: StartedMessage = { type: "started", id, ref, session, pid, pty };
    const channel = this.#channels.get(id);
    channel?.bound(started);
    pending?.resolve(started);
    if (channel === undefined) return;
    for (const chunk of decodeInlineOutput(message)) {
      channel.data(chunk.stream, chunk.offset, chunk.data);
    }
    channel.exit(message);
  }

  #badMessage(detail: string): void {
    this.#connection.reportReadError(new TypeError(`Cannot read a server message: ${detail}`));
    void this.#connection.close(1000, "bad server message");
  }

  #scheduleKeepAlive(): void {
    const interval = this.#options.keepAlive ?? 25_000;
    if (interval <= 0) return;
    if (this.#keepAliveTimer !== undefined) this.#clock.clearTimeout(this.#keepAliveTimer);
    const wait = Math.max(1, this.#lastSent + interval - this.#clock.now());
    this.#keepAliveTimer = this.#clock.setTimeout(() => {
      this.#keepAliveTimer = undefined;
      if (this.#connection.state !== "open") return;
      if (this.#clock.now() - this.#lastSent >= interval && this.#pongTimer === undefined) {
        this.#request({ type: "ping" }).catch(() => {});
        this.#pongTimer = this.#clock.setTimeout(() => {
          this.#pongTimer = undefined;
          this.#connection.drop("keep-alive timeout");
        }, this.#options.pongTimeout ?? 10_000);
      }
      this.#scheduleKeepAlive();
    }, wait);
  }

  #stopKeepAlive(): void {
    if (this.#keepAliveTimer !== undefined) this.#clock.clearTimeout(this.#keepAliveTimer);
    if (this.#pongTimer !== undefined) this.#clock.clearTimeout(this.#pongTimer);
    this.#keepAliveTimer = this.#pongTimer = undefined;
  }
}

function traceOf(options: StartOptions): Partial<TraceContext> {
  if (options.traceparent === "") return {};
  if (options.traceparent !== undefined) {
    return { traceparent: options.traceparent, tracestate: options.tracestate };
  }
  return activeTraceContext() ?? {};
}
