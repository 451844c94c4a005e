// Copyright the pow authors. MIT license.
import { deepStrictEqual, equal } from "node:assert/strict";
import { encodeMessage } from "./messages.ts";
import type { ClientMessage, ServerMessage } from "./messages.ts";
import { parseClientMessage, parseServerMessage, toErrorMessage } from "./parse.ts";

const CLIENT_MESSAGES: ClientMessage[] = [
  { type: "start", id: 1, name: "echo", params: [] },
  { type: "start", id: 1, name: "echo", params: [], inline: true },
  { type: "start", id: 1, name: "echo", params: [], inline: false },
  {
    type: "start",
    id: 4294967295,
    ref: "r-1",
    name: "shell",
    params: ["-l", ""],
    pty: true,
    cols: 80,
    rows: 24,
    credit: 0,
    traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    tracestate: "rojo=00f067aa0ba902b7",
  },
  { type: "attach", id: 2, ref: 7, session: "Ab3_-xyzAb3_-xyzAb3_-x", offset: 1024, credit: 65536 },
  { type: "attach", id: 2, session: "abc" },
  { type: "detach", id: 2, ref: 0 },
  { type: "eof", id: 1 },
  { type: "signal", id: 1, signal: "interrupt" },
  { type: "signal", id: 1, ref: "s", signal: "hangup" },
  { type: "resize", id: 1, ref: "z", cols: 132, rows: 43 },
  { type: "credit", id: 1, bytes: 1048576 },
  { type: "list", ref: "l" },
  { type: "processes" },
  { type: "ping", ref: 99 },
  { type: "provide", name: "upper", params: [] },
  {
    type: "provide",
    ref: "p",
    name: "tools.upper:v2@x+y",
    description: "Uppercases stdin",
    params: [{ name: "n", pattern: "[0-9]+" }, { name: "rest", optional: true, variadic: true }],
  },
  { type: "exit", id: 4294967295, result: { status: "fulfilled", value: { n: 1 } } },
  { type: "exit", id: 7, ref: 1, result: { status: "rejected", reason: "boom" } },
];

const SERVER_MESSAGES: ServerMessage[] = [
  { type: "provided", ref: "p", name: "upper" },
  {
    type: "serve",
    id: 4294967295,
    name: "upper",
    params: ["a"],
    session: "Ab3_-xyz",
    caller: "anonymous",
    credit: 1048576,
  },
  { type: "eof", id: 4294967295 },
  { type: "cancel", id: 4294967295, reason: "client requested cancellation" },
  {
    type: "hello",
    protocol: "pow.v2",
    server: "pow/0.1.0",
    maxMessageSize: 1048576,
    stdinCredit: 1048576,
    lingerMs: 300000,
    maxChannels: 64,
  },
  {
    type: "hello",
    protocol: "pow.v2",
    server: "pow/0.1.0",
    maxMessageSize: 1048576,
    stdinCredit: 1048576,
    lingerMs: 300000,
    maxChannels: 64,
    inline: true,
  },
  {
    type: "exit",
    id: 3,
    ref: "r-3",
    session: "abc",
    pty: false,
    offset: 9,
    output: [{ stream: "stdout", data: "dGljayAxCg==" }, { stream: "stderr", data: "aGk=" }],
    result: { status: "fulfilled", value: 1 },
  },
  {
    type: "exit",
    id: 3,
    session: "abc",
    pid: 12,
    pty: true,
    offset: 0,
    output: [],
    result: { status: "rejected", reason: "boom", kind: "error" },
  },
  { type: "started", id: 1, ref: "r-1", session: "abc", pid: 4242, pty: false },
  { type: "started", id: 1, session: "abc", pty: true },
  {
    type: "attached",
    id: 2,
    ref: 7,
    session: "abc",
    name: "build",
    state: "running",
    pid: 17,
    pty: false,
    offset: 4096,
    skipped: 1024,
    stdinOffset: 12,
    stdinClosed: false,
  },
  { type: "detached", id: 2 },
  { type: "ok", id: 1, ref: "s" },
  { type: "credit", id: 1, bytes: 65536 },
  { type: "gap", id: 1, offset: 2048, skipped: 1000 },
  {
    type: "exit",
    id: 1,
    session: "abc",
    offset: 6,
    result: { status: "fulfilled", value: { lines: 1 }, exitCode: 0 },
  },
  {
    type: "exit",
    id: 1,
    session: "abc",
    offset: 0,
    result: { status: "rejected", reason: "killed", kind: "cancelled", signal: "SIGKILL" },
  },
  {
    type: "sessions",
    ref: "l",
    sessions: [
      {
        session: "abc",
        name: "echo",
        params: ["hi"],
        state: "fulfilled",
        pty: false,
        pid: 3,
        owner: "alice",
        offset: 3,
        createdAt: 1767225600000,
        endedAt: 1767225600100,
        attached: 0,
        result: { status: "fulfilled", value: null, exitCode: 0 },
      },
      {
        session: "def",
        name: "cat",
        params: [],
        state: "running",
        pty: false,
        offset: 0,
        createdAt: 1767225601000,
        attached: 2,
      },
    ],
  },
  {
    type: "processes",
    processes: [
      {
        name: "echo",
        description: "Prints its parameters",
        params: [
          { name: "text", description: "What to print", pattern: "^.*$", optional: true },
          { name: "mode", enum: ["a", "b"] },
          { name: "rest", variadic: true },
        ],
        pty: false,
      },
      { name: "date", params: [], pty: true },
    ],
  },
  { type: "pong", ref: 99 },
  { type: "error", code: "bad_json", message: "Cannot parse message: invalid JSON" },
  { type: "error", id: 3, ref: "x", code: "unknown_id", message: "Unknown channel id 3" },
];

