// Copyright the pow authors. MIT license.
/**
 * A MonoRail-style connection to a pow server's events endpoint (`/events/<channel>`), with the
 * client API of the MonoRail WebSocket specification: `connect`, `disconnect`, `ready`, `init`,
 * `all`, `query`, `get`, `watch`, `stop`, and events `open`, `close`, `error`, `message`, `ready`,
 * `init` and one per handler (`session`, `list`, `item`, `remove`, `error`, and any broadcast
 * handler). It reconnects with backoff after a drop and resumes: the server replays what
 * happened meanwhile (or sends a fresh `list`), so no event is lost. Usable in Deno and browsers.
 *
 * @example Watch sessions
 * ```ts ignore
 * import { MonoRailConnection } from "@pow/client";
 *
 * const rail = new MonoRailConnection("ws://127.0.0.1:8028/events/sessions");
 * rail.events.on("list", (m) => console.log("sessions", m.items));
 * rail.events.on("item", (m) => console.log("changed", m.data));
 * rail.connect();
 * await rail.init();
 * rail.watch({});
 * ```
 *
 * @module
 */

import type { MonoRailParams } from "./protocol/monorail.ts";
import { backoffDelay, type BackoffOptions } from "./backoff.ts";
import { type Clock, systemClock, type TimerHandle } from "./timers.ts";
import type { WebSocketFactory, WebSocketLike } from "./websocket.ts";

/** A message from the server: JSON with a `handler`. */
export interface MonoRailMessage {
  /** Which handler it is for. */
  handler: string;
  /** The handler's fields (`id`, `items`, `data`, `params`, `seq`, `code`, `text`, …). */
  // deno-lint-ignore no-explicit-any
  [key: string]: any;
}

/** A listener of {@linkcode MonoRailEvents}. */
// deno-lint-ignore no-explicit-any
export type MonoRailListener = (value: any) => void;

/** A small event emitter with `on`, `once`, `off` and `emit`, as the spec's client has. */
export class MonoRailEvents {
  #listeners = new Map<string, Set<MonoRailListener>>();

