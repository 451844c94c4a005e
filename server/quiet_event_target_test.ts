import { deepEqual as assertEquals } from "node:assert/strict";
import { QuietEventTarget } from "./quiet_event_target.ts";
import { Session } from "./session.ts";
import { MemorySessionRegistry } from "./registry.ts";
import { defineProcess } from "./process.ts";

/** Counts the events it builds: one is built only when `listening` says so. */
class Probe extends QuietEventTarget {
  built = 0;
  fire(type = "tick"): void {
    if (!this.listening(type)) return;
    this.built++;
    this.dispatchEvent(new Event(type));
  }
}

Deno.test("QuietEventTarget builds no event without a listener, and one per fire with one", () => {
  const probe = new Probe();
  probe.fire();
  assertEquals(probe.built, 0);
  let heard = 0;
  const listener = () => heard++;
  probe.addEventListener("tick", listener);
  probe.fire();
  probe.fire("other");
  probe.removeEventListener("tick", listener);
  probe.fire();
  assertEquals([probe.built, heard], [1, 1]);
});

Deno.test("QuietEventTarget never skips an event someone can hear", () => {
  const probe = new Probe();
  let heard = 0;
  const listener = () => heard++;
  // Removing what was never added, or removing twice, must not hide a listener that is there.
  probe.removeEventListener("tick", () => {});
  probe.addEventListener("tick", listener);
  probe.removeEventListener("tick", listener, { capture: true }); // another registration
  probe.fire();
  assertEquals(heard, 1);
  // The same listener as capturing and bubbling is two registrations, as in EventTarget.
  probe.addEventListener("tick", listener, true);
  probe.removeEventListener("tick", listener);
  probe.removeEventListener("tick", listener);
  probe.fire();
  assertEquals(heard, 2);
  probe.removeEventListener("tick", listener, true);
  probe.fire();
  assertEquals([heard, probe.built], [2, 2]);
  // A listener object counts like a function; a once listener is heard once.
  const object = { handleEvent: () => heard++ };
  probe.addEventListener("tick", object, { once: true });
  probe.fire();
  probe.fire();
  assertEquals(heard, 3);
  // An already aborted signal adds nothing.
  const aborted = AbortSignal.abort();
  const quiet = new Probe();
  quiet.addEventListener("tick", listener, { signal: aborted });
  quiet.fire();
  assertEquals(quiet.built, 0);
});

Deno.test("Session: observers see every state; state events still reach listeners", async () => {
  const session = new Session({
    id: "a",
    name: "noop",
    params: [],
    caller: { id: "me" },
    definition: defineProcess({ run: () => 7 }),
  });
  const observed: string[] = [];
  const heard: string[] = [];
  session.observe(() => {
    throw new Error("an observer's mistake is reported, not raised");
  });
  const stop = session.observe((state) => observed.push(state));
  session.addEventListener("state", (e) => heard.push((e as CustomEvent).detail.state));
  const reported: unknown[] = [];
  const onError = (e: ErrorEvent) => {
    e.preventDefault();
    reported.push(e.error);
  };
  globalThis.addEventListener("error", onError);
  try {
    session.start();
    assertEquals(await session.result, { status: "fulfilled", value: 7 });
  } finally {
    globalThis.removeEventListener("error", onError);
  }
  stop();
  assertEquals(observed, ["running", "fulfilled"]);
  assertEquals(heard, ["running", "fulfilled"]);
  assertEquals(reported.length, 2);
});

Deno.test("MemorySessionRegistry: observers and listeners get created, state and removed", async () => {
  const registry = new MemorySessionRegistry();
  const observed: string[] = [];
  const heard: string[] = [];
  const stop = registry.observe((type, session) => observed.push(`${type}:${session.state}`));
  registry.addEventListener(
    "removed",
    (e) => heard.push(`removed:${(e as CustomEvent).detail.state}`),
  );
  const session = new Session({
    id: "b",
    name: "noop",
    params: [],
    caller: { id: "me" },
    definition: defineProcess({ run: () => null }),
  });
  registry.add(session);
  session.start();
  await session.result;
  registry.delete("b");
  stop();
  registry.add(
    new Session({
      id: "c",
      name: "noop",
      params: [],
      caller: { id: "me" },
      definition: session.definition,
    }),
  );
  assertEquals(observed, [
    "created:starting",
    "state:running",
    "state:fulfilled",
    "removed:fulfilled",
  ]);
  assertEquals(heard, ["removed:fulfilled"]);
});
