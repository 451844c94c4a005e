import assert from "node:assert/strict";
import {
  copyWithHeadroom,
  headroom,
  MemoryOutputLog,
  OUTPUT_HEADROOM,
  type OutputChunk,
  POOLED_READ_SIZE,
  pooledReadBuffers,
  takeReadBuffer,
  withHeadroom,
} from "./output_log.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (chunks: { data: Uint8Array }[] | null) =>
  new TextDecoder().decode(new Uint8Array((chunks ?? []).flatMap((c) => [...c.data])));

Deno.test("output log keeps stdout and stderr in write order with shared offsets", async () => {
  const log = new MemoryOutputLog();
  await log.append("stdout", bytes("one "));
  await log.append("stderr", bytes("two "));
  await log.append("stdout", bytes("three"));
  log.close();
  const chunks = await log.reader().read();
  assert.deepEqual(chunks!.map((c) => [c.stream, c.offset, new TextDecoder().decode(c.data)]), [
    ["stdout", 0, "one "],
    ["stderr", 4, "two "],
    ["stdout", 8, "three"],
  ]);
});

Deno.test("output log reader starting mid-chunk gets exactly the bytes from its offset", async () => {
  const log = new MemoryOutputLog();
  await log.append("stdout", bytes("abcdef"));
  await log.append("stdout", bytes("ghij"));
  const reader = log.reader({ offset: 3 });
  assert.equal(text(await reader.read()), "defghij");
  assert.equal(reader.offset, 10);
});

Deno.test("output log read honours maxBytes by splitting chunks", async () => {
  const log = new MemoryOutputLog();
  await log.append("stdout", bytes("abcdef"));
  const reader = log.reader();
  assert.equal(text(await reader.read({ maxBytes: 4 })), "abcd");
  assert.equal(text(await reader.read({ maxBytes: 4 })), "ef");
});

Deno.test("output log reads end at a chunk boundary and split only a first chunk", async () => {
  const log = new MemoryOutputLog();
  await log.append("stdout", bytes("abc"));
  await log.append("stdout", bytes("defgh"));
  await log.append("stdout", bytes("ij"));
  const reader = log.reader();
  const sizes = (chunks: OutputChunk[] | null) => chunks!.map((c) => c.data.length);
  // "defgh" does not fit after "abc": the read stops before it instead of splitting it.
  assert.deepEqual(sizes(await reader.read({ maxBytes: 6 })), [3]);
  assert.deepEqual(sizes(await reader.read({ maxBytes: 7 })), [5, 2]);
  await log.append("stdout", bytes("klmnopqrst"));
  // A first chunk larger than maxBytes is split; the read after it ends at its boundary.
  assert.deepEqual(sizes(await reader.read({ maxBytes: 4 })), [4]);
  await log.append("stdout", bytes("uv"));
  assert.deepEqual(sizes(await reader.read({ maxBytes: 8 })), [6, 2]);
  assert.equal(reader.offset, 22);
});

Deno.test("output log reader waits for new output and ends with null after close", async () => {
  const log = new MemoryOutputLog();
  const reader = log.reader();
  const pending = reader.read();
  await log.append("stderr", bytes("late"));
  assert.equal(text(await pending), "late");
  const end = reader.read();
  log.close();
  assert.equal(await end, null);
});

Deno.test("output log writer waits when unread output reaches the retention limit", async () => {
  const log = new MemoryOutputLog({ retention: 10 });
  await log.append("stdout", bytes("0123456789"));
  let written = false;
  const blocked = log.append("stdout", bytes("X")).then(() => (written = true));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(written, false, "the writer must wait while nobody has read");
  assert.equal(log.end, 10);
  const reader = log.reader();
  assert.equal(text(await reader.read()), "0123456789");
  await blocked;
  assert.equal(written, true);
  assert.equal(text(await reader.read()), "X");
});

Deno.test("output log evicts only consumed bytes and reports what a late reader skipped", async () => {
  const log = new MemoryOutputLog({ retention: 8 });
  const reader = log.reader();
  for (const part of ["aaaa", "bbbb", "cccc", "dddd"]) {
    await log.append("stdout", bytes(part));
    await reader.read();
  }
  assert.equal(log.end, 16);
  assert.equal(log.start, 8, "older consumed chunks are evicted beyond retention");
  const late = log.reader({ offset: 0 });
  assert.equal(text(await late.read()), "ccccdddd");
  assert.equal(late.skipped, 8);
});

Deno.test("output log slowest reader holds the writer back", async () => {
  const log = new MemoryOutputLog({ retention: 4 });
  const fast = log.reader();
  const slow = log.reader();
  await log.append("stdout", bytes("1234"));
  await fast.read();
  let done = false;
  const next = log.append("stdout", bytes("5")).then(() => (done = true));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(done, false);
  slow.close();
  await next;
  assert.equal(done, true);
});

