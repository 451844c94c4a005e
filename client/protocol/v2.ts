// Copyright the pow authors. MIT license.
/**
 * The native pow protocol, `pow.v2`: many processes per WebSocket connection,
 * JSON control messages in text frames, stdin, stdout and stderr in binary
 * frames with a 13-byte header, per-channel credit flow control and
 * reattachment by byte offset. The full specification is `docs/protocol.md`.
 *
 * @example Start a process and read its output
 * ```ts ignore
 * import {
 *   decodeDataFrame,
 *   encodeMessage,
 *   parseServerMessage,
 *   V2_SUBPROTOCOL,
 * } from "@pow/protocol/v2";
 *
 * const ws = new WebSocket("ws://localhost:8028/", [V2_SUBPROTOCOL]);
 * ws.binaryType = "arraybuffer";
 * ws.onopen = () => ws.send(encodeMessage({ type: "start", id: 1, name: "date", params: [] }));
 * ws.onmessage = ({ data }) => {
 *   if (typeof data === "string") {
 *     const parsed = parseServerMessage(data);
 *     if (parsed.ok && parsed.value.type === "exit") ws.close(1000);
 *   } else {
 *     const frame = decodeDataFrame(data, { from: "server" });
 *     if (frame.ok) console.log(frame.value.kind, new TextDecoder().decode(frame.value.data));
 *   }
 * };
 * ```
 *
 * @module
 */

export * from "./constants.ts";
export * from "./messages.ts";
export * from "./parse.ts";
export * from "./frames.ts";
export * from "./close_codes.ts";
export * from "./handshake.ts";
export * from "./inline.ts";
