/**
 * What a front end (a protocol adapter) gets from the server, and what it gives back.
 * A front end translates frames and requests into calls on the {@linkcode SessionManager} and
 * its sessions; it never starts processes itself.
 *
 * @module
 */

import type { Hono } from "hono";
import type { Authenticator } from "./auth.ts";
import type { ConfigSection, PowConfig } from "./config.ts";
import type { Caller } from "./process.ts";
import type { SessionManager } from "./session_manager.ts";

/** Shared services for front ends. */
export interface FrontEndContext {
  /** Starts and finds sessions. */
  readonly manager: SessionManager;
  /** The configuration. */
  readonly config: PowConfig;
  /**
   * Establishes who is calling. Returns the caller, or a response that refuses the request
   * (for example 401).
   */
  authenticate(request: Request, info?: Deno.ServeHandlerInfo): Caller | Response;
  /** Every front end of the server (complete once the server is built). */
  readonly frontEnds: readonly FrontEnd[];
  /** The server's own base URL (scheme, host, port and base path), as clients reach it. */
  baseUrl(request: Request): URL;
  /** The authenticator (tickets for browsers). */
  readonly auth: Authenticator;
  /**
   * Upgrades a request to a WebSocket and counts the connection against the connection limits
   * until it closes. Front ends use this instead of `Deno.upgradeWebSocket`. Keep-alive pings
   * follow `server.keepAlive` unless `options.idleTimeout` says otherwise; a request that is not a
   * valid upgrade is answered 400 `invalid WebSocket upgrade: ...`.
   */
  upgradeWebSocket(
    request: Request,
    options?: Deno.UpgradeWebSocketOptions,
  ): { socket: WebSocket; response: Response };
}

/** The Hono environment of front-end routes: `c.get("caller")` is the authenticated caller. */
export interface PowEnv {
  /** Request-scoped values. */
  Variables: {
    /** Who is calling (set before any front-end route runs). */
    caller: Caller;
  };
}

/** A protocol adapter. */
export interface FrontEnd {
  /** A short name, e.g. `"pow-1"`. */
  readonly name: string;
  /** WebSocket subprotocols this front end accepts, in order of preference. */
  readonly subprotocols?: readonly string[];
  /**
   * Where its subprotocols rank when a client offers those of several front ends: the lowest
   * number wins, whatever the order of the offer. @default {100}
   */
  readonly preference?: number;
  /**
   * Answers a WebSocket upgrade that offers no subprotocol and that no route took. The first
   * front end in the list that has this answers; without one, the server answers 400 naming
   * the subprotocols it speaks.
   *
   * @param request The upgrade request.
   * @returns The refusal.
   */
  refuseUpgrade?(request: Request): Response;
  /**
   * Paths (relative to the base path, without the leading `/`) served without authentication,
   * such as API documentation. Never WebSocket upgrades.
   */
  readonly publicPaths?: RegExp;
  /**
   * Where it serves the server's API documentation (relative to the base path): the page
   * browsers are sent to from the root, and the OpenAPI document.
   */
  readonly documentation?: { readonly page: string; readonly openapi: string };
  /**
   * A page for people (relative to the base path) that `GET /` sends browsers to, before the
   * API documentation (the web console declares `console/`).
   */
  readonly homePage?: string;
  /**
   * Accepts a WebSocket upgrade for one of its subprotocols.
   *
   * @param request The upgrade request.
   * @param protocol The subprotocol chosen.
   * @param caller Who is calling.
   * @returns The upgrade response.
   */
  upgrade?(request: Request, protocol: string, caller: Caller): Response;
  /**
   * OpenAPI 3.1 path items for what this front end serves, keyed by path relative to the base
   * path (e.g. `"/new"`); `GET /openapi.json` merges those of every front end.
   */
  readonly openapi?: Record<string, unknown>;
  /**
   * `GET` paths (relative to the base path, without the leading `/`) that answer with
   * server-sent events. Browsers cannot set headers on an `EventSource`, so a ticket from
   * `POST /tickets` is accepted there, as on WebSocket upgrades, and nowhere else.
   */
  readonly eventStreams?: RegExp;
  /**
   * Adds HTTP routes (relative to the base path) to the server's
   * [Hono](https://hono.dev) app, whose `c.get("caller")` is the authenticated
   * {@linkcode Caller} (see {@linkcode PowEnv}).
   *
   * @ignore
   */
  routes?(app: Hono<PowEnv>): void;
  /** Called once when the server shuts down, after sessions were cancelled. */
  close?(): Promise<void> | void;
}

/** What a front end needs from the machine, for `main.ts permissions` and the startup check. */
export interface PermissionNeeds {
  /** Files and directories it reads. */
  read?: string[];
  /** Files and directories it writes. */
  write?: string[];
  /** It may start pseudo-terminals (see {@linkcode needsPty}). */
  pty?: boolean;
}

/**
 * What a front end declares before any server exists, on its factory (`factory.config = ...`):
 * its settings and permission needs.
 */
export interface FrontEndPlugin {
  /** Its section of the configuration, with defaults (read by `parseConfig`). */
  config?: ConfigSection;
  /**
   * What its configuration needs from the machine beyond what the host needs.
   *
   * @param config The configuration.
   * @returns Files it reads and writes.
   */
  permissions?(config: PowConfig): PermissionNeeds;
}

/** Makes a front end from the shared context; may declare its settings and permissions. */
export interface FrontEndFactory extends FrontEndPlugin {
  /**
   * Makes the front end.
   *
   * @param context The server's shared services.
   * @returns The front end.
   */
  (context: FrontEndContext): FrontEnd;
}
