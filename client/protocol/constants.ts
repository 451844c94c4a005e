// Copyright the pow authors. MIT license.
/**
 * Constants of the native pow protocol (`pow.v2`): names, defaults and limits.
 *
 * @module
 */

/**
 * The WebSocket subprotocol name of the native pow protocol.
 *
 * @example Offer it when connecting
 * ```ts
 * import { V2_SUBPROTOCOL } from "@pow/protocol";
 * import { deepStrictEqual as assertEquals } from "node:assert/strict";
 *
 * assertEquals(V2_SUBPROTOCOL, "pow.v2");
 * ```
 */
export const V2_SUBPROTOCOL = "pow.v2";

/**
 * Prefix of the subprotocol entry that carries a bearer token for clients
 * that cannot set headers (browsers): `pow.token.<base64url of the token>`.
 *
 * @example
 * ```ts
 * import { TOKEN_SUBPROTOCOL_PREFIX } from "@pow/protocol";
 * import { deepStrictEqual as assertEquals } from "node:assert/strict";
 *
 * assertEquals(TOKEN_SUBPROTOCOL_PREFIX, "pow.token.");
 * ```
 */
export const TOKEN_SUBPROTOCOL_PREFIX = "pow.token.";

/**
 * Output credit (bytes) a channel starts with when `start` or `attach`
 * carries no `credit` field: 1 MiB.
 *
 * @example
 * ```ts
 * import { DEFAULT_CREDIT } from "@pow/protocol";
 * import { deepStrictEqual as assertEquals } from "node:assert/strict";
 *
 * assertEquals(DEFAULT_CREDIT, 1024 * 1024);
 * ```
 */
export const DEFAULT_CREDIT = 1_048_576;

/**
 * Stdin credit (bytes) a server grants each channel by default: 1 MiB. The
 * actual value is announced in the `hello` message.
 *
 * @example
 * ```ts
 * import { DEFAULT_STDIN_CREDIT } from "@pow/protocol";
 * import { deepStrictEqual as assertEquals } from "node:assert/strict";
 *
 * assertEquals(DEFAULT_STDIN_CREDIT, 1024 * 1024);
 * ```
 */
export const DEFAULT_STDIN_CREDIT = 1_048_576;

/**
 * Default largest WebSocket message (text or binary, header included) either
 * side accepts: 1 MiB. The server announces its limit in `hello`; a larger
 * message closes the connection with code 1009.
 *
 * @example
 * ```ts
 * import { DATA_FRAME_HEADER_SIZE, DEFAULT_MAX_MESSAGE_SIZE } from "@pow/protocol";
 * import { deepStrictEqual as assertEquals } from "node:assert/strict";
 *
 * // The largest stdin chunk a client may put into one data frame:
 * assertEquals(DEFAULT_MAX_MESSAGE_SIZE - DATA_FRAME_HEADER_SIZE, 1_048_563);
 * ```
 */
export const DEFAULT_MAX_MESSAGE_SIZE = 1_048_576;

/**
 * Largest channel id (uint32). Channel ids run from 1 to this value; 0 is
 * reserved.
 *
 * @example
 * ```ts
 * import { MAX_CHANNEL_ID } from "@pow/protocol";
 * import { deepStrictEqual as assertEquals } from "node:assert/strict";
 *
 * assertEquals(MAX_CHANNEL_ID, 2 ** 32 - 1);
 * ```
 */
export const MAX_CHANNEL_ID = 4_294_967_295;

/**
 * Largest byte offset (2^53 - 1), so that offsets stay exact JavaScript
 * numbers although the frame header has 64 bits for them.
 *
 * @example
 * ```ts
 * import { MAX_OFFSET } from "@pow/protocol";
 * import { deepStrictEqual as assertEquals } from "node:assert/strict";
 *
 * assertEquals(MAX_OFFSET, Number.MAX_SAFE_INTEGER);
 * ```
 */
export const MAX_OFFSET: number = Number.MAX_SAFE_INTEGER;

