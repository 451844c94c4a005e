// Copyright the pow authors. MIT license.
import { equal } from "node:assert/strict";
import { encodeMessage } from "./messages.ts";

Deno.test("encoded messages put type first and leave out undefined fields", () => {
  equal(
    encodeMessage(
      { id: 1, ref: undefined, type: "eof" } as unknown as Parameters<
        typeof encodeMessage
      >[0],
    ),
    '{"type":"eof","id":1}',
  );
  equal(
    encodeMessage({
      type: "exit",
      id: 2,
      session: "abc",
      offset: 6,
      result: { status: "rejected", reason: "killed", signal: "SIGKILL" },
    }),
    '{"type":"exit","id":2,"session":"abc","offset":6,"result":{"status":"rejected","reason":"killed","signal":"SIGKILL"}}',
  );
});

Deno.test("an encoded data-free control message is plain JSON text", () => {
  equal(encodeMessage({ type: "ping", ref: 1 }), '{"type":"ping","ref":1}');
  equal(JSON.parse(encodeMessage({ type: "credit", id: 3, bytes: 65536 })).bytes, 65536);
});
