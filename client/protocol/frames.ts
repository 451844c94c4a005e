// Copyright the pow authors. MIT license.
/**
 * Binary data frames of `pow.v2`: a 13-byte header (kind, channel id,
 * offset) followed by the raw bytes of stdin, stdout or stderr.
 *
 * @module
 */

import { APPEND_OFFSET, DATA_FRAME_HEADER_SIZE, MAX_CHANNEL_ID, MAX_OFFSET } from "./constants.ts";
import type { ChannelId } from "./messages.ts";
import type { ParseResult } from "./parse.ts";

/** The stream a data frame belongs to. */
export type StreamKind = "stdin" | "stdout" | "stderr";

/**
 * The kind byte (byte 0) of each stream: the stream's file descriptor number.
 *
 * @example
 * ```ts
 * import { FRAME_KINDS } from "@pow/protocol";
 * import { equal } from "node:assert/strict";
 *
 * equal(FRAME_KINDS.stderr, 2);
 * ```
 */
export const FRAME_KINDS: Readonly<Record<StreamKind, number>> = {
  stdin: 0,
  stdout: 1,
  stderr: 2,
};

const KIND_NAMES: readonly StreamKind[] = ["stdin", "stdout", "stderr"];
const TWO_32 = 2 ** 32;

/** A decoded binary data frame. */
export interface DataFrame {
  /** Which stream the bytes belong to. */
  kind: StreamKind;
  /** The channel id (1 to 4294967295). */
  id: ChannelId;
  /**
   * The offset of the first byte of `data`: in the session's output log for
   * stdout and stderr (one offset space for both), in the session's stdin for
   * stdin, where `APPEND_OFFSET` (-1) skips the exactly-once check.
   */
  offset: number;
  /** The payload. */
  data: Uint8Array;
}

/** Options of {@linkcode decodeDataFrame}. */
export interface DecodeDataFrameOptions {
  /**
   * Who sent the frame: `"client"` accepts only stdin frames, `"server"`
   * only stdout and stderr frames, `undefined` any kind.
   *
   * @default {undefined}
   */
  from?: "client" | "server";
}

/**
 * Encodes a data frame: byte 0 the kind, bytes 1-4 the channel id (uint32
 * big-endian), bytes 5-12 the offset (uint64 big-endian), then the data.
 *
 * @param frame The frame to encode.
 * @returns A new buffer with header and data.
 * @throws {RangeError} If the id or offset is out of range.
 * @throws {TypeError} If the kind is unknown.
 *
 * @example
 * ```ts
 * import { encodeDataFrame } from "@pow/protocol";
 * import { deepStrictEqual } from "node:assert/strict";
 *
 * const bytes = encodeDataFrame({
 *   kind: "stdout",
 *   id: 1,
 *   offset: 300,
 *   data: new TextEncoder().encode("hi"),
 * });
 * deepStrictEqual([...bytes], [1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 44, 104, 105]);
 * ```
 */
export function encodeDataFrame(frame: DataFrame): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(DATA_FRAME_HEADER_SIZE + frame.data.byteLength);
  writeDataFrameHeader(bytes, frame);
  bytes.set(frame.data, DATA_FRAME_HEADER_SIZE);
  return bytes;
}

/**
 * Writes the 13-byte header of a data frame into `target[0..13)`, leaving the rest of `target`
 * alone: a sender that reads data into a buffer with 13 bytes free in front of it can build the
 * frame in place, without copying the data ({@linkcode encodeDataFrame} is this plus a copy).
 *
 * @param target Where the header goes (at least 13 bytes).
 * @param frame The frame's kind, channel id and offset.
 * @throws {RangeError} If the id or offset is out of range, or `target` is too short.
 * @throws {TypeError} If the kind is unknown.
 *
 * @example
 * ```ts
 * import { DATA_FRAME_HEADER_SIZE, encodeDataFrame, writeDataFrameHeader } from "@pow/protocol";
 * import { deepStrictEqual } from "node:assert/strict";
 *
 * const data = new TextEncoder().encode("hi");
 * const buffer = new Uint8Array(DATA_FRAME_HEADER_SIZE + data.length);
 * buffer.set(data, DATA_FRAME_HEADER_SIZE); // e.g. read there from a pipe
 * writeDataFrameHeader(buffer, { kind: "stdout", id: 1, offset: 300 });
 * deepStrictEqual(buffer, encodeDataFrame({ kind: "stdout", id: 1, offset: 300, data }));
 * ```
 */
