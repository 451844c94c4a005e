/**
 * The pow-1 WebSocket front end, wire-compatible with the original Process Over WebSocket
 * server: binary frames carry JSON control messages (the call, the `close` and `cancel`
 * signals, the result), text frames carry the process's input and output.
 *
 * The adapter only translates frames into calls on the {@linkcode SessionManager} and its
 * {@linkcode Session}s. What it adds on the wire is documented in `docs/pow1.md`:
 *
 * - output is one text frame per process write while the client keeps up; when frames back
 *   up, what is waiting is coalesced into frames of at most `pow1.maxFrame` bytes, in order,
 *   never splitting a UTF-8 character (invalid UTF-8 becomes U+FFFD);
 * - input messages over `pow1.maxMessage` bytes close the connection with 1009;
 * - the close frame after the result waits until the client has been quiet for
 *   {@linkcode CLOSE_QUIET_MS} (see {@linkcode pow1WebSocket}), because a `Deno.serve`
 *   WebSocket that receives a data frame after sending its close frame drops the connection
 *   and the client sees an abnormal close instead of 1000.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import {
  POW1_NO_SUBPROTOCOL_BODY,
  POW1_REASON_PROTOCOL_ERROR,
  POW1_REASON_TIMEOUT,
  POW1_SUBPROTOCOL,
  type Pow1Result,
  readPow1Call,
  readPow1Signal,
} from "@pow/protocol";
import {
  ConnectionSet,
  oversize,
  pumpOutput,
  StreamDecoders,
  upgradeParameters,
} from "../_kit/mod.ts";
import { CallError } from "../../errors.ts";
import type { FrontEnd, FrontEndContext, FrontEndFactory } from "../../front_end.ts";
import { pow1ConfigSection } from "./config.ts";
import type { Caller } from "../../process.ts";
import type { Session } from "../../session.ts";
import type { OutputReader } from "../../output_log.ts";
import { pow1CallErrorReason, pow1Result } from "./_results.ts";

/**
 * Milliseconds the client must have been silent before the server sends its close frame
 * after the result (frames the client sent before it saw the result are still arriving).
 */
export const CLOSE_QUIET_MS = 100;

/** The longest the close frame is held back for a client that keeps sending. */
export const CLOSE_WAIT_MAX_MS = 2000;

/** The most input bytes handed to a session in one write: what a Linux pipe holds. */
export const INPUT_PIECE = 64 * 1024;

/** The reason sent for malformed control frames. */
export const PROTOCOL_ERROR: string = POW1_REASON_PROTOCOL_ERROR;

const encoder = new TextEncoder();

/**
 * The pow-1 WebSocket front end: accepts upgrades offering the `pow-1` subprotocol on any path
 * under the base path.
 *
 * @example Run `echo` over a real WebSocket
 * ```ts
 * import { createServer, defaultConfig, listen } from "../../../mod.ts";
 * import { pow1WebSocket } from "./ws.ts";
 * import assert from "node:assert/strict";
 *
 * const config = defaultConfig();
 * config.server.port = 0;
 * const running = await listen(createServer(config, { frontEnds: [pow1WebSocket] }), {
 *   onListen() {},
 * });
 * const ws = new WebSocket(new URL("ws", running.url.href.replace("http", "ws")), ["pow-1"]);
 * ws.binaryType = "arraybuffer";
 * const frames: string[] = [];
 * ws.onmessage = (e) =>
 *   frames.push(typeof e.data === "string" ? e.data : new TextDecoder().decode(e.data));
 * ws.onopen = () => {
 *   ws.send(new TextEncoder().encode('{"call":"echo","params":["a"]}'));
 *   ws.send("hi");
 *   ws.send(new TextEncoder().encode('{"signal":"close"}'));
 * };
 * const code = await new Promise((resolve) => (ws.onclose = (e) => resolve(e.code)));
 * assert.deepEqual(frames, ["hi", '{"status":"fulfilled","value":["a"]}']);
 * assert.equal(code, 1000);
 * await running.shutdown();
 * ```
 *
 * @param context The server's shared services.
 * @returns The front end.
 */
