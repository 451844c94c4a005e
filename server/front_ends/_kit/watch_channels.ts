/**
 * The watchable channels over pow's core (part of the watch kit, see `_watch.ts`): what each channel lists, how its params filter, and how
 * a bus event becomes an `item` or a `remove` for one caller. Every answer is filtered by what
 * the caller may see, exactly as on the other front ends: processes the caller may run, sessions
 * the caller owns (or all, for `sessions.viewers`).
 *
 * @module
 */

import type { MonoRailParams } from "@pow/protocol";
import { toProcessInfo } from "./convert.ts";
import type { BusEvent, EventBus } from "../../bus.ts";
import { topicMatcher } from "../../bus.ts";
import type { Caller } from "../../process.ts";
import { type SessionEvent, type SessionManager, sessionRecord } from "../../session_manager.ts";
import { SERVER_LOG_TOPIC } from "../../server_log.ts";

/** A request the channel cannot serve: sent back as an `error` message. */
export class ChannelError extends Error {
  /**
   * @param code The MonoRail error code.
   * @param message What is wrong.
   */
  constructor(readonly code: "bad_params" | "unsupported" | "not_allowed", message: string) {
    super(message);
  }
}

/** What a bus event means for one item of a keyed channel. */
export interface Change {
  /** The item's key (`undefined` for channels of events, where every event is a new item). */
  key: string | undefined;
  /** The item now, or `undefined` when it is gone or the caller may not see it. */
  item: unknown;
}

/** A channel whose items change through bus events. */
export interface BusChannel {
  /** Discriminates channels. */
  readonly kind: "bus";
  /** The bus pattern of its events. */
  readonly pattern: string;
  /** The field that identifies an item in `remove` params (`name`, `id`). */
  readonly keyField: string | undefined;
  /** Throws a {@linkcode ChannelError} when `params` are not valid for `handler`. */
  check(handler: "query" | "get" | "watch", params: MonoRailParams): void;
  /** The items matching `params`, now. */
  list(params: MonoRailParams): Promise<unknown[]>;
  /** The item `params` identify, or `undefined` (answered with `remove`). */
  get(params: MonoRailParams): unknown;
  /** The item key of an item. */
  keyOf(item: unknown): string | undefined;
  /** Whether an item matches a watch's params. */
  matches(item: unknown, params: MonoRailParams): boolean;
  /** What an event means (`undefined`: nothing for this caller). */
  change(event: BusEvent): Change | undefined;
}

/** The `logs` channel: session output, read through the session's output reader. */
export interface LogsChannel {
  /** Discriminates channels. */
  readonly kind: "logs";
}

/** A channel. */
export type Channel = BusChannel | LogsChannel;

/** What channels are made from. */
export interface ChannelContext {
  /** The session manager. */
  manager: SessionManager;
  /** Token names or roles that may see the `server` channel. */
  admins: readonly string[];
}

/** The most events `query`/`all` return on an event channel (`server`, `topics/...`). */
export const RECENT_EVENTS = 100;

function only(handler: string, params: MonoRailParams, keys: string[]): void {
  for (const key of Object.keys(params)) {
    if (!keys.includes(key)) {
      throw new ChannelError(
        "bad_params",
        keys.length === 0
          ? `Invalid params of "${handler}": this channel takes none, got "${key}"`
          : `Invalid params of "${handler}": unknown key "${key}"; expected ${keys.join(", ")}`,
      );
    }
  }
}

function strings(handler: string, params: MonoRailParams, keys: string[]): void {
  for (const key of keys) {
    if (params[key] !== undefined && typeof params[key] !== "string") {
      throw new ChannelError(
        "bad_params",
        `Invalid params of "${handler}": "${key}" must be a string`,
      );
    }
  }
}

function required(handler: string, params: MonoRailParams, key: string): void {
  if (typeof params[key] !== "string") {
    throw new ChannelError("bad_params", `Invalid params of "${handler}": "${key}" is required`);
  }
}

/**
 * Whether a caller is an admin: its token name or one of its roles is listed.
 *
 * @param caller Who is calling.
 * @param admins Token names or roles.
 * @returns `true` for admins.
 */
export function isAdmin(caller: Caller, admins: readonly string[]): boolean {
  return admins.includes(caller.id) || (caller.roles ?? []).some((r) => admins.includes(r));
}

function processesChannel(context: ChannelContext, caller: Caller): BusChannel {
  const { manager } = context;
  const info = (name: string) => {
    const definition = Object.hasOwn(manager.processes, name) ? manager.processes[name] : undefined;
    return definition && manager.allowed(definition, caller)
      ? toProcessInfo(name, definition)
      : undefined;
  };
  return {
    kind: "bus",
    pattern: "process.*",
    keyField: "name",
    check(handler, params) {
      only(handler, params, ["name"]);
      strings(handler, params, ["name"]);
      if (handler === "get") required(handler, params, "name");
    },
    list(params) {
      const names = Object.keys(manager.processes).sort();
      return Promise.resolve(
        names.map(info).filter((item) => item && this.matches(item, params)),
      );
    },
    get: (params) => info(params.name as string),
    keyOf: (item) => (item as { name: string }).name,
    matches: (item, params) =>
      params.name === undefined || (item as { name: string }).name === params.name,
    change(event) {
      const name = (event.data as { name: string }).name;
      return { key: name, item: info(name) };
    },
  };
}