Deno.test("output log rejects offsets beyond the end", () => {
  const log = new MemoryOutputLog();
  assert.throws(() => log.reader({ offset: 5 }), {
    name: "RangeError",
    message: "Invalid offset 5: the output has only 0 bytes so far",
  });
  assert.throws(() => log.reader({ offset: -1 }), {
    message: "Invalid offset -1: expected a non-negative integer",
  });
});

Deno.test("output log keeps bytes a reader holds, also after it closes, for a resuming client", async () => {
  const log = new MemoryOutputLog({ retention: 8 });
  const reader = log.reader();
  reader.hold(0);
  for (const part of ["aaaa", "bbbb", "cccc"]) {
    await log.append("stdout", bytes(part));
    await reader.read(); // sent, but the client has confirmed nothing
  }
  assert.equal(log.start, 0, "held bytes are not evicted while attached");
  reader.hold(4); // the client confirmed "aaaa"
  assert.equal(log.start, 4, "confirmed bytes beyond retention are evicted");
  reader.close();
  // The writer runs on while nobody is attached, up to retention beyond what was read.
  await log.append("stdout", bytes("dddd"));
  await log.append("stdout", bytes("eeee"));
  assert.equal(log.start, 4, "what the last client may not have received stays");
  const resumed = log.reader({ offset: 4 });
  assert.equal(text(await resumed.read()), "bbbbccccddddeeee");
  assert.equal(resumed.skipped, 0);
});

Deno.test("output log hold never passes the cursor and never moves back", async () => {
  const log = new MemoryOutputLog();
  await log.append("stdout", bytes("abcdef"));
  const reader = log.reader();
  reader.hold(100);
  assert.equal(reader.held, 0, "a hold past the cursor is clamped to it");
  await reader.read({ maxBytes: 3 });
  assert.equal(reader.held, 0);
  reader.hold(2);
  reader.hold(1);
  assert.equal(reader.held, 2);
});

Deno.test("a chunk with headroom keeps it for its first part only; copies get their own", async () => {
  const log = new MemoryOutputLog();
  const data = withHeadroom(new Uint8Array(new ArrayBuffer(OUTPUT_HEADROOM + 8), OUTPUT_HEADROOM));
  data.set([1, 2, 3, 4, 5, 6, 7, 8]);
  await log.append("stdout", data);
  await log.append("stdout", copyWithHeadroom(new Uint8Array([9])));
  log.close();
  const reader = log.reader();
  const [first] = reader.readAvailable(3);
  assert.equal(headroom(first.data), OUTPUT_HEADROOM);
  const rest = reader.readAvailable();
  assert.deepEqual(rest.map((c) => [c.offset, [...c.data]]), [[3, [4, 5, 6, 7, 8]], [8, [9]]]);
  // The rest of a split chunk has data, not scratch, in front of it.
  assert.equal(headroom(rest[0].data), 0);
  assert.equal(headroom(rest[1].data), OUTPUT_HEADROOM);
  assert.equal(headroom(new Uint8Array(OUTPUT_HEADROOM + 1).subarray(OUTPUT_HEADROOM)), 0);
  assert.throws(() => withHeadroom(new Uint8Array(4)), RangeError);
});

/** A chunk as the runner reads it into a full-size (poolable) buffer. */
function readChunk(fill: number, size = POOLED_READ_SIZE): Uint8Array {
  const buffer = new ArrayBuffer(OUTPUT_HEADROOM + POOLED_READ_SIZE);
  return withHeadroom(new Uint8Array(buffer, OUTPUT_HEADROOM, size).fill(fill));
}

/** Empties the process-wide pool so that a test sees only its own buffers. */
function drainPool(): void {
  while (pooledReadBuffers() > 0) takeReadBuffer();
}

Deno.test("an evicted read buffer that every reader released is reused; a held one is not", async () => {
  drainPool();
  const log = new MemoryOutputLog({ retention: 1 });
  const reader = log.reader();
  const a = readChunk(1);
  await log.append("stdout", a);
  const got = await reader.read();
  assert.equal(got?.[0].data, a);
  // Read but not released: appending more evicts `a`, but its buffer is not reused.
  await log.append("stdout", readChunk(2));
  assert.equal(log.start, POOLED_READ_SIZE);
  assert.equal(pooledReadBuffers(), 0);
  // Released after its eviction: now it is.
  reader.release!(got!);
  assert.equal(pooledReadBuffers(), 1);
  assert.equal(takeReadBuffer(), a.buffer);
  // Evicted as it was read (retention 1), then released: reused at the release.
  const second = await reader.read();
  assert.equal(pooledReadBuffers(), 0);
  reader.release!(second!);
  assert.equal(pooledReadBuffers(), 1);
  drainPool();
  // Released before its eviction: reused at the eviction.
  const roomy = new MemoryOutputLog({ retention: POOLED_READ_SIZE });
  const roomyReader = roomy.reader();
  await roomy.append("stdout", readChunk(3));
  roomyReader.release!(roomyReader.readAvailable());
  assert.equal(pooledReadBuffers(), 0);
  await roomy.append("stdout", readChunk(4));
  assert.equal(roomy.start, POOLED_READ_SIZE);
  assert.equal(pooledReadBuffers(), 1);
  drainPool();
});

