/**
 * The watch kit, shared by the front ends that watch resources (MonoRail at `/events`, its
 * server-sent events, and `pow.v2` `watch`): one connection to a channel, with its id, its
 * watches, and the one bus subscription that feeds them. It speaks MonoRail messages (`list`,
 * `item`, `remove`, `error`) to a {@linkcode RailSocket}; a front end adapts that to its wire.
 *
 * ## Order, bounds and resume
 *
 * - A connection has at most one bus subscription (the channel's pattern), shared by its
 *   watches, so every `item`/`remove` it sends is in bus order and carries the event's id as
 *   `seq`. A watch's first `list` carries the bus position it is current at; events up to it are
 *   not sent again for that watch.
 * - The subscription's queue is bounded (`monorail.queue`). The connection reads the next event
 *   only once its socket has drained, so a slow client makes its own queue overflow, never the
 *   server wait; the bus then reports a gap and every watch gets a fresh `list` instead.
 * - A watch of a keyed channel remembers which keys the client holds, so an item that stops
 *   matching (or becomes invisible, or is removed) is answered with exactly one `remove`.
 * - When the socket closes, the watches (params, keys held, log offsets) are kept for
 *   `monorail.resume`; `init {id, seq, offsets}` on a new socket takes them over and replays the
 *   bus from `seq` (a fresh `list` when the bus no longer holds it) and the logs from `offsets`.
 *
 * @module
 */

import type { MonoRailParams, MonoRailRequest } from "@pow/protocol";
import { parseMonoRailRequest } from "@pow/protocol";
import { drained } from "./drain.ts";
import type { BusMessage, Subscription } from "../../bus.ts";
import type { OutputReader } from "../../output_log.ts";
import type { Caller } from "../../process.ts";
import type { Session } from "../../session.ts";
import type { SessionManager } from "../../session_manager.ts";
import { toProcessResult } from "./convert.ts";
import { type BusChannel, type Channel, ChannelError } from "./watch_channels.ts";

/** Send-buffer bytes above which a connection stops reading events. */
const HIGH_WATER = 1024 * 1024;
/** The most output bytes in one `logs` item. */
const LOG_ITEM = 64 * 1024;

/**
 * The JSON text of `item` messages by their data, so that an event every watcher gets the same
 * item for (a session's state) is serialized once, not once per connection.
 */
const itemTexts = new WeakMap<object, string>();

interface BusWatch {
  kind: "bus";
  params: MonoRailParams;
  /** Keys the client holds. */
  view: Set<string>;
  /** Events up to this id are already reflected in what the client holds. */
  since: number;
  /**
   * Events up to this id are replayed to a client whose keys are not known (a server-sent
   * events resume): a key that does not match is removed even when not in `view`.
   */
  loose: number;
}

/**
 * What a connection needs of its socket: a WebSocket, or the server-sent events adapter.
 */
export interface RailSocket {
  /** 0 connecting, 1 open, 2 closing, 3 closed. */
  readonly readyState: number;
  /** Bytes queued and not yet sent. */
  readonly bufferedAmount: number;
  /** Sends a text message. */
  send(text: string): void;
  /** Closes. */
  close(code?: number, reason?: string): void;
  /** Listens for `message` (`{data}`) and `close`. */
  addEventListener(
    type: "message" | "close",
    // deno-lint-ignore no-explicit-any
    listener: (event: any) => void,
    options?: AddEventListenerOptions,
  ): void;
}

interface LogWatch {
  kind: "logs";
  params: MonoRailParams;
  session: string;
  /** The offset after the last byte sent. */
  next: number;
  reader?: OutputReader;
  detach?: () => void;
  decoders: Record<string, TextDecoder>;
}

type Watch = BusWatch | LogWatch;

/** What the hub knows of a connection, for broadcasts and resumes. */
export interface ConnectionInfo {
  /** The connection id. */
  readonly id: string;
  /** The channel path, e.g. `sessions` or `topics/news`. */
  readonly channel: string;
  /** Who is connected. */
  readonly caller: Caller;
}

/** What a connection needs from the front end. */
export interface ConnectionHost {
  /** The session manager. */
  readonly manager: SessionManager;
  /** Events queued per connection. */
  readonly queue: number;
  /** Makes a fresh connection id. */
  newId(): string;
  /** Takes over a dropped (or still open) connection's state, when `caller` may. */
  take(id: string, caller: Caller, channel: string): Connection | undefined;
  /** Records that a connection got an id. */
  named(connection: Connection): void;
  /** Called when the socket closed: keep the state for a resume. */
  dropped(connection: Connection): void;
}