const SESSION_FILTERS = ["id", "name", "state", "owner"];

function sessionsChannel(context: ChannelContext, caller: Caller): BusChannel {
  const { manager } = context;
  const summary = (id: string): SessionEvent | undefined => {
    const session = manager.get(id, caller);
    return session && sessionRecord(session, manager.node);
  };
  return {
    kind: "bus",
    pattern: "session.*",
    keyField: "id",
    check(handler, params) {
      only(handler, params, handler === "get" ? ["id"] : SESSION_FILTERS);
      strings(handler, params, SESSION_FILTERS);
      if (handler === "get") required(handler, params, "id");
    },
    async list(params) {
      // The store's records (every node's, in a cluster), the same shape as the events.
      return (await manager.listAll(caller)).filter((item) => this.matches(item, params));
    },
    get: (params) => summary(params.id as string),
    keyOf: (item) => (item as SessionEvent).id,
    matches(item, params) {
      const record = item as unknown as Record<string, unknown>;
      return SESSION_FILTERS.every((key) =>
        params[key] === undefined || record[key] === params[key]
      );
    },
    change(event) {
      const data = event.data as SessionEvent;
      if (!manager.visibleRecord(data, caller)) return undefined;
      return { key: data.id, item: event.topic === "session.removed" ? undefined : data };
    },
  };
}

/** Reads the recent events of a pattern that the bus still holds, oldest first. */
async function recent(bus: EventBus, pattern: string, limit: number): Promise<BusEvent[]> {
  const last = await bus.lastId();
  const subscription = bus.subscribe(pattern, { after: 0, queue: 1_000_000 });
  const events: BusEvent[] = [];
  try {
    // Replayed history is queued at once; read exactly what is pending now.
    for (let n = subscription.pending; n > 0; n--) {
      const { value, done } = await subscription.next();
      if (done) break;
      if (value.type === "event" && value.event.id <= last) events.push(value.event);
    }
  } finally {
    subscription.close();
  }
  return events.slice(-limit);
}

function eventsChannel(
  context: ChannelContext,
  pattern: string,
  toItem: (event: BusEvent) => unknown,
): BusChannel {
  return {
    kind: "bus",
    pattern,
    keyField: undefined,
    check(handler, params) {
      if (handler === "get") {
        throw new ChannelError(
          "unsupported",
          'Cannot "get" on an event channel: its items have no identity; use "query" or "watch"',
        );
      }
      only(handler, params, []);
    },
    async list() {
      return (await recent(context.manager.bus, pattern, RECENT_EVENTS)).map(toItem);
    },
    get: () => undefined,
    keyOf: () => undefined,
    matches: () => true,
    change: (event) => ({ key: undefined, item: toItem(event) }),
  };
}

/** An item of the `topics/<name>` channels: one event of the bus topic. */
export interface TopicItem {
  /** The topic, e.g. `topic.news`. */
  topic: string;
  /** What was published. */
  data: unknown;
  /** When (epoch milliseconds). */
  time: number;
}

/** An item of the `server` channel: one server log line. */
export interface ServerLogItem {
  /** `info`, `warn` or `error`. */
  level: string;
  /** The text. */
  text: string;
  /** When (epoch milliseconds). */
  time: number;
}

/**
 * Makes the channel a connection path names, for a caller.
 *
 * @param name The channel path after the prefix: `processes`, `sessions`, `logs`, `server` or
 * `topics/<name>`.
 * @param context The core.
 * @param caller Who is calling.
 * @returns The channel; `undefined` for an unknown one.
 * @throws {ChannelError} `not_allowed` for `server` when the caller is no admin.
 */
export function openChannel(
  name: string,
  context: ChannelContext,
  caller: Caller,
): Channel | undefined {
  switch (name) {
    case "processes":
      return processesChannel(context, caller);
    case "sessions":
      return sessionsChannel(context, caller);
    case "logs":
      return { kind: "logs" };
    case "server":
      if (!isAdmin(caller, context.admins)) {
        throw new ChannelError(
          "not_allowed",
          `Cannot watch channel "server": caller "${caller.id}" is not an admin`,
        );
      }
      return eventsChannel(context, SERVER_LOG_TOPIC, (event): ServerLogItem => ({
        ...(event.data as { level: string; text: string }),
        time: event.time,
      }));
  }
  const topic = /^topics\/(.+)$/.exec(name)?.[1];
  if (topic === undefined) return undefined;
  const pattern = `topic.${topic}`;
  try {
    topicMatcher(pattern);
  } catch {
    return undefined;
  }
  return eventsChannel(context, pattern, (event): TopicItem => ({
    topic: event.topic,
    data: event.data,
    time: event.time,
  }));
}
