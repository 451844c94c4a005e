/**
 * Deadlines of one fixed duration (a call deadline, an idle timeout) for many connections,
 * with one timer for all of them.
 *
 * A timer per connection costs a timer object and a scheduling call each (tens of
 * microseconds on a busy server, and memory for every idle connection); deadlines of the same
 * duration expire in the order they were set, so a queue in arrival order and one timer for
 * its head serve them all.
 *
 * @module
 */

/** A deadline set with {@linkcode Deadlines.add}; `cancel()` it when it no longer applies. */
export interface Deadline {
  /** Cancels the deadline: its callback is not called. */
  cancel(): void;
}

interface Entry<T> extends Deadline {
  item: T | undefined;
  at: number;
}

/** Options for {@linkcode Deadlines}. */
export interface DeadlinesOptions {
  /** The clock (milliseconds). @default {Date.now} */
  now?: () => number;
}

/**
 * Deadlines that all last `ms` milliseconds: `expire(item)` is called for each one that passes
 * without being cancelled. One timer serves all; a cancelled deadline holds only a small entry
 * (not its item) until its time comes.
 *
 * @example
 * ```ts
 * import { Deadlines } from "./deadlines.ts";
 * import assert from "node:assert/strict";
 *
 * const expired: string[] = [];
 * const { promise, resolve } = Promise.withResolvers<void>();
 * const deadlines = new Deadlines<string>(10, (name) => {
 *   expired.push(name);
 *   if (name === "c") resolve();
 * });
 * deadlines.add("a");
 * deadlines.add("b").cancel();
 * deadlines.add("c");
 * await promise;
 * assert.deepEqual(expired, ["a", "c"]);
 * ```
 */
export class Deadlines<T> {
  #ms: number;
  #expire: (item: T) => void;
  #now: () => number;
  #queue: (Entry<T> | undefined)[] = [];
  #head = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /**
   * @param ms How long every deadline lasts.
   * @param expire Called with the item of each deadline that passes.
   * @param options The clock.
   */
  constructor(ms: number, expire: (item: T) => void, options: DeadlinesOptions = {}) {
    this.#ms = ms;
    this.#expire = expire;
    this.#now = options.now ?? Date.now;
  }

  /** Deadlines set and not yet passed (cancelled ones included until their time). */
  get size(): number {
    return this.#queue.length - this.#head;
  }

  /**
   * Sets a deadline `ms` from now for `item`.
   *
   * @param item What the deadline is for.
   * @returns The deadline, to cancel.
   */
  add(item: T): Deadline {
    const entry: Entry<T> = {
      item,
      at: this.#now() + this.#ms,
      cancel() {
        this.item = undefined;
      },
    };
    this.#queue.push(entry);
    if (this.#timer === undefined) this.#schedule(entry.at);
    return entry;
  }

  /** Stops the timer (call it when the owner closes); no deadline set so far expires. */
  clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue = [];
    this.#head = 0;
  }

  #schedule(at: number): void {
    this.#timer = setTimeout(this.#fire, Math.max(0, at - this.#now()));
  }

  #fire = (): void => {
    this.#timer = undefined;
    const now = this.#now();
    const queue = this.#queue;
    while (this.#head < queue.length) {
      const entry = queue[this.#head]!;
      if (entry.at > now) break;
      queue[this.#head++] = undefined;
      const item = entry.item;
      entry.item = undefined;
      if (item !== undefined) this.#expire(item);
    }
    if (this.#head > 1024 && this.#head * 2 > queue.length) {
      this.#queue = queue.slice(this.#head);
      this.#head = 0;
    }
    const next = this.#queue[this.#head];
    if (next && this.#timer === undefined) this.#schedule(next.at);
  };
}
