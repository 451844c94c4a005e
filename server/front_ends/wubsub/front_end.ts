/**
 * The wubsub front end: a WebSocket at `wubsub.path` (default `/wubsub`, no subprotocol)
 * speaking wubsub's JSON protocol, and REST publish/subscribe of bus topics below it
 * (`POST`/`GET {path}/topics/{name}`). On unless `wubsub.enabled` is false.
 *
 * See `docs/wubsub.md`.
 *
 * @module
 */

import { isClusterStore } from "../../remote_session.ts";
import type { Hono } from "hono";
import { drained, oversize, SOCKET_HIGH_WATER } from "../_kit/mod.ts";
import type { FrontEnd, FrontEndContext, FrontEndFactory, PowEnv } from "../../front_end.ts";
import { wubsubConfigSection } from "./config.ts";
import type { Caller } from "../../process.ts";
import { WubsubHub } from "./hub.ts";
import type { ServerMessage } from "./messages.ts";
import { wubsubPaths } from "./openapi.ts";
import { topicRoutes } from "./topics.ts";

/**
 * Bytes queued on a wubsub socket (acknowledgements, errors, requests) above which the client
 * is considered not to read at all and is disconnected (1008). Published messages stop well
 * before this, at the drain mark, and are counted as missed instead.
 */
const MAX_BUFFERED = 4 * SOCKET_HIGH_WATER;

/** Makes the wubsub front end (see {@linkcode wubsub}). */
function wubsubFrontEnd(context: FrontEndContext): FrontEnd {
  const settings = context.config.wubsub;
  if (!settings.enabled) return { name: "wubsub" };
  const { manager } = context;
  const hub = new WubsubHub({
    bus: manager.bus,
    catalogue: manager,
    reserved: Object.keys(context.config.processes),
    register: settings.register,
    allow: settings.allow,
    requestTimeout: settings.requestTimeout,
    maxPendingPerCaller: settings.maxPendingPerCaller,
    maxPendingPerOwner: settings.maxPendingPerOwner,
    subscriberQueue: settings.subscriberQueue,
    maxChannels: settings.maxChannels,
    cluster: isClusterStore(manager.store)
      ? { node: manager.store.node, directory: manager.store.sharedMap("wubsub-channels") }
      : undefined,
  });
  const sockets = new Set<WebSocket>();
  // A published message goes to every subscriber as the same object: encode it once.
  const encoded = new WeakMap<ServerMessage, string>();
  const encode = (message: ServerMessage) => {
    if (message.type !== "ps-recv") return JSON.stringify(message);
    let text = encoded.get(message);
    if (text === undefined) encoded.set(message, text = JSON.stringify(message));
    return text;
  };

  const open = (request: Request, caller: Caller): Response => {
    const { socket, response } = context.upgradeWebSocket(request);
    const peer = {
      caller: { ...caller, via: "wubsub" },
      send(message: ServerMessage) {
        if (socket.readyState !== WebSocket.OPEN) return;
        if (socket.bufferedAmount > MAX_BUFFERED) {
          socket.close(1008, "not reading: too many messages queued");
          return;
        }
        socket.send(encode(message));
      },
      ready: () => drained(socket),
    };
    const connection = hub.connect(peer);
    sockets.add(socket);
    socket.onmessage = (event) => {
      const text = typeof event.data === "string"
        ? event.data
        : new TextDecoder().decode(event.data as ArrayBuffer);
      const bytes = oversize(text, settings.maxMessage);
      if (bytes !== undefined) {
        peer.send({
          type: "error",
          data:
            `Message too big: ${bytes} bytes, at most ${settings.maxMessage} allowed (wubsub.maxMessage)`,
        });
        return;
      }
      connection.receive(text);
    };
    socket.onclose = () => {
      sockets.delete(socket);
      connection.close();
    };
    return response;
  };

  return {
    name: "wubsub",
    openapi: wubsubPaths(settings.path),
    routes(app: Hono<PowEnv>): void {
      app.get(settings.path, (c) => {
        if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
          c.header("upgrade", "websocket");
          return c.text("Upgrade required: this endpoint speaks wubsub over WebSocket", 426);
        }
        return open(c.req.raw, c.get("caller"));
      });
      topicRoutes(app, `${settings.path}/topics`, {
        bus: manager.bus,
        hub,
        maxMessage: settings.maxMessage,
        queue: settings.subscriberQueue,
      });
    },
    close(): void {
      hub.close();
      for (const socket of sockets) socket.close(1001, "server shutting down");
    },
  };
}

/**
 * Makes the wubsub front end.
 *
 * @example
 * ```ts
 * import { createServer, defaultConfig } from "../../../mod.ts";
 * import { wubsub } from "./front_end.ts";
 * import assert from "node:assert/strict";
 *
 * const server = createServer(defaultConfig(), { frontEnds: [wubsub] });
 * const response = await server.fetch(new Request("http://localhost/wubsub"));
 * assert.equal(response.status, 426);
 * await response.body?.cancel();
 * await server.close();
 * ```
 *
 * @param context The server's shared services.
 * @returns The front end.
 */
export const wubsub: FrontEndFactory = wubsubFrontEnd;

wubsub.config = wubsubConfigSection;
