// Copyright the pow authors. MIT license.
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { backoffDelay } from "./backoff.ts";

Deno.test("backoff doubles from the initial delay up to the maximum", () => {
  const options = { initialDelay: 250, maxDelay: 5000, jitter: 0 };
  assertEquals([0, 1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, options)), [
    250,
    500,
    1000,
    2000,
    4000,
    5000,
    5000,
  ]);
});

Deno.test("backoff jitter takes away at most the jitter fraction of the delay", () => {
  assertEquals(backoffDelay(2, { initialDelay: 100, jitter: 0.5, random: () => 0 }), 400);
  assertEquals(backoffDelay(2, { initialDelay: 100, jitter: 0.5, random: () => 0.999999 }), 200);
  assertEquals(backoffDelay(2, { initialDelay: 100, jitter: 1, random: () => 0.5 }), 200);
});
