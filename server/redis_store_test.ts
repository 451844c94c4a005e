import assert from "node:assert/strict";
import { testSessionStore } from "./store_conformance.ts";
import { RedisSessionStore } from "./redis_store.ts";
import { hasRedis, startRedis, type TestRedis } from "../tests/_redis.ts";

let redis: TestRedis | undefined;
let n = 0;

if (hasRedis) {
  testSessionStore("redis", async () => {
    redis ??= await startRedis();
    return await RedisSessionStore.connect({ url: redis.url, prefix: `t${++n}`, blockMs: 200 });
  });

  Deno.test("redis store: a reader on another node reads a session's output byte for byte", async () => {
    redis ??= await startRedis();
    const a = await RedisSessionStore.connect({
      url: redis.url,
      prefix: "x",
      node: "a",
      blockMs: 100,
    });
    const b = await RedisSessionStore.connect({
      url: redis.url,
      prefix: "x",
      node: "b",
      blockMs: 100,
    });
    const log = a.createLog("s", { retention: 1 << 20 });
    await a.put({
      id: "s",
      name: "gen",
      params: [],
      owner: "me",
      state: "running",
      createdAt: 0,
      outputBytes: 0,
      attached: 0,
    });
    const expected: number[] = [];
    const reader = await b.openReader("s", { offset: 0 });
    assert.ok(reader);
    const got: number[] = [];
    const reading = (async () => {
      for (;;) {
        const chunks = await reader.read();
        if (chunks === null) return;
        for (const c of chunks) got.push(...c.data);
      }
    })();
    for (let i = 0; i < 200; i++) {
      const data = new Uint8Array(1000).map((_, j) => (i * 7 + j) & 255);
      expected.push(...data);
      await log.append(i % 3 ? "stdout" : "stderr", data);
    }
    log.close();
    await reading;
    assert.equal(got.length, expected.length);
    assert.deepEqual(got, expected);
    // From an offset in the middle of a chunk, on the other node.
    const late = await b.openReader("s", { offset: 1500 });
    const first = await late!.read();
    assert.equal(first![0].offset, 1500);
    assert.equal(first![0].stream, "stdout"); // chunk 1 (bytes 1000..1999) went to stdout
    await a.delete("s");
    assert.equal(await b.openReader("s"), undefined);
    await a.close();
    await b.close();
  });

  Deno.test("redis store: events published on one node reach subscribers on another", async () => {
    redis ??= await startRedis();
    const a = await RedisSessionStore.connect({
      url: redis.url,
      prefix: "e",
      node: "a",
      blockMs: 100,
    });
    const b = await RedisSessionStore.connect({
      url: redis.url,
      prefix: "e",
      node: "b",
      blockMs: 100,
    });
    const seen = b.bus.subscribe("topic.>");
    await a.bus.publish("topic.x", { n: 1 });
    await b.bus.publish("topic.y", { n: 2 });
    const first = (await seen.next()).value;
    const second = (await seen.next()).value;
    assert.deepEqual(
      [first, second].map((m) => m.type === "event" ? [m.event.topic, m.event.data] : m),
      [["topic.x", { n: 1 }], ["topic.y", { n: 2 }]],
    );
    seen.close();
    await a.close();
    await b.close();
  });

  Deno.test({
    name: "redis store: stop the test Redis",
    fn: async () => {
      await redis?.stop();
    },
  });
}
