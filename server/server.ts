/**
 * The pow server: one `Deno.serve` handler, built with Hono, that serves every front end from
 * one module graph and one session manager. WebSocket upgrades are dispatched by the offered
 * subprotocol (at the base path without the router: the same checks, less work per
 * connection); REST routes live beside them under the base path. Origin checks,
 * authentication and connection limits happen here, once, for every front end.
 *
 * @module
 */

import { Hono } from "hono";
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { Authenticator, checkHost, checkOrigin } from "./auth.ts";
import { hostnameOf } from "./_remote.ts";
import { DEFAULT_KEEP_ALIVE, type PowConfig } from "./config.ts";
import type { FrontEnd, FrontEndContext, FrontEndFactory, PowEnv } from "./front_end.ts";
import { frontEnds as builtInFrontEnds } from "./front_ends.ts";
import { createLogger, type Logger, logSessions } from "./log.ts";
import type { Caller } from "./process.ts";
import { closeLedger, defaultStateDir, openLedger } from "./process_ledger.ts";
import { SessionManager } from "./session_manager.ts";
import type { SessionStore } from "./store.ts";
import { isClusterStore } from "./remote_session.ts";
import { negotiateSubprotocol, TOKEN_SUBPROTOCOL_PREFIX } from "@pow/protocol";

/** Options for {@linkcode createServer}. */
export interface CreateServerOptions {
  /**
   * The front ends to serve.
   *
   * @default {every built-in front end ({@linkcode frontEnds})}
   */
  frontEnds?: readonly FrontEndFactory[];
  /**
   * Where session starts and ends are logged (see {@linkcode createLogger}); `main.ts` logs to
   * stderr. @default {a logger that logs nothing}
   */
  logger?: Logger;
  /**
   * Where sessions, output and events are kept: a cluster store (e.g. `RedisSessionStore`) makes
   * this server a node of a cluster. @default {a new MemorySessionStore}
   */
  store?: SessionStore;
  /**
   * The clock for session activity and expiry (epoch milliseconds), e.g. a fake one in tests.
   * @default {Date.now}
   */
  now?: () => number;
}

/** A pow server, not yet listening. */
export interface PowServer {
  /** The configuration. */
  readonly config: PowConfig;
  /** The session manager. */
  readonly manager: SessionManager;
  /**
   * The Hono app that serves every route (for tests and advanced embedding; its type is Hono's).
   *
   * @ignore
   */
  readonly app: Hono;
  /** The front ends. */
  readonly frontEnds: readonly FrontEnd[];
  /** The server's log. */
  readonly logger: Logger;
  /** Open WebSocket connections. */
  readonly connections: number;
  /** HTTP requests being handled (not yet answered), WebSocket upgrades included. */
  readonly pending: number;
  /** Handles one request (a `Deno.serve` handler). */
  fetch(request: Request, info?: Deno.ServeHandlerInfo): Response | Promise<Response>;
  /** Cancels running sessions, waits for their processes, and closes the front ends. */
  close(): Promise<void>;
}

/** A front end's subprotocol preference when it declares none. */
const DEFAULT_PREFERENCE = 100;

function text(body: string, status: number): Response {
  return new Response(body, { status, headers: { "content-type": "text/plain; charset=utf-8" } });
}

/**
 * Builds a server from a configuration.
 *
 * @example Serve the default config
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
 * @param options The front ends (every built-in one unless given).
 * @returns The server; pass `server.fetch` to `Deno.serve`, or use {@linkcode listen}.
 */
