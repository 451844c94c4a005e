/**
 * Nothing left behind: 1,000 sessions whose process trees are ended every way a session can
 * end (cancel, timeout, abandonment after linger, normal exit with a background child, and
 * server shutdown), then `/proc` must show no member of any of their process groups, zombies
 * included.
 */
import assert from "node:assert/strict";
import { defineCommand, SessionManager } from "../mod.ts";
import type { Session } from "../mod.ts";
import { sessionMembers, waitSessionGone } from "./_proc.ts";

const caller = { id: "leftovers" };
// Each session is a shell with a background grandchild and a foreground child.
const tree = ["sh", "-c", "sleep 60 & sleep 60; echo unreachable"];

Deno.test("1,000 sessions ended by cancel, timeout, linger, exit and shutdown leave no process", async () => {
  const manager = new SessionManager({
    processes: {
      tree: defineCommand(tree),
      timed: defineCommand(tree, { timeout: 200 }),
      quick: defineCommand(["sh", "-c", "sleep 60 & echo done"]),
    },
    killGrace: 500,
    linger: 60_000,
    maxSessions: 2000,
  });
  const pids: number[] = [];
  const started = async (session: Session) => {
    while (session.pid === undefined && !session.ended) await new Promise((r) => setTimeout(r, 5));
    pids.push(session.pid!);
    return session;
  };
  const batch = async (count: number, fn: (i: number) => Promise<void>) => {
    for (let i = 0; i < count; i += 50) {
      await Promise.all(Array.from({ length: Math.min(50, count - i) }, (_, j) => fn(i + j)));
    }
  };

  // 200 cancelled.
  await batch(200, async () => {
    const session = await started(manager.start("tree", [], { caller }));
    session.cancel();
    assert.equal((await session.result).status, "rejected");
  });
  // 200 timed out.
  await batch(200, async () => {
    const session = await started(manager.start("timed", [], { caller }));
    const result = await session.result;
    assert.equal(result.status === "rejected" && result.kind, "timeout");
  });
  // 200 abandoned: attached, then detached; the reaper cancels them after linger.
  await batch(200, async () => {
    const session = await started(manager.start("tree", [], { caller, linger: 100 }));
    session.attach()();
    manager.reap(Date.now() + 150); // 150 ms from now, without waiting for them
    const result = await session.result;
    assert.match(result.status === "rejected" ? result.reason : "", /^session abandoned/);
  });
  // 200 exited normally, leaving a background child that pow ends.
  await batch(200, async () => {
    const session = await started(manager.start("quick", [], { caller }));
    const reader = session.reader();
    while (await reader.read() !== null) { /* drain */ }
    reader.close();
    assert.equal((await session.result).status, "fulfilled");
  });
  // 200 running when the server shuts down.
  const running: Session[] = [];
  await batch(200, async () => {
    running.push(await started(manager.start("tree", [], { caller })));
  });
  await manager.close();
  assert.ok(running.every((s) => s.state === "rejected"));

  assert.equal(pids.length, 1000);
  for (const pid of pids) await waitSessionGone(pid, 10_000);
  const left = pids.flatMap((pid) => sessionMembers(pid));
  assert.deepEqual(left, []);
});
