import assert from "node:assert/strict";
import { MemoryOutputLog } from "../../output_log.ts";
import type { SessionHandle } from "../../session.ts";
import { pumpOutput } from "./pump.ts";

const FRAME = 64 * 1024;
const BACKED_UP = 4 * FRAME;

/** Rejects if `promise` has not settled within a second (so a stuck pump fails, not hangs). */
function soon<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not happen within 1 s`)), 1000);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * Runs the pump of a fresh log into a socket whose client reads nothing: every send adds to
 * its queue, which starts at `queued`.
 */
function pump(queued: number) {
  const socket = { readyState: WebSocket.OPEN, bufferedAmount: queued };
  const log = new MemoryOutputLog({ retention: 64 * FRAME });
  const sent: number[][] = [];
  let onSend = () => {};
  const ended = pumpOutput(
    socket as WebSocket,
    { log } as unknown as SessionHandle,
    log.reader(),
    (chunks) => {
      const sizes = chunks.map((chunk) => chunk.data.length);
      sent.push(sizes);
      for (const size of sizes) socket.bufferedAmount += size;
      onSend();
    },
    { maxBytes: FRAME, backedUp: BACKED_UP },
  );
  const nextSend = () => soon(new Promise<void>((resolve) => (onSend = resolve)), "a send");
  return { socket, log, sent, ended, nextSend };
}

Deno.test("pumpOutput sends frame-sized writes as they come while the client is behind", async () => {
  const { log, sent, ended, nextSend } = pump(BACKED_UP);
  let next = nextSend();
  await log.append("stdout", new Uint8Array(FRAME));
  await next; // now the client is behind
  // Output comes in frame-sized writes: the next ones go out without waiting for the queue.
  for (let i = 0; i < 3; i++) {
    next = nextSend();
    await log.append("stdout", new Uint8Array(FRAME));
    await next;
  }
  assert.deepEqual(sent, [[FRAME], [FRAME], [FRAME], [FRAME]]);
  log.close();
  assert.equal(await soon(ended, "the end of the pump"), true);
});

Deno.test("pumpOutput lets small writes collect while the client is behind", async () => {
  const { socket, log, sent, ended, nextSend } = pump(BACKED_UP + 1); // behind from the start
  await log.append("stdout", new Uint8Array(10));
  await log.append("stdout", new Uint8Array(20));
  await log.append("stdout", new Uint8Array(30));
  // Nothing is sent while it stays behind with less than a frame waiting.
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(sent, []);
  const next = nextSend();
  socket.bufferedAmount = BACKED_UP; // caught up to the mark: what collected goes as one read
  await next;
  assert.deepEqual(sent, [[10, 20, 30]]);
  socket.bufferedAmount = 0; // the client read it all
  log.close();
  assert.equal(await soon(ended, "the end of the pump"), true);
});

Deno.test("pumpOutput counts a read that stopped before a chunk that did not fit as full", async () => {
  // Two 40 KiB chunks waiting: the first read takes one (reads end at chunk boundaries), and
  // the second must follow without a coalescing wait, as it would after a frame-filling read.
  const socket = { readyState: WebSocket.OPEN, bufferedAmount: BACKED_UP };
  const log = new MemoryOutputLog({ retention: 64 * FRAME });
  await log.append("stdout", new Uint8Array(40 * 1024));
  await log.append("stdout", new Uint8Array(40 * 1024));
  const sent: number[][] = [];
  let onSend = () => {};
  const twice = soon(
    new Promise<void>((resolve) => (onSend = () => sent.length === 2 && resolve())),
    "two sends",
  );
  const ended = pumpOutput(
    socket as WebSocket,
    { log } as unknown as SessionHandle,
    log.reader(),
    (chunks) => {
      sent.push(chunks.map((chunk) => chunk.data.length));
      for (const chunk of chunks) socket.bufferedAmount += chunk.data.length;
      onSend();
    },
    { maxBytes: FRAME, backedUp: BACKED_UP },
  );
  await twice; // the client stays behind: a coalescing wait would hold the second back
  assert.deepEqual(sent, [[40 * 1024], [40 * 1024]]);
  socket.bufferedAmount = 0;
  log.close();
  assert.equal(await soon(ended, "the end of the pump"), true);
});