export function createServer(config: PowConfig, options: CreateServerOptions = {}): PowServer {
  const manager = new SessionManager({
    store: options.store,
    now: options.now,
    cluster: config.cluster,
    processes: config.processes,
    killGrace: config.sessions.killGrace,
    linger: config.sessions.linger,
    retention: config.sessions.retention,
    maxPendingInput: config.sessions.maxPendingInput,
    maxSessions: config.sessions.max,
    maxPerCaller: config.sessions.maxPerCaller,
    outputBudget: config.limits.outputBudget,
    viewers: config.sessions.viewers,
    startsPerMinute: config.limits.startsPerMinute,
    paramLimits: {
      maxCount: config.sessions.maxParams,
      maxLength: config.sessions.maxParamLength,
    },
  });
  const base = config.server.basePath;
  const logger = options.logger ?? createLogger({ level: "off" });
  const stopLogging = logSessions(manager.registry, logger);
  const auth = new Authenticator(config.auth, {
    sharedTickets: isClusterStore(manager.store) ? manager.store.tickets : undefined,
  });
  let connections = 0;
  const perAddress = new Map<string, number>();
  // Requests whose handler has not answered yet (a body still arriving, a start waiting for its
  // spawn). They count against the connection limits beside open WebSockets: a flood of slow
  // requests is refused like a flood of sockets.
  let pending = 0;
  const pendingPerAddress = new Map<string, number>();
  const addressOf = (info?: Deno.ServeHandlerInfo) => hostnameOf(info) ?? "";
  const infos = new WeakMap<Request, Deno.ServeHandlerInfo>();

  const frontEnds: FrontEnd[] = [];
  const context: FrontEndContext = {
    manager,
    config,
    auth,
    frontEnds,
    authenticate: (request, info) => auth.authenticate(request, info ?? infos.get(request)),
    baseUrl(request) {
      const url = new URL(request.url);
      return new URL(base, `${url.protocol}//${url.host}`);
    },
    upgradeWebSocket(request, upgradeOptions) {
      // The address is read first: a request's remote address is gone once it is upgraded.
      const address = addressOf(infos.get(request));
      const keepAlive = config.server.keepAlive ?? DEFAULT_KEEP_ALIVE;
      let upgraded: Deno.WebSocketUpgrade;
      try {
        upgraded = Deno.upgradeWebSocket(request, {
          // Deno pings a socket silent for half of this and closes it (1001) when nothing
          // arrives in the other half.
          idleTimeout: keepAlive > 0 ? Math.max(1, Math.round(keepAlive / 1000)) : 0,
          ...upgradeOptions,
        });
      } catch (error) {
        throw new HTTPException(400, {
          res: text(`invalid WebSocket upgrade: ${(error as Error).message}`, 400),
        });
      }
      connections++;
      perAddress.set(address, (perAddress.get(address) ?? 0) + 1);
      upgraded.socket.addEventListener("close", () => {
        connections--;
        const left = (perAddress.get(address) ?? 1) - 1;
        if (left > 0) perAddress.set(address, left);
        else perAddress.delete(address);
      }, { once: true });
      return upgraded;
    },
  };
  for (const factory of options.frontEnds ?? builtInFrontEnds) frontEnds.push(factory(context));
  const app = new Hono({ strict: false });
  const routes = new Hono<PowEnv>({ strict: false });

  const bySubprotocol = new Map<string, FrontEnd>();
  // The subprotocols spoken, in the server's order of preference (each front end's
  // `preference`, then the order of the list).
  const ranked = frontEnds
    .map((frontEnd, i) => ({ frontEnd, i }))
    .sort((a, b) =>
      (a.frontEnd.preference ?? DEFAULT_PREFERENCE) -
        (b.frontEnd.preference ?? DEFAULT_PREFERENCE) ||
      a.i - b.i
    );
  for (const { frontEnd } of ranked) {
    for (const protocol of frontEnd.subprotocols ?? []) {
      if (!bySubprotocol.has(protocol)) bySubprotocol.set(protocol, frontEnd);
    }
  }
  const speaks = [...bySubprotocol.keys()];
  const isPublic = (path: string) =>
    path === "" || frontEnds.some((frontEnd) => frontEnd.publicPaths?.test(path));
  /**
   * Refuses a request (503 in total, 429 per address) when open WebSockets and requests in
   * progress reach the connection limits.
   */
  const checkLimits = (address: string): Response | undefined => {
    if (connections + pending >= config.limits.connections) {
      return text(`too many connections: the server allows ${config.limits.connections}`, 503);
    }
    const from = (perAddress.get(address) ?? 0) + (pendingPerAddress.get(address) ?? 0);
    if (from >= config.limits.connectionsPerAddress) {
      return text(
        `too many connections from ${address}: at most ${config.limits.connectionsPerAddress} allowed`,
        429,
      );
    }
    return undefined;
  };
  /**
   * Origin first, for REST as for WebSockets: browsers send it on cross-origin requests, so a
   * page elsewhere can neither open a WebSocket nor start a process with a simple POST. Then,
   * on an anonymous server, the Host (DNS rebinding).
   */
  const checkRequest = (request: Request): Response | undefined =>
    checkOrigin(request, config.server.origins) ??
      (auth.required ? undefined : checkHost(request, config.server.hosts));
  /**
   * A WebSocket upgrade's checks, in order: origin and host, authentication (a ticket counts
   * here), then the subprotocol, chosen by the protocol package's negotiation (the same code
   * the client uses): the server's preference decides, not the order of the offer. Entries
   * that are not pow versions (a token, another protocol) do not count. Returns the front end's
   * response or a refusal, or, when no pow subprotocol was offered off the base path, the
   * caller (a fixed-path front end may take the upgrade).
   */
  const admitUpgrade = async (
    request: Request,
    info: Deno.ServeHandlerInfo | undefined,
    path: string,
  ): Promise<Response | Caller> => {
    const refused = checkRequest(request);
    if (refused) return refused;
    const caller: Caller | Response = await auth.authenticateShared(request, info, {
      ticket: true,
    });
    if (caller instanceof Response) return caller;
    const header = request.headers.get("sec-websocket-protocol") ?? "";
    const versions = header.split(",").map((p) => p.trim())
      .filter((p) => /^pow[.-]/.test(p) && !p.startsWith(TOKEN_SUBPROTOCOL_PREFIX));
    const negotiation = negotiateSubprotocol(versions.join(","), { protocols: speaks });
    // The connection limits were checked when the request came in (`handle`): an upgrade was
    // counted as a pending request until now and becomes a connection.
    if (negotiation.ok) {
      return bySubprotocol.get(negotiation.protocol)!.upgrade!(
        request,
        negotiation.protocol,
        caller,
      );
    }
    if (versions.length > 0) return text(negotiation.body, negotiation.status);
    // The base path itself belongs to the subprotocol endpoints.
    return path === "" ? refuseUpgrade(request) : caller;
  };
  /** An upgrade no front end took: refused as the first front end that says how. */
  const refuseUpgrade = (request: Request): Response =>
    frontEnds.find((frontEnd) => frontEnd.refuseUpgrade)?.refuseUpgrade?.(request) ??
      text(`No subprotocol offered: this endpoint speaks ${speaks.join(", ")}`, 400);
  // The base path as a request's URL spells it, with and without its final slash.
  const baseForms = new Set([base, base.replace(/\/$/, "") || "/"]);
  /** Whether a request is a WebSocket upgrade at the base path (no query parsing needed). */
  const isBaseUpgrade = (request: Request): boolean => {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") return false;
    const url = request.url;
    const start = url.indexOf("/", url.indexOf("://") + 3);
    if (start < 0) return false;
    const query = url.indexOf("?", start);
    return baseForms.has(url.slice(start, query < 0 ? undefined : query));
  };
  const handle = async (
    request: Request,
    info?: Deno.ServeHandlerInfo,
  ): Promise<Response> => {
    const address = addressOf(info);
    const refused = checkLimits(address);
    if (refused) {
      await request.body?.cancel().catch(() => {});
      return refused;
    }
    pending++;
    pendingPerAddress.set(address, (pendingPerAddress.get(address) ?? 0) + 1);
    try {
      // A WebSocket upgrade at the base path (every subprotocol endpoint) goes straight to its
      // checks, without the router: the same checks as the middleware below, less per connection.
      if (isBaseUpgrade(request)) {
        if (!URL.canParse(request.url)) return text("invalid Host header", 400);
        if (info) infos.set(request, info);
        try {
          const admitted = await admitUpgrade(request, info, "");
          return admitted instanceof Response ? admitted : refuseUpgrade(request);
        } catch (error) {
          if (error instanceof HTTPException) return error.getResponse();
          throw error;
        }
      }
      return await app.fetch(request, info);
    } finally {
      pending--;
      const left = (pendingPerAddress.get(address) ?? 1) - 1;
      if (left > 0) pendingPerAddress.set(address, left);
      else pendingPerAddress.delete(address);
    }
  };
  const relative = (path: string) => path.slice(base.length - 1).replace(/^\//, "");

  // The root, unless a front end serves it: browsers go to the web console (or, with the console
  // off, to the API documentation), other clients get a short pointer to both.
  const home = (c: Context<PowEnv>): Response => {
    const root = context.baseUrl(c.req.raw);
    const home = frontEnds.find((f) => f.homePage)?.homePage;
    const webConsole = home ? new URL(home, root).href : undefined;
    const documented = frontEnds.find((f) => f.documentation)?.documentation;
    const docs = documented ? new URL(documented.page, root).href : undefined;
    const openapi = documented ? new URL(documented.openapi, root).href : undefined;
    const accept = c.req.header("accept") ?? "";
    const page = webConsole ?? docs;
    if (page && accept.includes("text/html")) return c.redirect(page, 302);
    if (accept.includes("application/json")) {
      const frontEndNames = frontEnds.map((f) => f.name);
      return c.json({
        name: "pow",
        subprotocols: speaks,
        frontEnds: frontEndNames,
        console: webConsole,
        docs,
        openapi,
      });
    }
    return text(
      `pow (Process Over WebSocket): open a WebSocket here with subprotocol ${
        speaks.join(" or ")
      }.\n` + (webConsole ? `Web console: ${webConsole}\n` : "") +
        (docs ? `API documentation: ${docs} (OpenAPI: ${openapi})\n` : ""),
      200,
    );
  };

  routes.use("*", async (c, next) => {
    const request = c.req.raw;
    // A request whose Host makes no URL (`Host: a b`) is refused before anything reads
    // `request.url` as a URL: 400, no stack trace, nothing logged per request.
    if (!URL.canParse(request.url)) return text("invalid Host header", 400);
    const info = c.env as Deno.ServeHandlerInfo | undefined;
    if (info) infos.set(request, info);
    const upgrade = c.req.header("upgrade")?.toLowerCase() === "websocket";
    if (!upgrade && isPublic(relative(c.req.path))) {
      await next();
      // After next(), a middleware replaces the response by assigning it (a returned one is
      // ignored once a handler has answered, even with 404).
      if (c.res.status === 404 && relative(c.req.path) === "" && c.req.method === "GET") {
        c.res = home(c);
      }
      return;
    }
    const path = relative(c.req.path);
    if (upgrade) {
      const admitted = await admitUpgrade(request, info, path);
      if (admitted instanceof Response) return admitted;
      // No pow subprotocol offered: a front end serving a fixed path without one
      // (further-link) may take it.
      c.set("caller", admitted);
      await next();
      if (c.res.status !== 404) return;
      // Refused as the first front end that says how (set on the context: a response returned
      // after `next()` may be ignored once Hono finalized its 404).
      c.res = refuseUpgrade(request);
      return;
    }
    const refused = checkRequest(request);
    if (refused) return refused;
    // A ticket counts only where a browser cannot send a header: a WebSocket upgrade or an
    // event stream.
    const ticket = c.req.method === "GET" && frontEnds.some((f) => f.eventStreams?.test(path));
    const caller: Caller | Response = await auth.authenticateShared(request, info, { ticket });
    if (caller instanceof Response) return caller;
    c.set("caller", caller);
    return await next();
  });
  routes.post("/tickets", async (c) => {
    try {
      return c.json(await auth.issueTicketShared(c.get("caller")));
    } catch (error) {
      if (error instanceof RangeError) return text(error.message, 429);
      return text(
        `Cannot issue a ticket: the cluster store is unavailable (${(error as Error).message})`,
        503,
      );
    }
  });
  for (const frontEnd of frontEnds) frontEnd.routes?.(routes);
  app.route(base.replace(/\/$/, "") || "/", routes);

  return {
    config,
    manager,
    app,
    frontEnds,
    logger,
    get connections() {
      return connections;
    },
    get pending() {
      return pending;
    },
    fetch: handle,
    async close() {
      await manager.close();
      for (const frontEnd of frontEnds) await frontEnd.close?.();
      stopLogging();
    },
  };
}

/** Options for {@linkcode listen}. */
export interface ListenOptions {
  /** Called once listening, with the URL clients use. @default {prints "Listening on URL"} */
  onListen?: (url: URL) => void;
  /** Stops the server when aborted. */
  signal?: AbortSignal;
  /**
   * What an error nobody caught does while the server listens: a promise a function process
   * left rejected and never awaited, or a throw in a timer it set. `"exit"` leaves it to Deno,
   * which ends the process (and every session in it) with the error; `"log"` logs it as
   * `uncaught error` and the server goes on (`pow serve` does this). An embedder chooses;
   * pow's own code leaves no such errors. @default {"exit"}
   */
  uncaughtErrors?: "exit" | "log";
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
  // Before serving: end what a crashed server left running, then record our own groups.
  const stateDir = server.config.server.stateDir ?? defaultStateDir();
  // Warnings go to the server's log (main.ts: text or JSON on stderr); an embedder without one
  // still sees them on stderr.
  const warn = (message: string, level: "warn" | "error" = "warn") =>
    server.logger.level === "off" ? console.error(message) : server.logger[level](message);
  let ledger = false;
  if (stateDir) {
    try {
      const swept = openLedger(stateDir);
      ledger = true;
      if (swept && swept.groups > 0) {
        warn(
          `Ended ${swept.processes} processes in ${swept.groups} process groups that a stopped server left running`,
        );
      }
    } catch (error) {
      warn(
        `Cannot use state directory "${stateDir}": ${
          (error as Error).message
        }; processes left by a crash will not be ended at the next start`,
      );
    }
  }
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
  if (options.uncaughtErrors === "log") {
    const stopLogging = logUncaughtErrors(warn);
    httpServer.finished.then(stopLogging, stopLogging);
  }
  (options.onListen ?? ((u) => console.log(`Listening on ${u}`)))(url);
  let stopping: Promise<void> | undefined;
  const shutdown = () =>
    stopping ??= (async () => {
      // Stop accepting new connections at once, end every session (front ends send their
      // results), then give open connections a moment to finish.
      const drained = httpServer.shutdown();
      await server.close();
      if (ledger) closeLedger();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise((r) => timer = setTimeout(r, 2000));
      await Promise.race([drained, timeout]);
      clearTimeout(timer);
      await httpServer.finished.catch(() => {});
    })();
  if (options.signal?.aborted) void shutdown();
  else options.signal?.addEventListener("abort", () => void shutdown(), { once: true });
  return { url, server, finished: httpServer.finished, shutdown };
}

/**
 * Logs the errors nobody caught (unhandled rejections, throws in timers and microtasks) instead
 * of letting them end the process, until the returned function is called.
 */
function logUncaughtErrors(log: (message: string, level: "error") => void): () => void {
  const caught = (event: Event) => {
    event.preventDefault();
    const error = event instanceof PromiseRejectionEvent
      ? event.reason
      : (event as ErrorEvent).error ?? (event as ErrorEvent).message;
    const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    log(`uncaught error (the server goes on): ${text}`, "error");
  };
  globalThis.addEventListener("unhandledrejection", caught);
  globalThis.addEventListener("error", caught);
  return () => {
    globalThis.removeEventListener("unhandledrejection", caught);
    globalThis.removeEventListener("error", caught);
  };
}
