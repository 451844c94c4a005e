// Copyright the pow authors. MIT license.
import { deepStrictEqual, equal, throws } from "node:assert/strict";
import { APPEND_OFFSET, DATA_FRAME_HEADER_SIZE, MAX_OFFSET } from "./constants.ts";
import { decodeDataFrame, encodeDataFrame, writeDataFrameHeader } from "./frames.ts";

const bytes = (...values: number[]) => new Uint8Array(values);

Deno.test("a stdout frame has kind 1, a big-endian id and offset, then the payload", () => {
  const frame = encodeDataFrame({
    kind: "stdout",
    id: 0x01020304,
    offset: 2 ** 32 + 5,
    data: bytes(0xff, 0x00),
  });
  deepStrictEqual(frame, bytes(1, 1, 2, 3, 4, 0, 0, 0, 1, 0, 0, 0, 5, 0xff, 0x00));
});

Deno.test("every kind and the largest id and offset survive a round trip", () => {
  for (const kind of ["stdin", "stdout", "stderr"] as const) {
    const data = crypto.getRandomValues(new Uint8Array(1000));
    for (const [id, offset] of [[1, 0], [4294967295, MAX_OFFSET], [77, 123456789012]]) {
      deepStrictEqual(decodeDataFrame(encodeDataFrame({ kind, id, offset, data })), {
        ok: true,
        value: { kind, id, offset, data },
      });
    }
  }
});

Deno.test("a stdin frame with the append offset carries all ones on the wire", () => {
  const frame = encodeDataFrame({ kind: "stdin", id: 3, offset: APPEND_OFFSET, data: bytes(9) });
  deepStrictEqual(frame.subarray(5, 13), new Uint8Array(8).fill(255));
  deepStrictEqual(decodeDataFrame(frame, { from: "client" }), {
    ok: true,
    value: { kind: "stdin", id: 3, offset: -1, data: bytes(9) },
  });
});

Deno.test("decoding does not copy: the payload is a view into the message", () => {
  const frame = encodeDataFrame({ kind: "stderr", id: 1, offset: 0, data: bytes(1, 2, 3) });
  const decoded = decodeDataFrame(frame.buffer);
  if (!decoded.ok) throw new Error(decoded.error.message);
  equal(decoded.value.data.buffer, frame.buffer);
  equal(decoded.value.data.byteOffset, 13);
  frame[13] = 42;
  equal(decoded.value.data[0], 42);
});

Deno.test("a frame inside a larger buffer decodes from its own offset", () => {
  const frame = encodeDataFrame({ kind: "stdout", id: 5, offset: 8, data: bytes(7, 7) });
  const big = new Uint8Array(100);
  big.set(frame, 40);
  deepStrictEqual(decodeDataFrame(big.subarray(40, 40 + frame.length)), {
    ok: true,
    value: { kind: "stdout", id: 5, offset: 8, data: bytes(7, 7) },
  });
});

Deno.test("an empty payload is a valid frame", () => {
  const decoded = decodeDataFrame(
    encodeDataFrame({ kind: "stdin", id: 1, offset: 0, data: bytes() }),
  );
  deepStrictEqual(decoded, { ok: true, value: { kind: "stdin", id: 1, offset: 0, data: bytes() } });
});

Deno.test("every malformed frame is a bad_frame error with the id when it is readable", () => {
  const header = (kind: number, id: number[], offset: number[]) => bytes(kind, ...id, ...offset);
  const cases: [Uint8Array, string, number?, ("client" | "server")?][] = [
    [bytes(), "header needs 13 bytes, got 0"],
    [bytes(1, 0, 0), "header needs 13 bytes, got 3"],
    [bytes(1, 0, 0, 0, 9, 0), "header needs 13 bytes, got 6", 9],
    [header(1, [0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0]), "channel id 0 is reserved"],
    [header(3, [0, 0, 0, 2], [0, 0, 0, 0, 0, 0, 0, 0]), "unknown kind 3", 2],
    [header(1, [0, 0, 0, 2], [0, 0x20, 0, 0, 0, 0, 0, 0]), "offset is larger than 2^53 - 1", 2],
    [
      header(1, [0, 0, 0, 2], [255, 255, 255, 255, 255, 255, 255, 255]),
      "offset is larger than 2^53 - 1",
      2,
    ],
    [
      header(1, [0, 0, 0, 2], [0, 0, 0, 0, 0, 0, 0, 0]),
      "a client cannot send stdout frames",
      2,
      "client",
    ],
    [
      header(2, [0, 0, 0, 2], [0, 0, 0, 0, 0, 0, 0, 0]),
      "a client cannot send stderr frames",
      2,
      "client",
    ],
    [
      header(0, [0, 0, 0, 2], [0, 0, 0, 0, 0, 0, 0, 0]),
      "a server cannot send stdin frames",
      2,
      "server",
    ],
  ];
  for (const [input, message, id, from] of cases) {
    const error: Record<string, unknown> = {
      code: "bad_frame",
      message: `Cannot decode data frame: ${message}`,
    };
    if (id !== undefined) error.id = id;
    deepStrictEqual(decodeDataFrame(input, { from }), { ok: false, error }, message);
  }
});

