import { equal } from "node:assert/strict";
import { exitCodeOf } from "./_follow.ts";

Deno.test("exitCodeOf maps every signal to 128 + its Linux number", () => {
  const bySignal = (signal: string) =>
    exitCodeOf({ status: "rejected", reason: `signal: ${signal}`, kind: "error", signal });
  equal(bySignal("SIGINT"), 130);
  equal(bySignal("SIGABRT"), 134);
  equal(bySignal("SIGKILL"), 137);
  equal(bySignal("SIGUSR1"), 138);
  equal(bySignal("SIGSEGV"), 139);
  equal(bySignal("SIGPIPE"), 141);
  equal(bySignal("SIGTERM"), 143);
  equal(bySignal("SIGSYS"), 159);
  equal(bySignal("SIGRTMIN+1"), 163);
  equal(bySignal("SIGNOPE"), 1);
  equal(exitCodeOf({ status: "rejected", reason: "exit status 3", kind: "error", exitCode: 3 }), 3);
  equal(exitCodeOf({ status: "fulfilled", value: 7 }), 0);
  equal(exitCodeOf({ status: "rejected", reason: "cancelled", kind: "cancelled" }), 1);
});
