/**
 * The pow server: one `Deno.serve` handler, built with Hono, that serves every front end from
 * one module graph and one session manager. WebSocket upgrades are dispatched by the offered
 * subprotocol; REST routes live beside them under the base path.
 *
 * @module
 */

import { Hono } from "hono";
import type { PowConfig } from "./config.ts";
import type { FrontEnd, FrontEndContext, FrontEndFactory } from "./front_end.ts";
import type { Caller } from "./process.ts";
import { SessionManager } from "./session_manager.ts";

/** Options for {@linkcode createServer}. */
export interface CreateServerOptions {
  /** The front ends to serve. @default {[]} */
  frontEnds?: FrontEndFactory[];
  /** Establishes the caller of a request. @default {everyone is "anonymous"} */
  authenticate?: (request: Request, info?: Deno.ServeHandlerInfo) => Caller | Response;
}

/** A pow server, not yet listening. */
export interface PowServer {
  /** The configuration. */
  readonly config: PowConfig;
  /** The session manager. */
  readonly manager: SessionManager;
  /** The Hono app (routes are relative to the base path). */
  readonly app: Hono;
  /** The front ends. */
  readonly frontEnds: readonly FrontEnd[];
  /** Handles one request (a `Deno.serve` handler). */
  fetch(request: Request, info?: Deno.ServeHandlerInfo): Response | Promise<Response>;
  /** Cancels running sessions, waits for their processes, and closes the front ends. */
  close(): Promise<void>;
}

const anonymous = (_request: Request, info?: Deno.ServeHandlerInfo): Caller => ({
  id: "anonymous",
  address: info && "hostname" in info.remoteAddr ? info.remoteAddr.hostname : undefined,
});

/**
 * Builds a server from a configuration.
 *
 * @example Serve the default config on a free port
 * ```ts
 * import { createServer, defaultConfig } from "../mod.ts";
 * import assert from "node:assert/strict";
 *
 * const server = createServer(defaultConfig());
 * const response = await server.fetch(new Request("http://localhost/nothing-here"));
 * assert.equal(response.status, 404);
 * await response.body?.cancel();
 * await server.close();
 * ```
 *
 * @param config The configuration.
 * @param options Front ends and authentication.
 * @returns The server; pass `server.fetch` to `Deno.serve`, or use {@linkcode listen}.
 */
export function createServer(config: PowConfig, options: CreateServerOptions = {}): PowServer {
  const manager = new SessionManager({
    processes: config.processes,
    killGrace: config.sessions.killGrace,
    linger: config.sessions.linger,
    retention: config.sessions.retention,
    maxPendingInput: config.sessions.maxPendingInput,
    maxSessions: config.sessions.max,
    paramLimits: {
      maxCount: config.sessions.maxParams,
      maxLength: config.sessions.maxParamLength,
    },
  });
  const base = config.server.basePath;
  const context: FrontEndContext = {
    manager,
    config,
    authenticate: options.authenticate ?? anonymous,
    baseUrl(request) {
      const url = new URL(request.url);
      return new URL(base, `${url.protocol}//${url.host}`);
    },
  };
  const frontEnds = (options.frontEnds ?? []).map((factory) => factory(context));
  const app = new Hono({ strict: false });
  const routes = new Hono({ strict: false });

  // WebSocket upgrades on any path under the base path go to the front end of the offered
  // subprotocol.
  const bySubprotocol = new Map<string, FrontEnd>();
  for (const frontEnd of frontEnds) {
    for (const protocol of frontEnd.subprotocols ?? []) bySubprotocol.set(protocol, frontEnd);
  }
  routes.use("*", async (c, next) => {
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") return await next();
    const offered = (c.req.header("sec-websocket-protocol") ?? "")
      .split(",").map((p) => p.trim()).filter(Boolean);
    const protocol = offered.find((p) => bySubprotocol.has(p));
    if (!protocol) {
      // Let a front end that serves a fixed path without a subprotocol (further-link) try.
      await next();
      if (c.res.status !== 404) return;
      const versions = offered.filter((p) => /^pow[.-]/.test(p) && !p.startsWith("pow.token."));
      if (versions.length > 0) {
        return c.text(
          `unsupported pow protocol version ${
            versions.map((v) => `"${v}"`).join(", ")
          }: this server speaks ${[...bySubprotocol.keys()].join(", ")}`,
          400,
        );
      }
      // The original pow-1 server's refusal, kept byte for byte.
      return c.text("client does not support required pow-1 subprotocol", 403);
    }
    const caller = context.authenticate(c.req.raw, c.env as Deno.ServeHandlerInfo | undefined);
    if (caller instanceof Response) return caller;
    return bySubprotocol.get(protocol)!.upgrade!(c.req.raw, protocol, caller);
  });
  for (const frontEnd of frontEnds) frontEnd.routes?.(routes);
  app.route(base.replace(/\/$/, "") || "/", routes);

  return {
    config,
    manager,
    app,
    frontEnds,
    fetch: (request, info) => app.fetch(request, info),
    async close() {
      await manager.close();
      for (const frontEnd of frontEnds) await frontEnd.close?.();
    },
  };
}

