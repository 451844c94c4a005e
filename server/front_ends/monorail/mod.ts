/**
 * The MonoRail front end: the MonoRail WebSocket resource protocol over pow's sessions,
 * processes, logs, server log and bus topics. A client connects to `<prefix>/<channel>` (default
 * `/events/sessions`) without a subprotocol and exchanges JSON messages with a `handler`:
 * `init` -> `session`, `query`/`all` -> `list`, `get` -> `item`/`remove`, `watch` -> `list` then
 * `item`/`remove` until `stop`. Servers broadcast to all connections or a subset.
 *
 * Authentication and origin checks are the server's (done before this front end's route runs);
 * each channel shows only what the caller may see on the other front ends. See `docs/events.md`.
 *
 * @example Watch the sessions channel
 * ```ts
 * import { createServer, defaultConfig, listen } from "../../../mod.ts";
 * import { monorail } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const config = defaultConfig();
 * config.server.port = 0;
 * const running = await listen(createServer(config, { frontEnds: [monorail] }), { onListen() {} });
 * const socket = new WebSocket(new URL("events/sessions", running.url.href.replace("http", "ws")));
 * const first = new Promise<string>((resolve) => socket.onmessage = (e) => resolve(e.data));
 * socket.onopen = () => socket.send(JSON.stringify({ handler: "watch" }));
 * assert.deepEqual(JSON.parse(await first), { handler: "list", items: [], seq: 0 });
 * socket.close();
 * await running.shutdown();
 * ```
 *
 * @module
 */

import type { Context, Hono } from "hono";
import type { MonoRailConfig } from "./config.ts";
import type { FrontEnd, FrontEndContext, FrontEndFactory, PowEnv } from "../../front_end.ts";
import type { Caller } from "../../process.ts";
import type { PowServer } from "../../server.ts";
import type { Subscription } from "../../bus.ts";
import { newSessionId } from "../../session_manager.ts";
import { type Channel, ChannelError, isAdmin, openChannel } from "../_kit/watch_channels.ts";
import { Connection, type ConnectionInfo } from "../_kit/watch.ts";
import { SseSocket } from "./sse.ts";

export type { ConnectionInfo } from "../_kit/watch.ts";
export { type MonoRailConfig, monorailConfigSection } from "./config.ts";
import { monorailConfigSection } from "./config.ts";
export {
  isAdmin,
  RECENT_EVENTS,
  type ServerLogItem,
  type TopicItem,
} from "../_kit/watch_channels.ts";

/**
 * The bus topic that broadcasts to MonoRail connections: publish
 * {@linkcode BroadcastRequest} data (from a TypeScript process: `ctx.bus.publish(...)`).
 */
export const BROADCAST_TOPIC = "monorail.broadcast";

/**
 * Which connections a broadcast skips: a connection id, a list of ids, or a predicate that
 * returns `true` for the connections to skip.
 */
export type BroadcastSkip =
  | string
  | readonly string[]
  | ((connection: ConnectionInfo) => boolean);

/** The data of a {@linkcode BROADCAST_TOPIC} event, and the body of `POST <prefix>/broadcast`. */
export interface BroadcastRequest {
  /** The message: a JSON object with a `handler` string. */
  message: { handler: string; [key: string]: unknown };
  /** Connection ids to skip. */
  skip?: string[];
  /** Only connections of this channel (e.g. `sessions`). */
  channel?: string;
}

/** The MonoRail front end, with its broadcast method. */
export interface MonoRailFrontEnd extends FrontEnd {
  /**
   * Sends a message to every open connection (that has sent `init` or not), but those skipped.
   *
   * @param message A JSON object with a `handler` string, or its JSON text.
   * @param skip Connections to leave out.
   * @returns How many connections it was sent to.
   * @throws {TypeError} When the message is not an object with a `handler` string.
   */
  broadcast(message: unknown, skip?: BroadcastSkip): number;
  /** The open connections. */
  readonly connections: readonly ConnectionInfo[];
}

/**
 * Finds the MonoRail front end of a server.
 *
 * @param server The server.
 * @returns Its MonoRail front end, or `undefined` when it is not served (or disabled).
 */
export function monorailOf(server: PowServer): MonoRailFrontEnd | undefined {
  return server.frontEnds.find((f): f is MonoRailFrontEnd =>
    f.name === "monorail" && "broadcast" in f
  );
}

/**
 * Broadcasts a message to a server's MonoRail connections.
 *
 * @example
 * ```ts
 * import { createServer, defaultConfig } from "../../../mod.ts";
 * import { broadcast, monorail } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const server = createServer(defaultConfig(), { frontEnds: [monorail] });
 * assert.equal(broadcast(server, { handler: "notice", text: "hello" }), 0);
 * await server.close();
 * ```
 *
 * @param server The server.
 * @param message A JSON object with a `handler` string.
 * @param skip Connections to leave out.
 * @returns How many connections it was sent to.
 * @throws {TypeError} When the server has no MonoRail front end or the message is invalid.
 */
