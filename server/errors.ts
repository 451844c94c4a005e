/**
 * Errors that callers of the session core catch and translate for their protocol.
 *
 * @module
 */

/** Machine-readable reasons why a process could not be started. */
export type CallErrorCode =
  | "unknown_process"
  | "bad_params"
  | "not_allowed"
  | "limit_reached";

/**
 * A process could not be started: the name is unknown, the params are invalid, the caller is not
 * allowed to run it, or a limit was reached. Nothing was started.
 *
 * @example Tell the reasons apart
 * ```ts
 * import { CallError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const error = new CallError("unknown_process", 'Cannot start process "nope": no such process');
 * assert.equal(error.code, "unknown_process");
 * ```
 */
export class CallError extends Error {
  /** Why the call failed. */
  readonly code: CallErrorCode;

  /**
   * Creates a call error.
   *
   * @param code Why the call failed.
   * @param message A human-readable explanation.
   */
  constructor(code: CallErrorCode, message: string) {
    super(message);
    this.name = "CallError";
    this.code = code;
  }
}

/**
 * A process could not be started because the whole server is at capacity (its output memory
 * budget is used up), not because of anything the caller did: REST answers 503 instead of 429.
 * Its code is `limit_reached`, so front ends that only know {@linkcode CallError} still answer
 * their protocol's limit error.
 *
 * @example
 * ```ts
 * import { CallError, CapacityError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const error = new CapacityError('Cannot start process "x": the server is out of output memory');
 * assert.ok(error instanceof CallError);
 * assert.equal(error.code, "limit_reached");
 * ```
 */
export class CapacityError extends CallError {
  /**
   * Creates a capacity error.
   *
   * @param message A human-readable explanation.
   */
  constructor(message: string) {
    super("limit_reached", message);
    this.name = "CapacityError";
  }
}
