// Copyright the pow authors. MIT license.
import { deepStrictEqual, equal, throws } from "node:assert/strict";
import {
  encodePow1Call,
  encodePow1Result,
  encodePow1Signal,
  parsePow1Control,
  parsePow1Result,
  POW1_CANCELLATION_MESSAGE,
  POW1_NO_SUBPROTOCOL_BODY,
  POW1_REASON_AUTHORIZATION_DENIED,
  POW1_REASON_CANCELLED,
  POW1_REASON_INVALID_ARGS,
  POW1_REASON_PROCESS_ERROR_PREFIX,
  POW1_REASON_PROTOCOL_ERROR,
  POW1_REASON_TIMEOUT,
  POW1_REASON_UNKNOWN_ERROR_PREFIX,
  POW1_REASON_UNKNOWN_PROCESS,
  POW1_SUBPROTOCOL,
} from "./pow1.ts";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const utf8 = (s: string) => new TextEncoder().encode(s);

Deno.test("pow-1 constants match the original implementation's texts", () => {
  equal(POW1_SUBPROTOCOL, "pow-1");
  equal(POW1_NO_SUBPROTOCOL_BODY, "client does not support required pow-1 subprotocol");
  equal(POW1_REASON_UNKNOWN_PROCESS, "failed to get process: unknown process");
  equal(POW1_REASON_INVALID_ARGS, "failed to get process: invalid args");
  equal(POW1_REASON_AUTHORIZATION_DENIED, "failed to get process: authorization denied");
  equal(POW1_REASON_PROTOCOL_ERROR, "protocol error occurred");
  equal(POW1_REASON_TIMEOUT, "timeout expired");
  equal(POW1_REASON_PROCESS_ERROR_PREFIX, "process returned error: ");
  equal(POW1_REASON_UNKNOWN_ERROR_PREFIX, "unknown error: ");
  equal(POW1_CANCELLATION_MESSAGE, "client requested cancellation");
  equal(POW1_REASON_CANCELLED, POW1_REASON_PROCESS_ERROR_PREFIX + POW1_CANCELLATION_MESSAGE);
});

Deno.test("pow-1 results are encoded with status first and exactly one other key", () => {
  equal(
    text(encodePow1Result({ status: "fulfilled", value: 1 })),
    '{"status":"fulfilled","value":1}',
  );
  equal(
    text(encodePow1Result({ status: "fulfilled", value: undefined })),
    '{"status":"fulfilled","value":null}',
  );
  equal(
    text(encodePow1Result({ status: "fulfilled", value: { b: [1, "x"], a: null } })),
    '{"status":"fulfilled","value":{"b":[1,"x"],"a":null}}',
  );
  equal(
    text(encodePow1Result({ status: "rejected", reason: 'say "no"\n' })),
    '{"status":"rejected","reason":"say \\"no\\"\\n"}',
  );
  const extra = { status: "rejected", reason: "r", exitCode: 3 } as const;
  equal(text(encodePow1Result(extra)), '{"status":"rejected","reason":"r"}');
});

Deno.test("pow-1 results round trip through bytes", () => {
  for (
    const result of [
      { status: "fulfilled", value: null },
      { status: "fulfilled", value: ["a", 1, true] },
      { status: "rejected", reason: POW1_REASON_CANCELLED },
    ] as const
  ) {
    deepStrictEqual(parsePow1Result(encodePow1Result(result)), result);
  }
  deepStrictEqual(parsePow1Result('{"status":"fulfilled"}'), { status: "fulfilled", value: null });
});

Deno.test("pow-1 calls and signals round trip through bytes", () => {
  equal(
    text(encodePow1Call({ call: "echo", params: ["a b", ""] })),
    '{"call":"echo","params":["a b",""]}',
  );
  equal(text(encodePow1Call({ call: "date" })), '{"call":"date"}');
  deepStrictEqual(parsePow1Control(encodePow1Call({ call: "echo", params: ["x"] })), {
    call: "echo",
    params: ["x"],
  });
  deepStrictEqual(parsePow1Control(encodePow1Call({ call: "date" })), { call: "date" });
  deepStrictEqual(parsePow1Control('{"call":"date","params":null}'), { call: "date" });
  deepStrictEqual(parsePow1Control(encodePow1Signal("close")), { signal: "close" });
  deepStrictEqual(parsePow1Control(encodePow1Signal("cancel").buffer), { signal: "cancel" });
  deepStrictEqual(parsePow1Control('{"signal":"close","extra":1}'), { signal: "close" });
});

Deno.test("every bad pow-1 control frame throws a specific error", () => {
  const cases: [string | Uint8Array, string, string][] = [
    [
      new Uint8Array([0x7b, 0xff, 0x7d]),
      "SyntaxError",
      "Cannot parse pow-1 control message: invalid UTF-8",
    ],
    ["{", "SyntaxError", "Cannot parse pow-1 control message: invalid JSON"],
    ["", "SyntaxError", "Cannot parse pow-1 control message: invalid JSON"],
    ["[]", "TypeError", "Cannot parse pow-1 control message: not a JSON object"],
    ["null", "TypeError", "Cannot parse pow-1 control message: not a JSON object"],
    ["{}", "TypeError", 'Cannot parse pow-1 control message: neither "call" nor "signal"'],
    ['{"call":5}', "TypeError", 'Cannot parse pow-1 call: "call" is not a string'],
    ['{"call":"x","params":"a"}', "TypeError", 'Cannot parse pow-1 call: "params" is not an array'],
    [
      '{"call":"x","params":["a",2]}',
      "TypeError",
      "Cannot parse pow-1 call: parameter 1 is not a string",
    ],
    ['{"signal":"stop"}', "TypeError", 'Cannot parse pow-1 signal: unknown signal "stop"'],
    ['{"signal":1}', "TypeError", "Cannot parse pow-1 signal: unknown signal 1"],
  ];
  for (const [input, name, message] of cases) {
    throws(() => parsePow1Control(typeof input === "string" ? utf8(input) : input), {
      name,
      message,
    });
  }
});

Deno.test("every bad pow-1 result frame throws a specific error", () => {
  const cases: [string, string, string][] = [
    ["nope", "SyntaxError", "Cannot parse pow-1 result: invalid JSON"],
    ["1", "TypeError", "Cannot parse pow-1 result: not a JSON object"],
    [
      '{"status":"pending"}',
      "TypeError",
      'Cannot parse pow-1 result: "status" is not "fulfilled" or "rejected"',
    ],
    ['{"status":"rejected"}', "TypeError", 'Cannot parse pow-1 result: "reason" is not a string'],
  ];
  for (const [input, name, message] of cases) {
    throws(() => parsePow1Result(input), { name, message });
  }
});
