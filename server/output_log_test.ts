import assert from "node:assert/strict";
import {
  copyWithHeadroom,
  headroom,
  MemoryOutputLog,
  OUTPUT_HEADROOM,
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
