/**
 * Waiting for a WebSocket's send buffer to drain.
 *
 * Deno's server-side `WebSocket` has no drain event: `send()` queues the frame and
 * `bufferedAmount` falls as the bytes reach the kernel. Front ends that stream output keep the
 * queue between a low and a high mark: they send while `bufferedAmount` is at most
 * {@linkcode SOCKET_HIGH_WATER} and otherwise wait here.
 *
 * One poller serves every socket of the process, and it runs only while some socket is
 * backed up. Each tick reads `bufferedAmount` of every waiting socket, wakes those that fell to
 * their mark, and estimates from the last tick how fast each one drains: when a socket is
 * expected to reach its mark within {@linkcode IMMEDIATE_MS}, or has just started waiting
 * (its queue falls when its write task runs, after the first tick, so that tick cannot have
 * measured a rate), the next tick is the next event-loop turn (`setImmediate`, a few
 * microseconds); otherwise a 1 ms timer (which fires after 1 to 2 ms). A socket whose client
 * stopped reading makes no progress: the timer then backs off, doubling up to
 * {@linkcode MAX_IDLE_MS}, so a stalled client costs a few wake-ups per second, not a busy
 * loop. (`setTimeout(..., 0)` is no faster than 1 ms in Deno, which is
 * why the fast path uses `setImmediate`.)
 *
 * Memory: a streaming front end has at most `SOCKET_HIGH_WATER` plus one frame queued per
 * connection, in addition to the session's output log.
 *
 * @module
 */

import { setImmediate } from "node:timers";

/**
 * Bytes queued on a socket above which output pumps wait (per connection). Large enough that
 * the 1-2 ms between polls never lets the queue run dry at loopback speed (about 1 GB/s).
 */
export const SOCKET_HIGH_WATER = 4 * 1024 * 1024;

/** A socket expected to drain within this many milliseconds is polled on the next turn. */
const IMMEDIATE_MS = 2;

/** The longest pause between polls while no waiting socket makes progress. */
const MAX_IDLE_MS = 50;

interface Waiter {
  socket: WebSocket;
  mark: number;
  resolve: () => void;
  /** `bufferedAmount` at the previous tick. */
  last: number;
  /** Ticks seen: the first one cannot have measured a rate yet. */
  ticks: number;
}

const waiters = new Set<Waiter>();
let scheduled = false;
let lastTick = 0;
let idleDelay = 1;

/**
 * Resolves once `socket.bufferedAmount` is at most `mark`, or the socket is no longer open.
 *
 * @example
 * ```ts
 * import { drained } from "./drain.ts";
 *
 * const socket = { readyState: WebSocket.OPEN, bufferedAmount: 0 } as WebSocket;
 * await drained(socket, 1024); // nothing queued: resolves at once
 * ```
 *
 * @param socket The WebSocket.
 * @param mark The most bytes that may stay queued. @default {SOCKET_HIGH_WATER}
 * @returns A promise that resolves when the socket has drained to `mark`.
 */
export function drained(socket: WebSocket, mark: number = SOCKET_HIGH_WATER): Promise<void> {
  const queued = socket.bufferedAmount;
  if (socket.readyState !== WebSocket.OPEN || queued <= mark) return Promise.resolve();
  const { promise, resolve } = Promise.withResolvers<void>();
  waiters.add({ socket, mark, resolve, last: queued, ticks: 0 });
  if (!scheduled) {
    scheduled = true;
    lastTick = performance.now();
    idleDelay = 1;
    setImmediate(tick);
  }
  return promise;
}

/** Sockets waiting for their queue to drain (for tests and diagnostics). */
export function drainWaiters(): number {
  return waiters.size;
}

function tick(): void {
  const now = performance.now();
  const elapsed = Math.max(now - lastTick, 0.001);
  lastTick = now;
  let soonest = Infinity;
  let progress = false;
  let fresh = false;
  for (const waiter of waiters) {
    const { socket } = waiter;
    const queued = socket.readyState === WebSocket.OPEN ? socket.bufferedAmount : 0;
    if (queued <= waiter.mark) {
      waiters.delete(waiter);
      waiter.resolve();
      progress = true;
      continue;
    }
    const rate = (waiter.last - queued) / elapsed; // bytes per millisecond
    waiter.last = queued;
    if (waiter.ticks++ === 0) fresh = true;
    if (rate > 0) {
      progress = true;
      soonest = Math.min(soonest, (queued - waiter.mark) / rate);
    }
  }
  if (waiters.size === 0) {
    scheduled = false;
    return;
  }
  if (soonest <= IMMEDIATE_MS || fresh) {
    idleDelay = 1;
    setImmediate(tick);
    return;
  }
  if (progress) idleDelay = 1;
  else idleDelay = Math.min(idleDelay * 2, MAX_IDLE_MS);
  setTimeout(tick, progress ? 1 : idleDelay);
}
