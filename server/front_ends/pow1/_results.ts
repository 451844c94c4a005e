/**
 * pow-1's words for how a session ended and why a call could not start, shared by the
 * WebSocket and the REST front end.
 *
 * @module
 */

import {
  POW1_REASON_AUTHORIZATION_DENIED,
  POW1_REASON_INVALID_ARGS,
  POW1_REASON_PROCESS_ERROR_PREFIX,
  POW1_REASON_UNKNOWN_ERROR_PREFIX,
  POW1_REASON_UNKNOWN_PROCESS,
  type Pow1Result,
} from "@pow/protocol";
import type { CallError } from "../../errors.ts";
import type { SessionResult } from "../../session.ts";

/**
 * Maps a session's result to the pow-1 result frame.
 *
 * @example
 * ```ts
 * import { pow1Result } from "./_results.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(
 *   pow1Result({ status: "rejected", reason: "exit status 3", kind: "error" }),
 *   { status: "rejected", reason: "process returned error: exit status 3" },
 * );
 * ```
 *
 * @param result How the session ended.
 * @returns The frame's content.
 */
export function pow1Result(result: SessionResult): Pow1Result {
  if (result.status === "fulfilled") return { status: "fulfilled", value: result.value ?? null };
  const prefix = result.kind === "crash"
    ? POW1_REASON_UNKNOWN_ERROR_PREFIX
    : POW1_REASON_PROCESS_ERROR_PREFIX;
  return { status: "rejected", reason: prefix + result.reason };
}

/**
 * The pow-1 reason text for a call that could not start.
 *
 * `limit_reached` (too many sessions, or the server is shutting down) has no counterpart in
 * the original; it reads `failed to get process: limit reached`.
 *
 * @example
 * ```ts
 * import { pow1CallErrorReason } from "./_results.ts";
 * import { CallError } from "../../errors.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(
 *   pow1CallErrorReason(new CallError("unknown_process", "no such process")),
 *   "failed to get process: unknown process",
 * );
 * ```
 *
 * @param error Why the call failed.
 * @returns The reason text.
 */
export function pow1CallErrorReason(error: CallError): string {
  switch (error.code) {
    case "unknown_process":
      return POW1_REASON_UNKNOWN_PROCESS;
    case "bad_params":
      return POW1_REASON_INVALID_ARGS;
    case "not_allowed":
      return POW1_REASON_AUTHORIZATION_DENIED;
    case "limit_reached":
      return "failed to get process: limit reached";
  }
}
