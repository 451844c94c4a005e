/**
 * The one table from a refused start ({@linkcode CallError}) to an HTTP status, and the detail
 * of its message. Each protocol maps the error code to its own words; the status of a REST
 * answer is the same for all.
 *
 * @module
 */

import { type CallError, type CallErrorCode, CapacityError } from "../../errors.ts";

/** The HTTP status of each reason a start is refused. */
export const CALL_ERROR_STATUS: Readonly<Record<CallErrorCode, 400 | 403 | 404 | 429>> = {
  unknown_process: 404,
  bad_params: 400,
  not_allowed: 403,
  limit_reached: 429,
};

/**
 * The HTTP status for a refused start: 503 when the server's capacity (the output budget, the
 * session limit) is used up, else the code's status in {@linkcode CALL_ERROR_STATUS}.
 *
 * @example
 * ```ts
 * import { callErrorStatus } from "./call_errors.ts";
 * import { CallError } from "../../errors.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(callErrorStatus(new CallError("unknown_process", "no such process")), 404);
 * ```
 *
 * @param error The refusal.
 * @returns The status.
 */
export function callErrorStatus(error: CallError): 400 | 403 | 404 | 429 | 503 {
  return error instanceof CapacityError ? 503 : CALL_ERROR_STATUS[error.code];
}

/**
 * The message of a refused start without its `Cannot start process "name": ` lead, for
 * protocols that name the process elsewhere.
 *
 * @example
 * ```ts
 * import { callErrorDetail } from "./call_errors.ts";
 * import { CallError } from "../../errors.ts";
 * import assert from "node:assert/strict";
 *
 * const error = new CallError("not_allowed", 'Cannot start process "x": not allowed');
 * assert.equal(callErrorDetail(error), "not allowed");
 * ```
 *
 * @param error The refusal.
 * @returns The detail.
 */
export function callErrorDetail(error: CallError): string {
  return error.message.replace(/^Cannot start process "[^"]*": /, "");
}
