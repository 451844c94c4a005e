/**
 * The native pow WebSocket front end, `pow.v2` (specified in `docs/protocol.md`): many
 * processes per connection on client-chosen channel ids, JSON control messages in text frames,
 * stdin, stdout and stderr in binary data frames with a 13-byte header, per-channel credit flow
 * control in both directions, and sessions that outlive the connection and can be reattached
 * from a byte offset by any number of viewers.
 *
 * The adapter only translates: parsing and encoding live in `@pow/protocol`, process control
 * in the {@linkcode SessionManager} and its {@linkcode Session}s.
 *
 * @module
 */

import {
  type ClientMessage,
  DATA_FRAME_HEADER_SIZE,
  type DataFrame,
  decodeDataFrame,
  DEFAULT_CREDIT,
  DEFAULT_STDIN_CREDIT,
  encodeInlineOutput,
  encodeMessage,
  type ErrorCode,
  type ErrorInfo,
  MAX_OFFSET,
  MESSAGE_TOO_BIG_REASON,
  parseClientMessage,
  type Ref,
  type ServerMessage,
  toErrorMessage,
  V2_SUBPROTOCOL,
  type WatchMessage,
  writeDataFrameHeader,
} from "@pow/protocol";
import {
  coalesce,
  ConnectionSet,
  drained,
  oversize,
  runs,
  SOCKET_HIGH_WATER,
  upgradeParameters,
} from "../_kit/mod.ts";
import {
  applySignal,
  listProcessInfos,
  listSessionInfos,
  SERVER_NAME,
  toProcessResult,
} from "../_kit/convert.ts";
import { CallError } from "../../errors.ts";
import type { FrontEnd, FrontEndContext, FrontEndFactory } from "../../front_end.ts";
import { v2ConfigSection } from "./config.ts";
import { headroom, type OutputChunk, type OutputReader } from "../../output_log.ts";
import type { Caller } from "../../process.ts";
import type { Session, SessionHandle, SessionResult } from "../../session.ts";
import {
  Connection as WatchConnection,
  type ConnectionHost,
  type RailSocket,
} from "../_kit/watch.ts";
import { ChannelError, openChannel } from "../_kit/watch_channels.ts";
import { newSessionId } from "../../session_manager.ts";
import { ProviderConnection } from "../../provider.ts";

/**
 * The `pow.v2` WebSocket front end: accepts upgrades offering `pow.v2` under the base path.
 *
 * Settings it uses: `limits.sessionsPerConnection` (announced as `maxChannels`),
 * `limits.idleTimeout` (a connection without channels or messages for that long is closed with
 * 4000), `server.keepAlive` (WebSocket pings), `v2.maxMessage` (`maxMessageSize`),
 * `v2.maxFrame` (the largest output payload per data frame),
 * `sessions.linger` (`lingerMs`), `sessions.maxPendingInput` (caps `stdinCredit`, and the output
 * credit of a provider) and the `provide` section (processes provided by clients, handled by
 * {@linkcode ProviderConnection} in `provider.ts`).
 *
 * @example Run `echo` over a real WebSocket
 * ```ts
 * import { createServer, defaultConfig, listen } from "../../../mod.ts";
 * import { nativeWebSocket } from "./ws.ts";
 * import { decodeDataFrame, encodeMessage, parseServerMessage } from "@pow/protocol";
 * import assert from "node:assert/strict";
 *
 * const config = defaultConfig();
 * config.server.port = 0;
 * const running = await listen(createServer(config, { frontEnds: [nativeWebSocket] }), {
 *   onListen() {},
 * });
 * const ws = new WebSocket(running.url.href.replace("http", "ws"), ["pow.v2"]);
 * ws.binaryType = "arraybuffer";
 * let output = "";
 * const exit = await new Promise((resolve) => {
 *   ws.onmessage = ({ data }) => {
 *     if (typeof data !== "string") {
 *       const frame = decodeDataFrame(data, { from: "server" });
 *       if (frame.ok) output += new TextDecoder().decode(frame.value.data);
 *       return;
 *     }
 *     const message = parseServerMessage(data);
 *     if (!message.ok) throw new Error(data);
 *     if (message.value.type === "hello") {
 *       ws.send(encodeMessage({ type: "start", id: 1, name: "count", params: ["3"] }));
 *     }
 *     if (message.value.type === "exit") resolve(message.value.result);
 *   };
 * });
 * assert.equal(output, "1\n2\n3\n");
 * assert.deepEqual(exit, { status: "fulfilled", value: null, exitCode: 0 });
 * ws.close();
 * await new Promise((resolve) => (ws.onclose = resolve));
 * await running.shutdown();
 * ```
 *
 * @param context The server's shared services.
 * @returns The front end.
 */
