/**
 * What a front end (a protocol adapter) gets from the server, and what it gives back.
 * A front end translates frames and requests into calls on the {@linkcode SessionManager} and
 * its sessions; it never starts processes itself.
 *
 * @module
 */

import type { Hono } from "hono";
import type { PowConfig } from "./config.ts";
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
  /** The server's own base URL (scheme, host, port and base path), as clients reach it. */
  baseUrl(request: Request): URL;
}

/** A protocol adapter. */
export interface FrontEnd {
  /** A short name, e.g. `"pow-1"`. */
  readonly name: string;
  /** WebSocket subprotocols this front end accepts, in order of preference. */
  readonly subprotocols?: readonly string[];
  /**
   * Accepts a WebSocket upgrade for one of its subprotocols.
   *
   * @param request The upgrade request.
   * @param protocol The subprotocol chosen.
   * @param caller Who is calling.
   * @returns The upgrade response.
   */
  upgrade?(request: Request, protocol: string, caller: Caller): Response;
  /** Adds HTTP routes (relative to the base path). */
  routes?(app: Hono): void;
  /** Called once when the server shuts down, after sessions were cancelled. */
  close?(): Promise<void> | void;
}

/** Makes a front end from the shared context. */
export type FrontEndFactory = (context: FrontEndContext) => FrontEnd;
