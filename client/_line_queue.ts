// Copyright the pow authors. MIT license.
/**
 * A bounded queue of output frames or lines for the async iterators of the pow-1 sessions.
 * Internal.
 *
 * @module
 */

import { type Deferred, deferred } from "./_deferred.ts";

/** The queue (internal). */
export class LineQueue {
  #items: string[] = [];
  #waiter: Deferred<void> | undefined;
  #done = false;
  #error: { error: unknown } | undefined;
  #max: number;
  /** Items dropped because the queue was full. */
  dropped = 0;

  constructor(max: number) {
    this.#max = max;
  }

  push(item: string): void {
    if (this.#done) return;
    this.#items.push(item);
    if (this.#items.length > this.#max) {
      this.#items.shift();
      this.dropped++;
    }
    this.#wake();
  }

  end(error?: { error: unknown }): void {
    if (this.#done) return;
    this.#done = true;
    this.#error = error;
    this.#wake();
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.resolve();
  }

  async *iterate(): AsyncGenerator<string> {
    while (true) {
      const item = this.#items.shift();
      if (item !== undefined) {
        yield item;
        continue;
      }
      if (this.#done) {
        if (this.#error) throw this.#error.error;
        return;
      }
      this.#waiter ??= deferred<void>();
      await this.#waiter.promise;
    }
  }
}
