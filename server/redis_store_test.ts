import assert from "node:assert/strict";
import { testSessionStore } from "./store_conformance.ts";
import { RedisSessionStore } from "./redis_store.ts";
import { Redis } from "ioredis";
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

  Deno.test("redis store: a remote reader's offset is the next byte it returns, not what it fetched", async () => {
    redis ??= await startRedis();
    const a = await RedisSessionStore.connect({ url: redis.url, prefix: "o", node: "a" });
    const b = await RedisSessionStore.connect({ url: redis.url, prefix: "o", node: "b" });
    const log = a.createLog("s", { retention: 1 << 20 });
    const expected = new Uint8Array(300_000).map((_, i) => (i * 31 + (i >> 8)) & 255);
    for (let i = 0; i < 3; i++) {
      await log.append("stdout", expected.slice(i * 100_000, (i + 1) * 100_000));
    }
    log.close();
    // Small reads, as a front end makes with a small credit window: whatever a fetch brought
    // in, the cursor says what was handed out (a front end ends the output once it reaches the
    // log's end: a cursor ahead of the bytes returned cut the output short).
    const reader = b.remoteReader("s", { offset: 0 });
    const got: number[] = [];
    for (;;) {
      const chunks = await reader.read({ maxBytes: 4096 });
      if (chunks === null) break;
      for (const chunk of chunks) {
        assert.equal(chunk.offset, got.length);
        got.push(...chunk.data);
      }
      assert.equal(reader.offset, got.length);
    }
    assert.equal(reader.skipped, 0);
    assert.equal(got.length, expected.length);
    assert.deepEqual(new Uint8Array(got), expected);
    await a.delete("s");
    await a.close();
    await b.close();
  });

  Deno.test("redis store: a remote reader counts missing bytes as skipped when it passes them", async () => {
    redis ??= await startRedis();
    const b = await RedisSessionStore.connect({ url: redis.url, prefix: "g", node: "b" });
    // A stream with holes (as trimming or a lost node leave it): 0..10, 20..30, end at 40.
    await redis.cli("XADD", "g:log:s", "0-1", "s", "stdout", "d", "0123456789");
    await redis.cli("XADD", "g:log:s", "20-1", "s", "stderr", "d", "abcdefghij");
    await redis.cli("XADD", "g:log:s", "40-1", "e", "1");
    const reader = b.remoteReader("s", { offset: 0 });
    const steps: [number, number, number, string][] = [];
    for (;;) {
      const chunks = await reader.read({ maxBytes: 6 });
      if (chunks === null) break;
      const text = chunks.map((c) => new TextDecoder().decode(c.data)).join("");
      steps.push([chunks[0].offset, reader.offset, reader.skipped, text]);
    }
    assert.deepEqual(steps, [
      [0, 6, 0, "012345"],
      [6, 10, 0, "6789"],
      [20, 26, 10, "abcdef"],
      [26, 40, 20, "ghij"],
    ]);
    assert.equal(reader.offset, 40);
    assert.equal(reader.skipped, 20);
    await b.close();
  });

  Deno.test("redis store: output added while a remote reader makes its first fetch is not skipped", async () => {
    redis ??= await startRedis();
    const test = redis;
    const b = await RedisSessionStore.connect({
      url: test.url,
      prefix: "race",
      node: "b",
      blockMs: 100,
    });
    const key = "race:log:s";
    // The node running the process appends right after the reader's first query returns: to the
    // reader, the stream was empty, then holds three entries.
    let append: (() => Promise<void>) | undefined = async () => {
      await test.cli("XADD", key, "0-1", "s", "stdout", "d", "0123456789");
      await test.cli("XADD", key, "10-1", "s", "stdout", "d", "abcdefghij");
      await test.cli("XADD", key, "20-1", "e", "1");
    };
    const once = async () => {
      const run = append;
      append = undefined;
      await run?.();
    };
    // deno-lint-ignore no-explicit-any
    const proto = Redis.prototype as any;
    const { xrevrangeBuffer, multi } = proto;
    // deno-lint-ignore no-explicit-any
    proto.xrevrangeBuffer = async function (this: unknown, ...args: any[]) {
      const reply = await xrevrangeBuffer.apply(this, args);
      if (args[0] === key) await once();
      return reply;
    };
    // deno-lint-ignore no-explicit-any
    proto.multi = function (this: unknown, ...args: any[]) {
      const pipeline = multi.apply(this, args);
      const { xrevrangeBuffer: queue, exec } = pipeline;
      let reads = false;
      // deno-lint-ignore no-explicit-any
      pipeline.xrevrangeBuffer = function (...a: any[]) {
        reads ||= a[0] === key;
        return queue.apply(this, a);
      };
      // deno-lint-ignore no-explicit-any
      pipeline.exec = async function (...a: any[]) {
        const replies = await exec.apply(this, a);
        if (reads) await once();
        return replies;
      };
      return pipeline;
    };
    try {
      const reader = b.remoteReader("s", { offset: 0 });
      let text = "";
      for (;;) {
        const chunks = await reader.read();
        if (chunks === null) break;
        for (const chunk of chunks) text += new TextDecoder().decode(chunk.data);
      }
      assert.equal(append, undefined, "the entries were appended during the first fetch");
      assert.equal(reader.skipped, 0);
      assert.equal(text, "0123456789abcdefghij");
    } finally {
      proto.xrevrangeBuffer = xrevrangeBuffer;
      proto.multi = multi;
      await b.close();
    }
  });

  Deno.test({
    name: "redis store: stop the test Redis",
    fn: async () => {
      await redis?.stop();
    },
  });
}
