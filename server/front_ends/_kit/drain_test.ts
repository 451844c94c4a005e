import assert from "node:assert/strict";
import { setImmediate } from "node:timers";
import { drained, drainWaiters } from "./drain.ts";

/** A stand-in for a WebSocket whose queue the test empties by hand. */
function fakeSocket(bufferedAmount: number) {
  return { readyState: WebSocket.OPEN, bufferedAmount } as {
    readyState: number;
    bufferedAmount: number;
  };
}

Deno.test("drained resolves at once when the queue is at or below the mark", async () => {
  const socket = fakeSocket(1024);
  await drained(socket as WebSocket, 1024);
  assert.equal(drainWaiters(), 0);
});

Deno.test("drained waits until the queue falls to the mark, then stops polling", async () => {
  const socket = fakeSocket(10_000);
  let done = false;
  const wait = drained(socket as WebSocket, 1000).then(() => (done = true));
  await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(done, false);
  assert.equal(drainWaiters(), 1);
  socket.bufferedAmount = 5000;
  await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(done, false);
  socket.bufferedAmount = 1000;
  await wait;
  assert.equal(done, true);
  assert.equal(drainWaiters(), 0);
});

Deno.test("drained wakes every waiter of a socket that closed", async () => {
  const a = fakeSocket(10_000);
  const b = fakeSocket(10_000);
  const waits = [drained(a as WebSocket, 0), drained(b as WebSocket, 0)];
  assert.equal(drainWaiters(), 2);
  a.readyState = WebSocket.CLOSED;
  b.readyState = WebSocket.CLOSING;
  await Promise.all(waits);
  assert.equal(drainWaiters(), 0);
});

Deno.test("drained backs off while a stalled socket makes no progress", async () => {
  const socket = fakeSocket(10_000);
  let reads = 0;
  const counting = {
    get readyState() {
      return socket.readyState;
    },
    get bufferedAmount() {
      reads++;
      return socket.bufferedAmount;
    },
  };
  const wait = drained(counting as WebSocket, 0);
  await new Promise((resolve) => setTimeout(resolve, 300));
  // A busy loop would read it thousands of times; doubling up to 50 ms reads it about a dozen.
  assert.ok(reads < 40, `bufferedAmount was read ${reads} times in 300 ms`);
  socket.bufferedAmount = 0;
  await wait;
});

Deno.test("drained looks again on the next turn before it falls back to a timer", async () => {
  // A Deno socket's queue falls when its write task runs, which is after the first check: a
  // wait of one frame must not cost a timer (1–2 ms, a throughput limit at loopback speed).
  const timers: number[] = [];
  const setTimeoutBefore = globalThis.setTimeout;
  globalThis.setTimeout = ((callback: () => void, delay?: number) => {
    if (callback.name === "tick") timers.push(delay ?? 0);
    return setTimeoutBefore(callback, delay);
  }) as typeof setTimeout;
  try {
    const socket = fakeSocket(10_000);
    const wait = drained(socket as WebSocket, 1000);
    setImmediate(() => (socket.bufferedAmount = 0)); // runs right after the poller's first tick
    await wait;
    assert.deepEqual(timers, []);
  } finally {
    globalThis.setTimeout = setTimeoutBefore;
  }
});