/** Options for {@linkcode listen}. */
export interface ListenOptions {
  /** Called once listening, with the URL clients use. @default {prints "Listening on URL"} */
  onListen?: (url: URL) => void;
  /** Stops the server when aborted. */
  signal?: AbortSignal;
}

/** A listening server. */
export interface ListeningServer {
  /** The base URL clients use, e.g. `http://127.0.0.1:8028/`. */
  readonly url: URL;
  /** The pow server. */
  readonly server: PowServer;
  /** Resolves once the server has stopped. */
  readonly finished: Promise<void>;
  /**
   * Stops accepting connections, cancels running sessions, waits for their processes to end,
   * and closes the listener.
   */
  shutdown(): Promise<void>;
}

/**
 * Starts listening on the configured host and port.
 *
 * @example Listen on a free port
 * ```ts
 * import { createServer, defaultConfig, listen } from "../mod.ts";
 * import assert from "node:assert/strict";
 *
 * const config = defaultConfig();
 * config.server.port = 0;
 * const running = await listen(createServer(config), { onListen() {} });
 * assert.equal(running.url.hostname, "127.0.0.1");
 * await running.shutdown();
 * ```
 *
 * @param server The server to run.
 * @param options What to do once listening.
 * @returns The listening server.
 */
export async function listen(
  server: PowServer,
  options: ListenOptions = {},
): Promise<ListeningServer> {
  const { host, port, basePath, tls } = server.config.server;
  const { promise, resolve } = Promise.withResolvers<URL>();
  const tlsOptions = tls
    ? { cert: await Deno.readTextFile(tls.cert), key: await Deno.readTextFile(tls.key) }
    : {};
  const httpServer = Deno.serve({
    hostname: host,
    port,
    ...tlsOptions,
    onListen(addr) {
      const shown = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
      resolve(new URL(basePath, `${tls ? "https" : "http"}://${shown}:${addr.port}`));
    },
  }, server.fetch);
  const url = await promise;
  (options.onListen ?? ((u) => console.log(`Listening on ${u}`)))(url);
  let stopping: Promise<void> | undefined;
  const shutdown = () =>
    stopping ??= (async () => {
      const closing = server.close();
      // Stop accepting new connections at once, and let open ones finish their results.
      const drained = httpServer.shutdown();
      await closing;
      const timeout = new Promise((r) => setTimeout(r, 2000));
      await Promise.race([drained, timeout]);
      await httpServer.finished.catch(() => {});
    })();
  options.signal?.addEventListener("abort", () => void shutdown(), { once: true });
  return { url, server, finished: httpServer.finished, shutdown };
}
