// Copyright the pow authors. MIT license.
/**
 * {@linkcode Pow1WebSocketSession}: one process over a `pow-1` WebSocket, the protocol of the
 * original Process Over WebSocket implementation.
 *
 * @module
 */

import { deferred } from "./_deferred.ts";
import {
  encodePow1Call,
  encodePow1Signal,
  parsePow1Result,
  POW1_SUBPROTOCOL,
  type Pow1Result,
} from "./protocol/mod.ts";
import { Pow1Error } from "./errors.ts";
import { LineQueue } from "./_line_queue.ts";
import {
  handshakeFor,
  openWebSocket,
  supportsWebSocketHeaders,
  type TokenTransport,
  type WebSocketFactory,
  type WebSocketLike,
} from "./websocket.ts";

/** What `wait()` of a pow-1 session resolves to. */
export interface Pow1Outcome {
  /** The process's result: `{status: "fulfilled", value}` or `{status: "rejected", reason}`. */
  result: Pow1Result;
}

/** Options of {@linkcode Pow1WebSocketSession}. */
export interface Pow1WebSocketSessionOptions {
  /** The process to call. */
  call: string;
  /** Its parameters (left out of the call when `undefined`). */
  params?: string[];
  /** Called with every output frame (text). */
  onLogLine?: (line: string) => void;
  /** A bearer token (see `PowClientOptions.token`). */
  token?: string;
  /**
   * Where the token travels.
   *
   * @default {"header" outside browsers, "subprotocol" in browsers}
   */
  tokenTransport?: TokenTransport;
  /**
   * How many output frames the async iterator keeps while nobody reads it (the oldest are
   * dropped beyond that).
   *
   * @default {10000}
   */
  maxBuffered?: number;
  /**
   * Opens sockets.
   *
   * @default {the global WebSocket}
   */
  WebSocket?: WebSocketFactory;
}

/**
 * One call of a process over a pow-1 WebSocket: connect (which sends the call), send text to
 * its stdin, close its input or cancel it, read each output frame (`onLogLine` or the async
 * iterator), and `wait()` for the result. Errors are {@linkcode Pow1Error}s; nothing ever
 * becomes an unhandled rejection.
 *
 * @example Against pow's demo server (`deno run -A main.ts`)
 * ```ts ignore
 * import { Pow1WebSocketSession } from "@pow/client";
 *
 * const session = new Pow1WebSocketSession("ws://localhost:8028/", {
 *   call: "echo",
 *   params: ["random", "params"],
 *   onLogLine: (line) => console.log("output:", line),
 * });
 * await session.connect();
 * session.sendText("hello");
 * session.sendText("world");
 * session.closeInput();
 * const { result } = await session.wait(); // { status: "fulfilled", value: ["random", "params"] }
 * ```
 *
 * @example With a fake server
 * ```ts
 * import { Pow1WebSocketSession } from "@pow/client";
 * import { FakeServer } from "@pow/client/testing";
 * import { deepStrictEqual } from "node:assert/strict";
 *
 * const server = new FakeServer();
 * server.onConnection = (socket) => {
 *   socket.onClientMessage = (data) => {
 *     if (typeof data === "string") return socket.sendText(data); // echo input
 *     if (new TextDecoder().decode(data).includes('"close"')) {
 *       socket.sendBinary(new TextEncoder().encode('{"status":"fulfilled","value":null}'));
 *       socket.closeFromServer(1000);
 *     }
 *   };
 * };
 * const session = new Pow1WebSocketSession("ws://pow.test/", { call: "echo", WebSocket: server.WebSocket });
 * await session.connect();
 * session.sendText("hello");
 * session.closeInput();
 * deepStrictEqual(await Array.fromAsync(session), ["hello"]);
 * deepStrictEqual(await session.wait(), { result: { status: "fulfilled", value: null } });
 * ```
 */
export class Pow1WebSocketSession implements AsyncIterable<string> {
  #url: string;
  #options: Pow1WebSocketSessionOptions;
  #socket: WebSocketLike | undefined;
  #connect: Promise<void> | undefined;
  #result: Pow1Result | undefined;
  #done = deferred<Pow1Outcome>();
  #lines: LineQueue;

  /**
   * Creates the session; nothing is sent before {@linkcode Pow1WebSocketSession.connect}.
   *
   * @param url The server's `ws:` or `wss:` URL (any path under its base path).
   * @param options The call, its params, the output callback.
   */
  constructor(url: string | URL, options: Pow1WebSocketSessionOptions) {
    this.#url = String(url);
    this.#options = options;
    this.#lines = new LineQueue(options.maxBuffered ?? 10_000);
    this.#done.promise.catch(() => {});
  }

  /**
   * Opens the WebSocket and sends the call.
   *
   * @returns Resolves once the call was sent; rejects with a {@linkcode Pow1Error} when the
   * server cannot be reached or does not speak pow-1.
   */
  connect(): Promise<void> {
    this.#connect ??= this.#open();
    return this.#connect;
  }

