// Copyright the pow authors. MIT license.
/**
 * The ordered output of one remote process, taken by whichever consumer reads: the merged
 * iterator takes chunks in order, the `stdout` and `stderr` streams take the first chunk of
 * their kind. Every taken chunk is reported as consumed (that is when credit is granted).
 *
 * @module
 */

import { deferred } from "./_deferred.ts";

/** Which output stream. */
export type OutputStream = "stdout" | "stderr";

/** A chunk of output. */
export interface OutputChunk {
  /** The stream it was written to. */
  stream: OutputStream;
  /** The bytes. */
  data: Uint8Array;
  /** The session output offset of the first byte. */
  offset: number;
}

interface Waiter {
  stream: OutputStream | undefined;
  resolve(chunk: OutputChunk | null): void;
  reject(error: unknown): void;
}

/** The queue (internal). */
export class OutputQueue {
  #chunks: OutputChunk[] = [];
  #bytes = 0;
  #waiters: Waiter[] = [];
  #ended = false;
  #error: { error: unknown } | undefined;
  #discard = new Set<OutputStream>();
  #onConsumed: (bytes: number) => void;

  constructor(onConsumed: (bytes: number) => void) {
    this.#onConsumed = onConsumed;
  }

  /** Bytes received and not yet taken. */
  get queuedBytes(): number {
    return this.#bytes;
  }

  push(chunk: OutputChunk): void {
    if (this.#ended || this.#error) return;
    if (this.#discard.has(chunk.stream)) {
      this.#onConsumed(chunk.data.byteLength);
      return;
    }
    const index = this.#waiters.findIndex((w) =>
      w.stream === undefined || w.stream === chunk.stream
    );
    if (index >= 0) {
      const [waiter] = this.#waiters.splice(index, 1);
      this.#onConsumed(chunk.data.byteLength);
      waiter.resolve(chunk);
      return;
    }
    this.#chunks.push(chunk);
    this.#bytes += chunk.data.byteLength;
  }

  take(stream?: OutputStream): Promise<OutputChunk | null> {
    const index = this.#chunks.findIndex((c) => stream === undefined || c.stream === stream);
    if (index >= 0) {
      const [chunk] = this.#chunks.splice(index, 1);
      this.#bytes -= chunk.data.byteLength;
      this.#onConsumed(chunk.data.byteLength);
      return Promise.resolve(chunk);
    }
    if (this.#error) return Promise.reject(this.#error.error);
    if (this.#ended) return Promise.resolve(null);
    const waiter = deferred<OutputChunk | null>();
    this.#waiters.push({ stream, resolve: waiter.resolve, reject: waiter.reject });
    return waiter.promise;
  }

  /** Drops queued and future chunks of `stream` (its reader cancelled). */
  discard(stream: OutputStream): void {
    this.#discard.add(stream);
    let freed = 0;
    this.#chunks = this.#chunks.filter((c) => {
      if (c.stream !== stream) return true;
      freed += c.data.byteLength;
      return false;
    });
    this.#bytes -= freed;
    if (freed > 0) this.#onConsumed(freed);
  }

  end(): void {
    if (this.#ended || this.#error) return;
    this.#ended = true;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w.resolve(null);
  }

  fail(error: unknown): void {
    if (this.#ended || this.#error) return;
    this.#error = { error };
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w.reject(error);
  }
}
