/**
 * The one message-size check of every front end: how many bytes a WebSocket message (or a
 * request body already read as text) takes, measured only when it can matter.
 *
 * @module
 */

const encoder = new TextEncoder();

/**
 * The UTF-8 length of a string, without encoding it (a lone surrogate counts 3 bytes, as
 * `TextEncoder` writes U+FFFD for it).
 *
 * @example
 * ```ts
 * import { utf8Length } from "./size.ts";
 * import assert from "node:assert/strict";
 *
 * const text = "h\u00e9llo \u{1F44B}"; // two bytes, then four
 * assert.equal(utf8Length(text), new TextEncoder().encode(text).length);
 * ```
 *
 * @param text The string.
 * @returns Its length in UTF-8 bytes.
 */
export function utf8Length(text: string): number {
  if (text.length * 3 <= 1024) return encoder.encode(text).length;
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * The size of a message over a limit: text in UTF-8 bytes (measured only when it could exceed
 * the limit: a UTF-16 unit is at most 3 bytes), binary data in bytes.
 *
 * @example
 * ```ts
 * import { oversize } from "./size.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(oversize("ééé", 5), 6);
 * assert.equal(oversize("ééé", 6), undefined);
 * assert.equal(oversize(new ArrayBuffer(8), 4), 8);
 * ```
 *
 * @param data A WebSocket message's data (or text read from a body).
 * @param max The largest size allowed, in bytes.
 * @returns The size when it is larger than `max`, else `undefined`.
 */
export function oversize(data: unknown, max: number): number | undefined {
  let size: number;
  if (typeof data === "string") {
    if (data.length * 3 <= max) return undefined;
    size = utf8Length(data);
  } else if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) {
    size = data.byteLength;
  } else if (data instanceof Blob) {
    size = data.size;
  } else {
    size = 0;
  }
  return size > max ? size : undefined;
}
