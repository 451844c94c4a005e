import assert from "node:assert/strict";
import { parseClientMessage } from "./messages.ts";

const error = (text: string) => {
  const result = parseClientMessage(text);
  assert.equal(result.ok, false, text);
  return !result.ok && result.error.data;
};

Deno.test("messages: the seed's register is read with its topics and methods", () => {
  const result = parseClientMessage(JSON.stringify({
    type: "register",
    channel: "sample_channel",
    data: {
      name: "sample_channel",
      description: "Assistant chatting service",
      pubsub: { topics: ["responses"] },
      restpie: { methods: ["status", "get-opts", "get-opts-schema"] },
    },
  }));
  assert.deepEqual(result, {
    ok: true,
    message: {
      type: "register",
      channel: "sample_channel",
      data: {
        name: "sample_channel",
        description: "Assistant chatting service",
        pubsub: { topics: ["responses"] },
        restpie: { methods: ["status", "get-opts", "get-opts-schema"] },
      },
    },
  });
});

Deno.test("messages: a register without pubsub or restpie offers nothing of it", () => {
  const result = parseClientMessage('{"type":"register","channel":"c"}');
  assert.deepEqual(result.ok && result.message, {
    type: "register",
    channel: "c",
    data: {
      name: undefined,
      description: undefined,
      pubsub: { topics: [] },
      restpie: { methods: [] },
    },
  });
});

Deno.test("messages: malformed messages are refused with exact texts", () => {
  assert.equal(error("{"), "Invalid message: not valid JSON");
  assert.equal(error("null"), 'Invalid message: expected a JSON object with a "type"');
  assert.equal(error('{"type":1}'), 'Invalid message: expected a JSON object with a "type"');
  assert.equal(
    error('{"type":"register","channel":"c","data":{"pubsub":{"topics":"t"}}}'),
    'Cannot register channel "c": "pubsub.topics" must be a list of topic names',
  );
  assert.equal(
    error('{"type":"register","channel":"c","data":{"restpie":{"methods":["a","a"]}}}'),
    'Cannot register channel "c": "restpie.methods" names a method twice',
  );
  assert.equal(
    error('{"type":"register","channel":"c","data":{"restpie":{"methods":["a/b"]}}}'),
    'Cannot register channel "c": Invalid method name "a/b": use 1 to 64 letters, digits, "_", "-", ":", "+" or "@"',
  );
  assert.equal(error('{"type":"ps-pub","topic":"t"}'), 'Missing "channel"');
  assert.equal(error('{"type":"pie-do","channel":"c"}'), 'Missing "topic"');
  assert.equal(error('{"type":"pie-resp","reqid":""}'), 'Missing "reqid"');
});