/** One MonoRail connection. */
export class Connection implements ConnectionInfo {
  /** The id `init` gave out (empty before). */
  id = "";
  readonly channel: string;
  readonly caller: Caller;
  #socket: RailSocket | undefined;
  #kind: Channel;
  #host: ConnectionHost;
  #watches: Watch[] = [];
  #subscription: Subscription | undefined;
  #seq = 0;
  #queue: Promise<void> = Promise.resolve();

  /**
   * @param socket The socket.
   * @param channel The channel path.
   * @param kind The channel.
   * @param caller Who is connected.
   * @param host The front end.
   */
  constructor(
    socket: RailSocket,
    channel: string,
    kind: Channel,
    caller: Caller,
    host: ConnectionHost,
  ) {
    this.channel = channel;
    this.caller = caller;
    this.#kind = kind;
    this.#host = host;
    this.#attach(socket);
  }

  /** Whether the socket is open. */
  get open(): boolean {
    return this.#socket?.readyState === 1;
  }

  /**
   * Sends a message (dropped when the socket is not open).
   *
   * @param message A JSON-serializable message.
   */
  send(message: unknown): void {
    if (this.#socket?.readyState === 1) this.#socket.send(JSON.stringify(message));
  }

  #sendItem(item: unknown, seq: number): void {
    if (this.#socket?.readyState !== 1) return;
    if (typeof item !== "object" || item === null) {
      return this.send({ handler: "item", data: item, seq });
    }
    let text = itemTexts.get(item);
    if (text === undefined) {
      text = JSON.stringify({ handler: "item", data: item, seq });
      itemTexts.set(item, text);
    }
    this.#socket.send(text);
  }

  /** Ends everything: watches, subscription, socket. */
  close(): void {
    this.#stopAll();
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket && socket.readyState <= 1) socket.close(1001, "server closing");
  }

  /** Detaches the socket, keeping the watches' state for a resume. */
  suspend(): void {
    const socket = this.#socket;
    this.#socket = undefined;
    this.#subscription?.close();
    this.#subscription = undefined;
    for (const watch of this.#watches) {
      if (watch.kind === "logs") this.#closeReader(watch);
    }
    if (socket && socket.readyState <= 1) socket.close(1000, "resumed elsewhere");
  }

  /** Drops the state kept for a resume. */
  forget(): void {
    this.#stopAll();
  }