/**
 * Offset value of a stdin data frame that appends without the exactly-once
 * check (for several writers of one session). On the wire it is the uint64
 * with all bits set.
 *
 * @example
 * ```ts
 * import { APPEND_OFFSET, encodeDataFrame } from "@pow/protocol";
 * import { deepStrictEqual as assertEquals } from "node:assert/strict";
 *
 * const bytes = encodeDataFrame({ kind: "stdin", id: 1, offset: APPEND_OFFSET, data: new Uint8Array() });
 * assertEquals([...bytes.subarray(5)], [255, 255, 255, 255, 255, 255, 255, 255]);
 * ```
 */
export const APPEND_OFFSET: -1 = -1;

/**
 * Size in bytes of the binary data frame header: kind (1), channel id (4),
 * offset (8).
 *
 * @example
 * ```ts
 * import { DATA_FRAME_HEADER_SIZE, encodeDataFrame } from "@pow/protocol";
 * import { deepStrictEqual as assertEquals } from "node:assert/strict";
 *
 * const bytes = encodeDataFrame({ kind: "stdout", id: 1, offset: 0, data: new Uint8Array(3) });
 * assertEquals(bytes.length, DATA_FRAME_HEADER_SIZE + 3);
 * ```
 */
export const DATA_FRAME_HEADER_SIZE = 13;

/** A signal a client may send to a process. */
export type SignalName = "cancel" | "interrupt" | "terminate" | "kill" | "hangup";

/**
 * Every signal name of the `signal` message: `cancel` (SIGTERM to the process
 * group, SIGKILL after a grace period), `interrupt` (SIGINT), `terminate`
 * (SIGTERM), `kill` (SIGKILL), `hangup` (SIGHUP).
 *
 * @example
 * ```ts
 * import { SIGNAL_NAMES } from "@pow/protocol";
 * import { ok as assert } from "node:assert/strict";
 *
 * assert(SIGNAL_NAMES.includes("interrupt"));
 * ```
 */
export const SIGNAL_NAMES: readonly SignalName[] = [
  "cancel",
  "interrupt",
  "terminate",
  "kill",
  "hangup",
];

/** The state of a server session: one run of a process. */
export type SessionState = "starting" | "running" | "fulfilled" | "rejected";

/**
 * Every session state, in lifecycle order.
 *
 * @example
 * ```ts
 * import { SESSION_STATES } from "@pow/protocol";
 * import { deepStrictEqual as assertEquals } from "node:assert/strict";
 *
 * assertEquals(SESSION_STATES.length, 4);
 * ```
 */
export const SESSION_STATES: readonly SessionState[] = [
  "starting",
  "running",
  "fulfilled",
  "rejected",
];

/** A stable, machine-readable error code of an `error` message. */
export type ErrorCode =
  | "bad_json"
  | "bad_message"
  | "unknown_type"
  | "bad_frame"
  | "unknown_id"
  | "duplicate_id"
  | "unknown_process"
  | "bad_params"
  | "not_allowed"
  | "limit_reached"
  | "unknown_session"
  | "bad_offset"
  | "stdin_closed"
  | "credit_exceeded"
  | "not_pty"
  | "unsupported"
  | "internal";

/**
 * Every error code, as listed in `docs/protocol.md`. New codes only come with
 * a new subprotocol version.
 *
 * @example
 * ```ts
 * import { ERROR_CODES } from "@pow/protocol";
 * import { ok as assert } from "node:assert/strict";
 *
 * assert(ERROR_CODES.includes("unknown_process"));
 * ```
 */
export const ERROR_CODES: readonly ErrorCode[] = [
  "bad_json",
  "bad_message",
  "unknown_type",
  "bad_frame",
  "unknown_id",
  "duplicate_id",
  "unknown_process",
  "bad_params",
  "not_allowed",
  "limit_reached",
  "unknown_session",
  "bad_offset",
  "stdin_closed",
  "credit_exceeded",
  "not_pty",
  "unsupported",
  "internal",
];
