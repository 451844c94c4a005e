// Copyright the pow authors. MIT license.
/**
 * Message types and codecs of the pow protocols, for servers and clients in
 * Deno, browsers, Node and Bun (no runtime-specific APIs).
 *
 * - `pow.v2`, the native protocol ({@link ./v2.ts}): many processes per
 *   connection, stdout and stderr apart, exit codes, pty, credit flow control
 *   and reattachment by byte offset.
 * - `pow-1` ({@link ./pow1.ts}): one process per connection, compatible with
 *   the original Process Over WebSocket implementation.
 *
 * The specification is `docs/protocol.md` in the pow repository.
 *
 * @example Parse what a client sent
 * ```ts
 * import { parseClientMessage, toErrorMessage } from "@pow/protocol";
 * import { deepStrictEqual } from "node:assert/strict";
 *
 * const parsed = parseClientMessage('{"type":"eof","id":4,"ref":"r1"}');
 * deepStrictEqual(parsed, { ok: true, value: { type: "eof", id: 4, ref: "r1" } });
 *
 * const bad = parseClientMessage("{oops");
 * if (bad.ok) throw new Error("unexpected");
 * deepStrictEqual(toErrorMessage(bad.error), {
 *   type: "error",
 *   code: "bad_json",
 *   message: "Cannot parse message: invalid JSON",
 * });
 * ```
 *
 * @module
 */

export * from "./v2.ts";
export * from "./pow1.ts";
export * from "./monorail.ts";
export * from "./signals.ts";
