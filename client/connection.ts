// Copyright the pow authors. MIT license.
/**
 * A reconnecting WebSocket engine: one logical connection that survives dropped sockets, with
 * exponential backoff and jitter, close codes that say whether to retry, and callbacks for
 * every event. {@linkcode PowClient} is built on it; it knows nothing of pow messages.
 *
 * @module
 */

import { type Deferred, deferred } from "./_deferred.ts";
import { shouldReconnect } from "./protocol/mod.ts";
import { backoffDelay, type BackoffOptions } from "./backoff.ts";
import { ConnectionError } from "./errors.ts";
import { type Clock, systemClock, type TimerHandle } from "./timers.ts";
import {
  handshakeFor,
  openWebSocket,
  supportsWebSocketHeaders,
  type TokenTransport,
  type WebSocketFactory,
  type WebSocketLike,
} from "./websocket.ts";

/**
 * Where a connection is in its life: `connecting` (first attempt), `open`, `reconnecting`
 * (waiting for or making another attempt after a drop) and `closed` (for good).
 */
export type ConnectionState = "connecting" | "open" | "reconnecting" | "closed";

/** Passed to {@linkcode ConnectionCallbacks.onOpen}. */
export interface OpenInfo {
  /** The subprotocol the server chose. */
  protocol: string;
  /** Whether this is a reconnect (the connection was open before). */
  reconnected: boolean;
  /** How many attempts failed before this one. */
  failedAttempts: number;
}

/** Passed to {@linkcode ConnectionCallbacks.onClose} and the `closed` promise. */
export interface CloseInfo {
  /** The close code (1006 when the connection dropped without one). */
  code: number;
  /** The close reason. */
  reason: string;
  /** Whether the closing handshake completed. */
  wasClean: boolean;
  /** Whether `close()` was called. */
  clientInitiated: boolean;
  /** Whether the engine will reconnect. */
  reconnecting: boolean;
}

/** Passed to {@linkcode ConnectionCallbacks.onRestartError}. */
export interface RestartErrorInfo {
  /** Which reconnect attempt failed, from 1. */
  attempt: number;
  /** What went wrong. */
  error: ConnectionError;
  /** The delay before the next attempt, or `undefined` when the engine gives up. */
  nextDelay?: number;
}

/**
 * The engine's callbacks (all optional). Exceptions thrown by `onMessage` are reported to
 * `onReadError`; exceptions thrown by the others are ignored.
 */
export interface ConnectionCallbacks {
  /** A socket opened (first time or after a reconnect). */
  onOpen?(info: OpenInfo): void;
  /**
   * A message arrived: text as a string, binary as an `ArrayBuffer`. It may return a promise:
   * a rejection goes to `onReadError`, and the engine runs at most `concurrency` handlers at
   * once.
   */
  onMessage?(data: string | ArrayBuffer): unknown;
  /** An open socket closed; `info.reconnecting` says whether another attempt follows. */
  onClose?(info: CloseInfo): void;
  /**
   * `onMessage` threw (or its promise rejected), or the caller reported a bad message with
   * `reportReadError()`.
   */
  onReadError?(error: unknown): void;
  /** The socket could not be closed cleanly by `close()`. */
  onCloseError?(error: unknown): void;
  /** A reconnect attempt failed. */
  onRestartError?(info: RestartErrorInfo): void;
  /** The state changed. */
  onStateChange?(state: ConnectionState): void;
}