export function broadcast(server: PowServer, message: unknown, skip?: BroadcastSkip): number {
  const frontEnd = monorailOf(server);
  if (!frontEnd) throw new TypeError("Cannot broadcast: the server has no MonoRail front end");
  return frontEnd.broadcast(message, skip);
}

function checkMessage(message: unknown): string {
  const value = typeof message === "string" ? JSON.parse(message) : message;
  if (
    typeof value !== "object" || value === null || Array.isArray(value) ||
    typeof (value as { handler?: unknown }).handler !== "string"
  ) {
    throw new TypeError("Cannot broadcast: the message must be a JSON object with a handler");
  }
  return JSON.stringify(value);
}

/**
 * The MonoRail front end factory.
 *
 * @param context The server's shared services.
 * @returns The front end.
 */
export const monorail: FrontEndFactory = (context: FrontEndContext): MonoRailFrontEnd => {
  const settings: MonoRailConfig = context.config.monorail;
  const { manager } = context;
  const live = new Map<string, Connection>();
  const unnamed = new Set<Connection>();
  const kept = new Map<string, { connection: Connection; timer: ReturnType<typeof setTimeout> }>();

  const send = (message: unknown, skip?: BroadcastSkip, channel?: string): number => {
    const text = checkMessage(message);
    const skips = typeof skip === "function"
      ? skip
      : typeof skip === "string"
      ? (c: ConnectionInfo) => c.id === skip
      : skip
      ? (c: ConnectionInfo) => skip.includes(c.id)
      : () => false;
    let sent = 0;
    for (const connection of [...unnamed, ...live.values()]) {
      if (!connection.open || (channel && connection.channel !== channel)) continue;
      if (skips(connection)) continue;
      connection.send(JSON.parse(text));
      sent++;
    }
    return sent;
  };

  const name = "monorail";
  if (!settings.enabled) {
    return {
      name,
      broadcast: () => 0,
      connections: [],
    };
  }

  // Broadcasts published on the bus (TypeScript processes, other nodes).
  const broadcasts: Subscription<BroadcastRequest> = manager.bus.subscribe(BROADCAST_TOPIC);
  void (async () => {
    for await (const message of broadcasts) {
      if (message.type !== "event") continue;
      const { message: body, skip, channel } = message.event.data ?? {};
      try {
        send(body, Array.isArray(skip) ? skip : undefined, channel);
      } catch {
        // A malformed broadcast on the bus reaches nobody.
      }
    }
  })();

  const host = {
    manager,
    queue: settings.queue,
    newId: newSessionId,
    named(connection: Connection) {
      unnamed.delete(connection);
      live.set(connection.id, connection);
    },
    take(id: string, caller: Caller, channel: string): Connection | undefined {
      const held = kept.get(id);
      const connection = held?.connection ?? live.get(id);
      if (!connection || connection.caller.id !== caller.id || connection.channel !== channel) {
        return undefined;
      }
      if (held) {
        clearTimeout(held.timer);
        kept.delete(id);
      } else {
        connection.suspend();
      }
      live.delete(id);
      return connection;
    },
    dropped(connection: Connection) {
      unnamed.delete(connection);
      if (!connection.id || live.get(connection.id) !== connection) return connection.forget();
      live.delete(connection.id);
      const timer = setTimeout(() => {
        kept.delete(connection.id);
        connection.forget();
      }, settings.resume);
      Deno.unrefTimer(timer);
      kept.set(connection.id, { connection, timer });
    },
  };

  const refuse = (c: Context<PowEnv>, status: 403 | 404 | 426, text: string) =>
    c.text(text, status, { "content-type": "text/plain; charset=utf-8" });

  /** A watch as server-sent events, resumed after `Last-Event-ID`. */
  const events = (
    c: Context<PowEnv>,
    path: string,
    channel: Channel,
    caller: Caller,
  ): Response => {
    let params: Record<string, unknown> = {};
    const raw = c.req.query("params");
    if (raw !== undefined) {
      try {
        params = JSON.parse(raw);
      } catch {
        params = undefined as unknown as Record<string, unknown>;
      }
      if (typeof params !== "object" || params === null || Array.isArray(params)) {
        return c.json(
          { code: "bad_params", message: "Invalid params: expected a JSON object" },
          400,
        );
      }
    }
    const last = c.req.header("last-event-id")?.trim();
    if (last !== undefined && !/^\d{1,16}$/.test(last)) {
      return c.json({
        code: "bad_params",
        message: `Invalid Last-Event-ID "${last}": expected the id of an event`,
      }, 400);
    }
    const socket = new SseSocket();
    const connection = new Connection(socket, path, channel, caller, host);
    unnamed.add(connection);
    if (last !== undefined && channel.kind === "bus") {
      connection.watchAfter(params, Number(last));
    } else {
      const watch = last === undefined ? params : { ...params, offset: Number(last) };
      socket.dispatchEvent(
        new MessageEvent("message", { data: JSON.stringify({ handler: "watch", params: watch }) }),
      );
    }
    return new Response(socket.body, {
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache",
        "x-accel-buffering": "no",
      },
    });
  };

  return {
    name,
    get connections(): readonly ConnectionInfo[] {
      return [...unnamed, ...live.values()].filter((c) => c.open);
    },
    broadcast: (message, skip) => send(message, skip),
    routes(app: Hono<PowEnv>): void {
      app.post(`${settings.prefix}/broadcast`, async (c) => {
        const caller = c.get("caller");
        if (!isAdmin(caller, settings.admins)) {
          return c.json({
            code: "not_allowed",
            message: `Cannot broadcast: caller "${caller.id}" is not an admin`,
          }, 403);
        }
        let body: BroadcastRequest;
        try {
          body = await c.req.json();
        } catch {
          return c.json({ code: "bad_json", message: "Cannot parse the body: not JSON" }, 400);
        }
        const skip = body?.skip;
        if (
          skip !== undefined && (!Array.isArray(skip) || skip.some((s) => typeof s !== "string"))
        ) {
          return c.json({
            code: "bad_message",
            message: 'Invalid "skip": expected a list of connection ids',
          }, 400);
        }
        if (body?.channel !== undefined && typeof body.channel !== "string") {
          return c.json(
            { code: "bad_message", message: 'Invalid "channel": expected a string' },
            400,
          );
        }
        try {
          return c.json({ delivered: send(body?.message, skip, body?.channel) });
        } catch (error) {
          return c.json({ code: "bad_message", message: (error as Error).message }, 400);
        }
      });
      app.get(`${settings.prefix}/:channel{.+}`, (c) => {
        const path = c.req.param("channel");
        const caller = c.get("caller");
        let channel;
        try {
          channel = openChannel(path, { manager, admins: settings.admins }, caller);
        } catch (error) {
          if (error instanceof ChannelError) return refuse(c, 403, error.message);
          throw error;
        }
        if (!channel) {
          return refuse(
            c,
            404,
            `Unknown channel "${path}": expected processes, sessions, logs, server or topics/<name>`,
          );
        }
        const upgrade = c.req.header("upgrade")?.toLowerCase() === "websocket";
        if (!upgrade && (c.req.header("accept") ?? "").includes("text/event-stream")) {
          return events(c, path, channel, caller);
        }
        if (!upgrade) {
          c.header("upgrade", "websocket");
          return refuse(c, 426, "Upgrade required: this endpoint speaks MonoRail over WebSocket");
        }
        const { socket, response } = context.upgradeWebSocket(c.req.raw);
        const connection = new Connection(socket, path, channel, caller, host);
        unnamed.add(connection);
        return response;
      });
    },
    openapi: {
      [`${settings.prefix}/{channel}`]: {
        get: {
          summary: "Watch a channel (WebSocket upgrade, or server-sent events)",
          description: "Without `Upgrade: websocket` and with `Accept: text/event-stream`, a " +
            "`watch` with `params` as server-sent events: `event` is the handler (`list`, " +
            "`item`, `remove`, `error`, broadcasts), `data` the message, `id` its `seq` (on " +
            "`logs` the offset after it). `Last-Event-ID` resumes after that event. See " +
            "docs/events.md.",
          tags: ["MonoRail events"],
          parameters: [
            {
              name: "channel",
              in: "path",
              required: true,
              schema: { type: "string" },
              description: "processes, sessions, logs, server or topics/<name>",
            },
            {
              name: "params",
              in: "query",
              required: false,
              schema: { type: "string" },
              description: "The watch's params as a JSON object",
            },
            {
              name: "Last-Event-ID",
              in: "header",
              required: false,
              schema: { type: "string" },
            },
          ],
          responses: {
            "101": { description: "Switched to the MonoRail WebSocket protocol" },
            "200": { description: "The event stream", content: { "text/event-stream": {} } },
            "400": { description: "`bad_params`: params or Last-Event-ID invalid" },
            "403": { description: "The `server` channel and the caller is no admin" },
            "404": { description: "Unknown channel" },
            "426": { description: "Neither a WebSocket upgrade nor an event stream" },
          },
        },
      },
      [`${settings.prefix}/broadcast`]: {
        post: {
          summary: "Broadcast a message to MonoRail connections (admins only)",
          tags: ["MonoRail events"],
          requestBody: {
            required: true,
            content: {
              "application/json": {
                schema: {
                  type: "object",
                  required: ["message"],
                  properties: {
                    message: {
                      type: "object",
                      required: ["handler"],
                      properties: { handler: { type: "string" } },
                    },
                    skip: { type: "array", items: { type: "string" } },
                    channel: { type: "string" },
                  },
                },
              },
            },
          },
          responses: {
            "200": {
              description: "Sent",
              content: {
                "application/json": {
                  schema: { type: "object", properties: { delivered: { type: "integer" } } },
                },
              },
            },
            "400": { description: "`bad_json` or `bad_message`" },
            "403": { description: "`not_allowed`: the caller is not an admin" },
          },
        },
      },
    },
    close() {
      broadcasts.close();
      for (const { connection, timer } of kept.values()) {
        clearTimeout(timer);
        connection.forget();
      }
      kept.clear();
      for (const connection of [...unnamed, ...live.values()]) connection.close();
    },
  };
};

monorail.config = monorailConfigSection;