export const nativeWebSocket: FrontEndFactory = (context: FrontEndContext): FrontEnd => {
  const connections = new ConnectionSet<V2Connection>();
  const reserved = new Set(Object.keys(context.config.processes));
  return {
    name: "pow.v2",
    subprotocols: [V2_SUBPROTOCOL],
    preference: 0,
    upgrade(request: Request, _protocol: string, caller: Caller): Response {
      const upgraded = context.upgradeWebSocket(request, { protocol: V2_SUBPROTOCOL });
      const connection = new V2Connection(
        upgraded.socket,
        context,
        { ...caller, via: V2_SUBPROTOCOL },
        reserved,
        () => connections.delete(connection),
      );
      connections.add(connection);
      return upgraded.response;
    },
    openapi: { "/": { get: UPGRADE_OPERATION } },
    close() {
      connections.close();
    },
  };
};

nativeWebSocket.config = v2ConfigSection;

/** The OpenAPI description of the `pow.v2` upgrade. */
const UPGRADE_OPERATION: Record<string, unknown> = {
  summary: "Run processes over WebSocket (pow.v2, the native protocol)",
  description: "Upgrades to a WebSocket with the `pow.v2` subprotocol. Many processes " +
    "per connection on client-chosen channel ids; JSON control messages (`start`, " +
    "`attach`, `detach`, `eof`, `signal`, `resize`, `credit`, `list`, `processes`, " +
    "`ping`, `provide`) in text frames; stdin, stdout and stderr in binary frames with a " +
    "13-byte header (kind, channel id, offset); credit flow control; sessions that outlive " +
    "the connection and can be reattached from a byte offset; processes provided by clients " +
    "(`provide`, then `serve` for each call). See docs/protocol.md.",
  tags: ["pow.v2 WebSocket"],
  parameters: upgradeParameters(
    "Must offer `pow.v2`; may add a `pow.token.<base64url>` entry carrying a bearer token " +
      "(browsers)",
    V2_SUBPROTOCOL,
  ),
  responses: {
    "101": {
      description: "Switching protocols; the server answers " +
        "`Sec-WebSocket-Protocol: pow.v2` and sends `hello` first",
    },
    "400": {
      description: "Only unknown pow versions offered (e.g. `pow.v3`)",
      content: { "text/plain": { schema: { type: "string" } } },
    },
    "401": { description: "Missing or invalid token" },
  },
};

/**
 * How many microtask turns a function process gets to end before its start is announced. A quick
 * call ends within a few (`ticker 1` takes 6: a write through its stdout stream, then the
 * return): its `started`, output and `exit` then go out together, or as one inline `exit`. A
 * process that takes longer delays its `started` by at most these turns, a few microseconds,
 * and no more than that: no timer, no wait for I/O. (The socket writes of a turn go out only
 * after it anyway.)
 */
const QUICK_TURNS = 64;

/** Waits up to {@linkcode QUICK_TURNS} microtask turns for the session to end. */
async function quickEnd(session: SessionHandle): Promise<void> {
  for (let turn = 0; turn < QUICK_TURNS && !session.ended; turn++) await undefined;
}

/** One bound channel: a viewer of one session on one connection. */
interface Channel {
  readonly id: number;
  readonly session: SessionHandle;
  /** Unbound (by `exit`, `detach` or the connection going away). */
  closed: boolean;
  /** `started` or `attached` was sent; messages for the channel wait until then. */
  announced: boolean;
  /** Messages waiting for the announcement. */
  backlog: string[];
  /** The output window in bytes. */
  credit: number;
  /** Wakes the output pump (more credit, or the channel closed). */
  wake: (() => void) | undefined;
  /** The output cursor; opened when the channel is bound. */
  reader: OutputReader;
  /**
   * The offset the client has confirmed: where the channel was bound plus every byte of credit
   * it granted back (a client grants credit for output it has consumed). The log keeps
   * everything from here on (at most `sessions.maxHeld` bytes before the last byte sent), so a
   * client that loses its connection with output in flight can reattach at what it really
   * received and get every byte exactly once.
   */
  confirmed: number;
  /** Bytes of `reader.skipped` already reported with `gap`. */
  reportedSkipped: number;
  /** Stdin bytes the client may still send. */
  stdinCredit: number;
  /** Stdin bytes taken by the process but not yet granted again. */
  stdinToGrant: number;
  /** Stdin writes not yet taken by the process. */
  stdinPending: number;
  /** Ends the session attachment. */
  detach: () => void;
}