export function writeDataFrameHeader(
  target: Uint8Array,
  frame: Pick<DataFrame, "kind" | "id" | "offset">,
): void {
  const { kind, id, offset } = frame;
  if (!Object.hasOwn(FRAME_KINDS, kind)) {
    throw new TypeError(`Cannot encode data frame: unknown kind "${kind}"`);
  }
  if (!Number.isInteger(id) || id < 1 || id > MAX_CHANNEL_ID) {
    throw new RangeError(
      `Cannot encode data frame: id ${id} is not an integer from 1 to ${MAX_CHANNEL_ID}`,
    );
  }
  const append = offset === APPEND_OFFSET && kind === "stdin";
  if (!append && (!Number.isInteger(offset) || offset < 0 || offset > MAX_OFFSET)) {
    throw new RangeError(
      `Cannot encode data frame: offset ${offset} is not an integer from 0 to 2^53 - 1`,
    );
  }
  if (target.byteLength < DATA_FRAME_HEADER_SIZE) {
    throw new RangeError(
      `Cannot encode data frame: the header needs ${DATA_FRAME_HEADER_SIZE} bytes, got ${target.byteLength}`,
    );
  }
  const view = new DataView(target.buffer, target.byteOffset, DATA_FRAME_HEADER_SIZE);
  view.setUint8(0, FRAME_KINDS[kind]);
  view.setUint32(1, id);
  view.setUint32(5, append ? 0xffffffff : Math.floor(offset / TWO_32));
  view.setUint32(9, append ? 0xffffffff : offset % TWO_32);
}

function fail(message: string, id?: number): ParseResult<DataFrame> {
  const error = { code: "bad_frame" as const, message: `Cannot decode data frame: ${message}` };
  return { ok: false, error: id === undefined ? error : { ...error, id } };
}

/**
 * Decodes a binary data frame without copying: `data` is a view into
 * `bytes`. Never throws on bad input.
 *
 * @param bytes The binary WebSocket message.
 * @param options Which sender to expect.
 * @returns The frame, or a `bad_frame` error (with the channel id once the
 * header is long enough to hold it).
 *
 * @example
 * ```ts
 * import { decodeDataFrame, encodeDataFrame } from "@pow/protocol";
 * import { deepStrictEqual } from "node:assert/strict";
 *
 * const data = new TextEncoder().encode("hello");
 * const bytes = encodeDataFrame({ kind: "stderr", id: 7, offset: 42, data });
 * deepStrictEqual(decodeDataFrame(bytes, { from: "server" }), {
 *   ok: true,
 *   value: { kind: "stderr", id: 7, offset: 42, data },
 * });
 * deepStrictEqual(decodeDataFrame(bytes.subarray(0, 3)), {
 *   ok: false,
 *   error: { code: "bad_frame", message: "Cannot decode data frame: header needs 13 bytes, got 3" },
 * });
 * ```
 */
export function decodeDataFrame(
  bytes: Uint8Array | ArrayBuffer,
  options: DecodeDataFrameOptions = {},
): ParseResult<DataFrame> {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const view = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  const id = u8.byteLength >= 5 ? view.getUint32(1) : undefined;
  if (u8.byteLength < DATA_FRAME_HEADER_SIZE) {
    return fail(
      `header needs ${DATA_FRAME_HEADER_SIZE} bytes, got ${u8.byteLength}`,
      id === 0 ? undefined : id,
    );
  }
  if (id === 0) return fail("channel id 0 is reserved");
  const kind: StreamKind | undefined = KIND_NAMES[view.getUint8(0)];
  if (kind === undefined) return fail(`unknown kind ${view.getUint8(0)}`, id);
  if (options.from === "client" && kind !== "stdin") {
    return fail(`a client cannot send ${kind} frames`, id);
  }
  if (options.from === "server" && kind === "stdin") {
    return fail("a server cannot send stdin frames", id);
  }
  const high = view.getUint32(5);
  const low = view.getUint32(9);
  let offset: number;
  if (high === 0xffffffff && low === 0xffffffff && kind === "stdin") {
    offset = APPEND_OFFSET;
  } else if (high > 0x1fffff) {
    return fail("offset is larger than 2^53 - 1", id);
  } else {
    offset = high * TWO_32 + low;
  }
  return {
    ok: true,
    value: { kind, id: id as number, offset, data: u8.subarray(DATA_FRAME_HEADER_SIZE) },
  };
}
