// Copyright the pow authors. MIT license.
/**
 * WebSocket close codes used by pow and whether a client should reconnect
 * after each.
 *
 * @module
 */

/** The close codes pow servers send, by name. */
export interface CloseCodeTable {
  /** 1000: normal closure; the client asked, or there is nothing left to do. Give up. */
  readonly NORMAL: 1000;
  /** 1001: the server is shutting down or restarting. Reconnect. */
  readonly GOING_AWAY: 1001;
  /** 1002: the peer broke the WebSocket protocol. Give up. */
  readonly PROTOCOL_ERROR: 1002;
  /** 1003: a frame type the endpoint cannot accept. Give up. */
  readonly UNSUPPORTED_DATA: 1003;
  /** 1005: closed without a status code (never sent). Reconnect. */
  readonly NO_STATUS: 1005;
  /** 1006: the connection dropped without a close frame (never sent). Reconnect. */
  readonly ABNORMAL: 1006;
  /** 1007: a text frame that is not valid UTF-8. Give up. */
  readonly INVALID_PAYLOAD: 1007;
  /** 1008: policy violation (origin refused, too many errors). Give up. */
  readonly POLICY_VIOLATION: 1008;
  /** 1009: a message over the size limit; reason `message too big`. Give up. */
  readonly MESSAGE_TOO_BIG: 1009;
  /** 1011: an internal server error. Reconnect. */
  readonly INTERNAL_ERROR: 1011;
  /** 1012: the service is restarting. Reconnect. */
  readonly SERVICE_RESTART: 1012;
  /** 1013: the server is overloaded; try again later (longer backoff). Reconnect. */
  readonly TRY_AGAIN_LATER: 1013;
  /** 1014: a gateway could not reach the server. Reconnect. */
  readonly BAD_GATEWAY: 1014;
  /** 4000: the peer was silent longer than the idle timeout. Reconnect. */
  readonly IDLE_TIMEOUT: 4000;
  /** 4001: the credentials expired while connected; reconnect with fresh ones. */
  readonly TOKEN_EXPIRED: 4001;
  /** 4500: the credentials are invalid or were revoked. Give up. */
  readonly UNAUTHORIZED: 4500;
  /** 4501: the identity may no longer use this server. Give up. */
  readonly FORBIDDEN: 4501;
}

/**
 * The close codes pow uses. Application codes 4000-4499 mean "reconnect",
 * 4500-4999 mean "give up".
 *
 * @example
 * ```ts
 * import { CLOSE_CODES } from "@pow/protocol";
 * import { equal } from "node:assert/strict";
 *
 * equal(CLOSE_CODES.MESSAGE_TOO_BIG, 1009);
 * ```
 */
export const CLOSE_CODES: CloseCodeTable = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  NO_STATUS: 1005,
  ABNORMAL: 1006,
  INVALID_PAYLOAD: 1007,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  SERVICE_RESTART: 1012,
  TRY_AGAIN_LATER: 1013,
  BAD_GATEWAY: 1014,
  IDLE_TIMEOUT: 4000,
  TOKEN_EXPIRED: 4001,
  UNAUTHORIZED: 4500,
  FORBIDDEN: 4501,
};

/**
 * The close reason sent with code 1009 (by pow-1 and `pow.v2` alike).
 *
 * @example
 * ```ts
 * import { MESSAGE_TOO_BIG_REASON } from "@pow/protocol";
 * import { equal } from "node:assert/strict";
 *
 * equal(MESSAGE_TOO_BIG_REASON, "message too big");
 * ```
 */
export const MESSAGE_TOO_BIG_REASON = "message too big";

const GIVE_UP: ReadonlySet<number> = new Set([1000, 1002, 1003, 1007, 1008, 1009, 1010, 1015]);

/**
 * Tells whether a client should reconnect (with backoff) after the
 * connection closed with `code`. Codes the table does not name: 4000-4499
 * reconnect, 4500-4999 give up, 3000 and 3003 (unauthorized, forbidden) give
 * up, anything else reconnects.
 *
 * @param code The close code from the `close` event.
 * @returns `true` to reconnect, `false` to give up.
 *
 * @example
 * ```ts
 * import { shouldReconnect } from "@pow/protocol";
 * import { equal } from "node:assert/strict";
 *
 * equal(shouldReconnect(1001), true); // server going away
 * equal(shouldReconnect(1006), true); // connection dropped
 * equal(shouldReconnect(1008), false); // policy violation
 * equal(shouldReconnect(4500), false); // unauthorized
 * ```
 */
export function shouldReconnect(code: number): boolean {
  if (GIVE_UP.has(code)) return false;
  if (code >= 4500 && code <= 4999) return false;
  if (code === 3000 || code === 3003) return false;
  return true;
}