export const pow1WebSocket: FrontEndFactory = (context: FrontEndContext): FrontEnd => {
  const connections = new ConnectionSet<Pow1Connection>();
  return {
    name: "pow-1",
    // The original pow-1 server's refusal of an upgrade without its subprotocol, byte for byte.
    refuseUpgrade: () =>
      new Response(POW1_NO_SUBPROTOCOL_BODY, {
        status: 403,
        headers: { "content-type": "text/plain; charset=utf-8" },
      }),
    subprotocols: [POW1_SUBPROTOCOL],
    // After pow.v2 (0) when a client offers both.
    preference: 1,
    upgrade(request: Request, _protocol: string, caller: Caller): Response {
      const upgraded = context.upgradeWebSocket(request, { protocol: POW1_SUBPROTOCOL });
      connections.add(
        new Pow1Connection(upgraded.socket, context, caller, connections),
      );
      return upgraded.response;
    },
    openapi: {
      "/": {
        get: {
          summary: "Run a process over WebSocket (pow-1)",
          description:
            "Upgrades to a WebSocket with the `pow-1` subprotocol; any path under the base path " +
            'is accepted. The first binary frame is the call `{"call": name, "params": [...]}`; ' +
            'text frames are input and output; binary `{"signal":"close"}` closes input and ' +
            '`{"signal":"cancel"}` cancels. The server ends with one binary result frame ' +
            "and a close frame 1000. See docs/pow1.md.",
          tags: ["pow-1 WebSocket"],
          parameters: upgradeParameters("Must offer `pow-1`", POW1_SUBPROTOCOL),
          responses: {
            "101": {
              description:
                "Switching protocols; the server answers `Sec-WebSocket-Protocol: pow-1`",
            },
            "403": {
              description:
                "The client did not offer `pow-1`, or its `Origin` does not match `Host`",
              content: {
                "text/plain": {
                  schema: {
                    type: "string",
                    example: POW1_NO_SUBPROTOCOL_BODY,
                  },
                },
              },
            },
          },
        },
      },
    },
    close() {
      connections.close();
      Pow1Connection.sweep();
    },
  };
};

pow1WebSocket.config = pow1ConfigSection;

/** No input yet: the queue of a connection before its first input (never added to). */
const NO_INPUT: Uint8Array[] = [];

/** Connections that wait for their call with the same deadline length, oldest first. */
interface WaitList {
  readonly ms: number;
  head: Pow1Connection | undefined;
  tail: Pow1Connection | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/**
 * One pow-1 WebSocket connection.
 *
 * Most connections of a busy server may be idle (no call yet), so what one holds before its
 * call is kept small: the connection is its socket's event listener itself (no closures per
 * connection), waiting connections share one call-deadline timer, and the caller with `via` and
 * the output decoders are made only when needed.
 */
class Pow1Connection {
  #socket: WebSocket;
  #context: FrontEndContext;
  /** The authenticated caller, without `via` (added when the call starts). */
  #caller: Caller;
  /** The front end's open connections; this one leaves it when closed. */
  #connections: ConnectionSet<Pow1Connection>;
  #phase: "waiting" | "running" | "ending" | "closed" = "waiting";
  #session: Session | undefined;
  #detach: (() => void) | undefined;
  #reader: OutputReader | undefined;
  /** Input received and not yet handed to the session, in order (shared and empty until some). */
  #queue: Uint8Array[] = NO_INPUT;
  /** Its size in bytes, with the piece being written. */
  #queued = 0;
  /** A write to the session is in flight: later input waits in the queue. */
  #writing = false;
  /** The client closed input: the session's input is closed once the queue is written. */
  #closeAfterQueue = false;
  #inputClosed = false;
  #cancels = 0;
  #lastFrameAt = Date.now();
  /** The close-quiet timer, once the result is out. */
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** While the connection waits for its call: the list it waits in, its neighbours there. */
  #waiting: WaitList | undefined;
  #prev: Pow1Connection | undefined;
  #next: Pow1Connection | undefined;
  /** When the call deadline passes (`performance.now()` milliseconds). */
  #deadlineAt = 0;

