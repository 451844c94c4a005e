import assert from "node:assert/strict";
import { killGroup, signalGroup, signalMode, signalNow } from "./signals.ts";

Deno.test("signalGroup ends a real process group and then reports it gone", async () => {
  assert.equal(signalMode(), "direct"); // deno test -A; the scoped modes: tests/scoped_permissions_test.ts
  const child = new Deno.Command("sh", {
    args: ["-c", "sleep 311 & sleep 312 & wait"],
    detached: true,
    stdout: "null",
    stderr: "null",
  }).spawn();
  assert.equal(await signalGroup(child.pid, "SIGTERM"), true);
  const status = await child.status;
  assert.equal(status.signal, "SIGTERM");
  // The sleeps got it too: the group is empty (a moment for the kernel to reap them).
  let left = true;
  for (let i = 0; i < 100 && left; i++) {
    left = killGroup(child.pid, "SIGKILL");
    if (left) await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(left, false);
  assert.equal(await signalGroup(child.pid, "SIGTERM"), false);
});

Deno.test("signalNow counts only the ids that received the signal", async () => {
  const child = new Deno.Command("sleep", { args: ["313"], detached: true }).spawn();
  assert.equal(signalNow([child.pid, -2147483000], "SIGKILL"), 1);
  assert.equal((await child.status).signal, "SIGKILL");
  assert.equal(signalNow([], "SIGKILL"), 0);
});
