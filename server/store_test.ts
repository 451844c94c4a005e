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
