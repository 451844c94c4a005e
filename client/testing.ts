// Copyright the pow authors. MIT license.
/**
 * Test doubles for code that uses `@pow/client`: an in-memory WebSocket server
 * ({@linkcode FakeServer}) whose sockets plug into the client's `WebSocket` option, and a
 * manual clock ({@linkcode FakeClock}) for its `clock` option.
 *
 * @example A scripted pow.v2 server
 * ```ts
 * import { PowClient } from "@pow/client";
 * import { FakeServer } from "@pow/client/testing";
 * import { equal } from "node:assert/strict";
 *
 * const server = new FakeServer();
 * server.onConnection = (socket) => {
 *   socket.sendMessage({ type: "hello", protocol: "pow.v2", server: "fake", maxMessageSize: 65536, stdinCredit: 65536, lingerMs: 1000, maxChannels: 8 });
 *   socket.onClientMessage = () => {
 *     for (const message of socket.takeMessages()) {
 *       if (message.type !== "start") continue;
 *       const { id, ref } = message;
 *       socket.sendMessage({ type: "started", id, ref, session: "s1", pty: false });
 *       socket.sendData({ kind: "stdout", id, offset: 0, data: new TextEncoder().encode("hi\n") });
 *       socket.sendMessage({ type: "exit", id, session: "s1", offset: 3, result: { status: "fulfilled", value: null, exitCode: 0 } });
 *     }
 *   };
 * };
 * await using client = new PowClient("ws://pow.test/", { WebSocket: server.WebSocket });
 * const { stdout, result } = await client.start("echo", ["hi"]).output();
 * equal(new TextDecoder().decode(stdout), "hi\n");
 * equal(result.exitCode, 0);
 * ```
 *
 * @module
 */

import {
  type ClientMessage,
  type DataFrame,
  decodeDataFrame,
  encodeDataFrame,
  encodeMessage,
  parseClientMessage,
  type ServerMessage,
} from "./protocol/mod.ts";
import type { Clock, TimerHandle } from "./timers.ts";
import type { WebSocketFactory, WebSocketLike, WebSocketRequest } from "./websocket.ts";

/** Options of {@linkcode FakeServer}. */
export interface FakeServerOptions {
  /**
   * The subprotocol the server chooses; `undefined` picks the first one offered.
   *
   * @default {undefined}
   */
  protocol?: string;
}

/**
 * An in-memory WebSocket server. Pass {@linkcode FakeServer.WebSocket} as the client's
 * `WebSocket` option; every socket the client opens appears in {@linkcode FakeServer.sockets}
 * and is handed to {@linkcode FakeServer.onConnection}. Events reach the client
 * asynchronously (in microtasks), like real sockets.
 *
 * @example Refuse connections, then accept them
 * ```ts
 * import { Connection } from "@pow/client";
 * import { FakeServer } from "@pow/client/testing";
 * import { equal, rejects } from "node:assert/strict";
 *
 * const server = new FakeServer();
 * server.refuse = true;
 * await rejects(new Connection("ws://x/", { protocol: "p", WebSocket: server.WebSocket }).connect());
 * server.refuse = false;
 * const connection = new Connection("ws://x/", { protocol: "p", WebSocket: server.WebSocket });
 * await connection.connect();
 * equal(server.sockets.length, 2);
 * await connection.close();
 * ```
 */
export class FakeServer {
  /** Every socket opened so far, oldest first. */
  readonly sockets: FakeSocket[] = [];
  /** When true, new connections fail (an `error` event, then close 1006). */
  refuse = false;
  /**
   * When true, refused connections get an `error` event and no `close` event, as in Node 22's
   * `WebSocket` after a failed handshake.
   */
  errorWithoutClose = false;
  /** Called with every new socket, before it opens. */
  onConnection: ((socket: FakeSocket) => void) | undefined;
  #protocol: string | undefined;

  /**
   * Creates the server.
   *
   * @param options The subprotocol to choose.
   */
  constructor(options: FakeServerOptions = {}) {
    this.#protocol = options.protocol;
  }

  /** The factory to pass as the client's `WebSocket` option. */
  get WebSocket(): WebSocketFactory {
    return (request) => {
      const socket = new FakeSocket(request);
      this.sockets.push(socket);
      const refuse = this.refuse;
      const closeAfterError = !this.errorWithoutClose;
      const protocol = this.#protocol ?? request.protocols[0];
      if (!refuse) this.onConnection?.(socket);
      queueMicrotask(() =>
        refuse ? socket.fail({ close: closeAfterError }) : socket.accept(protocol)
      );
      return socket;
    };
  }

  /** The most recent socket. */
  get last(): FakeSocket | undefined {
    return this.sockets.at(-1);
  }

