import assert from "node:assert/strict";
import { type BusMessage, checkTopic, MemoryEventBus, topicMatcher } from "./bus.ts";
import { SessionManager } from "./session_manager.ts";
import { defineProcess } from "./process.ts";
import { MemorySessionStore } from "./store.ts";

function summary(message: BusMessage): string {
  return message.type === "gap"
    ? `gap:${message.reason}:${message.missed}`
    : `${message.event.id}:${message.event.topic}:${JSON.stringify(message.event.data)}`;
}

async function take(subscription: AsyncIterator<BusMessage>, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(summary((await subscription.next()).value));
  return out;
}

Deno.test("bus delivers events in order to every matching subscription", async () => {
  const bus = new MemoryEventBus({ now: () => 7 });
  const all = bus.subscribe("topic.>");
  const one = bus.subscribe("topic.*");
  const exact = bus.subscribe("topic.a");
  await bus.publish("topic.a", 1);
  await bus.publish("topic.a.b", 2);
  await bus.publish("other", 3);
  assert.deepEqual(await take(all, 2), ["1:topic.a:1", "2:topic.a.b:2"]);
  assert.deepEqual(await take(one, 1), ["1:topic.a:1"]);
  assert.deepEqual(await take(exact, 1), ["1:topic.a:1"]);
  assert.equal(one.pending, 0);
  assert.equal(bus.subscriptions, 3);
  await bus.close();
  assert.deepEqual(await all.next(), { value: undefined, done: true });
  assert.equal(bus.subscriptions, 0);
});

Deno.test("a slow subscriber is told how many events it missed, and publishers never wait", async () => {
  const bus = new MemoryEventBus();
  const slow = bus.subscribe("t", { queue: 3 });
  const fast = bus.subscribe("t", { queue: 100 });
  for (let i = 1; i <= 10; i++) bus.publishNow("t", i);
  // Queue of 3 overflowed at the 4th event (4 missed), refilled with 5..7, overflowed at 8
  // (4 more), then took 9 and 10.
  assert.deepEqual(await take(slow, 3), ["gap:overflow:8", "9:t:9", "10:t:10"]);
  assert.equal((await take(fast, 10)).length, 10);
  await bus.close();
});

Deno.test("bus resumes after an event id, with a gap when history no longer holds it", async () => {
  const bus = new MemoryEventBus({ history: 3 });
  for (let i = 1; i <= 5; i++) await bus.publish(i % 2 ? "odd" : "even", i);
  assert.equal(await bus.lastId(), 5);
  const recent = bus.subscribe("odd", { after: 3 });
  assert.deepEqual(await take(recent, 1), ["5:odd:5"]);
  const old = bus.subscribe("odd", { after: 0 });
  // Events 1 and 2 are gone (history holds 3..5).
  assert.deepEqual(await take(old, 3), ["gap:history:2", "3:odd:3", "5:odd:5"]);
  await bus.publish("odd", 7);
  assert.deepEqual(await take(old, 1), ["6:odd:7"]);
  await bus.close();
});

Deno.test("bus refuses bad topics and patterns with the reason", () => {
  assert.throws(() => checkTopic(""), { name: "TypeError", message: /Invalid topic ""/ });
  assert.throws(() => checkTopic("a b"), TypeError);
  assert.throws(() => checkTopic("a.*"), TypeError);
  assert.throws(() => topicMatcher("a.>.b"), {
    name: "TypeError",
    message:
      'Invalid topic pattern "a.>.b": expected dot-separated names, "*" for one name, a final ">" for the rest',
  });
  assert.throws(() => topicMatcher("a*"), TypeError);
  const bus = new MemoryEventBus();
  assert.throws(() => bus.subscribe("a", { queue: 0 }), RangeError);
});

Deno.test("an aborted signal closes a subscription", async () => {
  const bus = new MemoryEventBus();
  const controller = new AbortController();
  const subscription = bus.subscribe("t", { signal: controller.signal });
  const pending = subscription.next();
  controller.abort();
  assert.deepEqual(await pending, { value: undefined, done: true });
  assert.equal(bus.subscriptions, 0);
});

Deno.test("the session manager publishes session lifecycle events on its bus", async () => {
  const bus = new MemoryEventBus();
  const events = bus.subscribe<{ id: string; state: string; owner: string }>("session.*");
  const manager = new SessionManager({
    store: new MemorySessionStore({ bus }),
    processes: { noop: defineProcess({ run: () => 42 }) },
  });
  const session = manager.start("noop", [], { caller: { id: "alice" } });
  await session.result;
  manager.registry.delete(session.id);
  const seen: string[] = [];
  for (let i = 0; i < 4; i++) {
    const { value } = await events.next();
    assert.equal(value.type, "event");
    if (value.type !== "event") continue;
    assert.equal(value.event.data.id, session.id);
    assert.equal(value.event.data.owner, "alice");
    seen.push(`${value.event.topic}:${value.event.data.state}`);
  }
  assert.deepEqual(seen, [
    "session.created:starting",
    "session.state:running",
    "session.state:fulfilled",
    "session.removed:fulfilled",
  ]);
  await manager.close();
  await bus.close();
});

Deno.test("catalogue changes at run time are published as process events", async () => {
  const bus = new MemoryEventBus();
  const events = bus.subscribe<{ name: string }>("process.*");
  const manager = new SessionManager({ store: new MemorySessionStore({ bus }), processes: {} });
  manager.setProcess("a", defineProcess({ run: () => 1 }));
  manager.setProcess("a", defineProcess({ run: () => 2 }));
  assert.equal(manager.removeProcess("a"), true);
  assert.equal(manager.removeProcess("a"), false);
  assert.throws(() => manager.setProcess("", defineProcess({ run: () => 1 })), TypeError);
  const seen = [];
  for (let i = 0; i < 3; i++) {
    const { value } = await events.next();
    if (value.type === "event") seen.push(`${value.event.topic}:${value.event.data.name}`);
  }
  assert.deepEqual(seen, ["process.added:a", "process.changed:a", "process.removed:a"]);
  await manager.close();
  await bus.close();
});