Deno.test("encoding rejects out-of-range ids and offsets and unknown kinds", () => {
  const data = bytes();
  throws(() => encodeDataFrame({ kind: "stdout", id: 0, offset: 0, data }), {
    name: "RangeError",
    message: "Cannot encode data frame: id 0 is not an integer from 1 to 4294967295",
  });
  throws(() => encodeDataFrame({ kind: "stdout", id: 2 ** 32, offset: 0, data }), {
    name: "RangeError",
    message: "Cannot encode data frame: id 4294967296 is not an integer from 1 to 4294967295",
  });
  throws(() => encodeDataFrame({ kind: "stdout", id: 1, offset: APPEND_OFFSET, data }), {
    name: "RangeError",
    message: "Cannot encode data frame: offset -1 is not an integer from 0 to 2^53 - 1",
  });
  throws(() => encodeDataFrame({ kind: "stdin", id: 1, offset: 2 ** 53, data }), {
    name: "RangeError",
    message:
      "Cannot encode data frame: offset 9007199254740992 is not an integer from 0 to 2^53 - 1",
  });
  throws(
    // @ts-expect-error: an unknown kind
    () => encodeDataFrame({ kind: "stdlog", id: 1, offset: 0, data }),
    { name: "TypeError", message: 'Cannot encode data frame: unknown kind "stdlog"' },
  );
});

Deno.test("a frame built in a buffer with the header space reserved is byte-identical", () => {
  const cases = [
    { kind: "stdout" as const, id: 1, offset: 0 },
    { kind: "stderr" as const, id: 7, offset: 300 },
    { kind: "stdout" as const, id: 2 ** 32 - 1, offset: MAX_OFFSET },
    { kind: "stdout" as const, id: 65_536, offset: 2 ** 32 + 5 },
    { kind: "stdin" as const, id: 3, offset: APPEND_OFFSET },
  ];
  for (const header of cases) {
    for (const size of [0, 1, 13, 65_536]) {
      const data = new Uint8Array(size).map((_, i) => (i * 31 + 7) & 255);
      // A read buffer: junk in front, the header space, the data, more junk behind.
      const buffer = new Uint8Array(5 + DATA_FRAME_HEADER_SIZE + size + 3).fill(0xee);
      buffer.set(data, 5 + DATA_FRAME_HEADER_SIZE);
      const frame = buffer.subarray(5, 5 + DATA_FRAME_HEADER_SIZE + size);
      writeDataFrameHeader(frame, header);
      deepStrictEqual(frame, encodeDataFrame({ ...header, data }));
      deepStrictEqual([...buffer.subarray(0, 5)], [0xee, 0xee, 0xee, 0xee, 0xee]);
      deepStrictEqual([...buffer.subarray(buffer.length - 3)], [0xee, 0xee, 0xee]);
      const decoded = decodeDataFrame(frame);
      deepStrictEqual(decoded, { ok: true, value: { ...header, data: frame.subarray(13) } });
    }
  }
});

Deno.test("writing a header checks the kind, id, offset and the room for it", () => {
  const target = new Uint8Array(DATA_FRAME_HEADER_SIZE);
  throws(() => writeDataFrameHeader(target, { kind: "stdout", id: 0, offset: 0 }), {
    name: "RangeError",
    message: "Cannot encode data frame: id 0 is not an integer from 1 to 4294967295",
  });
  throws(() => writeDataFrameHeader(target, { kind: "stdout", id: 1, offset: APPEND_OFFSET }), {
    name: "RangeError",
  });
  throws(() => writeDataFrameHeader(target.subarray(1), { kind: "stdout", id: 1, offset: 0 }), {
    name: "RangeError",
    message: "Cannot encode data frame: the header needs 13 bytes, got 12",
  });
  deepStrictEqual([...target], new Array(13).fill(0));
});
