// Copyright the pow authors. MIT license.
/**
 * Message types and codecs of the pow protocols, for servers and clients in Deno, browsers,
 * Node and Bun (no runtime-specific APIs): `pow.v2`, the native protocol, and `pow-1`, the
 * original Process Over WebSocket protocol. The specification is `docs/protocol.md` in the
 * pow repository.
 *
 * The sources live in `@pow/client` (`client/protocol/`, exported as `@pow/client/protocol`),
 * so that the client imports them by relative path and works when imported by URL or path
 * with no import map; this package re-exports them for servers and tools.
 *
 * @example Parse what a client sent
 * ```ts
 * import { parseClientMessage } from "@pow/protocol";
 * import { deepStrictEqual } from "node:assert/strict";
 *
 * deepStrictEqual(parseClientMessage('{"type":"eof","id":4,"ref":"r1"}'), {
 *   ok: true,
 *   value: { type: "eof", id: 4, ref: "r1" },
 * });
 * ```
 *
 * @module
 */

export * from "@pow/client/protocol";