  #open(): Promise<void> {
    const { promise, resolve, reject } = deferred<void>();
    const options = this.#options;
    const transport = options.tokenTransport ??
      (supportsWebSocketHeaders() ? "header" : "subprotocol");
    const { protocols, headers } = handshakeFor(POW1_SUBPROTOCOL, options.token, transport);
    let socket: WebSocketLike;
    try {
      socket = (options.WebSocket ?? openWebSocket)({ url: this.#url, protocols, headers });
    } catch (error) {
      const failure = new Pow1Error(`Cannot connect to "${this.#url}": ${String(error)}`, {
        cause: error,
      });
      this.#fail(failure);
      return Promise.reject(failure);
    }
    this.#socket = socket;
    socket.binaryType = "arraybuffer";
    let opened = false;
    let errorMessage = "";
    socket.onopen = () => {
      if (socket.protocol !== POW1_SUBPROTOCOL) {
        const failure = new Pow1Error(
          `Cannot use "${this.#url}": the server did not accept subprotocol "pow-1"`,
        );
        socket.close(1000);
        this.#fail(failure);
        reject(failure);
        return;
      }
      opened = true;
      socket.send(encodePow1Call({ call: options.call, params: options.params }));
      resolve();
    };
    socket.onerror = (event) => {
      const message = (event as ErrorEvent).message;
      if (typeof message === "string") errorMessage = message;
      if (opened) return;
      // A failed handshake: Node 22 fires no close event after it, so fail here.
      socket.onclose = socket.onerror = null;
      const failure = new Pow1Error(
        `Cannot connect to "${this.#url}": ${errorMessage || "the handshake failed"}`,
        { code: 1006 },
      );
      this.#fail(failure);
      reject(failure);
    };
    socket.onmessage = (event) => {
      const data = event.data as string | ArrayBuffer;
      if (typeof data === "string") {
        this.#lines.push(data);
        try {
          options.onLogLine?.(data);
        } catch { /* the callback's problem */ }
        return;
      }
      try {
        this.#result = parsePow1Result(data);
      } catch (error) {
        this.#fail(new Pow1Error(`Cannot read the result: ${(error as Error).message}`));
        socket.close(1000);
      }
    };
    socket.onclose = (event) => {
      // Deno reports a dropped connection as code 0; the WebSocket standard says 1006.
      const code = event.code === 0 ? 1006 : event.code;
      if (!opened) {
        const detail = errorMessage || `closed with code ${code}`;
        const failure = new Pow1Error(`Cannot connect to "${this.#url}": ${detail}`, { code });
        this.#fail(failure);
        reject(failure);
        return;
      }
      if (this.#result !== undefined) {
        this.#lines.end();
        this.#done.resolve({ result: this.#result });
      } else {
        this.#fail(
          new Pow1Error(
            `Cannot get the result: the connection closed with code ${code}${
              event.reason ? `: ${event.reason}` : ""
            }`,
            { code },
          ),
        );
      }
    };
    return promise;
  }

  #fail(error: Pow1Error): void {
    this.#lines.end({ error });
    this.#done.reject(error);
  }

  #sendable(what: string): WebSocketLike {
    const socket = this.#socket;
    if (socket === undefined || socket.readyState !== 1) {
      throw new Pow1Error(`Cannot ${what}: the session is not connected`);
    }
    return socket;
  }

  /**
   * Sends text to the process's stdin (one text frame).
   *
   * @param text The text.
   * @throws {Pow1Error} When not connected.
   */
  sendText(text: string): void {
    this.#sendable("send text").send(text);
  }

  /**
   * Closes the process's stdin (it reads end-of-file).
   *
   * @throws {Pow1Error} When not connected.
   */
  closeInput(): void {
    this.#sendable("close input").send(encodePow1Signal("close"));
  }

  /**
   * Cancels the process; its result becomes rejected.
   *
   * @throws {Pow1Error} When not connected.
   */
  cancel(): void {
    this.#sendable("cancel").send(encodePow1Signal("cancel"));
  }

  /**
   * Waits for the result and the end of the connection.
   *
   * @returns The result; rejects with a {@linkcode Pow1Error} when the connection ended without
   * one.
   */
  wait(): Promise<Pow1Outcome> {
    return this.#done.promise;
  }

  /**
   * Closes the connection without waiting for the result (the server cancels the process).
   */
  abandon(): void {
    this.#socket?.close(1000);
  }

  /**
   * Every output frame, until the result arrived (buffered from the start, up to
   * `maxBuffered` frames).
   *
   * @returns The iterator; it throws the {@linkcode Pow1Error} of a failed session.
   */
  [Symbol.asyncIterator](): AsyncIterator<string> {
    return this.#lines.iterate();
  }
}
