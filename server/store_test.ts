import assert from "node:assert/strict";
import { testSessionStore } from "./store_conformance.ts";
import { MemorySessionStore } from "./store.ts";
import { SessionManager } from "./session_manager.ts";
import { defineProcess } from "./process.ts";

testSessionStore("memory", () => new MemorySessionStore());

Deno.test("the session manager keeps records and logs in its store", async () => {
  const store = new MemorySessionStore();
  const manager = new SessionManager({
    store,
    processes: {
      hello: defineProcess({
        run: async ({ stdout }) => {
          const writer = stdout.getWriter();
          await writer.write(new TextEncoder().encode("hello"));
          writer.releaseLock();
          return 1;
        },
      }),
    },
  });
  const session = manager.start("hello", [], { caller: { id: "carol" } });
  await session.result;
  // Records are written before their event is published: wait for the last one.
  const events = store.bus.subscribe("session.state", { after: 0 });
  for (;;) {
    const { value } = await events.next();
    if (value.type === "event" && (value.event.data as { state: string }).state === "fulfilled") {
      break;
    }
  }
  events.close();
  const record = await store.get(session.id);
  assert.equal(record?.owner, "carol");
  assert.equal(record?.state, "fulfilled");
  assert.deepEqual(record?.result, { status: "fulfilled", value: 1 });
  const reader = await store.openReader(session.id);
  assert.equal(new TextDecoder().decode((await reader!.read())![0].data), "hello");
  manager.registry.delete(session.id);
  await manager.close();
  assert.equal(await store.get(session.id), undefined);
  await store.close();
});

Deno.test("putNow keeps the record it is given; get and list still hand out copies", async () => {
  const store = new MemorySessionStore();
  const record = {
    id: "s1",
    name: "p",
    params: Object.freeze(["a"]),
    owner: "me",
    state: "fulfilled" as const,
    createdAt: 1,
    outputBytes: 0,
    attached: 0,
    result: { status: "fulfilled" as const, value: { n: 1 } },
  };
  store.putNow(record);
  const got = await store.get("s1");
  assert.deepEqual(got, record);
  assert.notEqual(got, record);
  (got!.result as { value: { n: number } }).value.n = 2;
  const [listed] = await store.list();
  assert.deepEqual(listed.result, { status: "fulfilled", value: { n: 1 } });
  assert.equal(store.deleteNow("s1"), true);
  assert.equal(store.deleteNow("s1"), false);
  assert.equal(await store.get("s1"), undefined);
});

Deno.test("a session's params are frozen: records and events share them", async () => {
  const manager = new SessionManager({
    processes: { p: defineProcess({ params: [{ name: "x" }], run: () => 1 }) },
  });
  try {
    const params = ["a"];
    const session = manager.start("p", params, { caller: { id: "me" } });
    assert.ok(Object.isFrozen(session.params));
    params[0] = "changed";
    assert.deepEqual(session.params, ["a"], "the caller's array is not the session's");
    await session.result;
    assert.deepEqual((await manager.store.get(session.id))?.params, ["a"]);
  } finally {
    await manager.close();
  }
});
