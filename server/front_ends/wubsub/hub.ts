/**
 * The wubsub hub: channels, their owners, subscriptions and pending requests, independent of
 * any socket. A connection is a {@linkcode WubsubPeer} (something that can be sent messages);
 * the WebSocket adapter and the client-provided processes are both thin layers over this.
 *
 * Pub/sub runs on pow's event bus: the wubsub topic `<channel>/<topic>` is the bus topic
 * `topic.<channel>.<topic>`, and the published `data` is the event's data, unchanged. Every
 * subscriber has its own bounded bus subscription; one that does not read is told how many
 * messages it missed (an `error` with `missed`), never buffered without limit.
 *
 * @module
 */

import type { BusEvent, EventBus, Subscription } from "../../bus.ts";
import type { Caller, ProcessDefinition } from "../../process.ts";
import { formatDuration } from "../../units.ts";
import type { ClientMessage, ErrorMessage, ServerMessage } from "./messages.ts";
import { parseClientMessage } from "./messages.ts";
import { providedProcess } from "./provided.ts";

/** Where client-provided methods go: pow's process catalogue (the session manager). */
export interface Catalogue {
  /** The processes by name. */
  readonly processes: Record<string, ProcessDefinition>;
  /** Adds or replaces a process. */
  setProcess(name: string, definition: ProcessDefinition): void;
  /** Removes a process. */
  removeProcess(name: string): boolean;
}

/** Options for {@linkcode WubsubHub}. */
export interface WubsubHubOptions {
  /** The event bus topics are published on. */
  bus: EventBus;
  /** Where registered methods become processes named `<channel>/<method>`. */
  catalogue?: Catalogue;
  /** Process names a channel may never take (the configured processes). @default {[]} */
  reserved?: Iterable<string>;
  /** Token names or roles that may register channels (`"*"`: everyone). @default {["*"]} */
  register?: readonly string[];
  /** Token names or roles that may call methods; unset means everyone. */
  allow?: readonly string[];
  /** Milliseconds a request waits for its answer. @default {30000} */
  requestTimeout?: number;
  /** Requests one caller may have waiting at once. @default {64} */
  maxPendingPerCaller?: number;
  /** Requests one channel owner may have to answer at once. @default {1024} */
  maxPendingPerOwner?: number;
  /** Published messages queued per subscriber before it is told it missed some. @default {1024} */
  subscriberQueue?: number;
  /** Channels one connection may own. @default {64} */
  maxChannels?: number;
}

/** One end of the hub: a wubsub WebSocket, or anything else that takes server messages. */
export interface WubsubPeer {
  /** Who is connected. */
  readonly caller: Caller;
  /** Sends a message (never blocks). */
  send(message: ServerMessage): void;
  /** Resolves when the peer can take more published messages (its send buffer drained). */
  ready(): Promise<void>;
}

/** A registered channel, as listed by {@linkcode WubsubHub.channels}. */
export interface ChannelInfo {
  /** The channel's name. */
  readonly name: string;
  /** Its description, if the owner gave one. */
  readonly description?: string;
  /** Who owns it. */
  readonly owner: string;
  /** Its topics. */
  readonly topics: readonly string[];
  /** Its methods. */
  readonly methods: readonly string[];
}

interface Channel {
  name: string;
  description?: string;
  owner: Connection;
  topics: Set<string>;
  methods: Set<string>;
}

interface Requester {
  /** What the per-caller bound counts by. */
  key: string;
  deliver(pending: Pending, data: unknown): void;
  fail(error: ErrorMessage): void;
}