Deno.test("every client message survives an encode and parse round trip", () => {
  for (const message of CLIENT_MESSAGES) {
    deepStrictEqual(parseClientMessage(encodeMessage(message)), { ok: true, value: message });
  }
});

Deno.test("every server message survives an encode and parse round trip", () => {
  for (const message of SERVER_MESSAGES) {
    deepStrictEqual(parseServerMessage(encodeMessage(message)), { ok: true, value: message });
  }
});

Deno.test("a start message without params gets an empty list and unknown fields are dropped", () => {
  deepStrictEqual(parseClientMessage('{"type":"start","id":1,"name":"date","future":true}'), {
    ok: true,
    value: { type: "start", id: 1, name: "date", params: [] },
  });
});

Deno.test("a fulfilled result without value parses with value null", () => {
  const parsed = parseServerMessage(
    '{"type":"exit","id":1,"session":"s","offset":0,"result":{"status":"fulfilled"}}',
  );
  deepStrictEqual(parsed, {
    ok: true,
    value: {
      type: "exit",
      id: 1,
      session: "s",
      offset: 0,
      result: { status: "fulfilled", value: null },
    },
  });
});

// [input, code, message, id?, ref?]
type Case = [string, string, string, number?, (string | number)?];

const BAD_CLIENT: Case[] = [
  ["{", "bad_json", "Cannot parse message: invalid JSON"],
  [
    '{"type":"start","id":1,"ref":"r","name":"x","inline":"true"}',
    "bad_message",
    'Cannot parse "start" message: "inline" is not a boolean',
    1,
    "r",
  ],
  ["", "bad_json", "Cannot parse message: invalid JSON"],
  ["[1]", "bad_message", "Cannot parse message: not a JSON object"],
  ["null", "bad_message", "Cannot parse message: not a JSON object"],
  ['"start"', "bad_message", "Cannot parse message: not a JSON object"],
  ['{"id":1,"ref":"a"}', "bad_message", 'Cannot parse message: "type" is missing', 1, "a"],
  ['{"type":5}', "bad_message", 'Cannot parse message: "type" is not a string'],
  ['{"type":"launch","id":3,"ref":2}', "unknown_type", 'Unknown message type "launch"', 3, 2],
  ['{"type":"toString"}', "unknown_type", 'Unknown message type "toString"'],
  ['{"type":"start","name":"x"}', "bad_message", 'Cannot parse "start" message: "id" is missing'],
  [
    '{"type":"start","id":0,"name":"x"}',
    "bad_message",
    'Cannot parse "start" message: "id" must be an integer from 1 to 4294967295',
  ],
  [
    '{"type":"eof","id":4294967296}',
    "bad_message",
    'Cannot parse "eof" message: "id" must be an integer from 1 to 4294967295',
  ],
  [
    '{"type":"eof","id":1.5}',
    "bad_message",
    'Cannot parse "eof" message: "id" must be an integer from 1 to 4294967295',
  ],
  [
    '{"type":"eof","id":"1"}',
    "bad_message",
    'Cannot parse "eof" message: "id" must be an integer from 1 to 4294967295',
  ],
  [
    `{"type":"ping","ref":"${"x".repeat(129)}"}`,
    "bad_message",
    'Cannot parse "ping" message: "ref" must be a string of at most 128 characters or a non-negative integer',
  ],
  [
    '{"type":"ping","ref":-1}',
    "bad_message",
    'Cannot parse "ping" message: "ref" must be a string of at most 128 characters or a non-negative integer',
  ],
  ['{"type":"start","id":1}', "bad_message", 'Cannot parse "start" message: "name" is missing', 1],
  [
    '{"type":"start","id":1,"name":""}',
    "bad_message",
    'Cannot parse "start" message: "name" is empty',
    1,
  ],
  [
    '{"type":"start","id":1,"name":7}',
    "bad_message",
    'Cannot parse "start" message: "name" is not a string',
    1,
  ],
  [
    '{"type":"start","id":1,"name":"x","params":"a"}',
    "bad_message",
    'Cannot parse "start" message: "params" is not an array',
    1,
  ],
  [
    '{"type":"start","id":1,"ref":"r","name":"x","params":["a",null]}',
    "bad_message",
    'Cannot parse "start" message: "params[1]" is not a string',
    1,
    "r",
  ],
  [
    '{"type":"start","id":1,"name":"x","pty":"yes"}',
    "bad_message",
    'Cannot parse "start" message: "pty" is not a boolean',
    1,
  ],
  [
    '{"type":"start","id":1,"name":"x","pty":true,"cols":80}',
    "bad_message",
    'Cannot parse "start" message: "cols" and "rows" must be given together',
    1,
  ],
  [
    '{"type":"start","id":1,"name":"x","cols":80,"rows":24}',
    "bad_message",
    'Cannot parse "start" message: "cols" and "rows" require "pty": true',
    1,
  ],
  [
    '{"type":"start","id":1,"name":"x","pty":true,"cols":0,"rows":24}',
    "bad_message",
    'Cannot parse "start" message: "cols" must be an integer from 1 to 65535',
    1,
  ],
  [
    '{"type":"start","id":1,"name":"x","credit":-1}',
    "bad_message",
    'Cannot parse "start" message: "credit" must be an integer from 0 to 9007199254740991',
    1,
  ],
  [
    '{"type":"start","id":1,"name":"x","traceparent":"00-00000000000000000000000000000000-00f067aa0ba902b7-01"}',
    "bad_message",
    'Cannot parse "start" message: "traceparent" is not a W3C trace context traceparent',
    1,
  ],
  [
    '{"type":"start","id":1,"name":"x","traceparent":"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}',
    "bad_message",
    'Cannot parse "start" message: "traceparent" is not a W3C trace context traceparent',
    1,
  ],
  [
    '{"type":"start","id":1,"name":"x","tracestate":"a=b"}',
    "bad_message",
    'Cannot parse "start" message: "tracestate" requires "traceparent"',
    1,
  ],
  [
    '{"type":"attach","id":2}',
    "bad_message",
    'Cannot parse "attach" message: "session" is missing',
    2,
  ],
  [
    '{"type":"attach","id":2,"session":"a/b"}',
    "bad_message",
    'Cannot parse "attach" message: "session" is not a session id',
    2,
  ],
  [
    '{"type":"attach","id":2,"session":"ab","offset":1e300}',
    "bad_message",
    'Cannot parse "attach" message: "offset" must be an integer from 0 to 9007199254740991',
    2,
  ],
  [
    '{"type":"signal","id":1,"signal":"SIGINT"}',
    "bad_message",
    'Cannot parse "signal" message: "signal" must be one of "cancel", "interrupt", "terminate", "kill", "hangup"',
    1,
  ],
  [
    '{"type":"signal","id":1}',
    "bad_message",
    'Cannot parse "signal" message: "signal" is missing',
    1,
  ],
  [
    '{"type":"resize","id":1,"cols":80,"rows":65536}',
    "bad_message",
    'Cannot parse "resize" message: "rows" must be an integer from 1 to 65535',
    1,
  ],
  [
    '{"type":"credit","id":1,"bytes":0}',
    "bad_message",
    'Cannot parse "credit" message: "bytes" must be an integer from 1 to 9007199254740991',
    1,
  ],
  [
    '{"type":"credit","id":1}',
    "bad_message",
    'Cannot parse "credit" message: "bytes" is missing',
    1,
  ],
];