Deno.test("a read buffer is not reused while any part of it is lent, nor after retained()", async () => {
  drainPool();
  const log = new MemoryOutputLog({ retention: 1 });
  const reader = log.reader();
  await log.append("stdout", readChunk(1, 10));
  // The first part goes out and comes back; the rest (no headroom in front) is still lent.
  const first = reader.readAvailable(4);
  reader.release!(first);
  const rest = reader.readAvailable();
  assert.equal(headroom(rest[0].data), 0);
  await log.append("stdout", readChunk(2, 10));
  assert.equal(log.start, 10);
  assert.equal(pooledReadBuffers(), 0);
  reader.release!(rest);
  assert.equal(pooledReadBuffers(), 1);
  drainPool();
  // Chunks handed out by retained() have no release: never reused.
  const other = new MemoryOutputLog({ retention: 1 });
  const otherReader = other.reader();
  await other.append("stdout", readChunk(3, 10));
  other.retained();
  otherReader.release!(otherReader.readAvailable());
  await other.append("stdout", readChunk(4, 10));
  assert.equal(other.start, 10);
  assert.equal(pooledReadBuffers(), 0);
  // Buffers of another size (small reads are copied) are never pooled.
  const small = new MemoryOutputLog({ retention: 1 });
  const smallReader = small.reader();
  await small.append("stdout", copyWithHeadroom(new Uint8Array(10)));
  smallReader.release!(smallReader.readAvailable());
  await small.append("stdout", copyWithHeadroom(new Uint8Array(10)));
  assert.equal(pooledReadBuffers(), 0);
});

Deno.test("reading into a reused buffer detaches every old view of it", async () => {
  drainPool();
  const log = new MemoryOutputLog({ retention: 1 });
  const reader = log.reader();
  await log.append("stdout", readChunk(1));
  const [kept] = reader.readAvailable();
  reader.release!([kept]); // against the rules: the caller keeps `kept`
  await log.append("stdout", readChunk(2));
  const buffer = takeReadBuffer();
  assert.equal(buffer, kept.data.buffer);
  const stream = new ReadableStream({
    type: "bytes",
    pull(controller) {
      controller.byobRequest!.view!.set([9]);
      controller.byobRequest!.respond(1);
    },
  });
  const byob = stream.getReader({ mode: "byob" });
  const { value } = await byob.read(new Uint8Array(buffer, OUTPUT_HEADROOM, POOLED_READ_SIZE));
  assert.equal(value![0], 9);
  // The stale view sees no bytes at all, never the new ones.
  assert.equal(kept.data.byteLength, 0);
  await byob.cancel();
});

Deno.test("output log: a read its signal ended leaves nothing behind to take later output", async () => {
  const log = new MemoryOutputLog();
  const reader = log.reader();
  await log.append("stdout", bytes("one"));
  assert.equal(text(await reader.read()), "one");

  // A read given up through its signal returns []; the next write must reach the next read.
  const controller = new AbortController();
  const given = reader.read({ signal: controller.signal });
  controller.abort();
  assert.deepEqual(await given, []);
  await log.append("stdout", bytes("two"));
  await log.append("stdout", bytes("three"));
  assert.equal(text(await reader.read()), "twothree");
  assert.equal(reader.offset, 11);

  // Many reads that wait and are woken with one signal leave no listener on it.
  const long = new AbortController();
  let listeners = 0;
  const add = long.signal.addEventListener.bind(long.signal);
  const remove = long.signal.removeEventListener.bind(long.signal);
  long.signal.addEventListener = (...args: Parameters<typeof add>) => (listeners++, add(...args));
  long.signal.removeEventListener = (...args: Parameters<typeof remove>) => (
    listeners--, remove(...args)
  );
  for (let i = 0; i < 5; i++) {
    const next = reader.read({ signal: long.signal });
    await log.append("stdout", bytes(`${i}`));
    assert.equal(text(await next), `${i}`);
  }
  assert.equal(listeners, 0);
  log.close();
  assert.equal(await reader.read(), null);
});
