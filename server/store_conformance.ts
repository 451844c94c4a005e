/**
 * The conformance suite of {@linkcode SessionStore}: the behaviour every store must have, run
 * unchanged against the in-memory store (`store_test.ts`) and against any other implementation
 * (a Redis store runs it with its own factory).
 *
 * @example Run the suite against a store
 * ```ts ignore
 * import { testSessionStore } from "./store_conformance.ts";
 * import { MemorySessionStore } from "./store.ts";
 *
 * testSessionStore("memory", () => new MemorySessionStore());
 * ```
 *
 * @module
 */

import assert from "node:assert/strict";
import type { BusMessage } from "./bus.ts";
import type { SessionRecord, SessionStore } from "./store.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function record(id: string, overrides: Partial<SessionRecord> = {}): SessionRecord {
  return {
    id,
    name: "echo",
    params: ["a"],
    owner: "alice",
    state: "running",
    createdAt: 1000,
    outputBytes: 0,
    attached: 0,
    ...overrides,
  };
}

async function next(iterator: AsyncIterator<BusMessage>): Promise<BusMessage> {
  const { value, done } = await iterator.next();
  assert.equal(done, false);
  return value;
}

/**
 * Registers the conformance tests of a store with `Deno.test`.
 *
 * @param name The store's name, shown in each test's name.
 * @param create Makes a fresh, empty store (each test closes its own).
 */
export function testSessionStore(
  name: string,
  create: () => SessionStore | Promise<SessionStore>,
): void {
  const test = (what: string, fn: (store: SessionStore) => Promise<void>) =>
    Deno.test(`store conformance (${name}): ${what}`, async () => {
      const store = await create();
      try {
        await fn(store);
      } finally {
        await store.close();
      }
    });

  test("records are kept as data, replaced, listed oldest first and deleted", async (store) => {
    assert.equal(await store.get("none"), undefined);
    const first = record("s1");
    await store.put(first);
    await store.put(record("s2", { owner: "bob" }));
    first.state = "rejected"; // the store holds a copy
    assert.equal((await store.get("s1"))?.state, "running");
    await store.put(record("s1", {
      state: "fulfilled",
      endedAt: 2000,
      result: { status: "fulfilled", value: { n: 1 }, exitCode: 0 },
    }));
    assert.deepEqual(
      await store.get("s1"),
      record("s1", {
        state: "fulfilled",
        endedAt: 2000,
        result: { status: "fulfilled", value: { n: 1 }, exitCode: 0 },
      }),
    );
    assert.deepEqual((await store.list()).map((r) => [r.id, r.owner]), [
      ["s1", "alice"],
      ["s2", "bob"],
    ]);
    assert.equal(await store.delete("s1"), true);
    assert.equal(await store.delete("s1"), false);
    assert.deepEqual((await store.list()).map((r) => r.id), ["s2"]);
  });

  test("an output log is read by session id from any offset, byte for byte", async (store) => {
    const log = store.createLog("out", { retention: 1024 });
    await log.append("stdout", encoder.encode("hello "));
    await log.append("stderr", encoder.encode("world"));
    const live = await store.openReader("out", { offset: 0 });
    assert.ok(live);
    const first = await live.read();
    assert.deepEqual(first?.map((c) => [c.stream, c.offset, decoder.decode(c.data)]), [
      ["stdout", 0, "hello "],
      ["stderr", 6, "world"],
    ]);
    const pending = live.read();
    await log.append("stdout", encoder.encode("!"));
    assert.deepEqual((await pending)?.map((c) => [c.offset, decoder.decode(c.data)]), [[11, "!"]]);
    log.close();
    assert.equal(await live.read(), null);
    const late = await store.openReader("out", { offset: 6 });
    assert.deepEqual((await late?.read())?.map((c) => decoder.decode(c.data)), ["world", "!"]);
    assert.equal(await store.openReader("missing"), undefined);
    assert.throws(() => store.createLog("out", { retention: 1024 }), TypeError);
  });

  test("a reader behind retention is told how many bytes it skipped", async (store) => {
    const log = store.createLog("small", { retention: 4 });
    const reader = await store.openReader("small");
    assert.ok(reader);
    for (const part of ["ab", "cd", "ef", "gh"]) {
      await log.append("stdout", encoder.encode(part));
      await reader.read(); // consumed: now only retention bytes are kept
    }
    log.close();
    const late = await store.openReader("small", { offset: 0 });
    const chunks = await late?.read();
    assert.equal(late?.skipped, 4);
    assert.equal(chunks?.map((c) => decoder.decode(c.data)).join(""), "efgh");
  });

  test("deleting a session ends its readers and forgets its log", async (store) => {
    const log = store.createLog("gone", { retention: 64 });
    await store.put(record("gone"));
    const reader = await store.openReader("gone");
    const pending = reader!.read();
    await store.delete("gone");
    assert.equal(await pending, null);
    assert.equal(log.closed, true);
    assert.equal(await store.openReader("gone"), undefined);
  });

  test("the bus delivers events in order, resumes after an id, reports gaps", async (store) => {
    const subscription = store.bus.subscribe("session.*", { queue: 2 });
    const a = await store.bus.publish("session.created", { id: "a" });
    const b = await store.bus.publish("session.state", { id: "a", state: "running" });
    assert.equal(b.id, a.id + 1);
    assert.equal(await store.bus.lastId(), b.id);
    const got = await next(subscription);
    assert.equal(got.type === "event" && got.event.topic, "session.created");
    // A second subscriber with room for everything: once it has the last event, so has every
    // subscription of the store (a broker-backed bus delivers asynchronously).
    const witness = store.bus.subscribe("session.*", { queue: 100 });
    for (let i = 0; i < 5; i++) await store.bus.publish("session.state", { i });
    for (;;) {
      const seen = await next(witness);
      if (seen.type === "event" && (seen.event.data as { i?: number }).i === 4) break;
    }
    // The queue of 2 held "b" and one more, then overflowed.
    const gap = await next(subscription);
    assert.equal(gap.type, "gap");
    witness.close();
    const resumed = store.bus.subscribe("session.created", { after: a.id - 1 });
    const again = await next(resumed);
    assert.deepEqual(again.type === "event" && again.event.data, { id: "a" });
    subscription.close();
    resumed.close();
  });
}