Deno.test("every bad client message is answered with its exact code, message, id and ref", () => {
  for (const [input, code, message, id, ref] of BAD_CLIENT) {
    const error: Record<string, unknown> = { code, message };
    if (id !== undefined) error.id = id;
    if (ref !== undefined) error.ref = ref;
    deepStrictEqual(parseClientMessage(input), { ok: false, error }, input);
  }
});

const INLINE = '{"type":"exit","id":3,"session":"abc","pty":false,"result":{"status":"fulfilled"}';

const BAD_SERVER: Case[] = [
  ["{", "bad_json", "Cannot parse message: invalid JSON"],
  [
    `${INLINE},"offset":1,"output":[{"stream":"stdout","data":"a"}]}`,
    "bad_message",
    'Cannot parse "exit" message: "output[0].data" is not base64',
    3,
  ],
  [
    `${INLINE},"offset":1,"output":[{"stream":"stdout","data":"aGk="}]}`,
    "bad_message",
    'Cannot parse "exit" message: "output" has 2 bytes but "offset" is 1',
    3,
  ],
  [
    `${INLINE},"offset":2,"output":[{"stream":"stdin","data":"aGk="}]}`,
    "bad_message",
    'Cannot parse "exit" message: "output[0].stream" must be one of "stdout", "stderr"',
    3,
  ],
  [
    `${INLINE},"offset":0,"output":{}}`,
    "bad_message",
    'Cannot parse "exit" message: "output" is not an array',
    3,
  ],
  [
    '{"type":"exit","id":3,"session":"abc","offset":0,"output":[],"result":{"status":"fulfilled"}}',
    "bad_message",
    'Cannot parse "exit" message: "pty" is missing',
    3,
  ],
  [
    '{"type":"hello","protocol":"pow.v2","server":"x","maxMessageSize":1,"stdinCredit":0,"lingerMs":0,"maxChannels":1,"inline":"yes"}',
    "bad_message",
    'Cannot parse "hello" message: "inline" is not a boolean',
  ],
  ['{"type":"start","id":1,"name":"x"}', "unknown_type", 'Unknown message type "start"', 1],
  [
    '{"type":"hello","protocol":"pow.v3","server":"x","maxMessageSize":1,"stdinCredit":0,"lingerMs":0,"maxChannels":1}',
    "bad_message",
    'Cannot parse "hello" message: "protocol" must be one of "pow.v2"',
  ],
  [
    '{"type":"ok","id":1}',
    "bad_message",
    'Cannot parse "ok" message: "ref" is missing',
    1,
  ],
  [
    '{"type":"gap","id":1,"offset":5,"skipped":0}',
    "bad_message",
    'Cannot parse "gap" message: "skipped" must be an integer from 1 to 9007199254740991',
    1,
  ],
  [
    '{"type":"exit","id":1,"session":"s","offset":0}',
    "bad_message",
    'Cannot parse "exit" message: "result" is missing',
    1,
  ],
  [
    '{"type":"exit","id":1,"session":"s","offset":0,"result":{"status":"done"}}',
    "bad_message",
    'Cannot parse "exit" message: "result.status" must be one of "fulfilled", "rejected"',
    1,
  ],
  [
    '{"type":"exit","id":1,"session":"s","offset":0,"result":{"status":"rejected"}}',
    "bad_message",
    'Cannot parse "exit" message: "result.reason" is not a string',
    1,
  ],
  [
    '{"type":"sessions","sessions":[{"session":"s","name":"x","params":[],"state":"running","pty":false,"offset":0,"createdAt":0,"attached":0,"result":{"status":"fulfilled"}}]}',
    "bad_message",
    'Cannot parse "sessions" message: "sessions[0].result" must be present exactly when the state is final and match it',
  ],
  [
    '{"type":"sessions","sessions":[1]}',
    "bad_message",
    'Cannot parse "sessions" message: "sessions[0]" is not an object',
  ],
  [
    '{"type":"processes","processes":[{"name":"x","params":[{}],"pty":false}]}',
    "bad_message",
    'Cannot parse "processes" message: "processes[0].params[0].name" is missing',
  ],
  [
    '{"type":"error","code":"oops","message":"m"}',
    "bad_message",
    'Cannot parse "error" message: "code" must be one of "bad_json", "bad_message", "unknown_type", "bad_frame", "unknown_id", "duplicate_id", "unknown_process", "bad_params", "not_allowed", "limit_reached", "unknown_session", "bad_offset", "stdin_closed", "credit_exceeded", "not_pty", "unsupported", "conflict", "internal"',
  ],
];

