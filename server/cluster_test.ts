/**
 * Two session managers on one real Redis: a session started on node A is found, read, written
 * to, signalled and awaited from node B; a node that stops beating is reported lost.
 */
import assert from "node:assert/strict";
import { RedisSessionStore } from "./redis_store.ts";
import { SessionManager } from "./session_manager.ts";
import { defineCommand } from "./process.ts";
import type { RemoteSession } from "./remote_session.ts";
import { hasRedis, startRedis } from "../tests/_redis.ts";

const processes = () => ({
  cat: defineCommand(["cat"]),
  count: defineCommand(["seq", "1", "{1}"], { params: [{ name: "n", pattern: "[0-9]+" }] }),
  sleep: defineCommand(["sleep", "{1}"], { params: [{ name: "s", pattern: "[0-9]+" }] }),
});

/** Redis, and nodes `a` and `b`: a session manager each on its own store. */
async function twoNodes(cluster?: { heartbeat: number; lostAfter: number }) {
  const redis = await startRedis();
  const storeA = await RedisSessionStore.connect({ url: redis.url, node: "a", blockMs: 100 });
  const storeB = await RedisSessionStore.connect({ url: redis.url, node: "b", blockMs: 100 });
  const a = new SessionManager({ processes: processes(), store: storeA, cluster });
  const b = new SessionManager({ processes: processes(), store: storeB, cluster });
  return { redis, storeA, storeB, a, b };
}

async function readAll(reader: { read(): Promise<{ data: Uint8Array }[] | null> }) {
  const parts: Uint8Array[] = [];
  for (;;) {
    const chunks = await reader.read();
    if (chunks === null) break;
    for (const c of chunks) parts.push(c.data);
  }
  return new TextDecoder().decode(await new Blob(parts as BlobPart[]).arrayBuffer());
}

Deno.test({
  name: "cluster: a session on node A is attached, fed and awaited from node B",
  ignore: !hasRedis,
  fn: async () => {
    const { redis, storeA, storeB, a, b } = await twoNodes();
    const caller = { id: "alice" };
    try {
      // Output written on A, read byte for byte on B from offset 0 and from the middle.
      const count = a.start("count", ["20000"], { caller });
      await count.result;
      const expected = Array.from({ length: 20000 }, (_, i) => `${i + 1}\n`).join("");
      const remote = await b.find(count.id, caller) as RemoteSession;
      assert.ok(remote);
      assert.equal(remote.node, "a");
      assert.equal(await readAll(remote.reader({ offset: 0 })), expected);
      assert.equal(await readAll(remote.reader({ offset: 1000 })), expected.slice(1000));
      assert.deepEqual(await remote.result, { status: "fulfilled", value: null, exitCode: 0 });
      remote.dispose();

      // Another caller does not see it.
      assert.equal(await b.find(count.id, { id: "mallory" }), undefined);
      assert.deepEqual((await b.listAll(caller)).map((r) => r.id), [count.id]);

      // stdin and end of input sent to B reach cat on A.
      const cat = a.start("cat", [], { caller });
      const handle = await b.find(cat.id, caller) as RemoteSession;
      const reader = handle.reader();
      await handle.write("hello from b\n");
      await handle.closeInput();
      assert.equal(await readAll(reader), "hello from b\n");
      assert.equal((await handle.result).status, "fulfilled");
      handle.dispose();

      // A signal sent to B ends the process on A.
      const sleep = a.start("sleep", ["60"], { caller });
      const sleeper = await b.find(sleep.id, caller) as RemoteSession;
      while (sleeper.state !== "running") {
        await new Promise((r) => sleeper.addEventListener("state", r, { once: true }));
      }
      sleeper.signal("SIGKILL");
      const result = await sleep.result;
      assert.equal(result.status === "rejected" && result.signal, "SIGKILL");
      assert.deepEqual(await sleeper.result, result);
      sleeper.dispose();
    } finally {
      await a.close();
      await b.close();
      await storeA.close();
      await storeB.close();
      await redis.stop();
    }
  },
});

Deno.test({
  name: "cluster: sessions of a node that stops beating are reported lost on the others",
  ignore: !hasRedis,
  fn: async () => {
    const { redis, storeA, storeB, a, b } = await twoNodes({ heartbeat: 50, lostAfter: 300 });
    const caller = { id: "alice" };
    try {
      const sleep = a.start("sleep", ["60"], { caller });
      const handle = await b.find(sleep.id, caller) as RemoteSession;
      assert.ok(handle);
      const reader = handle.reader();
      // Node A goes silent as if killed: its store connection is gone first, so nothing it does
      // afterwards (ending its process here) reaches the cluster.
      await storeA.close();
      await a.close("test: node a killed");
      assert.deepEqual(await handle.result, {
        status: "rejected",
        reason: "node a lost",
        kind: "crash",
      });
      assert.equal(await reader.read(), null);
      handle.dispose();
    } finally {
      await b.close();
      await storeB.close();
      await redis.stop();
    }
  },
});

Deno.test({
  name: "cluster: with Redis gone, commands to a remote session fail with a clear error",
  ignore: !hasRedis,
  fn: async () => {
    const { redis, storeA, storeB, a, b } = await twoNodes();
    const caller = { id: "alice" };
    try {
      const cat = a.start("cat", [], { caller });
      const handle = await b.find(cat.id, caller) as RemoteSession;
      await redis.stop();
      await assert.rejects(() => handle.write("x"), {
        message: new RegExp(
          `^Cannot reach session "${cat.id}" on node "a": the cluster store is unavailable`,
        ),
      });
      // The local session on A is untouched.
      await cat.write("still here\n");
      await cat.closeInput();
      assert.equal((await cat.result).status, "fulfilled");
      handle.dispose();
    } finally {
      await a.close();
      await b.close();
      await storeA.close();
      await storeB.close();
      await redis.stop();
    }
  },
});
