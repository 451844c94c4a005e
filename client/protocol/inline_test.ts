// Copyright the pow authors. MIT license.
import { deepStrictEqual, equal, throws } from "node:assert/strict";
import {
  base64Length,
  decodeBase64,
  decodeInlineOutput,
  encodeBase64,
  encodeInlineOutput,
} from "./inline.ts";

Deno.test("base64 round trips every length and byte, with and without the native codec", () => {
  const native = Uint8Array as unknown as {
    fromBase64?: unknown;
    prototype: { toBase64?: unknown };
  };
  const saved = [native.fromBase64, native.prototype.toBase64];
  const bytes = Uint8Array.from({ length: 300 }, (_, i) => (i * 37 + 11) & 0xff);
  const check = () => {
    for (let n = 0; n <= 8; n++) {
      const part = bytes.subarray(0, n * 37);
      const text = encodeBase64(part);
      equal(text, btoa(String.fromCharCode(...part)));
      equal(base64Length(text), part.length);
      deepStrictEqual(decodeBase64(text), new Uint8Array(part));
    }
  };
  check();
  try {
    native.fromBase64 = undefined;
    native.prototype.toBase64 = undefined;
    check();
  } finally {
    [native.fromBase64, native.prototype.toBase64] = saved;
  }
});

Deno.test("invalid base64 has no length and does not decode", () => {
  for (const text of ["a", "ab", "abc", "a===", "ab=c", "ab-_", "YQ==YQ==", " YQ=="]) {
    equal(base64Length(text), -1, text);
    throws(() => decodeBase64(text), TypeError);
  }
});

Deno.test("inline output decodes into chunks with their offsets", () => {
  const enc = new TextEncoder();
  const output = encodeInlineOutput([
    { stream: "stdout", data: enc.encode("ab") },
    { stream: "stderr", data: enc.encode("c") },
    { stream: "stdout", data: enc.encode("def") },
  ]);
  const chunks = decodeInlineOutput({
    type: "exit",
    id: 1,
    session: "s",
    pty: false,
    offset: 6,
    output,
    result: { status: "fulfilled", value: null },
  });
  deepStrictEqual(chunks.map((c) => [c.stream, c.offset, new TextDecoder().decode(c.data)]), [
    ["stdout", 0, "ab"],
    ["stderr", 2, "c"],
    ["stdout", 3, "def"],
  ]);
  deepStrictEqual(
    decodeInlineOutput({
      type: "exit",
      id: 1,
      session: "s",
      offset: 0,
      result: { status: "fulfilled", value: null },
    }),
    [],
  );
});