Deno.test("every bad server message is reported with its exact code and message", () => {
  for (const [input, code, message, id, ref] of BAD_SERVER) {
    const error: Record<string, unknown> = { code, message };
    if (id !== undefined) error.id = id;
    if (ref !== undefined) error.ref = ref;
    deepStrictEqual(parseServerMessage(input), { ok: false, error }, input);
  }
});

Deno.test("a parse error becomes the error message the server sends back", () => {
  const parsed = parseClientMessage('{"type":"eof","id":9,"ref":"q","extra":1,"id2":0}');
  equal(parsed.ok, true);
  const bad = parseClientMessage('{"type":"resize","id":9,"ref":"q","cols":0,"rows":1}');
  if (bad.ok) throw new Error("expected an error");
  equal(
    encodeMessage(toErrorMessage(bad.error)),
    '{"type":"error","code":"bad_message","message":"Cannot parse \\"resize\\" message: \\"cols\\" must be an integer from 1 to 65535","id":9,"ref":"q"}',
  );
});

Deno.test("provide messages with bad names or params are refused with exact messages", () => {
  const cases: [string, string][] = [
    [
      '{"type":"provide","ref":1,"name":"a/b"}',
      'Cannot parse "provide" message: "name" must be 1 to 64 letters, digits, "_", "-", ".", ":", "@" or "+"',
    ],
    [
      `{"type":"provide","ref":1,"name":"${"x".repeat(65)}"}`,
      'Cannot parse "provide" message: "name" must be 1 to 64 letters, digits, "_", "-", ".", ":", "@" or "+"',
    ],
    [
      '{"type":"provide","ref":1,"name":"up","params":[{"name":"n","pattern":"("}]}',
      'Cannot parse "provide" message: "params[0].pattern" is not a valid regular expression',
    ],
    [
      '{"type":"provide","ref":1,"name":"up","params":[{"name":"a","variadic":true},{"name":"b"}]}',
      'Cannot parse "provide" message: "params[0]" is variadic but not the last param',
    ],
    [
      '{"type":"provide","ref":1,"name":"up","params":[{"name":"a","optional":true},{"name":"b"}]}',
      'Cannot parse "provide" message: "params[1]" is required but follows an optional param',
    ],
    [
      '{"type":"exit","id":3,"ref":1,"result":{"status":"rejected"}}',
      'Cannot parse "exit" message: "result.reason" is not a string',
    ],
  ];
  for (const [text, message] of cases) {
    const parsed = parseClientMessage(text);
    deepStrictEqual(parsed.ok ? undefined : parsed.error.message, message);
    equal(parsed.ok ? undefined : parsed.error.code, "bad_message");
  }
});