  constructor(
    socket: WebSocket,
    context: FrontEndContext,
    caller: Caller,
    connections: ConnectionSet<Pow1Connection>,
  ) {
    this.#socket = socket;
    this.#context = context;
    this.#caller = caller;
    this.#connections = connections;
    socket.binaryType = "arraybuffer";
    // No error listener: an error event is always followed by the close event, and one nobody
    // listens to is dropped (Deno 2.9: no uncaught error); a listener costs ~0.2 KiB per socket.
    socket.addEventListener("message", this);
    socket.addEventListener("close", this);
    this.#wait(context.config.pow1.callDeadline);
  }

  /**
   * Connections waiting for their call, by deadline length (one unless a reload changed it).
   * A timer per connection costs ~0.5 KiB of heap; instead each list is in deadline order
   * (its members arrived in order and wait equally long) and has one timer, for its oldest.
   */
  static #waitLists = new Map<number, WaitList>();

  /** Joins the list of connections that must call within `ms`. */
  #wait(ms: number): void {
    let list = Pow1Connection.#waitLists.get(ms);
    if (list === undefined) {
      list = { ms, head: undefined, tail: undefined, timer: undefined };
      Pow1Connection.#waitLists.set(ms, list);
    }
    this.#deadlineAt = performance.now() + ms;
    this.#waiting = list;
    this.#prev = list.tail;
    if (list.tail) list.tail.#next = this;
    else list.head = this;
    list.tail = this;
    if (list.timer === undefined) Pow1Connection.#arm(list);
  }