interface Pending {
  reqid: string;
  channel: Channel;
  method: string;
  requester: Requester;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * Converts a wubsub channel and topic to the bus topic they are published on.
 *
 * @example
 * ```ts
 * import { busTopic } from "./hub.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(busTopic("sample_channel", "responses"), "topic.sample_channel.responses");
 * ```
 *
 * @param channel The channel.
 * @param topic The topic.
 * @returns `topic.<channel>.<topic>`.
 */
export function busTopic(channel: string, topic: string): string {
  return `topic.${channel}.${topic}`;
}

function matches(list: readonly string[], caller: Caller): boolean {
  return list.includes("*") || list.includes(caller.id) ||
    (caller.roles ?? []).some((role) => list.includes(role));
}

const gone = (channel: string) => `Channel "${channel}" is gone: its owner disconnected`;

/** One connection to the hub. */
export class Connection {
  /** The peer. */
  readonly peer: WubsubPeer;
  /** What the per-caller bound counts this connection's requests by. */
  readonly key: string;
  readonly #hub: WubsubHub;
  /** Channels it owns. */
  readonly channels: Set<Channel> = new Set();
  /** Subscriptions by `<channel>/<topic>`. */
  readonly subscriptions: Map<string, Subscription> = new Map();
  #closed = false;

  constructor(hub: WubsubHub, peer: WubsubPeer, key: string) {
    this.#hub = hub;
    this.peer = peer;
    this.key = key;
  }

