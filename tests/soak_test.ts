/**
 * A short soak (`tools/soak.ts`): randomized `pow.v2` and pow-1 sessions with abrupt
 * disconnects, reattaches, viewers, cancels and half-closes against a server subprocess; no
 * output byte may be lost silently, doubled or reordered, and no process may be left behind.
 */
import assert from "node:assert/strict";
import { soak } from "../tools/soak.ts";

Deno.test("a 12-second soak loses, doubles and reorders no output byte and leaves no process", async () => {
  const report = await soak({ duration: 12_000, seed: 5, concurrency: 4, sampleEvery: 1000 });
  const sessions = Object.values(report.sessions).reduce((a, b) => a + b, 0);
  assert.ok(sessions >= 10, `only ${sessions} sessions finished`);
  assert.ok(report.bytesChecked > 0);
  assert.ok(report.reattaches > 0, "no reattach happened");
  assert.deepEqual(report.leftovers, []);
  assert.deepEqual(report.violations, []);
});