/** Options of {@linkcode Connection}. */
export interface ConnectionOptions extends ConnectionCallbacks {
  /** The subprotocol to offer and to require from the server, e.g. `"pow.v2"`. */
  protocol: string;
  /**
   * A bearer token, or a function that returns the current one (called before every attempt,
   * so a reconnect after close code 4001 uses fresh credentials).
   */
  token?: string | (() => string | undefined);
  /**
   * Where the token travels: an `Authorization` header where the runtime allows it (Deno,
   * Node, Bun), else a `pow.token.*` subprotocol entry (browsers).
   *
   * @default {"header" outside browsers, "subprotocol" in browsers}
   */
  tokenTransport?: TokenTransport;
  /**
   * Reconnect after a drop (`true`: with the default backoff), or not (`false`). Close codes
   * that say "give up" (see `shouldReconnect()` in `@pow/protocol`) always stop.
   *
   * @default {true}
   */
  reconnect?: boolean | BackoffOptions;
  /**
   * Also retry when the very first attempt fails. Off by default, so that a wrong URL fails
   * fast.
   *
   * @default {false}
   */
  retryFirstConnect?: boolean;
  /**
   * How many `onMessage` handlers may run at once (a handler runs until the promise it returns
   * settles). With 1, messages are handled strictly in order, each after the previous one
   * finished. Messages beyond the limit wait in arrival order.
   *
   * @default {Infinity}
   */
  concurrency?: number;
  /**
   * How long `close()` waits for the server's close frame, in milliseconds.
   *
   * @default {5000}
   */
  closeTimeout?: number;
  /**
   * Opens sockets.
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

/**
 * A reconnecting WebSocket connection.
 *
 * @example Connect, send, receive, close (with a fake server)
 * ```ts
 * import { Connection } from "@pow/client";
 * import { FakeServer } from "@pow/client/testing";
 * import { deepStrictEqual, equal } from "node:assert/strict";
 *
 * const server = new FakeServer({ protocol: "echo" });
 * server.onConnection = (socket) => {
 *   socket.onClientMessage = (data) => socket.sendText(`echo: ${data}`);
 * };
 * const received: unknown[] = [];
 * const connection = new Connection("ws://example.test/", {
 *   protocol: "echo",
 *   WebSocket: server.WebSocket,
 *   onMessage: (data) => received.push(data),
 * });
 * await connection.connect();
 * equal(connection.state, "open");
 * connection.send("hi");
 * await server.settle();
 * deepStrictEqual(received, ["echo: hi"]);
 * await connection.close();
 * equal(connection.state, "closed");
 * ```
 */
export class Connection {
  #url: string;
  #options: ConnectionOptions;
  #clock: Clock;
  #backoff: BackoffOptions | undefined;
  #state: ConnectionState = "connecting";
  #socket: WebSocketLike | undefined;
  #started = false;
  #everOpened = false;
  #failedAttempts = 0;
  #closing = false;
  #stopped = false;
  #longerBackoff = false;
  #timer: TimerHandle | undefined;
  #closeTimer: TimerHandle | undefined;
  #firstOpen = deferred<void>();
  #inbox: (string | ArrayBuffer)[] = [];
  #running = 0;
  #paused = false;
  #receivers: Deferred<string | ArrayBuffer>[] = [];
  #concurrency: number;
  #closed = deferred<CloseInfo>();
  #closeRequested: Deferred<void> | undefined;

  /**
   * Creates the engine; nothing happens until {@linkcode Connection.connect}.
   *
   * @param url The `ws:` or `wss:` URL.
   * @param options The subprotocol, token, reconnect policy and callbacks.
   */
  constructor(url: string | URL, options: ConnectionOptions) {
    this.#url = String(url);
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    const reconnect = options.reconnect ?? true;
    this.#backoff = reconnect === false ? undefined : reconnect === true ? {} : reconnect;
    const concurrency = options.concurrency ?? Infinity;
    if (!(concurrency >= 1)) {
      throw new RangeError(`Cannot use concurrency ${concurrency}: it must be at least 1`);
    }
    this.#concurrency = concurrency;
    this.#firstOpen.promise.catch(() => {});
  }

  /** The current state. */
  get state(): ConnectionState {
    return this.#state;
  }

  /** The URL. */
  get url(): string {
    return this.#url;
  }

  /** Bytes queued on the current socket and not yet sent (0 when there is none). */
  get bufferedAmount(): number {
    return this.#socket?.bufferedAmount ?? 0;
  }

  /** Resolves once the connection is closed for good (it never rejects). */
  get closed(): Promise<CloseInfo> {
    return this.#closed.promise;
  }

  /**
   * Opens the connection (once; later calls return the same promise).
   *
   * @returns Resolves when the first socket is open; rejects with a {@linkcode ConnectionError}
   * when it cannot be opened (or, with `retryFirstConnect`, when the engine gives up).
   */
  connect(): Promise<void> {
    if (!this.#started) {
      this.#started = true;
      this.#open();
    }
    return this.#firstOpen.promise;
  }

