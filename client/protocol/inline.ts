// Copyright the pow authors. MIT license.
/**
 * The one-message answer of `pow.v2` to a quick call: a client that sends `start` with
 * `inline: true` may get, instead of `started`, data frames and `exit`, a single `exit` that
 * carries `started`'s fields (`ref`, `pid`, `pty`) and the whole output in `output`, base64
 * encoded per run of one stream. The server does so only when the session ended before it would
 * have sent `started` and the output fits the channel's credit and one data frame; otherwise it
 * answers as usual. Servers announce it with `inline: true` in `hello`; a server that does not
 * know the field ignores it (unknown fields are ignored) and answers as usual.
 *
 * @module
 */

import type { ExitMessage, InlineOutput } from "./messages.ts";

/** One run of output of an inline `exit`, decoded. */
export interface InlineChunk {
  /** The stream. */
  stream: "stdout" | "stderr";
  /** The offset of its first byte in the session's output. */
  offset: number;
  /** The bytes. */
  data: Uint8Array<ArrayBuffer>;
}

const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

type Base64Native = {
  fromBase64?: (text: string) => Uint8Array<ArrayBuffer>;
  prototype: { toBase64?: () => string };
};
const native = Uint8Array as unknown as Base64Native;

/**
 * Encodes bytes as base64 (standard alphabet, padded).
 *
 * @example
 * ```ts
 * import { encodeBase64 } from "@pow/protocol";
 * import { equal } from "node:assert/strict";
 *
 * equal(encodeBase64(new TextEncoder().encode("tick 1\n")), "dGljayAxCg==");
 * ```
 *
 * @param bytes The bytes.
 * @returns The base64 text.
 */
export function encodeBase64(bytes: Uint8Array): string {
  const toBase64 = native.prototype.toBase64;
  if (toBase64) return toBase64.call(bytes);
  let out = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += BASE64[n >> 18] + BASE64[(n >> 12) & 63] + BASE64[(n >> 6) & 63] + BASE64[n & 63];
  }
  const rest = bytes.length - i;
  if (rest > 0) {
    const n = (bytes[i] << 16) | (rest === 2 ? bytes[i + 1] << 8 : 0);
    out += BASE64[n >> 18] + BASE64[(n >> 12) & 63] +
      (rest === 2 ? BASE64[(n >> 6) & 63] : "=") + "=";
  }
  return out;
}

const VALID = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Whether `text` is padded standard base64, and if so how many bytes it decodes to.
 *
 * @param text The text.
 * @returns The decoded length, or `-1` when it is not valid base64.
 */
export function base64Length(text: string): number {
  if (text.length % 4 !== 0 || !VALID.test(text)) return -1;
  const pad = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  return (text.length / 4) * 3 - pad;
}

/**
 * Decodes padded standard base64.
 *
 * @example
 * ```ts
 * import { decodeBase64 } from "@pow/protocol";
 * import { equal } from "node:assert/strict";
 *
 * equal(new TextDecoder().decode(decodeBase64("dGljayAxCg==")), "tick 1\n");
 * ```
 *
 * @param text The base64 text.
 * @returns The bytes.
 * @throws {TypeError} When `text` is not valid base64.
 */
export function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const length = base64Length(text);
  if (length < 0) throw new TypeError("Cannot decode base64: invalid text");
  if (native.fromBase64) return native.fromBase64(text);
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/**
 * Encodes output runs for the `output` field of an inline `exit`.
 *
 * @example
 * ```ts
 * import { encodeInlineOutput } from "@pow/protocol";
 * import { deepStrictEqual } from "node:assert/strict";
 *
 * deepStrictEqual(
 *   encodeInlineOutput([{ stream: "stdout", data: new TextEncoder().encode("hi") }]),
 *   [{ stream: "stdout", data: "aGk=" }],
 * );
 * ```
 *
 * @param runs The output in order, from offset 0.
 * @returns The `output` field.
 */
export function encodeInlineOutput(
  runs: readonly { stream: "stdout" | "stderr"; data: Uint8Array }[],
): InlineOutput[] {
  return runs.map((run) => ({ stream: run.stream, data: encodeBase64(run.data) }));
}

/**
 * Decodes the output of an inline `exit` into chunks with their offsets (from 0); an `exit`
 * without `output` has none.
 *
 * @example
 * ```ts
 * import { decodeInlineOutput, parseServerMessage } from "@pow/protocol";
 * import { equal } from "node:assert/strict";
 *
 * const parsed = parseServerMessage(
 *   '{"type":"exit","id":1,"session":"s1","offset":7,"pty":false,' +
 *     '"output":[{"stream":"stdout","data":"dGljayAxCg=="}],' +
 *     '"result":{"status":"fulfilled","value":1}}',
 * );
 * if (!parsed.ok || parsed.value.type !== "exit") throw new Error("unexpected");
 * const [chunk] = decodeInlineOutput(parsed.value);
 * equal(new TextDecoder().decode(chunk.data), "tick 1\n");
 * ```
 *
 * @param message The `exit` message.
 * @returns The chunks in order.
 */
export function decodeInlineOutput(message: ExitMessage): InlineChunk[] {
  const out: InlineChunk[] = [];
  let offset = 0;
  for (const run of message.output ?? []) {
    const data = decodeBase64(run.data);
    out.push({ stream: run.stream, offset, data });
    offset += data.length;
  }
  return out;
}