/**
 * One watch of a `pow.v2` connection, as the watch kit's socket: its MonoRail messages go out
 * as `{"type":"event","watch":N,"event":...}` on the connection's socket.
 */
class WatchSocket extends EventTarget implements RailSocket {
  #socket: WebSocket;
  #prefix: string;
  #send: (text: string) => void;
  #closed = false;

  constructor(socket: WebSocket, watch: number, send: (text: string) => void) {
    super();
    this.#socket = socket;
    this.#prefix = `{"type":"event","watch":${watch},"event":`;
    this.#send = send;
  }

  get readyState(): number {
    return this.#closed ? 3 : this.#socket.readyState;
  }

  get bufferedAmount(): number {
    return this.#socket.bufferedAmount;
  }

  send(text: string): void {
    if (!this.#closed) this.#send(`${this.#prefix}${text}}`);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.dispatchEvent(new Event("close"));
  }

  request(text: string): void {
    this.dispatchEvent(new MessageEvent("message", { data: text }));
  }
}

/** One `pow.v2` connection. */
class V2Connection {
  #socket: WebSocket;
  #context: FrontEndContext;
  #caller: Caller;
  #onDone: () => void;
  #channels = new Map<number, Channel>();
  #watches = new Map<number, WatchConnection>();
  #closed = false;
  /** Channel ids reserved while a cluster lookup runs. */
  #pending = new Set<number>();
  #maxMessageSize: number;
  #stdinCredit: number;
  #maxChannels: number;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  /** When the connection last had a message or became idle (`performance.now()`). */
  #idleSince = 0;
  /** The processes this connection provides and the calls it serves (`provide`). */
  #provider: ProviderConnection;