  /**
   * Waits until queued events were delivered (a few macrotask turns).
   *
   * @param turns How many macrotask turns to wait.
   */
  async settle(turns = 3): Promise<void> {
    for (let i = 0; i < turns; i++) await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

/**
 * One connection of a {@linkcode FakeServer}: the client sees a `WebSocket`, the test drives
 * the server side with `send*`, `drop` and `closeFromServer`.
 */
export class FakeSocket implements WebSocketLike {
  /** What the client asked for. */
  readonly request: WebSocketRequest;
  /** Every message the client sent, in order. */
  readonly received: (string | Uint8Array)[] = [];
  /** The close the client asked for, if it did. */
  clientClose: { code?: number; reason?: string } | undefined;
  /** Called for every message the client sends. */
  onClientMessage: ((data: string | Uint8Array) => void) | undefined;
  /** The `WebSocket` API seen by the client. */
  binaryType = "blob";
  /** The `WebSocket` API seen by the client. */
  readyState = 0;
  /** The `WebSocket` API seen by the client. */
  protocol = "";
  /** The `WebSocket` API seen by the client. */
  bufferedAmount = 0;
  /** The `WebSocket` API seen by the client. */
  onopen: ((event: Event) => void) | null = null;
  /** The `WebSocket` API seen by the client. */
  onmessage: ((event: MessageEvent) => void) | null = null;
  /** The `WebSocket` API seen by the client. */
  onerror: ((event: Event) => void) | null = null;
  /** The `WebSocket` API seen by the client. */
  onclose: ((event: CloseEvent) => void) | null = null;
  #taken = 0;
  #serverClosed = false;
  #early: (string | ArrayBuffer)[] = [];

  /**
   * Creates a socket (normally done by {@linkcode FakeServer.WebSocket}).
   *
   * @param request The URL, subprotocols and headers.
   */
  constructor(request: WebSocketRequest) {
    this.request = request;
  }

  /**
   * Opens the connection with `protocol` (done automatically by the server).
   *
   * @param protocol The chosen subprotocol.
   */
  accept(protocol = ""): void {
    if (this.readyState !== 0) return;
    this.readyState = 1;
    this.protocol = protocol;
    const early = this.#early;
    this.#early = [];
    for (const data of early) this.#deliver(data);
    this.onopen?.(new Event("open"));
  }

  /**
   * Fails the connection attempt: an `error` event, then close 1006 (unless `close` is false).
   *
   * @param options Whether a `close` event follows the `error` event.
   */
  fail(options: { close?: boolean } = {}): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onerror?.(new Event("error"));
    if (options.close !== false) this.onclose?.(closeEvent(1006, "", false));
  }

  /** The client side: records the message. */
  send(data: string | ArrayBuffer | ArrayBufferView<ArrayBuffer>): void {
    if (this.readyState !== 1) throw new DOMException("WebSocket is not open", "InvalidStateError");
    const copy = typeof data === "string"
      ? data
      : data instanceof ArrayBuffer
      ? new Uint8Array(data.slice(0))
      : new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
    this.received.push(copy);
    this.onClientMessage?.(copy);
  }

  /**
   * The client side: starts a clean close that the server answers. Like browsers, it throws an
   * `InvalidAccessError` for a code other than 1000 or 3000–4999.
   */
  close(code?: number, reason?: string): void {
    if (code !== undefined && code !== 1000 && !(code >= 3000 && code <= 4999)) {
      throw new DOMException(
        `The close code must be either 1000, or between 3000 and 4999. ${code} is neither.`,
        "InvalidAccessError",
      );
    }
    if (this.readyState >= 2) return;
    this.clientClose = { code, reason };
    this.readyState = 2;
    queueMicrotask(() => {
      this.readyState = 3;
      this.onclose?.(closeEvent(code ?? 1005, reason ?? "", true));
    });
  }

  /**
   * Sends a text message to the client.
   *
   * @param text The text.
   */
  sendText(text: string): void {
    this.#deliver(text);
  }

  /**
   * Sends a binary message to the client.
   *
   * @param bytes The bytes.
   */
  sendBinary(bytes: Uint8Array): void {
    const copy = bytes.slice();
    this.#deliver(copy.buffer);
  }

  /**
   * Sends a pow.v2 control message.
   *
   * @param message The message.
   */
  sendMessage(message: ServerMessage): void {
    this.sendText(encodeMessage(message));
  }

  /**
   * Sends a pow.v2 data frame.
   *
   * @param frame The frame.
   */
  sendData(frame: DataFrame): void {
    this.sendBinary(encodeDataFrame(frame));
  }

  /**
   * The pow.v2 control messages the client sent that were not taken before.
   *
   * @returns The parsed messages.
   */
  takeMessages(): ClientMessage[] {
    const out: ClientMessage[] = [];
    for (; this.#taken < this.received.length; this.#taken++) {
      const data = this.received[this.#taken];
      if (typeof data !== "string") continue;
      const parsed = parseClientMessage(data);
      if (parsed.ok) out.push(parsed.value);
    }
    return out;
  }

  /**
   * Every pow.v2 control message the client sent.
   *
   * @returns The parsed messages.
   */
  messages(): ClientMessage[] {
    return this.received.filter((d): d is string => typeof d === "string").flatMap((d) => {
      const parsed = parseClientMessage(d);
      return parsed.ok ? [parsed.value] : [];
    });
  }

  /**
   * Every pow.v2 data frame the client sent.
   *
   * @returns The decoded frames.
   */
  dataFrames(): DataFrame[] {
    return this.received.filter((d): d is Uint8Array => typeof d !== "string").flatMap((d) => {
      const decoded = decodeDataFrame(d, { from: "client" });
      return decoded.ok ? [decoded.value] : [];
    });
  }

  /**
   * Drops the connection without a close frame (the client sees `code`, 1006 by default).
   *
   * @param code The code the client sees.
   * @param reason The reason the client sees.
   */
  drop(code = 1006, reason = ""): void {
    if (this.readyState === 3 || this.#serverClosed) return;
    this.#serverClosed = true;
    queueMicrotask(() => {
      this.readyState = 3;
      this.onclose?.(closeEvent(code, reason, false));
    });
  }

  /**
   * Closes the connection cleanly from the server side.
   *
   * @param code The close code.
   * @param reason The close reason.
   */
  closeFromServer(code = 1000, reason = ""): void {
    if (this.readyState === 3 || this.#serverClosed) return;
    this.#serverClosed = true;
    queueMicrotask(() => {
      this.readyState = 3;
      this.onclose?.(closeEvent(code, reason, true));
    });
  }

  #deliver(data: string | ArrayBuffer): void {
    if (this.#serverClosed || this.readyState === 3) return;
    if (this.readyState === 0) {
      this.#early.push(data);
      return;
    }
    queueMicrotask(() => {
      if (this.readyState === 3) return;
      this.onmessage?.(new MessageEvent("message", { data }));
    });
  }
}

function closeEvent(code: number, reason: string, wasClean: boolean): CloseEvent {
  return new CloseEvent("close", { code, reason, wasClean });
}

/**
 * A manual clock: time stands still until {@linkcode FakeClock.tick}.
 *
 * @example
 * ```ts
 * import { FakeClock } from "@pow/client/testing";
 * import { deepStrictEqual } from "node:assert/strict";
 *
 * const clock = new FakeClock();
 * const fired: number[] = [];
 * clock.setTimeout(() => fired.push(clock.now()), 100);
 * clock.tick(99);
 * deepStrictEqual(fired, []);
 * clock.tick(1);
 * deepStrictEqual(fired, [100]);
 * deepStrictEqual(clock.delays, [100]);
 * ```
 */
export class FakeClock implements Clock {
  /** The delay of every `setTimeout` call, in order. */
  readonly delays: number[] = [];
  #now = 0;
  #next = 1;
  #timers = new Map<number, { at: number; callback: () => void }>();

  /**
   * The current fake time.
   *
   * @returns Milliseconds since the clock was made.
   */
  now(): number {
    return this.#now;
  }

  /**
   * Schedules `callback`.
   *
   * @param callback What to call.
   * @param ms After how long.
   * @returns The handle.
   */
  setTimeout(callback: () => void, ms: number): TimerHandle {
    const handle = this.#next++;
    this.delays.push(ms);
    this.#timers.set(handle, { at: this.#now + Math.max(0, ms), callback });
    return handle;
  }

  /**
   * Cancels a timer.
   *
   * @param handle The handle.
   */
  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete(handle as number);
  }

  /** How many timers are pending. */
  get pending(): number {
    return this.#timers.size;
  }

  /**
   * Advances time by `ms`, calling every timer that falls due, in order.
   *
   * @param ms Milliseconds.
   */
  tick(ms: number): void {
    const end = this.#now + ms;
    while (true) {
      let due: [number, { at: number; callback: () => void }] | undefined;
      for (const entry of this.#timers) {
        if (entry[1].at <= end && (due === undefined || entry[1].at < due[1].at)) due = entry;
      }
      if (due === undefined) break;
      this.#timers.delete(due[0]);
      this.#now = due[1].at;
      due[1].callback();
    }
    this.#now = end;
  }
}

export type * from "./protocol/v2.ts";