  #attach(socket: RailSocket): void {
    this.#socket = socket;
    socket.addEventListener("message", (event) => {
      const text = typeof event.data === "string"
        ? event.data
        : new TextDecoder().decode(event.data as ArrayBuffer);
      // Requests are served one after the other, in the order they came.
      this.#queue = this.#queue.then(() => this.#handle(text)).catch((error) => {
        this.send({ handler: "error", code: "unsupported", text: String(error?.message) });
      });
    });
    socket.addEventListener("close", () => {
      if (this.#socket !== socket) return;
      this.#socket = undefined;
      this.#subscription?.close();
      this.#subscription = undefined;
      for (const watch of this.#watches) {
        if (watch.kind === "logs") this.#closeReader(watch);
      }
      this.#host.dropped(this);
    }, { once: true });
  }

  async #handle(text: string): Promise<void> {
    const parsed = parseMonoRailRequest(text);
    if (!parsed.ok) return this.send({ handler: "error", ...parsed.error });
    try {
      await this.#request(parsed.value);
    } catch (error) {
      if (!(error instanceof ChannelError)) throw error;
      this.send({ handler: "error", code: error.code, text: error.message });
    }
  }

  async #request(request: MonoRailRequest): Promise<void> {
    if (request.handler === "init") {
      return this.#init(request.id, request.seq, request.offsets);
    }
    if (request.handler === "stop") return this.#stop(request.params);
    const params = "params" in request && request.params ? request.params : {};
    const kind = this.#kind;
    if (kind.kind === "logs") return this.#logs(request.handler, params);
    if (request.handler === "all") {
      return this.send({ handler: "list", items: await kind.list({}), seq: await this.#lastId() });
    }
    kind.check(request.handler, params);
    if (request.handler === "query") {
      const seq = await this.#lastId();
      return this.send({ handler: "list", items: await kind.list(params), seq });
    }
    if (request.handler === "get") {
      const item = kind.get(params);
      if (item === undefined) return this.send({ handler: "remove", params });
      return this.send({ handler: "item", data: item });
    }
    // watch: the position first, then the snapshot: nothing published between them is missed.
    const since = await this.#lastId();
    const items = await kind.list(params);
    const watch: BusWatch = { kind: "bus", params, view: new Set(), since, loose: 0 };
    for (const item of items) {
      const key = kind.keyOf(item);
      if (key !== undefined) watch.view.add(key);
    }
    this.#watches.push(watch);
    this.send({ handler: "list", items, seq: since });
    this.#subscribe(since);
  }

  /**
   * Watches from a bus position without a first `list`, for a client that holds the items as of
   * `after` (server-sent events with `Last-Event-ID`). Served in order with the requests.
   *
   * @param params The watch's params.
   * @param after The last `seq` the client received.
   */
  watchAfter(params: MonoRailParams, after: number): void {
    this.#queue = this.#queue.then(async () => {
      const kind = this.#kind;
      if (kind.kind !== "bus") return;
      try {
        kind.check("watch", params);
      } catch (error) {
        if (!(error instanceof ChannelError)) throw error;
        return this.send({ handler: "error", code: error.code, text: error.message });
      }
      const now = await this.#lastId();
      const items = await kind.list(params);
      const view = new Set(
        items.map((i) => kind.keyOf(i)).filter((k): k is string => k !== undefined),
      );
      this.#watches.push({ kind: "bus", params, view, since: after, loose: now });
      this.#subscribe(after);
    });
  }

  #lastId(): Promise<number> {
    return this.#host.manager.bus.lastId();
  }

  #init(previous?: string, seq?: number, offsets?: Record<string, number>): void {
    const old = previous && previous !== this.id
      ? this.#host.take(previous, this.caller, this.channel)
      : undefined;
    if (!old) {
      if (!this.id) {
        this.id = this.#host.newId();
        this.#host.named(this);
      }
      return this.send({
        handler: "session",
        id: this.id,
        ...(previous ? { resumed: false } : {}),
      });
    }
    // Take over the old connection's id and watches.
    const watches = old.#watches;
    const after = seq ?? old.#seq;
    old.#watches = [];
    this.id = old.id;
    this.#host.named(this);
    this.send({ handler: "session", id: this.id, resumed: true });
    for (const watch of watches) {
      if (watch.kind === "bus") {
        watch.since = Math.min(watch.since, after);
        this.#watches.push(watch);
      } else {
        const offset = offsets?.[watch.session];
        if (offset !== undefined) watch.next = offset;
        this.#watches.push(watch);
        this.#startLog(watch, false);
      }
    }
    if (watches.some((w) => w.kind === "bus")) {
      this.#seq = after;
      this.#subscribe(after);
    }
  }

  #subscribe(after: number): void {
    if (this.#subscription || this.#kind.kind !== "bus" || !this.#socket) return;
    const subscription = this.#host.manager.bus.subscribe(this.#kind.pattern, {
      after,
      queue: this.#host.queue,
    });
    this.#subscription = subscription;
    void this.#pump(subscription, this.#kind);
  }

  async #pump(subscription: Subscription, channel: BusChannel): Promise<void> {
    while (this.#subscription === subscription) {
      const socket = this.#socket;
      if (socket && socket.bufferedAmount > HIGH_WATER) {
        await drained(socket as WebSocket, HIGH_WATER);
      }
      const { value, done } = await subscription.next();
      if (done || this.#subscription !== subscription) return;
      await this.#deliver(value, channel);
    }
  }

  async #deliver(message: BusMessage, channel: BusChannel): Promise<void> {
    if (message.type === "gap") {
      // Missed events: every watch starts over from a snapshot.
      const since = await this.#lastId();
      for (const watch of this.#watches) {
        if (watch.kind !== "bus") continue;
        const items = await channel.list(watch.params);
        watch.since = since;
        watch.view = new Set(
          items.map((i) => channel.keyOf(i)).filter((k): k is string => k !== undefined),
        );
        this.send({ handler: "list", items, seq: since });
      }
      this.#seq = Math.max(this.#seq, since);
      return;
    }
    const event = message.event;
    this.#seq = event.id;
    const change = channel.change(event);
    if (!change) return;
    for (const watch of this.#watches) {
      if (watch.kind !== "bus" || event.id <= watch.since) continue;
      const { key, item } = change;
      if (item !== undefined && channel.matches(item, watch.params)) {
        if (key !== undefined) watch.view.add(key);
        this.#sendItem(item, event.id);
      } else if (key !== undefined && (watch.view.has(key) || event.id <= watch.loose)) {
        watch.view.delete(key);
        this.send({ handler: "remove", params: { [channel.keyField!]: key }, seq: event.id });
      }
    }
  }

  #stop(params?: MonoRailParams): void {
    const matches = (watch: Watch) =>
      !params ||
      Object.entries(params).every(([k, v]) =>
        JSON.stringify(watch.params[k]) === JSON.stringify(v)
      );
    const stopped = this.#watches.filter(matches);
    this.#watches = this.#watches.filter((w) => !matches(w));
    for (const watch of stopped) {
      if (watch.kind === "logs") this.#closeReader(watch);
    }
    if (!this.#watches.some((w) => w.kind === "bus")) {
      this.#subscription?.close();
      this.#subscription = undefined;
    }
  }

  #stopAll(): void {
    this.#stop(undefined);
  }

  // --- logs ---

  #session(handler: string, params: MonoRailParams): Session | undefined {
    const allowed = ["session", "offset"];
    for (const key of Object.keys(params)) {
      if (!allowed.includes(key) || (handler === "get" && key === "offset")) {
        throw new ChannelError(
          "bad_params",
          `Invalid params of "${handler}": unknown key "${key}"; expected ${
            handler === "get" ? "session" : allowed.join(", ")
          }`,
        );
      }
    }
    if (typeof params.session !== "string") {
      throw new ChannelError("bad_params", `Invalid params of "${handler}": "session" is required`);
    }
    const offset = params.offset;
    if (offset !== undefined && (!Number.isSafeInteger(offset) || (offset as number) < 0)) {
      throw new ChannelError(
        "bad_params",
        `Invalid params of "${handler}": "offset" must be a byte offset`,
      );
    }
    return this.#host.manager.get(params.session, this.caller);
  }

  #logs(handler: "query" | "all" | "get" | "watch", params: MonoRailParams): void {
    if (handler === "all") {
      throw new ChannelError(
        "unsupported",
        'Cannot "all" on channel "logs": name a session with "query" or "watch" {session}',
      );
    }
    const session = this.#session(handler, params);
    const id = params.session as string;
    if (!session) return this.send({ handler: "remove", params: { session: id } });
    const offset = (params.offset as number | undefined) ?? session.log.start;
    if (offset > session.log.end) {
      throw new ChannelError(
        "bad_params",
        `Invalid offset ${offset}: session "${id}" has only ${session.log.end} bytes of output so far`,
      );
    }
    if (handler === "get") {
      const chunks = session.log.retained();
      const decoder = new TextDecoder();
      const text = chunks.map((c) => decoder.decode(c.data, { stream: true })).join("") +
        decoder.decode();
      return this.send({
        handler: "item",
        data: { session: id, offset: session.log.start, next: session.log.end, text },
      });
    }
    if (handler === "query") {
      const reader = session.log.reader({ offset });
      try {
        const decoders: Record<string, TextDecoder> = {};
        const items = reader.readAvailable().map((chunk) => {
          const decoder = decoders[chunk.stream] ??= new TextDecoder();
          return {
            session: id,
            stream: chunk.stream,
            offset: chunk.offset,
            next: chunk.offset + chunk.data.length,
            text: decoder.decode(chunk.data, { stream: true }),
          };
        });
        return this.send({ handler: "list", items });
      } finally {
        reader.close();
      }
    }
    const watch: LogWatch = { kind: "logs", params, session: id, next: offset, decoders: {} };
    this.#watches.push(watch);
    this.#startLog(watch, true);
  }

  #closeReader(watch: LogWatch): void {
    watch.reader?.close();
    watch.reader = undefined;
    watch.detach?.();
    watch.detach = undefined;
  }

  #startLog(watch: LogWatch, first: boolean): void {
    const session = this.#host.manager.get(watch.session, this.caller);
    if (!session) {
      this.#watches = this.#watches.filter((w) => w !== watch);
      return this.send({ handler: "remove", params: { session: watch.session } });
    }
    const reader = session.reader({ offset: Math.min(watch.next, session.log.end) });
    watch.reader = reader;
    watch.detach = session.attach();
    const item = (chunk: { stream: string; offset: number; data: Uint8Array }) => {
      const decoder = watch.decoders[chunk.stream] ??= new TextDecoder();
      watch.next = chunk.offset + chunk.data.length;
      return {
        session: watch.session,
        stream: chunk.stream,
        offset: chunk.offset,
        next: watch.next,
        text: decoder.decode(chunk.data, { stream: true }),
      };
    };
    if (first) this.send({ handler: "list", items: reader.readAvailable(LOG_ITEM * 16).map(item) });
    void (async () => {
      while (watch.reader === reader) {
        const socket = this.#socket;
        if (socket && socket.bufferedAmount > HIGH_WATER) {
          await drained(socket as WebSocket, HIGH_WATER);
        }
        const chunks = await reader.read({ maxBytes: LOG_ITEM });
        if (watch.reader !== reader) return;
        if (chunks === null) {
          const result = await session.result;
          this.#closeReader(watch);
          this.#watches = this.#watches.filter((w) => w !== watch);
          return this.send({
            handler: "remove",
            params: {
              session: watch.session,
              offset: session.log.end,
              result: toProcessResult(result),
            },
          });
        }
        for (const chunk of chunks) this.send({ handler: "item", data: item(chunk) });
      }
    })();
  }
}
