// Copyright the pow authors. MIT license.
import { equal } from "node:assert/strict";
import { CLOSE_CODES, MESSAGE_TOO_BIG_REASON, shouldReconnect } from "./close_codes.ts";

Deno.test("close codes that mean a transient failure lead to a reconnect", () => {
  for (const code of [1001, 1005, 1006, 1011, 1012, 1013, 1014, 4000, 4001, 4499, 3008, 2000]) {
    equal(shouldReconnect(code), true, String(code));
  }
});

Deno.test("close codes that mean the client must not retry make it give up", () => {
  for (
    const code of [1000, 1002, 1003, 1007, 1008, 1009, 1010, 1015, 3000, 3003, 4500, 4501, 4999]
  ) {
    equal(shouldReconnect(code), false, String(code));
  }
});

Deno.test("every named close code is classified as its documentation says", () => {
  const retry = new Set([
    "GOING_AWAY",
    "NO_STATUS",
    "ABNORMAL",
    "INTERNAL_ERROR",
    "SERVICE_RESTART",
    "TRY_AGAIN_LATER",
    "BAD_GATEWAY",
    "IDLE_TIMEOUT",
    "TOKEN_EXPIRED",
  ]);
  for (const [name, code] of Object.entries(CLOSE_CODES)) {
    equal(shouldReconnect(code), retry.has(name), name);
  }
  equal(CLOSE_CODES.MESSAGE_TOO_BIG, 1009);
  equal(MESSAGE_TOO_BIG_REASON, "message too big");
});
