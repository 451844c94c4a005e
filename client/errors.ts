// Copyright the pow authors. MIT license.
/**
 * Errors of `@pow/client` that callers may want to tell apart.
 *
 * @module
 */

import type { ErrorCode } from "./protocol/mod.ts";

/**
 * The connection to the server failed or closed for good (no more reconnects).
 *
 * @example
 * ```ts
 * import { ConnectionError } from "@pow/client";
 * import { equal } from "node:assert/strict";
 *
 * const error = new ConnectionError("Cannot connect: connection refused", { code: 1006 });
 * equal(error.name, "ConnectionError");
 * equal(error.code, 1006);
 * ```
 */
export class ConnectionError extends Error {
  /** The WebSocket close code, when the connection closed with one. */
  readonly code?: number;
  /** The WebSocket close reason, when there was one. */
  readonly reason?: string;

  /**
   * Creates the error.
   *
   * @param message What went wrong.
   * @param options The close code and reason, and the cause.
   */
  constructor(message: string, options: ConnectionErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ConnectionError";
    if (options.code !== undefined) this.code = options.code;
    if (options.reason !== undefined) this.reason = options.reason;
  }
}

/** Details of a {@linkcode ConnectionError}. */
export interface ConnectionErrorOptions {
  /** The WebSocket close code. */
  code?: number;
  /** The WebSocket close reason. */
  reason?: string;
  /** The underlying error. */
  cause?: unknown;
}

/**
 * The server answered a request with an `error` message (e.g. `unknown_process`,
 * `bad_params`, `not_allowed`).
 *
 * @example
 * ```ts
 * import { RemoteError } from "@pow/client";
 * import { equal } from "node:assert/strict";
 *
 * const error = new RemoteError("unknown_process", 'Cannot start process "nope": no such process');
 * equal(error.code, "unknown_process");
 * equal(error.message, 'Cannot start process "nope": no such process');
 * ```
 */
export class RemoteError extends Error {
  /** The protocol's error code. */
  readonly code: ErrorCode;

  /**
   * Creates the error.
   *
   * @param code The protocol's error code.
   * @param message The server's message.
   */
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = "RemoteError";
    this.code = code;
  }
}

/**
 * A remote session cannot be followed any more: it expired or the server restarted while the
 * client was disconnected (`unknown_session` on reattach), or the connection dropped after
 * `start` was sent but before the server confirmed it (the process may or may not run; the
 * client never starts it again). {@linkcode SessionLostError.session} is the session id when
 * it is known.
 *
 * @example
 * ```ts
 * import { SessionLostError } from "@pow/client";
 * import { equal } from "node:assert/strict";
 *
 * const error = new SessionLostError("Cannot reattach session \"abc\": it no longer exists", "abc");
 * equal(error.session, "abc");
 * ```
 */
export class SessionLostError extends Error {
  /** The session id, when the server had assigned one. */
  readonly session?: string;

  /**
   * Creates the error.
   *
   * @param message What happened.
   * @param session The session id, if known.
   */
  constructor(message: string, session?: string) {
    super(message);
    this.name = "SessionLostError";
    if (session !== undefined) this.session = session;
  }
}

/**
 * A pow-1 session failed: the connection or an HTTP request failed, or the connection closed
 * without a result.
 *
 * @example
 * ```ts
 * import { Pow1Error } from "@pow/client";
 * import { equal } from "node:assert/strict";
 *
 * const error = new Pow1Error("Cannot send input: HTTP 404: process not found", { status: 404 });
 * equal(error.status, 404);
 * ```
 */
export class Pow1Error extends Error {
  /** The HTTP status of a failed REST request. */
  readonly status?: number;
  /** The WebSocket close code, when the connection closed with one. */
  readonly code?: number;

  /**
   * Creates the error.
   *
   * @param message What went wrong.
   * @param options The HTTP status or close code, and the cause.
   */
  constructor(message: string, options: Pow1ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "Pow1Error";
    if (options.status !== undefined) this.status = options.status;
    if (options.code !== undefined) this.code = options.code;
  }
}

/** Details of a {@linkcode Pow1Error}. */
export interface Pow1ErrorOptions {
  /** The HTTP status of a failed REST request. */
  status?: number;
  /** The WebSocket close code. */
  code?: number;
  /** The underlying error. */
  cause?: unknown;
}