  /**
   * Calls `listener` for every `event`.
   *
   * @param event The event name.
   * @param listener The listener.
   * @returns This emitter.
   */
  on(event: string, listener: MonoRailListener): this {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, set = new Set());
    set.add(listener);
    return this;
  }

  /**
   * Calls `listener` for the next `event` only.
   *
   * @param event The event name.
   * @param listener The listener.
   * @returns This emitter.
   */
  once(event: string, listener: MonoRailListener): this {
    const wrapper: MonoRailListener = (value) => {
      this.off(event, wrapper);
      listener(value);
    };
    return this.on(event, wrapper);
  }

  /**
   * Removes a listener.
   *
   * @param event The event name.
   * @param listener The listener.
   * @returns This emitter.
   */
  off(event: string, listener: MonoRailListener): this {
    this.#listeners.get(event)?.delete(listener);
    return this;
  }

  /**
   * Calls the listeners of an event.
   *
   * @param event The event name.
   * @param value What they get.
   */
  emit(event: string, value?: unknown): void {
    for (const listener of [...(this.#listeners.get(event) ?? [])]) listener(value);
  }
}

/** Options for {@linkcode MonoRailConnection}. */
export interface MonoRailConnectionOptions {
  /** Reconnect after a drop. @default {true} */
  reconnect?: boolean;
  /** Delays between reconnect attempts. */
  backoff?: BackoffOptions;
  /** Opens sockets. @default {the global WebSocket, without subprotocol} */
  webSocket?: WebSocketFactory;
  /** Time and timers. @default {systemClock} */
  clock?: Clock;
}

/** The URL to connect to, or a function that makes it (e.g. with a fresh `?ticket=`). */
export type MonoRailUrl = string | URL | (() => string | URL | Promise<string | URL>);

function subset(params: MonoRailParams | undefined, of: MonoRailParams): boolean {
  return !params ||
    Object.entries(params).every(([k, v]) => JSON.stringify(of[k]) === JSON.stringify(v));
}

/**
 * A MonoRail connection to one channel.
 *
 * @example Without a server: requests wait for the socket
 * ```ts
 * import { MonoRailConnection } from "@pow/client";
 * import { equal } from "node:assert/strict";
 *
 * const rail = new MonoRailConnection("ws://127.0.0.1:1/events/sessions", { reconnect: false });
 * equal(rail.id, undefined);
 * rail.disconnect();
 * ```
 */
export class MonoRailConnection {
  /** The events (`open`, `close`, `error`, `message`, `ready`, `init`, and one per handler). */
  readonly events: MonoRailEvents = new MonoRailEvents();
  /** The current WebSocket, while there is one. */
  wsConn: WebSocketLike | undefined;
  #url: MonoRailUrl;
  #options: MonoRailConnectionOptions;
  #clock: Clock;
  #id: string | undefined;
  #seq: number | undefined;
  #offsets: Record<string, number> = {};
  #watches: MonoRailParams[] = [];
  #pending: string[] = [];
  #wanted = false;
  #attempt = 0;
  #timer: TimerHandle | undefined;
  #initialized = false;

  /**
   * Makes a connection; call {@linkcode MonoRailConnection.connect} to open it.
   *
   * @param url The channel URL, e.g. `ws://127.0.0.1:8028/events/sessions`.
   * @param options Reconnection, socket factory and clock.
   */
  constructor(url: MonoRailUrl, options: MonoRailConnectionOptions = {}) {
    this.#url = url;
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
  }

  /** The connection id the server gave (`undefined` before `init`). */
  get id(): string | undefined {
    return this.#id;
  }

  /** The last bus position received (what a resume replays from). */
  get seq(): number | undefined {
    return this.#seq;
  }

  /** Whether the socket is open. */
  get isOpen(): boolean {
    return this.wsConn?.readyState === 1;
  }

  /** Opens the socket (again). Called automatically after a drop unless `reconnect` is false. */
  connect(): void {
    this.#wanted = true;
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.wsConn && this.wsConn.readyState <= 1) return;
    void this.#open();
  }

  /** Closes the socket and stops reconnecting. */
  disconnect(): void {
    this.#wanted = false;
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    const socket = this.wsConn;
    if (socket && socket.readyState <= 1) socket.close(1000, "disconnect");
  }

  /**
   * Waits until the socket is open.
   *
   * @param callback Called once open.
   * @returns Resolves once open.
   */
  ready(callback?: () => void): Promise<void> {
    if (this.isOpen) {
      callback?.();
      return Promise.resolve();
    }
    return new Promise((resolve) =>
      this.events.once("ready", () => {
        callback?.();
        resolve();
      })
    );
  }

  /**
   * Exchanges a connection id (resuming the previous one after a reconnect).
   *
   * @param callback Called with the id.
   * @returns The id.
   */
  init(callback?: (id: string) => void): Promise<string> {
    const done = new Promise<string>((resolve) =>
      this.events.once("init", (id: string) => {
        callback?.(id);
        resolve(id);
      })
    );
    this.#initialized = true;
    this.#send(this.#initMessage());
    return done;
  }

  /** Asks for every item (answered with `list`). */
  all(): void {
    this.#send({ handler: "all" });
  }

  /**
   * Asks for the items matching `params` (answered with `list`).
   *
   * @param params The filter.
   */
  query(params: MonoRailParams = {}): void {
    this.#send({ handler: "query", params });
  }

  /**
   * Asks for one item (answered with `item` or `remove`).
   *
   * @param params Identifies the item.
   */
  get(params: MonoRailParams): void {
    this.#send({ handler: "get", params });
  }

  /**
   * Watches the items matching `params`: a `list`, then `item`/`remove` on every change. The
   * watch survives reconnects.
   *
   * @param params The filter.
   */
  watch(params: MonoRailParams = {}): void {
    this.#watches.push(params);
    this.#send({ handler: "watch", params });
  }

  /**
   * Stops the watches whose params include `params` (every watch without `params`).
   *
   * @param params The params of the watch.
   */
  stop(params?: MonoRailParams): void {
    this.#watches = this.#watches.filter((w) => !subset(params, w));
    this.#send(params ? { handler: "stop", params } : { handler: "stop" });
  }

  #initMessage(): Record<string, unknown> {
    if (this.#id === undefined) return { handler: "init" };
    const message: Record<string, unknown> = { handler: "init", id: this.#id };
    if (this.#seq !== undefined) message.seq = this.#seq;
    if (Object.keys(this.#offsets).length > 0) message.offsets = { ...this.#offsets };
    return message;
  }

  #send(message: Record<string, unknown>): void {
    const text = JSON.stringify(message);
    if (this.isOpen) this.wsConn!.send(text);
    else this.#pending.push(text);
  }

  async #open(): Promise<void> {
    let url: string;
    try {
      const target = typeof this.#url === "function" ? await this.#url() : this.#url;
      url = String(target);
    } catch (error) {
      this.events.emit("error", error);
      return this.#retry();
    }
    if (!this.#wanted) return;
    const factory = this.#options.webSocket ??
      ((request) => new WebSocket(request.url, request.protocols) as unknown as WebSocketLike);
    let socket: WebSocketLike;
    try {
      socket = factory({ url, protocols: [] });
    } catch (error) {
      this.events.emit("error", error);
      return this.#retry();
    }
    this.wsConn = socket;
    socket.onopen = (event) => {
      this.#attempt = 0;
      this.events.emit("open", event);
      // After a reconnect: resume the previous connection first, then what waited.
      const pending = this.#pending;
      this.#pending = [];
      if (this.#initialized) {
        socket.send(JSON.stringify(this.#initMessage()));
        const replaced = pending.filter((p) => !p.startsWith('{"handler":"init"'));
        pending.length = 0;
        pending.push(...replaced);
      }
      for (const text of pending) socket.send(text);
      this.events.emit("ready");
    };
    socket.onmessage = (event) => {
      if (typeof event.data !== "string") return;
      let message: MonoRailMessage;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      this.#receive(message);
    };
    socket.onerror = (event) => this.events.emit("error", event);
    socket.onclose = (event) => {
      if (this.wsConn === socket) this.wsConn = undefined;
      this.events.emit("close", event);
      if (this.#wanted) this.#retry();
    };
  }

  #retry(): void {
    if (!this.#wanted || this.#options.reconnect === false) return;
    const attempt = ++this.#attempt;
    const max = this.#options.backoff?.maxAttempts ?? Infinity;
    if (attempt > max) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      if (this.#wanted) void this.#open();
    }, backoffDelay(attempt, this.#options.backoff));
  }

  #receive(message: MonoRailMessage): void {
    if (typeof message.seq === "number" && (this.#seq === undefined || message.seq > this.#seq)) {
      this.#seq = message.seq;
    }
    const data = message.data;
    if (
      message.handler === "item" && data && typeof data.session === "string" &&
      typeof data.next === "number"
    ) {
      this.#offsets[data.session] = data.next;
    }
    if (message.handler === "list" && Array.isArray(message.items)) {
      for (const item of message.items) {
        if (item && typeof item.session === "string" && typeof item.next === "number") {
          this.#offsets[item.session] = item.next;
        }
      }
    }
    if (message.handler === "remove" && typeof message.params?.session === "string") {
      // A finished log: its watch is over.
      delete this.#offsets[message.params.session];
      this.#watches = this.#watches.filter((w) => w.session !== message.params.session);
    }
    if (message.handler === "session" && typeof message.id === "string") {
      const resumedFailed = this.#id !== undefined && message.id !== this.#id;
      this.#id = message.id;
      if (resumedFailed) {
        // The server no longer held the old connection: watch again, logs from where they were.
        this.#seq = undefined;
        for (const params of this.#watches) {
          const offset = typeof params.session === "string"
            ? this.#offsets[params.session]
            : undefined;
          this.wsConn?.send(JSON.stringify({
            handler: "watch",
            params: offset === undefined ? params : { ...params, offset },
          }));
        }
      }
      this.events.emit("init", message.id);
    }
    this.events.emit("message", message);
    this.events.emit(message.handler, message);
  }
}
