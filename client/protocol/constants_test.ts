// Copyright the pow authors. MIT license.
import { deepStrictEqual, equal } from "node:assert/strict";
import {
  APPEND_OFFSET,
  DATA_FRAME_HEADER_SIZE,
  DEFAULT_CREDIT,
  DEFAULT_MAX_MESSAGE_SIZE,
  DEFAULT_STDIN_CREDIT,
  ERROR_CODES,
  MAX_CHANNEL_ID,
  MAX_OFFSET,
  SESSION_STATES,
  SIGNAL_NAMES,
  TOKEN_SUBPROTOCOL_PREFIX,
  V2_SUBPROTOCOL,
} from "./constants.ts";

Deno.test("the protocol constants have the values the specification names", () => {
  equal(V2_SUBPROTOCOL, "pow.v2");
  equal(TOKEN_SUBPROTOCOL_PREFIX, "pow.token.");
  equal(DEFAULT_CREDIT, 1048576);
  equal(DEFAULT_STDIN_CREDIT, 1048576);
  equal(DEFAULT_MAX_MESSAGE_SIZE, 1048576);
  equal(MAX_CHANNEL_ID, 0xffffffff);
  equal(MAX_OFFSET, 2 ** 53 - 1);
  equal(APPEND_OFFSET, -1);
  equal(DATA_FRAME_HEADER_SIZE, 1 + 4 + 8);
  deepStrictEqual(SIGNAL_NAMES, ["cancel", "interrupt", "terminate", "kill", "hangup"]);
  deepStrictEqual(SESSION_STATES, ["starting", "running", "fulfilled", "rejected"]);
});

Deno.test("every error code is a distinct snake_case word", () => {
  equal(new Set(ERROR_CODES).size, ERROR_CODES.length);
  for (const code of ERROR_CODES) equal(/^[a-z]+(_[a-z]+)*$/.test(code), true, code);
});

const SPEC = new URL("../../docs/protocol.md", import.meta.url);

Deno.test({
  name: "the specification documents every error code",
  // Runs where the repository and read permission are there (`deno task test` grants -A).
  ignore: Deno.permissions.querySync({ name: "read", path: SPEC }).state !== "granted",
  fn() {
    const text = Deno.readTextFileSync(SPEC);
    for (const code of ERROR_CODES) equal(text.includes(`| \`${code}\``), true, code);
  },
});
