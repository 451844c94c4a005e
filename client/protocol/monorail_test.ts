// Copyright the pow authors. MIT license.
import assert from "node:assert/strict";
import { MONORAIL_MAX_MESSAGE, parseMonoRailRequest } from "./monorail.ts";

Deno.test("monorail requests parse with their params", () => {
  assert.deepEqual(parseMonoRailRequest('{"handler":"all","params":{"x":1}}'), {
    ok: true,
    value: { handler: "all" },
  });
  assert.deepEqual(parseMonoRailRequest('{"handler":"query"}'), {
    ok: true,
    value: { handler: "query" },
  });
  assert.deepEqual(
    parseMonoRailRequest('{"handler":"init","id":"abc","seq":7,"offsets":{"s":3}}'),
    { ok: true, value: { handler: "init", id: "abc", seq: 7, offsets: { s: 3 } } },
  );
  assert.deepEqual(parseMonoRailRequest('{"handler":"stop","params":{"session":"s"}}'), {
    ok: true,
    value: { handler: "stop", params: { session: "s" } },
  });
});

Deno.test("monorail requests that cannot be served get an error code and text", () => {
  const error = (text: string) => {
    const parsed = parseMonoRailRequest(text);
    assert.equal(parsed.ok, false);
    return !parsed.ok && parsed.error;
  };
  assert.deepEqual(error("nope"), { code: "bad_json", text: "Cannot parse the message: not JSON" });
  assert.deepEqual(error("[1]"), {
    code: "bad_message",
    text: "Cannot read the message: not a JSON object",
  });
  assert.deepEqual(error('{"params":{}}'), {
    code: "bad_message",
    text: 'Cannot read the message: no "handler" string',
  });
  assert.deepEqual(error('{"handler":"list"}'), {
    code: "unknown_handler",
    text: 'Unknown handler "list": expected one of init, query, all, get, watch, stop',
  });
  assert.deepEqual(error('{"handler":"get","params":"x"}'), {
    code: "bad_params",
    text: 'Invalid params of "get": expected a JSON object',
  });
  assert.equal(error('{"handler":"init","seq":-1}') && "bad_params", "bad_params");
  assert.deepEqual(error('{"handler":"init","offsets":{"s":"x"}}'), {
    code: "bad_params",
    text: 'Invalid "offsets" of "init": expected session ids mapped to byte offsets',
  });
  assert.equal(
    error(" ".repeat(MONORAIL_MAX_MESSAGE + 1)) && "bad_message",
    "bad_message",
  );
});

Deno.test("pow.v2 watch, unwatch and event messages parse", async () => {
  const { parseClientMessage, parseServerMessage } = await import("./parse.ts");
  assert.deepEqual(
    parseClientMessage('{"type":"watch","watch":2,"channel":"logs","params":{"session":"s"}}'),
    {
      ok: true,
      value: { type: "watch", watch: 2, channel: "logs", params: { session: "s" } },
    },
  );
  assert.deepEqual(parseClientMessage('{"type":"unwatch","watch":2,"ref":1}'), {
    ok: true,
    value: { type: "unwatch", watch: 2, ref: 1 },
  });
  const bad = parseClientMessage('{"type":"watch","watch":1,"channel":"x","params":[]}');
  assert.equal(
    !bad.ok && bad.error.message,
    'Cannot parse "watch" message: "params" is not an object',
  );
  assert.deepEqual(
    parseServerMessage('{"type":"event","watch":1,"event":{"handler":"list","items":[]}}'),
    { ok: true, value: { type: "event", watch: 1, event: { handler: "list", items: [] } } },
  );
  assert.equal(parseServerMessage('{"type":"event","watch":1,"event":{}}').ok, false);
});