  /**
   * Sends a message on the open socket.
   *
   * @param data Text or bytes.
   * @returns `false` when no socket is open (the message was not sent).
   */
  send(data: string | ArrayBufferView<ArrayBuffer>): boolean {
    const socket = this.#socket;
    if (this.#state !== "open" || socket === undefined || socket.readyState !== 1) return false;
    socket.send(data);
    return true;
  }

  /**
   * Reports a message the application could not read (e.g. a malformed server message) to
   * `onReadError`.
   *
   * @param error What was wrong.
   */
  reportReadError(error: unknown): void {
    this.#call(() => this.#options.onReadError?.(error));
  }

  /**
   * Drops the current socket as if the network failed and reconnects (subject to the backoff
   * policy), e.g. when a keep-alive answer is missing.
   *
   * @param reason Why, for the close reason.
   */
  drop(reason = "connection lost"): void {
    const socket = this.#socket;
    if (this.#state !== "open" || socket === undefined) return;
    this.#detach(socket);
    try {
      socket.close(4000, reason);
    } catch { /* already closing */ }
    this.#afterClose({ code: 1006, reason, wasClean: false }, true);
  }

  /** Whether message handling is paused (see {@linkcode Connection.pause}). */
  get paused(): boolean {
    return this.#paused;
  }

  /**
   * Pauses message handling so the caller can pilot the connection by hand: `onMessage` is not
   * called for new messages (handlers already running finish), which wait for
   * {@linkcode Connection.receive} or {@linkcode Connection.resume}. The socket keeps reading
   * (the WebSocket API has no backpressure), so messages pile up in memory while paused.
   *
   * @example Send a request and read its answer by hand
   * ```ts
   * import { Connection } from "@pow/client";
   * import { FakeServer } from "@pow/client/testing";
   * import { deepStrictEqual, equal } from "node:assert/strict";
   *
   * const server = new FakeServer({ protocol: "echo" });
   * server.onConnection = (socket) => {
   *   socket.onClientMessage = (data) => socket.sendText(`echo: ${data}`);
   * };
   * const handled: unknown[] = [];
   * const connection = new Connection("ws://example.test/", {
   *   protocol: "echo",
   *   WebSocket: server.WebSocket,
   *   onMessage: (data) => void handled.push(data),
   * });
   * await connection.connect();
   * connection.pause();
   * connection.send("question");
   * equal(await connection.receive(), "echo: question");
   * connection.send("later");
   * await server.settle();
   * deepStrictEqual(handled, []);
   * connection.resume();
   * deepStrictEqual(handled, ["echo: later"]);
   * await connection.close();
   * ```
   */
  pause(): void {
    this.#paused = true;
  }

  /** Resumes message handling: waiting messages go to `onMessage` first, in order. */
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#pump();
  }

  /**
   * Takes the next message while paused (the oldest waiting one, or the next to arrive).
   *
   * @returns The message; rejects with a {@linkcode ConnectionError} when the connection closes
   * for good first, and with a `TypeError` when the connection is not paused.
   */
  receive(): Promise<string | ArrayBuffer> {
    if (!this.#paused) {
      return Promise.reject(new TypeError("Cannot receive: the connection is not paused"));
    }
    if (this.#inbox.length > 0) return Promise.resolve(this.#inbox.shift()!);
    if (this.#state === "closed") {
      return Promise.reject(new ConnectionError("Cannot receive: the connection is closed"));
    }
    const receiver = deferred<string | ArrayBuffer>();
    this.#receivers.push(receiver);
    return receiver.promise;
  }

  /** Stops reconnecting: a pending attempt is cancelled and the next drop closes for good. */
  stopReconnecting(): void {
    this.#stopped = true;
    if (this.#state === "reconnecting" && this.#timer !== undefined) {
      this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#finish({
        code: 1006,
        reason: "reconnecting stopped",
        wasClean: false,
        clientInitiated: true,
        reconnecting: false,
      });
    }
  }

  /**
   * Closes the connection gracefully and stops reconnecting.
   *
   * @param code The close code.
   * @param reason The close reason.
   * @returns Resolves once the socket closed (or after `closeTimeout`); never rejects.
   */
  close(code = 1000, reason = ""): Promise<void> {
    if (this.#state === "closed") return Promise.resolve();
    if (this.#closeRequested) return this.#closeRequested.promise;
    this.#closeRequested = deferred<void>();
    this.#closing = true;
    this.#stopped = true;
    if (this.#timer !== undefined) {
      this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const socket = this.#socket;
    const finish = (info: Omit<CloseInfo, "clientInitiated" | "reconnecting">) => {
      this.#finish({ ...info, clientInitiated: true, reconnecting: false });
    };
    if (socket === undefined || socket.readyState === 3) {
      finish({ code, reason, wasClean: true });
    } else {
      try {
        socket.close(code, reason);
        this.#closeTimer = this.#clock.setTimeout(() => {
          this.#closeTimer = undefined;
          this.#detach(socket);
          this.#call(() =>
            this.#options.onCloseError?.(
              new ConnectionError(
                `Cannot close the connection cleanly: no close frame within ${this.#closeTimeout()} ms`,
              ),
            )
          );
          finish({ code: 1006, reason: "", wasClean: false });
        }, this.#closeTimeout());
      } catch (error) {
        this.#detach(socket);
        this.#call(() => this.#options.onCloseError?.(error));
        finish({ code: 1006, reason: "", wasClean: false });
      }
    }
    return this.#closeRequested.promise;
  }