  /** Leaves its wait list (the call came, or the connection ended). */
  #unwait(): void {
    const list = this.#waiting;
    if (list === undefined) return;
    this.#waiting = undefined;
    if (this.#prev) this.#prev.#next = this.#next;
    else list.head = this.#next;
    if (this.#next) this.#next.#prev = this.#prev;
    else list.tail = this.#prev;
    this.#prev = this.#next = undefined;
    // An emptied list keeps its timer: the next connection (connection per call) usually comes
    // before it fires, and a timer costs more to make than to let fire once with nothing to do.
  }

  /** Drops the timers of lists nobody waits in (the front end closes). */
  static sweep(): void {
    for (const list of Pow1Connection.#waitLists.values()) {
      if (list.head !== undefined) continue;
      clearTimeout(list.timer);
      Pow1Connection.#waitLists.delete(list.ms);
    }
  }

  static #arm(list: WaitList): void {
    const delay = Math.max(0, list.head!.#deadlineAt - performance.now());
    list.timer = setTimeout(Pow1Connection.#expire, delay, list);
  }

  /** A list's timer fired: every connection whose call deadline passed is rejected. */
  static #expire(list: WaitList): void {
    list.timer = undefined;
    const now = performance.now();
    while (list.head !== undefined && list.head.#deadlineAt <= now) {
      const connection = list.head;
      connection.#unwait();
      if (connection.#phase === "waiting") {
        connection.#finish({ status: "rejected", reason: POW1_REASON_TIMEOUT });
      }
    }
    if (list.head !== undefined) Pow1Connection.#arm(list);
    else Pow1Connection.#waitLists.delete(list.ms);
  }

  /** The socket's events (the connection is its own listener). */
  handleEvent(event: Event): void {
    if (event.type === "message") this.#message((event as MessageEvent).data);
    else if (event.type === "close") this.#closed();
  }

  /** Drops the connection without a result (server shutdown). */
  abort(): void {
    if (this.#phase === "closed") return;
    try {
      this.#socket.close(1001, "server shutting down");
    } catch {
      // already closed
    }
    this.#closed();
  }

  #message(data: unknown): void {
    this.#lastFrameAt = Date.now();
    if (this.#phase === "ending" || this.#phase === "closed") return;
    const max = this.#context.config.pow1.maxMessage;
    const size = oversize(data, max);
    if (size !== undefined) {
      return this.#fail(1009, `message too big: ${size} bytes, the limit is ${max}`);
    }
    if (typeof data === "string") return this.#text(data);
    if (this.#phase === "waiting") return this.#call(data as ArrayBuffer);
    this.#signal(data as ArrayBuffer);
  }

  /**
   * Queues input for the process. pow-1 has no input flow control and a Deno WebSocket cannot
   * stop reading, so input that arrives faster than the process takes it waits here, up to
   * `pow1.maxPendingInput` bytes. See {@linkcode Pow1Connection.#flush} for how it is written.
   */
  #text(text: string): void {
    if (this.#phase !== "waiting" && (this.#inputClosed || !this.#session)) return;
    const limit = this.#context.config.pow1.maxPendingInput;
    const bytes = encoder.encode(text);
    if (this.#queued + bytes.byteLength > limit) {
      if (this.#phase === "waiting") {
        return this.#fail(1008, `too much input before the call: more than ${limit} bytes`);
      }
      return this.#overflow(limit);
    }
    this.#queued += bytes.byteLength;
    if (this.#queue === NO_INPUT) this.#queue = [];
    this.#queue.push(bytes);
    if (this.#phase === "running") this.#flush();
  }

  /**
   * Hands the next piece of queued input (at most {@linkcode INPUT_PIECE} bytes, small frames
   * joined) to the session, then closes input if the client asked and nothing is left.
   *
   * While a client keeps sending, Deno runs the WebSocket's receive loop without returning to
   * the event loop, and a pipe write that found the pipe full only resumes on the next
   * event-loop turn (tens of milliseconds apart under such load). A write that fits the pipe
   * completes at once, so pieces are pipe-sized and the next one is written on the next frame
   * received or the next turn, whichever comes first: the process has had time to read the
   * last one, and the queue drains about as fast as it fills.
   */
  #flush(): void {
    if (this.#writing) return;
    const session = this.#session!;
    if (this.#queue.length === 0 || this.#phase !== "running" || session.ended) {
      if (this.#closeAfterQueue && this.#queue.length === 0) {
        this.#closeAfterQueue = false;
        session.closeInput();
      }
      return;
    }
    const max = Math.min(INPUT_PIECE, this.#context.config.sessions.maxPendingInput);
    let piece = this.#queue[0];
    if (piece.byteLength >= max) {
      if (piece.byteLength > max) this.#queue[0] = piece.subarray(max);
      else this.#queue.shift();
      piece = piece.subarray(0, max);
    } else {
      let size = 0;
      let n = 0;
      while (n < this.#queue.length && size + this.#queue[n].byteLength <= max) {
        size += this.#queue[n++].byteLength;
      }
      if (n > 1) {
        piece = new Uint8Array(size);
        for (let i = 0, at = 0; i < n; at += this.#queue[i++].byteLength) {
          piece.set(this.#queue[i], at);
        }
      }
      this.#queue.splice(0, n);
    }
    this.#writing = true;
    const bytes = piece.byteLength;
    session.write(piece).then(
      () => {
        this.#queued -= bytes;
        this.#writing = false;
        if (this.#queue.length === 0) this.#flush();
        else setImmediate(() => this.#flush());
      },
      (error) => {
        this.#queued -= bytes;
        this.#writing = false;
        if (error instanceof RangeError && !session.ended) {
          session.cancel(`input overflow: ${error.message}`);
        }
      },
    );
  }

  #overflow(limit: number): void {
    const session = this.#session!;
    this.#inputClosed = true;
    this.#queue = NO_INPUT;
    this.#queued = 0;
    if (!session.ended) {
      session.cancel(
        `input overflow: more than ${limit} bytes of input waiting for the process (pow1.maxPendingInput)`,
      );
    }
  }

  /** Closes the process's input once the input queued before it has been written. */
  #closeInput(session: Session): void {
    this.#inputClosed = true;
    if (this.#writing || this.#queue.length > 0) this.#closeAfterQueue = true;
    else session.closeInput();
  }

  #call(data: ArrayBuffer): void {
    this.#unwait();
    const call = readPow1Call(data);
    if (!call) return void this.#finish({ status: "rejected", reason: PROTOCOL_ERROR });
    let session: Session;
    try {
      session = this.#context.manager.start(call.call, call.params ?? null, {
        caller: { ...this.#caller, via: "pow-1" },
      });
    } catch (error) {
      const reason = error instanceof CallError
        ? pow1CallErrorReason(error)
        : `unknown error: ${(error as Error)?.message ?? String(error)}`;
      return void this.#finish({ status: "rejected", reason });
    }
    this.#session = session;
    this.#phase = "running";
    this.#detach = session.attach();
    if (this.#queue.length > 0) this.#flush();
    this.#pump(session);
  }

  #signal(data: ArrayBuffer): void {
    const session = this.#session!;
    const signal = readPow1Signal(data);
    if (signal === "close" || (signal === "cancel" && this.#cancels > 0)) {
      this.#closeInput(session);
      if (signal === "cancel") this.#cancels++;
    } else if (signal === "cancel") {
      this.#cancels++;
      session.cancel();
    } else {
      session.cancel(PROTOCOL_ERROR);
    }
  }

  async #pump(session: Session): Promise<void> {
    const socket = this.#socket;
    const maxFrame = this.#context.config.pow1.maxFrame;
    const reader = this.#reader = session.reader();
    const decoders = new StreamDecoders();
    const send = (text: string) => {
      if (text) socket.send(text);
    };
    let ended: boolean;
    try {
      ended = await pumpOutput(socket, session, reader, (chunks, backlog) => {
        if (backlog) {
          // The client is behind: what was read goes out as one frame.
          let text = "";
          for (const chunk of chunks) text += decoders.decode(chunk.stream, chunk.data);
          send(text);
        } else {
          for (const chunk of chunks) send(decoders.decode(chunk.stream, chunk.data));
        }
        // Decoded (and sent): the log may reuse the buffers once it evicts them.
        reader.release?.(chunks);
      }, {
        maxBytes: maxFrame,
        // Frames queued beyond this mean the client is behind: small writes are coalesced.
        backedUp: maxFrame * 4,
        live: () => this.#phase === "running" && socket.readyState === WebSocket.OPEN,
      });
      // An incomplete character at the very end becomes U+FFFD.
      if (ended) send(decoders.end("stdout") + decoders.end("stderr"));
    } finally {
      reader.close();
    }
    if (!ended) return;
    const result = await session.result;
    if (this.#phase !== "running") return;
    // The result frame went to an open connection: the session may give way to new ones.
    if (this.#finish(pow1Result(result))) session.markDelivered();
  }

  /** Sends the result frame and closes once the client is quiet; `true` when it was sent. */
  #finish(result: Pow1Result): boolean {
    if (this.#phase === "ending" || this.#phase === "closed") return false;
    this.#phase = "ending";
    this.#unwait();
    clearTimeout(this.#timer);
    this.#release();
    const open = this.#socket.readyState === WebSocket.OPEN;
    try {
      this.#socket.send(encoder.encode(JSON.stringify(result)));
    } catch {
      this.#closed();
      return false;
    }
    // Closing while client frames are still queued (in flight, or received but not yet
    // dispatched) makes a Deno.serve WebSocket drop the connection: the client sees an
    // abnormal close instead of 1000 and may lose the result. So the close frame goes out in a
    // later task, once the client has been quiet for CLOSE_QUIET_MS (at most
    // CLOSE_WAIT_MAX_MS after the result).
    const started = Date.now();
    const tick = () => {
      if (this.#phase !== "ending") return;
      const now = Date.now();
      const quiet = now - this.#lastFrameAt;
      if (quiet >= CLOSE_QUIET_MS || now - started >= CLOSE_WAIT_MAX_MS) {
        try {
          this.#socket.close(1000, "");
        } catch {
          this.#closed();
        }
        return;
      }
      this.#timer = setTimeout(tick, CLOSE_QUIET_MS - quiet);
    };
    // The first check waits out the quiet time the client still needs (a later task at least).
    this.#timer = setTimeout(tick, Math.max(0, CLOSE_QUIET_MS - (started - this.#lastFrameAt)));
    return open;
  }

  #fail(code: number, reason: string): void {
    try {
      this.#socket.close(code, reason);
    } catch {
      // already closing
    }
    this.#closed();
  }

  /** The connection is gone (or given up): cancel a running process, without a result. */
  #closed(): void {
    if (this.#phase === "closed") return;
    const wasRunning = this.#phase === "running";
    this.#phase = "closed";
    this.#unwait();
    clearTimeout(this.#timer);
    this.#queue = NO_INPUT;
    this.#queued = 0;
    const session = this.#session;
    if (wasRunning && session && !session.ended) {
      session.cancel("client went away");
      session.closeInput();
    }
    this.#release();
    this.#connections.delete(this);
  }

  #release(): void {
    this.#reader?.close();
    this.#detach?.();
    this.#detach = undefined;
  }
}
