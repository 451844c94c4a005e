/**
 * The shape every front-end driver of the conformance suite has: start a process, talk to it
 * over the front end's own wire format, and report what came back, normalized only as far as
 * needed to run the same scenario against every front end. Drivers use real clients (raw
 * WebSocket and fetch), never server internals.
 *
 * @module
 */

import type { TestServer } from "../_helpers.ts";

/** How a run ended, as the front end reported it. */
export interface Ending {
  /** `fulfilled`, `cancelled`, or `other` for anything else (see `raw`). */
  kind: "fulfilled" | "cancelled" | "other";
  /** The front end's own result message or body, for failure messages. */
  raw: unknown;
}

/** One process started through a driver. */
export interface Run {
  /** The session id, when the front end tells it (REST, pow.v2). */
  readonly session?: string;
  /** Writes text to standard input. */
  write(text: string): Promise<void>;
  /** Ends standard input (half-close), when the front end can. */
  closeInput?(): Promise<void>;
  /** Cancels the whole process. */
  cancel(): Promise<void>;
  /** Drops the connection, or (REST) stops making requests. */
  disconnect(): Promise<void>;
  /**
   * Waits until the standard output received so far satisfies `check`.
   *
   * @returns The output so far.
   */
  output(check: (stdout: Uint8Array) => boolean): Promise<Uint8Array>;
  /**
   * Waits for the end.
   *
   * @returns The whole standard output (as far as the front end shows it) and how it ended.
   */
  end(): Promise<{ stdout: Uint8Array; ending: Ending }>;
}

/** A front end under test. */
export interface Driver {
  /** The front end's name in the table. */
  readonly name: string;
  /**
   * Starts `name` with `params` (drivers whose front end has no params may refuse them).
   *
   * @returns The run, once the front end accepted the start.
   */
  start(server: TestServer, name: string, params?: string[]): Promise<Run>;
  /**
   * Starts a call that must fail and returns what the client saw, verbatim (frames, status and
   * body).
   */
  startError(server: TestServer, name: string, params?: string[]): Promise<unknown>;
}

/** UTF-8 encoding of `text`. */
export function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** Concatenates byte arrays. */
export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

/** Wakes waiters whenever something arrives; `wait` re-checks a condition until it holds. */
export class Signal {
  #waiters: (() => void)[] = [];

  /** Wakes every waiter. */
  wake(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }

  /**
   * Waits until `check` returns something other than `undefined`.
   *
   * @param check The condition, re-run after every wake.
   * @param what What is awaited, for the timeout message.
   * @param timeout Milliseconds. @default {20000}
   */
  async until<T>(check: () => T | undefined, what: () => string, timeout = 20_000): Promise<T> {
    const deadline = Date.now() + timeout;
    while (true) {
      const value = check();
      if (value !== undefined) return value;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`Timed out after ${timeout} ms waiting for ${what()}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 100));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

/**
 * Polls `fn` until it returns something other than `undefined` (for REST front ends).
 *
 * @param fn The poll.
 * @param what What is awaited, for the timeout message.
 * @param timeout Milliseconds. @default {20000}
 */
export async function poll<T>(
  fn: () => Promise<T | undefined>,
  what: string,
  timeout = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeout;
  while (true) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
