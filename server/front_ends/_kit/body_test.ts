import assert from "node:assert/strict";
import { BodyError, pipeBody, readBody, stdinWindow } from "./body.ts";

function post(body: BodyInit, headers?: HeadersInit): Request {
  return new Request("http://localhost/", { method: "POST", body, headers });
}

/** A body that enqueues `chunks` and then never ends (or ends, with `close`). */
function stream(chunks: Uint8Array[], close = true): ReadableStream<Uint8Array> {
  let pulled = 0;
  return new ReadableStream({
    pull(controller): Promise<void> | void {
      if (pulled < chunks.length) return controller.enqueue(chunks[pulled++]);
      if (close) return controller.close();
      return new Promise(() => {}); // stalls
    },
  });
}

/** An endless body of `size`-byte chunks that are made only when read; `pulled` counts them. */
function endless(size: number): { body: ReadableStream<Uint8Array>; pulled: () => number } {
  let pulled = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulled++;
      controller.enqueue(new Uint8Array(size));
    },
  }, { highWaterMark: 0 });
  return { body, pulled: () => pulled };
}

Deno.test("readBody returns a body within the limit as text", async () => {
  assert.equal(await readBody(post("héllo"), { limit: 6, timeout: 0 }), "héllo");
  assert.equal(await readBody(new Request("http://localhost/"), { limit: 1, timeout: 0 }), "");
});

Deno.test("readBody refuses an announced body over the limit without reading it", async () => {
  const { body, pulled } = endless(10);
  const request = post(body, { "content-length": "1000000" });
  await assert.rejects(readBody(request, { limit: 10, timeout: 0 }), (e) => {
    return e instanceof BodyError && e.status === 413 &&
      e.message === "Cannot read the request body: it is larger than 10 bytes";
  });
  assert.equal(pulled(), 0);
});

Deno.test("readBody stops at the first chunk beyond the limit of a chunked body", async () => {
  const { body, pulled } = endless(4);
  await assert.rejects(
    readBody(post(body), { limit: 10, timeout: 0 }),
    (e) => e instanceof BodyError && e.status === 413,
  );
  assert.equal(pulled(), 3);
});

Deno.test("readBody answers 408 when the body stalls", async () => {
  await assert.rejects(
    readBody(post(stream([new Uint8Array(1)], false)), { limit: 10, timeout: 20 }),
    (e) =>
      e instanceof BodyError && e.status === 408 &&
      e.message === "Cannot read the request body: no data for 20 ms",
  );
});

Deno.test("pipeBody keeps at most a window of bytes waiting, in pieces no larger than it", async () => {
  const chunks = [new Uint8Array(10).fill(1), new Uint8Array(3).fill(2), new Uint8Array(7).fill(3)];
  const pieces: number[] = [];
  const got: number[] = [];
  let waiting = 0;
  let most = 0;
  const written = await pipeBody(post(stream(chunks)), async (data) => {
    pieces.push(data.length);
    got.push(...data);
    waiting += data.length;
    most = Math.max(most, waiting);
    await new Promise((resolve) => setTimeout(resolve, 1));
    waiting -= data.length;
  }, { timeout: 0, window: 4 });
  assert.equal(written, 20);
  assert.deepEqual(got, chunks.flatMap((c) => [...c]));
  assert.ok(pieces.every((n) => n <= 4), `pieces ${pieces}`);
  // A piece is read only while fewer than 4 bytes wait, so at most 3 + 4 are ever in flight.
  assert.ok(most < 8, `${most} bytes waited at once`);
});

Deno.test("pipeBody stops reading at the first failed write and rethrows its error", async () => {
  const { body, pulled } = endless(4);
  const failure = new TypeError("input is closed");
  await assert.rejects(
    pipeBody(post(body), () => Promise.reject(failure), { timeout: 0, window: 4 }),
    (e) => e === failure,
  );
  assert.ok(pulled() <= 2, `${pulled()} chunks read`);
});

Deno.test("stdinWindow is half the pending-input limit, at most 4 MiB, at least 1", () => {
  assert.deepEqual(
    [stdinWindow(1), stdinWindow(1000), stdinWindow(1 << 30)],
    [1, 500, 4 * 1024 * 1024],
  );
});