  constructor(
    socket: WebSocket,
    context: FrontEndContext,
    caller: Caller,
    reserved: ReadonlySet<string>,
    onDone: () => void,
  ) {
    this.#socket = socket;
    this.#context = context;
    this.#caller = caller;
    this.#onDone = onDone;
    const { config } = context;
    this.#maxMessageSize = config.v2.maxMessage;
    this.#stdinCredit = Math.min(DEFAULT_STDIN_CREDIT, config.sessions.maxPendingInput);
    this.#maxChannels = config.limits.sessionsPerConnection;
    this.#provider = new ProviderConnection({
      caller,
      send: (message) => this.#send(message),
      sendBinary: (bytes) => this.#sendBinary(bytes),
      drained: () => this.#drained(),
      isBound: (id) => this.#channels.has(id) || this.#pending.has(id),
    }, {
      catalogue: context.manager,
      reserved,
      config: config.provide,
      outputCredit: this.#stdinCredit,
      maxFrame: Math.min(config.pow1.maxFrame, this.#maxMessageSize - DATA_FRAME_HEADER_SIZE),
    });
    socket.binaryType = "arraybuffer";
    socket.onopen = () => {
      this.#send({
        type: "hello",
        protocol: V2_SUBPROTOCOL,
        server: SERVER_NAME,
        maxMessageSize: this.#maxMessageSize,
        stdinCredit: this.#stdinCredit,
        lingerMs: config.sessions.linger,
        maxChannels: this.#maxChannels,
        inline: true,
      });
      this.#armIdle();
    };
    socket.onmessage = (event) => this.#message(event.data);
    socket.onclose = () => this.#gone();
    socket.onerror = () => {};
  }

  /** Closes the connection with 1001 (server shutting down); sessions linger. */
  abort(): void {
    this.#close(1001, "server shutting down");
  }

  // -------------------------------------------------------------------------
  // Incoming

  #message(data: unknown): void {
    if (this.#closed) return;
    this.#armIdle();
    if (oversize(data, this.#maxMessageSize) !== undefined) {
      return this.#close(1009, MESSAGE_TOO_BIG_REASON);
    }
    if (typeof data === "string") {
      const parsed = parseClientMessage(data);
      if (!parsed.ok) return this.#error(parsed.error);
      try {
        this.#control(parsed.value);
      } catch (error) {
        this.#internal(error, parsed.value);
      }
      return;
    }
    const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : data as Uint8Array;
    if (bytes.byteLength > this.#maxMessageSize) return this.#close(1009, MESSAGE_TOO_BIG_REASON);
    // A provider also sends stdout and stderr: the output of the calls it serves.
    let frame = decodeDataFrame(bytes);
    if (frame.ok && frame.value.kind !== "stdin") {
      if (this.#provider.has(frame.value.id)) return this.#provider.output(frame.value);
      frame = decodeDataFrame(bytes, { from: "client" });
    }
    if (!frame.ok) return this.#error(frame.error);
    try {
      this.#stdin(frame.value);
    } catch (error) {
      this.#internal(error, { id: frame.value.id });
    }
  }

  #control(message: ClientMessage): void {
    switch (message.type) {
      case "start":
        return void this.#start(message).catch((error) => this.#internal(error, message));
      case "attach":
        return this.#attach(message);
      case "list":
        return void listSessionInfos(this.#context.manager, this.#caller).then(
          (sessions) => this.#send({ type: "sessions", ref: message.ref, sessions }),
          (error) =>
            this.#error({
              code: "internal",
              message: `Cannot list sessions: ${(error as Error).message}`,
              ref: message.ref,
            }),
        );
      case "processes": {
        const { manager } = this.#context;
        return this.#send({
          type: "processes",
          ref: message.ref,
          processes: listProcessInfos(manager, this.#caller),
        });
      }
      case "ping":
        return this.#send({ type: "pong", ref: message.ref });
      case "provide":
        this.#provider.provide(message);
        return this.#armIdle();
      case "exit":
        if (this.#provider.exit(message)) return;
        return this.#error({
          code: "unknown_id",
          message: `Channel id ${message.id} is not a call this connection serves`,
          id: message.id,
          ref: message.ref,
        });
      case "watch":
        return this.#watch(message);
      case "unwatch": {
        const watch = this.#watches.get(message.watch);
        if (!watch) {
          return this.#error({
            code: "unknown_id",
            message: `Watch id ${message.watch} is not in use`,
            ref: message.ref,
          });
        }
        this.#watches.delete(message.watch);
        watch.close();
        return this.#armIdle();
      }
      case "credit":
        if (this.#provider.has(message.id)) return this.#provider.credit(message.id, message.bytes);
    }
    const channel = this.#channels.get(message.id);
    if (!channel) {
      return this.#error({
        code: "unknown_id",
        message: `Channel id ${message.id} is not bound`,
        id: message.id,
        ref: message.ref,
      });
    }
    const { session } = channel;
    const fail = (code: ErrorCode, text: string) =>
      this.#reply(
        channel,
        toErrorMessage({ code, message: text, id: channel.id, ref: message.ref }),
      );
    const ok = () => {
      if (message.ref !== undefined) {
        this.#reply(channel, { type: "ok", id: channel.id, ref: message.ref });
      }
    };
    switch (message.type) {
      case "detach":
        this.#unbind(channel);
        return this.#reply(channel, { type: "detached", id: channel.id, ref: message.ref }, true);
      case "eof":
        session.closeInput();
        return ok();
      case "signal":
        if (!applySignal(session, message.signal)) {
          return fail(
            "unsupported",
            `Cannot send "${message.signal}" to session "${session.id}": its runner cannot deliver it`,
          );
        }
        return ok();
      case "resize":
        if (!session.pty) {
          return fail("not_pty", `Cannot resize session "${session.id}": it has no terminal`);
        }
        session.resize(message.cols, message.rows);
        return ok();
      case "credit":
        channel.credit = Math.min(MAX_OFFSET, channel.credit + message.bytes);
        channel.confirmed = Math.min(MAX_OFFSET, channel.confirmed + message.bytes);
        channel.reader.hold(channel.confirmed);
        channel.wake?.();
        return;
    }
  }

  /** A watch of a resource channel, with the watch kit (as MonoRail's `watch`). */
  #watch(message: WatchMessage): void {
    const { watch, ref } = message;
    if (this.#watches.has(watch)) {
      return this.#error({
        code: "duplicate_id",
        message: `Watch id ${watch} is already in use`,
        ref,
      });
    }
    const { manager, config } = this.#context;
    let channel;
    try {
      channel = openChannel(
        message.channel,
        { manager, admins: config.monorail.admins },
        this.#caller,
      );
    } catch (error) {
      if (!(error instanceof ChannelError)) throw error;
      return this.#error({ code: "not_allowed", message: error.message, ref });
    }
    if (!channel) {
      return this.#error({
        code: "bad_message",
        message:
          `Unknown channel "${message.channel}": expected processes, sessions, logs, server or topics/<name>`,
        ref,
      });
    }
    const socket = new WatchSocket(this.#socket, watch, (text) => this.#sendText(text));
    const host: ConnectionHost = {
      manager,
      queue: config.monorail.queue,
      newId: newSessionId,
      take: () => undefined,
      named() {},
      dropped: (connection) => connection.forget(),
    };
    const connection = new WatchConnection(socket, message.channel, channel, this.#caller, host);
    this.#watches.set(watch, connection);
    socket.request(JSON.stringify({ handler: "watch", params: message.params ?? {} }));
  }

  async #start(message: Extract<ClientMessage, { type: "start" }>): Promise<void> {
    const { id, ref } = message;
    if (!this.#canBind(id, ref)) return;
    let session: Session;
    try {
      session = this.#context.manager.start(message.name, message.params, {
        caller: this.#caller,
        pty: message.pty ? { cols: message.cols ?? 80, rows: message.rows ?? 24 } : undefined,
        trace: message.traceparent === undefined
          ? undefined
          : message.tracestate === undefined
          ? { traceparent: message.traceparent }
          : { traceparent: message.traceparent, tracestate: message.tracestate },
      });
    } catch (error) {
      if (!(error instanceof CallError)) throw error;
      return this.#error({ code: error.code, message: error.message, id, ref });
    }
    const channel = this.#bind(id, session, 0, message.credit);
    // `started` says the process was spawned (it carries the pid): wait for that. A function
    // process is running at once; a quick one ends within this event-loop turn, and then its
    // `started`, output and `exit` go out together, without an output pump.
    if (session.state === "starting") await session.started;
    if (!session.ended && session.definition.kind === "function") await quickEnd(session);
    if (message.inline && this.#inline(channel, ref)) return;
    this.#announce(channel, {
      type: "started",
      id,
      ref,
      session: session.id,
      pid: session.pid,
      pty: session.pty,
    });
  }

  /**
   * Answers a `start` with `inline: true` by one `exit` carrying `started`'s fields and the
   * output, when the session has ended, nothing waits to be sent on the channel and the whole
   * output fits its credit and one data frame.
   *
   * @returns Whether it did.
   */
  #inline(channel: Channel, ref: Ref | undefined): boolean {
    const { session, reader } = channel;
    const result = session.outcome;
    const { log } = session;
    if (
      result === undefined || !log.closed || channel.closed || channel.backlog.length > 0 ||
      log.start > 0 || reader.offset > 0 || log.end > Math.min(channel.credit, this.#maxFrame)
    ) return false;
    // All of it: the log still holds it from offset 0, and it fits.
    const chunks = reader.readAvailable();
    channel.announced = true;
    this.#unbind(channel);
    this.#send({
      type: "exit",
      id: channel.id,
      ref,
      session: session.id,
      pid: session.pid,
      pty: session.pty,
      offset: log.end,
      output: encodeInlineOutput(coalesce(chunks)),
      result: toProcessResult(result),
    });
    this.#delivered(session);
    return true;
  }

  #attach(message: Extract<ClientMessage, { type: "attach" }>): void {
    const { id, ref } = message;
    if (!this.#canBind(id, ref)) return;
    const local = this.#context.manager.get(message.session, this.#caller);
    if (!local && this.#context.manager.node !== undefined) {
      // Cluster mode: the session may run on another node. The id is reserved meanwhile.
      this.#pending.add(id);
      void this.#context.manager.find(message.session, this.#caller).then(
        (remote) => {
          this.#pending.delete(id);
          if (!this.#closed) this.#attachTo(message, remote);
        },
        (error) => {
          this.#pending.delete(id);
          this.#error({
            code: "internal",
            message: `Cannot attach to session "${message.session}": ${(error as Error).message}`,
            id,
            ref,
          });
        },
      );
      return;
    }
    this.#attachTo(message, local);
  }

  #attachTo(
    message: Extract<ClientMessage, { type: "attach" }>,
    session: SessionHandle | undefined,
  ): void {
    const { id, ref } = message;
    if (!session) {
      return this.#error({
        code: "unknown_session",
        message: `Cannot attach to session "${message.session}": no such session`,
        id,
        ref,
      });
    }
    const requested = message.offset ?? 0;
    const { log } = session;
    if (requested > log.end) {
      return this.#error({
        code: "bad_offset",
        message:
          `Cannot attach to session "${session.id}" at offset ${requested}: its output has only ${log.end} bytes`,
        id,
        ref,
      });
    }
    const offset = Math.max(requested, log.start);
    const channel = this.#bind(id, session, offset, message.credit);
    this.#announce(channel, {
      type: "attached",
      id,
      ref,
      session: session.id,
      name: session.name,
      state: session.state,
      pid: session.pid,
      pty: session.pty,
      offset,
      skipped: offset - requested,
      stdinOffset: session.inputOffset,
      stdinClosed: session.inputClosed,
    });
  }

  #canBind(id: number, ref: Ref | undefined): boolean {
    if (this.#channels.has(id) || this.#pending.has(id) || this.#provider.has(id)) {
      this.#error({ code: "duplicate_id", message: `Channel id ${id} is already in use`, id, ref });
      return false;
    }
    if (this.#channels.size >= this.#maxChannels) {
      this.#error({
        code: "limit_reached",
        message:
          `Cannot bind channel ${id}: the connection already has ${this.#maxChannels} channels`,
        id,
        ref,
      });
      return false;
    }
    return true;
  }

  #stdin(frame: DataFrame): void {
    const channel = this.#channels.get(frame.id);
    if (!channel) {
      return this.#error({
        code: "unknown_id",
        message: `Channel id ${frame.id} is not bound`,
        id: frame.id,
      });
    }
    const { session } = channel;
    const fail = (code: ErrorCode, text: string) =>
      this.#reply(channel, toErrorMessage({ code, message: text, id: channel.id }));
    let data = frame.data;
    const n = data.byteLength;
    if (n > channel.stdinCredit) {
      session.closeInput();
      return fail(
        "credit_exceeded",
        `Cannot take ${n} stdin bytes on channel ${channel.id}: only ${channel.stdinCredit} granted; stdin is closed`,
      );
    }
    channel.stdinCredit -= n;
    if (session.inputClosed || session.ended) {
      this.#grantStdin(channel, n);
      return fail("stdin_closed", `Cannot write to session "${session.id}": stdin is closed`);
    }
    const received = session.inputOffset;
    if (frame.offset !== -1) {
      if (frame.offset > received) {
        this.#grantStdin(channel, n);
        return fail(
          "bad_offset",
          `Cannot write stdin at offset ${frame.offset}: session "${session.id}" has received ${received} bytes`,
        );
      }
      const seen = Math.min(n, received - frame.offset);
      if (seen > 0) {
        this.#grantStdin(channel, seen);
        data = data.subarray(seen);
      }
    }
    if (data.byteLength === 0) return;
    const size = data.byteLength;
    channel.stdinPending++;
    // The frame's buffer is not reused by the WebSocket: no copy needed.
    session.write(data).then(
      () => {
        channel.stdinPending--;
        this.#grantStdin(channel, size);
      },
      (error) => {
        channel.stdinPending--;
        this.#grantStdin(channel, size);
        if (error instanceof RangeError) {
          fail("limit_reached", error.message);
        } else {
          fail("stdin_closed", (error as Error).message);
        }
      },
    );
  }

  /** Returns stdin credit as the process takes input, in batches. */
  #grantStdin(channel: Channel, bytes: number): void {
    channel.stdinToGrant += bytes;
    // An empty frame gives nothing back: `credit` grants at least 1 byte.
    if (channel.closed || channel.stdinToGrant === 0) return;
    if (channel.stdinToGrant >= this.#stdinCredit / 4 || channel.stdinPending === 0) {
      const granted = channel.stdinToGrant;
      channel.stdinToGrant = 0;
      channel.stdinCredit += granted;
      this.#reply(channel, { type: "credit", id: channel.id, bytes: granted });
    }
  }

  // -------------------------------------------------------------------------
  // Channels and output

  #bind(
    id: number,
    session: SessionHandle,
    offset: number,
    credit: number | undefined,
  ): Channel {
    const channel: Channel = {
      id,
      session,
      closed: false,
      announced: false,
      backlog: [],
      credit: credit ?? DEFAULT_CREDIT,
      wake: undefined,
      reader: session.reader({ offset }),
      confirmed: offset,
      reportedSkipped: 0,
      stdinCredit: this.#stdinCredit,
      stdinToGrant: 0,
      stdinPending: 0,
      detach: session.attach(),
    };
    channel.reader.hold(offset);
    // A connection with a channel is busy: its idle time starts again when the last one unbinds.
    this.#channels.set(id, channel);
    return channel;
  }

  /**
   * Sends `started` or `attached`, then what waited for it (e.g. `detached`), then starts the
   * output pump unless the channel was already unbound.
   */
  #announce(channel: Channel, message: ServerMessage): void {
    channel.announced = true;
    this.#send(message);
    for (const text of channel.backlog) this.#sendText(text);
    channel.backlog = [];
    if (channel.closed || this.#finish(channel)) return;
    this.#pump(channel).catch((error) => {
      console.error(`pow.v2: output of channel ${channel.id} failed:`, error);
      if (!channel.closed) {
        this.#unbind(channel);
        this.#error({ code: "internal", message: "Internal server error", id: channel.id });
      }
    });
  }

  /** Unbinds a channel: its reader stops holding the process back, the session may linger. */
  #unbind(channel: Channel): void {
    if (channel.closed) return;
    channel.closed = true;
    if (this.#channels.get(channel.id) === channel) this.#channels.delete(channel.id);
    channel.reader.close();
    channel.detach();
    channel.wake?.();
    this.#armIdle();
  }

  /** The largest output payload of one data frame. */
  get #maxFrame(): number {
    return Math.min(
      this.#context.config.v2.maxFrame,
      this.#maxMessageSize - DATA_FRAME_HEADER_SIZE,
    );
  }

  /**
   * Finishes a channel whose session has already ended in one go, without the output pump: sends
   * what the credit allows of the output and, if that was all of it, `exit`.
   *
   * @returns `true` when the channel is done, `false` when the pump must take over.
   */
  #finish(channel: Channel): boolean {
    const { session, reader } = channel;
    const result = session.outcome;
    if (result === undefined || !session.log.closed) return false;
    const maxFrame = this.#maxFrame;
    while (channel.credit > 0 && reader.offset < session.log.end) {
      if (this.#socket.bufferedAmount > SOCKET_HIGH_WATER) return false;
      const chunks = reader.readAvailable(Math.min(channel.credit, maxFrame));
      if (chunks.length === 0) break;
      this.#output(channel, chunks);
    }
    if (reader.offset < session.log.end) return false;
    this.#exit(channel, result);
    return true;
  }

  /** Unbinds a channel whose output was all sent and sends its `exit`. */
  #exit(channel: Channel, result: SessionResult): void {
    this.#unbind(channel);
    this.#send({
      type: "exit",
      id: channel.id,
      session: channel.session.id,
      offset: channel.session.log.end,
      result: toProcessResult(result),
    });
    this.#delivered(channel.session);
  }

  /** Records a session's result as delivered when its `exit` went to an open connection. */
  #delivered(session: SessionHandle): void {
    if (this.#open) session.markDelivered();
  }

  async #pump(channel: Channel): Promise<void> {
    const { session, reader } = channel;
    const maxFrame = this.#maxFrame;
    const ended = session.result.then(() => {});
    while (!channel.closed) {
      if (channel.credit <= 0) {
        if (session.log.closed && reader.offset >= session.log.end) break;
        await Promise.race([
          new Promise<void>((resolve) => channel.wake = resolve),
          // The log closes when the session ends: check again for the end of output then.
          reader.offset >= session.log.end ? ended : new Promise(() => {}),
        ]);
        channel.wake = undefined;
        continue;
      }
      await this.#drained();
      if (channel.closed) return;
      const maxBytes = Math.min(channel.credit, maxFrame);
      // Output already waiting needs no wait that credit or an unbind could interrupt.
      let chunks: OutputChunk[] | null = reader.readAvailable(maxBytes);
      // A wait for output needs no wake-up: an unbind closes the reader (the read returns
      // `null`), and credit that arrives meanwhile is used by the next read.
      if (chunks.length === 0) {
        chunks = await reader.read({ maxBytes });
        if (channel.closed) return;
      }
      if (chunks === null) break;
      this.#output(channel, chunks);
    }
    if (channel.closed) return;
    const result = await session.result;
    if (channel.closed) return;
    this.#exit(channel, result);
  }

  /** Sends chunks as data frames, one per run of the same stream (coalesced). */
  #output(channel: Channel, chunks: OutputChunk[]): void {
    // The log keeps what the client has not confirmed, but never more than `sessions.maxHeld`
    // bytes of it, whatever credit the client claims: older unconfirmed bytes may be evicted
    // (a reattach from there is told `skipped`, never silently).
    const maxHeld = this.#context.config.sessions.maxHeld;
    const sent = chunks.at(-1);
    const end = sent ? sent.offset + sent.data.byteLength : 0;
    if (end - channel.confirmed > maxHeld) channel.reader.hold(end - maxHeld);
    const skipped = channel.reader.skipped;
    if (skipped > channel.reportedSkipped && chunks.length > 0) {
      this.#send({
        type: "gap",
        id: channel.id,
        offset: chunks[0].offset,
        skipped: skipped - channel.reportedSkipped,
      });
      channel.reportedSkipped = skipped;
    }
    // A large chunk with room for the header goes alone and in place (see `runs`).
    for (const run of runs(chunks, Infinity, { header: DATA_FRAME_HEADER_SIZE })) {
      const first = run[0];
      const header = { kind: first.stream, id: channel.id, offset: first.offset };
      let frame: Uint8Array<ArrayBuffer>;
      if (run.length === 1 && headroom(first.data) >= DATA_FRAME_HEADER_SIZE) {
        // The runner left room in front of the bytes: the header goes there, no copy. `send`
        // copies the frame before it returns, so other readers of the chunk can do the same.
        const { buffer, byteOffset, byteLength } = first.data;
        const start = byteOffset - DATA_FRAME_HEADER_SIZE;
        frame = new Uint8Array(buffer as ArrayBuffer, start, DATA_FRAME_HEADER_SIZE + byteLength);
      } else {
        let size = 0;
        for (const chunk of run) size += chunk.data.byteLength;
        frame = new Uint8Array(DATA_FRAME_HEADER_SIZE + size);
        let at = DATA_FRAME_HEADER_SIZE;
        for (const chunk of run) {
          frame.set(chunk.data, at);
          at += chunk.data.byteLength;
        }
      }
      writeDataFrameHeader(frame, header);
      channel.credit -= frame.byteLength - DATA_FRAME_HEADER_SIZE;
      this.#sendBinary(frame);
    }
    // Sent (`send` copied every frame): the log may reuse the buffers once it evicts them.
    channel.reader.release?.(chunks);
  }

  /** Waits while the socket has more than {@linkcode SOCKET_HIGH_WATER} bytes queued. */
  #drained(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return drained(this.#socket, SOCKET_HIGH_WATER);
  }

  // -------------------------------------------------------------------------
  // Outgoing

  /**
   * Sends a message about a channel: held back until `started` or `attached` went out. With
   * `last`, it is sent even though the channel was just unbound (`detached`).
   */
  #reply(channel: Channel, message: ServerMessage, last = false): void {
    if (channel.closed && !last) return;
    if (channel.announced) this.#send(message);
    else channel.backlog.push(encodeMessage(message));
  }

  #error(error: ErrorInfo): void {
    this.#send(toErrorMessage(error));
  }

  #internal(error: unknown, about: { id?: number; ref?: Ref }): void {
    console.error("pow.v2: internal error:", error);
    this.#error({
      code: "internal",
      message: "Internal server error",
      ...(about.id !== undefined ? { id: about.id } : {}),
      ...(about.ref !== undefined ? { ref: about.ref } : {}),
    });
  }

  /** Whether frames still go out: the connection is neither closed by pow nor by the peer. */
  get #open(): boolean {
    return !this.#closed && this.#socket.readyState === WebSocket.OPEN;
  }

  #send(message: ServerMessage): void {
    this.#sendText(encodeMessage(message));
  }

  #sendText(text: string): void {
    if (!this.#open) return;
    this.#socket.send(text);
  }

  #sendBinary(bytes: Uint8Array<ArrayBuffer>): void {
    if (!this.#open) return;
    this.#socket.send(bytes);
  }

  // -------------------------------------------------------------------------
  // Lifetime

  /**
   * Closes the connection after `limits.idleTimeout` without channels or messages. Called on
   * every message and whenever the connection may have become idle: it only notes the time, and
   * arms a timer if none is running (no timer per message); the timer checks when it fires.
   */
  #armIdle(): void {
    const idle = this.#context.config.limits.idleTimeout;
    // Without an idle timeout (the default) there is nothing to note: no clock read per message.
    if (!(idle > 0)) return;
    this.#idleSince = performance.now();
    if (this.#idleTimer !== undefined || this.#closed || this.#busy) return;
    this.#idleTimer = setTimeout(() => this.#idleCheck(), idle);
  }

  #idleCheck(): void {
    this.#idleTimer = undefined;
    // A busy connection is checked again once it may be idle (the next `#armIdle`).
    const idle = this.#context.config.limits.idleTimeout;
    if (this.#closed || this.#busy || !(idle > 0)) return;
    const left = this.#idleSince + idle - performance.now();
    if (left > 0) {
      this.#idleTimer = setTimeout(() => this.#idleCheck(), Math.ceil(left));
      return;
    }
    this.#close(4000, "idle timeout");
  }

  /** Whether the connection has channels, provided processes or watches (never idle then). */
  get #busy(): boolean {
    return this.#channels.size > 0 || this.#provider.active || this.#watches.size > 0;
  }

  #close(code: number, reason: string): void {
    if (this.#closed) return;
    try {
      this.#socket.close(code, reason);
    } catch {
      // already closing
    }
    this.#gone();
  }

  /** The connection is gone: detach every channel (their sessions linger), never cancel. */
  #gone(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#idleTimer);
    for (const channel of [...this.#channels.values()]) this.#unbind(channel);
    this.#provider.close();
    for (const watch of this.#watches.values()) watch.close();
    this.#watches.clear();
    this.#onDone();
  }
}