  /** Whether {@linkcode close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Handles one message from the client.
   *
   * @param text The message text.
   */
  receive(text: string): void {
    if (this.#closed) return;
    const parsed = parseClientMessage(text);
    if (!parsed.ok) return this.send(parsed.error);
    this.#hub.handle(this, parsed.message);
  }

  /**
   * Sends a message unless closed.
   *
   * @param message The message.
   */
  send(message: ServerMessage): void {
    if (!this.#closed) this.peer.send(message);
  }

  /** Ends the connection: its channels go, its subscriptions end, its requests are dropped. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#hub.disconnect(this);
  }
}

/**
 * Channels, subscriptions and requests of every wubsub connection.
 *
 * @example Publish to a subscriber
 * ```ts
 * import { MemoryEventBus } from "../../bus.ts";
 * import { WubsubHub } from "./hub.ts";
 * import assert from "node:assert/strict";
 *
 * const hub = new WubsubHub({ bus: new MemoryEventBus() });
 * const seen: unknown[] = [];
 * const peer = (id: string) => ({
 *   caller: { id },
 *   send: (m: unknown) => seen.push(m),
 *   ready: () => Promise.resolve(),
 * });
 * const owner = hub.connect(peer("owner"));
 * const reader = hub.connect(peer("reader"));
 * owner.receive(JSON.stringify({ type: "register", channel: "news", data: { pubsub: { topics: ["today"] } } }));
 * reader.receive(JSON.stringify({ type: "ps-sub", channel: "news", topic: "today" }));
 * owner.receive(JSON.stringify({ type: "ps-pub", channel: "news", topic: "today", data: 1 }));
 * await new Promise((r) => setTimeout(r, 0));
 * assert.deepEqual(seen, [{ type: "ps-recv", channel: "news", topic: "today", data: 1 }]);
 * hub.close();
 * ```
 */
export class WubsubHub {
  readonly #bus: EventBus;
  readonly #options: WubsubHubOptions;
  readonly #reserved: Set<string>;
  readonly #channels = new Map<string, Channel>();
  readonly #connections = new Set<Connection>();
  readonly #pending = new Map<string, Pending>();
  readonly #perCaller = new Map<string, number>();
  readonly #perOwner = new Map<Connection, number>();
  readonly #provided = new Set<string>();
  /** One `ps-recv` per event, shared by every subscriber (so a peer can encode it once). */
  readonly #received = new WeakMap<BusEvent, ServerMessage>();
  #nextKey = 1;

  /**
   * Makes a hub.
   *
   * @param options The bus, the catalogue, authorization and limits.
   */
  constructor(options: WubsubHubOptions) {
    this.#bus = options.bus;
    this.#options = options;
    this.#reserved = new Set(options.reserved ?? []);
  }

  /** Requests waiting for an answer. */
  get pending(): number {
    return this.#pending.size;
  }

  /**
   * The registered channels.
   *
   * @returns Their names, owners, topics and methods.
   */
  channels(): ChannelInfo[] {
    return [...this.#channels.values()].map((c) => ({
      name: c.name,
      description: c.description,
      owner: c.owner.peer.caller.id,
      topics: [...c.topics],
      methods: [...c.methods],
    }));
  }

  /**
   * Whether a channel is registered.
   *
   * @param name The channel's name.
   * @returns `true` while its owner is connected.
   */
  has(name: string): boolean {
    return this.#channels.has(name);
  }

  /**
   * Connects a peer.
   *
   * @param peer Where the connection's messages go.
   * @returns The connection; pass it the client's messages and close it when the peer leaves.
   */
  connect(peer: WubsubPeer): Connection {
    const connection = new Connection(this, peer, `connection:${this.#nextKey++}`);
    this.#connections.add(connection);
    return connection;
  }

  /**
   * Calls a method of a channel on behalf of a pow caller (a client-provided process).
   *
   * @param channel The channel.
   * @param method The method.
   * @param data The request data.
   * @param caller Who calls; the per-caller bound counts by its id.
   * @param signal Drops the request when aborted.
   * @returns The owner's answer.
   * @throws {Error} When the request is refused, the owner leaves or does not answer in time.
   */
  request(
    channel: string,
    method: string,
    data: unknown,
    caller: Caller,
    signal?: AbortSignal,
  ): Promise<unknown> {
    const { promise, resolve, reject } = Promise.withResolvers<unknown>();
    const started: { reqid?: string } = {};
    const onAbort = () => {
      if (started.reqid) this.#settle(started.reqid);
      reject(signal!.reason);
    };
    const requester: Requester = {
      key: `caller:${caller.id}`,
      deliver: (_pending, value) => {
        signal?.removeEventListener("abort", onAbort);
        resolve(value);
      },
      fail: (error) => {
        signal?.removeEventListener("abort", onAbort);
        reject(new Error(error.data));
      },
    };
    if (signal?.aborted) return Promise.reject(signal.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    started.reqid = this.#request(requester, caller, channel, method, data);
    return promise;
  }

  /** Drops every connection and request. */
  close(): void {
    for (const connection of [...this.#connections]) connection.close();
  }

  /**
   * Handles a parsed message of a connection.
   *
   * @param connection The sender.
   * @param message The message.
   */
  handle(connection: Connection, message: ClientMessage): void {
    switch (message.type) {
      case "register":
        return this.#register(connection, message);
      case "ps-pub": {
        const channel = this.#channels.get(message.channel);
        if (!channel) return connection.send(this.#unknownChannel(message.channel));
        if (channel.owner !== connection) {
          return connection.send({
            type: "error",
            data: "Tried to publish to channel you aren't a publisher for.",
            channel: message.channel,
            topic: message.topic,
          });
        }
        if (!channel.topics.has(message.topic)) {
          return connection.send(this.#unknownTopic(message.channel, message.topic));
        }
        void this.#bus.publish(busTopic(channel.name, message.topic), message.data ?? null)
          .catch(() => {});
        return;
      }
      case "ps-sub": {
        const channel = this.#channels.get(message.channel);
        if (!channel) return connection.send(this.#unknownChannel(message.channel));
        if (!channel.topics.has(message.topic)) {
          return connection.send(this.#unknownTopic(message.channel, message.topic));
        }
        const key = `${message.channel}/${message.topic}`;
        if (connection.subscriptions.has(key)) return; // already subscribed
        const subscription = this.#bus.subscribe(busTopic(message.channel, message.topic), {
          queue: this.#options.subscriberQueue ?? 1024,
        });
        connection.subscriptions.set(key, subscription);
        void this.#pump(connection, message.channel, message.topic, subscription);
        return;
      }
      case "ps-unsub": {
        const key = `${message.channel}/${message.topic}`;
        connection.subscriptions.get(key)?.close();
        connection.subscriptions.delete(key);
        return;
      }
      case "pie-do": {
        const requester: Requester = {
          key: connection.key,
          deliver: (pending, data) =>
            connection.send({
              type: "pie-recv",
              channel: pending.channel.name,
              reqid: pending.reqid,
              topic: pending.method,
              data: data ?? null,
            }),
          fail: (error) => connection.send(error),
        };
        this.#request(
          requester,
          connection.peer.caller,
          message.channel,
          message.topic,
          message.data,
          connection,
        );
        return;
      }
      case "pie-resp": {
        const pending = this.#pending.get(message.reqid);
        if (!pending || pending.channel.owner !== connection) {
          return connection.send({
            type: "error",
            data:
              `Unknown request "${message.reqid}": it was answered, timed out, or was not sent to you`,
            reqid: message.reqid,
          });
        }
        this.#settle(message.reqid);
        pending.requester.deliver(pending, message.data);
        return;
      }
    }
  }

  /**
   * Removes a connection: its channels go (their subscribers and waiting callers are told), its
   * subscriptions end, and answers to its own requests are no longer delivered.
   *
   * @param connection The connection.
   */
  disconnect(connection: Connection): void {
    if (!this.#connections.delete(connection)) return;
    for (const subscription of connection.subscriptions.values()) subscription.close();
    connection.subscriptions.clear();
    for (const channel of connection.channels) this.#remove(channel);
    connection.channels.clear();
    // Requests it made stay pending until answered or timed out (the owner's answer is then
    // dropped quietly), so the owner's bound still counts them.
    for (const pending of this.#pending.values()) {
      if (pending.requester.key === connection.key) {
        pending.requester = { key: connection.key, deliver() {}, fail() {} };
      }
    }
  }

  #register(connection: Connection, message: ClientMessage & { type: "register" }): void {
    const name = message.channel;
    const caller = connection.peer.caller;
    const refuse = (data: string) => connection.send({ type: "error", data, channel: name });
    if (!matches(this.#options.register ?? ["*"], caller)) {
      return refuse(
        `Not authorized to register channel "${name}": caller "${caller.id}" is not in wubsub.register`,
      );
    }
    if (this.#channels.has(name)) return refuse(`Channel "${name}" is already registered`);
    const maxChannels = this.#options.maxChannels ?? 64;
    if (connection.channels.size >= maxChannels) {
      return refuse(
        `Cannot register channel "${name}": this connection already owns ${maxChannels} channels (wubsub.maxChannels)`,
      );
    }
    const catalogue = this.#options.catalogue;
    for (const method of message.data.restpie.methods) {
      const process = `${name}/${method}`;
      if (
        this.#reserved.has(process) ||
        (catalogue && Object.hasOwn(catalogue.processes, process) && !this.#provided.has(process))
      ) {
        return refuse(
          `Cannot register channel "${name}": method "${method}" would shadow the configured process "${process}"`,
        );
      }
    }
    const channel: Channel = {
      name,
      description: message.data.description,
      owner: connection,
      topics: new Set(message.data.pubsub.topics),
      methods: new Set(message.data.restpie.methods),
    };
    this.#channels.set(name, channel);
    connection.channels.add(channel);
    if (!catalogue) return;
    for (const method of channel.methods) {
      const process = `${name}/${method}`;
      this.#provided.add(process);
      catalogue.setProcess(
        process,
        providedProcess(this, name, method, {
          description: channel.description,
          allow: this.#options.allow,
          owner: caller.id,
        }),
      );
    }
  }

  #remove(channel: Channel): void {
    if (this.#channels.get(channel.name) !== channel) return;
    this.#channels.delete(channel.name);
    for (const method of channel.methods) {
      const process = `${channel.name}/${method}`;
      this.#provided.delete(process);
      this.#options.catalogue?.removeProcess(process);
    }
    for (const pending of [...this.#pending.values()]) {
      if (pending.channel !== channel) continue;
      this.#settle(pending.reqid);
      pending.requester.fail({
        type: "error",
        data: `Request to "${channel.name}/${pending.method}" failed: ${gone(channel.name)}`,
        channel: channel.name,
        topic: pending.method,
        reqid: pending.reqid,
      });
    }
    const prefix = `${channel.name}/`;
    for (const connection of this.#connections) {
      let told = false;
      for (const [key, subscription] of connection.subscriptions) {
        if (!key.startsWith(prefix)) continue;
        subscription.close();
        connection.subscriptions.delete(key);
        if (!told && connection !== channel.owner) {
          told = true;
          connection.send({ type: "error", data: gone(channel.name), channel: channel.name });
        }
      }
    }
  }

  /** Starts a request; returns its id, or `undefined` when it was refused (and told). */
  #request(
    requester: Requester,
    caller: Caller,
    channelName: string,
    method: string,
    data: unknown,
    ack?: Connection,
  ): string | undefined {
    const channel = this.#channels.get(channelName);
    if (!channel) {
      requester.fail(this.#unknownChannel(channelName));
      return undefined;
    }
    const refuse = (text: string) => {
      requester.fail({ type: "error", data: text, channel: channelName, topic: method });
      return undefined;
    };
    if (!channel.methods.has(method)) {
      return refuse(`Unknown method "${method}" on channel "${channelName}"`);
    }
    const allow = this.#options.allow;
    if (allow && !matches(allow, caller)) {
      return refuse(
        `Not authorized to call "${channelName}/${method}": caller "${caller.id}" is not in wubsub.allow`,
      );
    }
    const perCaller = this.#options.maxPendingPerCaller ?? 64;
    if ((this.#perCaller.get(requester.key) ?? 0) >= perCaller) {
      return refuse(
        `Too many pending requests: ${perCaller} of yours are waiting for an answer (wubsub.maxPendingPerCaller)`,
      );
    }
    const perOwner = this.#options.maxPendingPerOwner ?? 1024;
    if ((this.#perOwner.get(channel.owner) ?? 0) >= perOwner) {
      return refuse(
        `Too many pending requests: the owner of "${channelName}" has ${perOwner} requests to answer (wubsub.maxPendingPerOwner)`,
      );
    }
    const reqid = crypto.randomUUID();
    const timeout = this.#options.requestTimeout ?? 30_000;
    const timer = setTimeout(() => {
      const pending = this.#pending.get(reqid);
      if (!pending) return;
      this.#settle(reqid);
      pending.requester.fail({
        type: "error",
        data: `Request to "${channelName}/${method}" timed out after ${
          formatDuration(timeout)
        }: the owner did not answer`,
        channel: channelName,
        topic: method,
        reqid,
      });
    }, timeout);
    this.#pending.set(reqid, { reqid, channel, method, requester, timer });
    this.#perCaller.set(requester.key, (this.#perCaller.get(requester.key) ?? 0) + 1);
    this.#perOwner.set(channel.owner, (this.#perOwner.get(channel.owner) ?? 0) + 1);
    ack?.send({ type: "pie-ack", channel: channelName, topic: method, reqid });
    const request: ServerMessage = { type: "pie-req", channel: channelName, topic: method, reqid };
    if (data !== undefined) request.data = data;
    channel.owner.send(request);
    return reqid;
  }

  /** Forgets a pending request (answered, failed or abandoned). */
  #settle(reqid: string): void {
    const pending = this.#pending.get(reqid);
    if (!pending) return;
    this.#pending.delete(reqid);
    clearTimeout(pending.timer);
    const key = pending.requester.key;
    const left = (this.#perCaller.get(key) ?? 1) - 1;
    if (left > 0) this.#perCaller.set(key, left);
    else this.#perCaller.delete(key);
    const owner = pending.channel.owner;
    const owed = (this.#perOwner.get(owner) ?? 1) - 1;
    if (owed > 0) this.#perOwner.set(owner, owed);
    else this.#perOwner.delete(owner);
  }

  async #pump(
    connection: Connection,
    channel: string,
    topic: string,
    subscription: Subscription,
  ): Promise<void> {
    for await (const message of subscription) {
      if (message.type === "gap") {
        connection.send({
          type: "error",
          data:
            `Missed ${message.missed} messages on "${channel}/${topic}": they were published faster than you read them`,
          channel,
          topic,
          missed: message.missed,
        });
        continue;
      }
      await connection.peer.ready();
      if (connection.closed) break;
      let received = this.#received.get(message.event);
      if (!received) {
        received = { type: "ps-recv", channel, topic, data: message.event.data };
        this.#received.set(message.event, received);
      }
      connection.send(received);
    }
  }

  #unknownChannel(channel: string): ErrorMessage {
    return { type: "error", data: `Unknown channel "${channel}"`, channel };
  }

  #unknownTopic(channel: string, topic: string): ErrorMessage {
    return {
      type: "error",
      data: `Unknown topic "${topic}" on channel "${channel}"`,
      channel,
      topic,
    };
  }
}
