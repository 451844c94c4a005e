import { equal } from "node:assert/strict";
import { formatSessions } from "./sessions.ts";

Deno.test("formatSessions prints aligned columns with the exit code call would give", () => {
  const now = 1_767_225_600_000;
  equal(
    formatSessions([
      {
        session: "a1",
        name: "sleep",
        params: ["60"],
        state: "running",
        pty: false,
        pid: 10,
        offset: 0,
        createdAt: now - 5000,
        attached: 1,
      },
      {
        session: "b2",
        name: "die",
        params: ["SEGV"],
        state: "rejected",
        pty: false,
        offset: 0,
        createdAt: now - 7_200_000,
        endedAt: now,
        attached: 0,
        result: { status: "rejected", reason: "signal", kind: "error", signal: "SIGSEGV" },
      },
    ], now),
    "SESSION  STATE     EXIT  AGE  ATTACHED  COMMAND\n" +
      "a1       running   -     5s   1         sleep 60\n" +
      "b2       rejected  139   2h   0         die SEGV",
  );
});