  #closeTimeout(): number {
    return this.#options.closeTimeout ?? 5000;
  }

  #setState(state: ConnectionState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#call(() => this.#options.onStateChange?.(state));
  }

  #call(fn: () => void): void {
    try {
      fn();
    } catch {
      // Callbacks must not break the engine.
    }
  }

  #open(): void {
    const options = this.#options;
    const token = typeof options.token === "function" ? options.token() : options.token;
    const transport = options.tokenTransport ??
      (supportsWebSocketHeaders() ? "header" : "subprotocol");
    const { protocols, headers } = handshakeFor(options.protocol, token, transport);
    const factory = options.WebSocket ?? openWebSocket;
    if (headers.authorization !== undefined && !/^[\x20-\x7e]*$/.test(headers.authorization)) {
      this.#attemptFailed(
        new ConnectionError(
          `Cannot connect to "${this.#url}": the token is not a valid HTTP header value (only printable ASCII is allowed; is it a placeholder?)`,
        ),
        true,
      );
      return;
    }
    let socket: WebSocketLike;
    try {
      socket = factory({ url: this.#url, protocols, headers });
    } catch (error) {
      this.#attemptFailed(
        new ConnectionError(`Cannot connect to "${this.#url}": ${messageOf(error)}`, {
          cause: error,
        }),
        false,
      );
      return;
    }
    this.#socket = socket;
    socket.binaryType = "arraybuffer";
    let opened = false;
    let errorMessage = "";
    socket.onopen = () => {
      if (socket !== this.#socket) return;
      if (socket.protocol !== options.protocol) {
        this.#detach(socket);
        try {
          socket.close(1000, "subprotocol not accepted");
        } catch { /* ignore */ }
        const shown = socket.protocol === "" ? "none" : `"${socket.protocol}"`;
        this.#attemptFailed(
          new ConnectionError(
            `Cannot use "${this.#url}": the server chose subprotocol ${shown}, not "${options.protocol}"`,
          ),
          true,
        );
        return;
      }
      opened = true;
      const reconnected = this.#everOpened;
      const failedAttempts = this.#failedAttempts;
      this.#everOpened = true;
      this.#failedAttempts = 0;
      this.#longerBackoff = false;
      this.#setState("open");
      this.#call(() =>
        options.onOpen?.({ protocol: socket.protocol, reconnected, failedAttempts })
      );
      this.#firstOpen.resolve();
    };
    socket.onmessage = (event) => {
      if (socket !== this.#socket || this.#state !== "open") return;
      this.#deliver(event.data);
    };
    socket.onerror = (event) => {
      const message = (event as ErrorEvent).message;
      if (typeof message === "string") errorMessage = message;
      if (opened || socket !== this.#socket) return;
      // A failed handshake: browsers and Deno follow with a close event, Node 22 does not.
      // Either way this attempt is over.
      this.#detach(socket);
      try {
        socket.close();
      } catch { /* not open */ }
      this.#handshakeFailed(
        errorMessage !== ""
          ? errorMessage
          : "the WebSocket handshake failed (the runtime gives no reason; a browser shows the HTTP status, e.g. 401 for a refused token or 403 for a refused origin, in its network console)",
        1006,
        "",
      );
    };
    socket.onclose = (event) => {
      if (socket !== this.#socket) return;
      this.#detach(socket);
      // Deno reports a dropped connection as code 0; the WebSocket standard says 1006.
      const code = event.code === 0 ? 1006 : event.code;
      const info = { code, reason: event.reason, wasClean: event.wasClean };
      if (this.#closing) {
        if (opened) {
          this.#call(() =>
            options.onClose?.({ ...info, clientInitiated: true, reconnecting: false })
          );
        }
        this.#finish({ ...info, clientInitiated: true, reconnecting: false });
      } else if (!opened) {
        this.#handshakeFailed(errorMessage, code, event.reason);
      } else {
        this.#afterClose(info, false);
      }
    };
  }

  #handshakeFailed(errorMessage: string, code: number, reason: string): void {
    const detail = errorMessage !== ""
      ? explainHandshakeError(errorMessage)
      : `the connection closed with code ${code} before it opened`;
    this.#attemptFailed(
      new ConnectionError(`Cannot connect to "${this.#url}": ${detail}`, { code, reason }),
      false,
    );
  }

  #deliver(data: string | ArrayBuffer): void {
    const receiver = this.#paused ? this.#receivers.shift() : undefined;
    if (receiver !== undefined) return receiver.resolve(data);
    this.#inbox.push(data);
    this.#pump();
  }

  #pump(): void {
    while (!this.#paused && this.#running < this.#concurrency && this.#inbox.length > 0) {
      const data = this.#inbox.shift()!;
      this.#running++;
      let result: unknown;
      try {
        result = this.#options.onMessage?.(data);
      } catch (error) {
        this.#call(() => this.#options.onReadError?.(error));
      }
      if (isThenable(result)) {
        result.then(
          () => this.#handled(),
          (error) => {
            this.#call(() => this.#options.onReadError?.(error));
            this.#handled();
          },
        );
      } else {
        this.#running--;
      }
    }
  }

  #handled(): void {
    this.#running--;
    this.#pump();
  }

  #detach(socket: WebSocketLike): void {
    socket.onopen =
      socket.onmessage =
      socket.onerror =
      socket.onclose =
        null;
    if (this.#socket === socket) this.#socket = undefined;
  }

  #afterClose(info: { code: number; reason: string; wasClean: boolean }, dropped: boolean): void {
    const retry = this.#backoff !== undefined && !this.#stopped &&
      (dropped || shouldReconnect(info.code));
    this.#call(() =>
      this.#options.onClose?.({ ...info, clientInitiated: false, reconnecting: retry })
    );
    if (this.#closing) return; // close() was called from onClose
    if (!retry) {
      this.#finish({ ...info, clientInitiated: false, reconnecting: false });
      return;
    }
    this.#longerBackoff = info.code === 1013;
    this.#setState("reconnecting");
    this.#schedule();
  }

  #attemptFailed(error: ConnectionError, fatal: boolean): void {
    if (this.#closing) {
      this.#finish({
        code: 1006,
        reason: "",
        wasClean: false,
        clientInitiated: true,
        reconnecting: false,
      });
      return;
    }
    this.#failedAttempts++;
    const canRetry = !fatal && this.#backoff !== undefined && !this.#stopped &&
      (this.#everOpened || this.#options.retryFirstConnect === true) &&
      this.#failedAttempts < (this.#backoff.maxAttempts ?? Infinity) &&
      (error.code === undefined || shouldReconnect(error.code));
    if (!canRetry) {
      if (this.#everOpened) {
        this.#call(() => this.#options.onRestartError?.({ attempt: this.#failedAttempts, error }));
      }
      this.#firstOpen.reject(error);
      this.#finish({
        code: error.code ?? 1006,
        reason: error.reason ?? "",
        wasClean: false,
        clientInitiated: false,
        reconnecting: false,
      });
      return;
    }
    const delay = this.#delay();
    this.#call(() =>
      this.#options.onRestartError?.({ attempt: this.#failedAttempts, error, nextDelay: delay })
    );
    this.#setState(this.#everOpened ? "reconnecting" : "connecting");
    this.#schedule(delay);
  }

  #delay(): number {
    const delay = backoffDelay(this.#failedAttempts, this.#backoff);
    return this.#longerBackoff ? delay * 4 : delay;
  }

  #schedule(delay = this.#delay()): void {
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      if (!this.#closing) this.#open();
    }, delay);
  }

  #finish(info: CloseInfo): void {
    if (this.#state === "closed") return;
    if (this.#closeTimer !== undefined) {
      this.#clock.clearTimeout(this.#closeTimer);
      this.#closeTimer = undefined;
    }
    if (this.#timer !== undefined) {
      this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#firstOpen.reject(
      new ConnectionError(`Cannot connect to "${this.#url}": the connection was closed`, {
        code: info.code,
        reason: info.reason,
      }),
    );
    this.#setState("closed");
    const receivers = this.#receivers;
    this.#receivers = [];
    for (const receiver of receivers) {
      receiver.reject(new ConnectionError("Cannot receive: the connection is closed"));
    }
    this.#closed.resolve(info);
    this.#closeRequested?.resolve();
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | undefined)?.then === "function";
}

/** Says what a runtime's handshake error message means, keeping the message itself. */
function explainHandshakeError(message: string): string {
  const status = /\b(\d{3})\b/.exec(message)?.[1];
  if (/status|response/i.test(message) && status === "401") {
    return `${message} (the server requires a valid token: pass the \`token\` option)`;
  }
  if (/status|response/i.test(message) && status === "403") {
    return `${message} (the server refused this origin or identity)`;
  }
  return message;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
