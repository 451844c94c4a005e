/**
 * The ordered output log of a session: stdout and stderr chunks addressed by byte offset,
 * bounded retention, any number of readers, and backpressure on the writer.
 *
 * ## Backpressure policy
 *
 * The log keeps at most `retention` bytes that readers have already consumed, for late readers
 * and reattaching clients. Bytes nobody has consumed yet are never dropped: when the unconsumed
 * bytes reach `retention` (counted from the slowest attached reader, or from the furthest point
 * any reader ever reached when none is attached), {@linkcode OutputLog.append} waits. The
 * session's runner awaits it before reading more from the child, so the child blocks on its
 * full pipe. Memory per session is therefore bounded by `retention` plus one chunk.
 *
 * @module
 */

/** Which output stream a chunk came from. */
export type OutputStream = "stdout" | "stderr";

/** One piece of output, as the process wrote it. */
export interface OutputChunk {
  /** The stream the bytes were written to. */
  readonly stream: OutputStream;
  /** The offset of the first byte in the session's output (stdout and stderr share offsets). */
  readonly offset: number;
  /** The bytes. */
  readonly data: Uint8Array;
}

/**
 * Bytes of scratch space a writer may leave in front of a chunk's data (see
 * {@linkcode withHeadroom}): room for a front end's frame header, so that it can send a chunk as
 * one frame without copying it (a pow.v2 data frame header is 13 bytes).
 */
export const OUTPUT_HEADROOM = 16;

/**
 * What the log knows about a buffer whose first {@linkcode OUTPUT_HEADROOM} bytes are scratch
 * space, kept on the buffer itself (under a private symbol: cheaper than weak collections, which
 * this path would consult about a dozen times per 64 KiB).
 */
interface BufferState {
  /** Chunks handed out from the buffer and not released (`Infinity`: never reused). */
  lent: number;
  /** Whether the log evicted it while some of it was still lent. */
  evicted: boolean;
  /** Whether it is in the pool of buffers ready for reuse. */
  pooled: boolean;
}

const STATE = Symbol("pow.outputBuffer");

type Marked = ArrayBufferLike & { [STATE]?: BufferState };

function stateOf(buffer: ArrayBufferLike): BufferState | undefined {
  return (buffer as Marked)[STATE];
}

/**
 * Marks `data` as having {@linkcode OUTPUT_HEADROOM} bytes of scratch space in front of it. It
 * must start exactly that far into its buffer, and nothing may ever read those bytes as data:
 * a front end writes its frame header there immediately before a send that copies the frame
 * (WebSocket `send` copies synchronously), so readers of the same chunk can take turns.
 *
 * @param data A view that starts {@linkcode OUTPUT_HEADROOM} bytes into its buffer.
 * @returns `data`.
 *
 * @example
 * ```ts
 * import { headroom, OUTPUT_HEADROOM, withHeadroom } from "./output_log.ts";
 * import assert from "node:assert/strict";
 *
 * const buffer = new ArrayBuffer(OUTPUT_HEADROOM + 5);
 * const data = withHeadroom(new Uint8Array(buffer, OUTPUT_HEADROOM, 5));
 * assert.equal(headroom(data), OUTPUT_HEADROOM);
 * assert.equal(headroom(data.subarray(1)), 0); // inside the data: no scratch in front
 * assert.equal(headroom(new Uint8Array(5)), 0);
 * ```
 */
export function withHeadroom<T extends Uint8Array>(data: T): T {
  if (data.byteOffset !== OUTPUT_HEADROOM) {
    throw new RangeError(
      `Invalid headroom: data starts at byte ${data.byteOffset}, expected ${OUTPUT_HEADROOM}`,
    );
  }
  (data.buffer as Marked)[STATE] ??= { lent: 0, evicted: false, pooled: false };
  return data;
}

/**
 * Copies bytes into a new array with {@linkcode OUTPUT_HEADROOM} bytes of scratch space in
 * front.
 *
 * @param bytes The bytes.
 * @returns A copy, marked with {@linkcode withHeadroom}.
 */
export function copyWithHeadroom(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const data = new Uint8Array(new ArrayBuffer(OUTPUT_HEADROOM + bytes.byteLength), OUTPUT_HEADROOM);
  data.set(bytes);
  return withHeadroom(data);
}

/**
 * How many bytes in front of `data` are scratch space a frame header may be written to:
 * {@linkcode OUTPUT_HEADROOM} when `data` starts where a writer marked with
 * {@linkcode withHeadroom} (a chunk, or the first part of a split one), else 0.
 *
 * @param data A chunk's bytes.
 * @returns The scratch bytes in front of it.
 */
export function headroom(data: Uint8Array): number {
  return data.byteOffset === OUTPUT_HEADROOM && stateOf(data.buffer) !== undefined
    ? OUTPUT_HEADROOM
    : 0;
}

/** The size of the read buffers that are reused: {@linkcode OUTPUT_HEADROOM} plus 64 KiB. */
export const POOLED_READ_SIZE = 64 * 1024;

/** The most evicted read buffers kept for reuse, for the whole process (4 MiB). */
const POOL_MAX = 64;

/** Evicted read buffers that nobody references any more, ready for the next pipe read. */
const pool: ArrayBuffer[] = [];

/** The state of the read buffer `data` views (any part of it), if it may be reused. */
function poolable(data: Uint8Array): BufferState | undefined {
  const { buffer } = data;
  return buffer.byteLength === OUTPUT_HEADROOM + POOLED_READ_SIZE ? stateOf(buffer) : undefined;
}

function lend(data: Uint8Array, count: number): void {
  const state = poolable(data);
  if (state) state.lent += count;
}

function recycle(buffer: ArrayBufferLike, state: BufferState): void {
  // Never twice in the pool (`pooled`), never a buffer a read has taken since (`detached`).
  if (
    pool.length < POOL_MAX && buffer instanceof ArrayBuffer && !buffer.detached && !state.pooled
  ) {
    state.pooled = true;
    pool.push(buffer);
  }
}

/**
 * An ArrayBuffer of {@linkcode OUTPUT_HEADROOM} + {@linkcode POOLED_READ_SIZE} bytes for a pipe
 * read: one that held output the log evicted and nobody references any more, or a new one. A
 * BYOB read transfers the buffer, which detaches this object and every view of it, so even a
 * view someone kept against the rules could not see the new bytes.
 *
 * @returns The buffer.
 *
 * @example
 * ```ts
 * import { OUTPUT_HEADROOM, POOLED_READ_SIZE, takeReadBuffer } from "./output_log.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(takeReadBuffer().byteLength, OUTPUT_HEADROOM + POOLED_READ_SIZE);
 * ```
 */
export function takeReadBuffer(): ArrayBuffer {
  while (pool.length > 0) {
    const buffer = pool.pop()!;
    stateOf(buffer)!.pooled = false;
    if (!buffer.detached) return buffer;
  }
  return new ArrayBuffer(OUTPUT_HEADROOM + POOLED_READ_SIZE);
}

/** Read buffers waiting for reuse (for tests and diagnostics). */
export function pooledReadBuffers(): number {
  return pool.length;
}

/** Options for {@linkcode OutputLog.reader}. */
export interface ReaderOptions {
  /** The offset to start reading at. @default {0} */
  offset?: number;
}

/** Options for {@linkcode OutputReader.read}. */
export interface ReadOptions {
  /** Return at most this many bytes (a chunk may be split). @default {Infinity} */
  maxBytes?: number;
  /** Stop waiting when aborted; the read then resolves to an empty array. */
  signal?: AbortSignal;
}

/** A cursor over a session's output. */
export interface OutputReader {
  /** The offset of the next byte this reader will return. */
  readonly offset: number;
  /**
   * Waits until output at the cursor is available and returns it, up to `maxBytes` (a read may
   * return less while more is available, e.g. to end at a chunk boundary), advancing the
   * cursor. Resolves to `null` once the log is closed and fully read, and to an empty array
   * when `signal` aborts. Bytes that were evicted before this reader got to them
   * are reported through {@linkcode OutputReader.skipped}, never silently.
   */
  read(options?: ReadOptions): Promise<OutputChunk[] | null>;
  /** Returns what is available right now without waiting (possibly nothing). */
  readAvailable(maxBytes?: number): OutputChunk[];
  /** Bytes this reader had to skip because they were no longer retained. */
  readonly skipped: number;
  /**
   * Declares that the reader's client may still need the bytes from `offset` on (it has read
   * them but its client has not confirmed receiving them, e.g. no credit came back for them).
   * They are not evicted while the reader is attached, nor after it closes if it was the last
   * reader, so a client that reconnects can resume from what it really received. Without a
   * call, the reader's cursor is its hold. Holds only move forward and never past the cursor.
   */
  hold(offset: number): void;
  /** The oldest offset this reader needs kept (its hold, or its cursor). */
  readonly held: number;
  /** Detaches the reader so it no longer holds back the writer. */
  close(): void;
  /**
   * Declares that the caller keeps no reference to these chunks' bytes (it sent or decoded
   * them, and a WebSocket `send` copies): once the log has evicted a chunk and every reader
   * that got it released it, its buffer may be reused for later output (see
   * {@linkcode takeReadBuffer}). Chunks that are never released are never reused. Optional:
   * a log that does not pool buffers need not implement it.
   */
  release?(chunks: OutputChunk[]): void;
}

/**
 * Where a session's output goes. The in-memory implementation is {@linkcode MemoryOutputLog};
 * a broker-backed one (Redis Streams, NATS JetStream) can implement the same interface.
 */
export interface OutputLog {
  /** The offset of the oldest retained byte. */
  readonly start: number;
  /** The offset just past the newest byte. */
  readonly end: number;
  /** Whether the writer has finished. */
  readonly closed: boolean;
  /** Appends a chunk, waiting first until there is room (see the backpressure policy). */
  append(stream: OutputStream, data: Uint8Array): Promise<void>;
  /** Marks the end of output: readers drain what is left and then get `null`. */
  close(): void;
  /** Opens a reader at an offset (clamped to what is retained; see `skipped`). */
  reader(options?: ReaderOptions): OutputReader;
  /** All retained chunks, oldest first. */
  retained(): OutputChunk[];
}

/** Options for {@linkcode MemoryOutputLog}. */
export interface MemoryOutputLogOptions {
  /** Bytes kept for late readers, and the most unread bytes before the writer waits. @default {4194304} */
  retention?: number;
}

const EMPTY = new Uint8Array(0);

/** The readers of every log that has none: never added to (a log makes its own set). */
const NO_READERS: Set<MemoryReader> = new Set();

/** What an append that did not wait returns: one settled promise, shared. */
const APPENDED: Promise<void> = Promise.resolve();

/**
 * An {@linkcode OutputLog} held in memory.
 *
 * @example Write and read output
 * ```ts
 * import { MemoryOutputLog } from "./output_log.ts";
 * import assert from "node:assert/strict";
 *
 * const log = new MemoryOutputLog();
 * await log.append("stdout", new TextEncoder().encode("hello "));
 * await log.append("stderr", new TextEncoder().encode("world"));
 * log.close();
 *
 * const reader = log.reader({ offset: 6 });
 * const chunks = await reader.read();
 * assert.deepEqual(chunks?.map((c) => [c.stream, c.offset]), [["stderr", 6]]);
 * assert.equal(await reader.read(), null);
 * ```
 */
export class MemoryOutputLog implements OutputLog {
  #chunks: OutputChunk[] = [];
  #head = 0;
  #start = 0;
  #end = 0;
  #closed = false;
  #delivered = 0;
  #keepFrom = 0;
  #retention: number;
  /** Open readers; the shared empty set until the first one, and once a closed log has none. */
  #readers: Set<MemoryReader> = NO_READERS;
  /** Writers waiting for room; made when the first one waits. */
  #roomWaiters: (() => void)[] | undefined;

  /**
   * Creates an empty log.
   *
   * @param options How much to retain.
   */
  constructor(options: MemoryOutputLogOptions = {}) {
    this.#retention = options.retention ?? 4 * 1024 * 1024;
    if (!(this.#retention > 0)) {
      throw new RangeError(`Invalid retention ${this.#retention}: expected a positive size`);
    }
  }

  /** The offset of the oldest retained byte. */
  get start(): number {
    return this.#start;
  }

  /** The offset just past the newest byte. */
  get end(): number {
    return this.#end;
  }

  /** Whether the writer has finished. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Bytes currently held in memory. */
  get size(): number {
    return this.#end - this.#start;
  }

  /**
   * Appends a chunk once there is room for it.
   *
   * @param stream The stream the bytes were written to.
   * @param data The bytes; the log keeps a reference, so do not reuse the buffer.
   */
  append(stream: OutputStream, data: Uint8Array): Promise<void> {
    if (this.#closed) {
      return Promise.reject(new TypeError("Cannot append to output log: it is closed"));
    }
    if (data.length === 0) return APPENDED;
    if (!this.#hasRoom()) return this.#appendWhenRoom(stream, data);
    try {
      this.#push(stream, data);
    } catch (error) {
      return Promise.reject(error);
    }
    return APPENDED;
  }

  async #appendWhenRoom(stream: OutputStream, data: Uint8Array): Promise<void> {
    while (!this.#hasRoom()) {
      await new Promise<void>((resolve) => (this.#roomWaiters ??= []).push(resolve));
      if (this.#closed) throw new TypeError("Cannot append to output log: it is closed");
    }
    this.#push(stream, data);
  }

  #push(stream: OutputStream, data: Uint8Array): void {
    this.#chunks.push({ stream, offset: this.#end, data });
    this.#end += data.length;
    this.#evict();
    for (const reader of this.#readers) reader.wake();
  }

  /** Marks the end of output and wakes every waiting reader and writer. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const reader of this.#readers) reader.wake();
    this.#wakeWriters();
  }

  /**
   * Opens a reader.
   *
   * @param options Where to start.
   * @returns A reader whose cursor is at `options.offset`.
   */
  reader(options: ReaderOptions = {}): OutputReader {
    const offset = options.offset ?? 0;
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new RangeError(`Invalid offset ${offset}: expected a non-negative integer`);
    }
    if (offset > this.#end) {
      throw new RangeError(
        `Invalid offset ${offset}: the output has only ${this.#end} bytes so far`,
      );
    }
    const reader = new MemoryReader(this, offset);
    if (this.#readers === NO_READERS) this.#readers = new Set();
    this.#readers.add(reader);
    return reader;
  }

  /** All retained chunks, oldest first. */
  retained(): OutputChunk[] {
    const chunks = this.#chunks.slice(this.#head);
    for (const chunk of chunks) lend(chunk.data, Infinity);
    return chunks;
  }

  /**
   * @internal Returns chunks from `offset` up to `maxBytes`. A read ends before a chunk that
   * does not fit, and splits one only when it is the first: reads then stay on chunk
   * boundaries, so a front end can send each chunk in place (its header in the headroom)
   * instead of copying the two halves of chunks a misaligned read would return.
   */
  _slice(offset: number, maxBytes: number): OutputChunk[] {
    const out: OutputChunk[] = [];
    if (offset >= this.#end) return out;
    let i = this.#find(offset);
    let budget = maxBytes;
    while (i < this.#chunks.length && budget > 0) {
      const chunk = this.#chunks[i++];
      let data = chunk.data;
      let at = chunk.offset;
      if (at < offset) {
        data = data.subarray(offset - at);
        at = offset;
      }
      if (data.length > budget) {
        if (out.length > 0) break;
        data = data.subarray(0, budget);
      }
      lend(data, 1);
      out.push(data === chunk.data ? chunk : { stream: chunk.stream, offset: at, data });
      budget -= data.length;
    }
    return out;
  }

  /** @internal Called by readers when their cursor moved or they closed. */
  _advanced(reader: MemoryReader | undefined, offset: number): void {
    if (reader && !this.#readers.has(reader)) return;
    if (offset > this.#delivered) this.#delivered = offset;
    this.#evict();
    this.#wakeWriters();
  }

  /** @internal */
  _remove(reader: MemoryReader): void {
    this.#readers.delete(reader);
    // The last reader to leave decides what stays for its client's return.
    if (this.#readers.size === 0) {
      this.#keepFrom = reader.held;
      // A closed log whose readers are gone may linger long: it keeps no empty set of its own.
      if (this.#closed) this.#readers = NO_READERS;
    }
    this.#evict();
    this.#wakeWriters();
  }

  #floor(): number {
    if (this.#readers.size === 0) return this.#delivered;
    let min = Infinity;
    for (const reader of this.#readers) min = Math.min(min, reader.offset);
    return min;
  }

  /** The oldest offset some reader (or the last one to leave) still needs. */
  #evictionFloor(): number {
    if (this.#readers.size === 0) return this.#keepFrom;
    let min = Infinity;
    for (const reader of this.#readers) min = Math.min(min, reader.held);
    return min;
  }

  #hasRoom(): boolean {
    return this.#end - Math.max(this.#floor(), this.#start) < this.#retention;
  }

  #evict(): void {
    const floor = this.#evictionFloor();
    while (this.#head < this.#chunks.length && this.#end - this.#start > this.#retention) {
      const first = this.#chunks[this.#head];
      const firstEnd = first.offset + first.data.length;
      if (firstEnd > floor) break;
      // The slot stays until the list is compacted: drop the bytes now, or up to 1,024 evicted
      // chunks (64 MiB of 64 KiB pipe reads) would stay in memory beyond `retention`.
      this.#chunks[this.#head++] = { stream: first.stream, offset: first.offset, data: EMPTY };
      this.#start = firstEnd;
      const state = poolable(first.data);
      if (state) {
        // Nobody holds its bytes: reuse the buffer; else once the last reader releases them.
        if (state.lent === 0) recycle(first.data.buffer, state);
        else state.evicted = true;
      }
    }
    if (this.#head > 1024 && this.#head * 2 > this.#chunks.length) {
      this.#chunks = this.#chunks.slice(this.#head);
      this.#head = 0;
    }
  }

  #wakeWriters(): void {
    const waiters = this.#roomWaiters;
    if (waiters === undefined || waiters.length === 0) return;
    if (!this.#hasRoom() && !this.#closed) return;
    this.#roomWaiters = undefined;
    for (const wake of waiters) wake();
  }

  #find(offset: number): number {
    let lo = this.#head, hi = this.#chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.#chunks[mid].offset <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

class MemoryReader implements OutputReader {
  #log: MemoryOutputLog;
  #offset: number;
  #skipped = 0;
  #hold: number | undefined;
  #waiter: (() => void) | undefined;
  #closed = false;

  constructor(log: MemoryOutputLog, offset: number) {
    this.#log = log;
    this.#offset = offset;
  }

  get held(): number {
    return this.#hold === undefined ? this.#offset : Math.min(this.#hold, this.#offset);
  }

  hold(offset: number): void {
    if (this.#closed) return;
    if (this.#hold === undefined) this.#hold = Math.min(offset, this.#offset);
    else this.#hold = Math.max(this.#hold, Math.min(offset, this.#offset));
    this.#log._advanced(this, this.#offset);
  }

  get offset(): number {
    return this.#offset;
  }

  get skipped(): number {
    return this.#skipped;
  }

  wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
  }

  readAvailable(maxBytes = Infinity): OutputChunk[] {
    if (this.#closed) return [];
    if (this.#offset < this.#log.start) {
      this.#skipped += this.#log.start - this.#offset;
      this.#offset = this.#log.start;
    }
    const chunks = this.#log._slice(this.#offset, maxBytes);
    if (chunks.length > 0) {
      const last = chunks[chunks.length - 1];
      this.#offset = last.offset + last.data.length;
      this.#log._advanced(this, this.#offset);
    }
    return chunks;
  }

  read(options: ReadOptions = {}): Promise<OutputChunk[] | null> {
    const now = this.#poll(options);
    return now === undefined ? this.#wait(options) : Promise.resolve(now);
  }

  /** What a read returns now, or `undefined` when it must wait for output. */
  #poll(options: ReadOptions): OutputChunk[] | null | undefined {
    if (this.#closed) return null;
    const chunks = this.readAvailable(options.maxBytes);
    if (chunks.length > 0) return chunks;
    if (this.#log.closed) return null;
    if (options.signal?.aborted) return [];
    return undefined;
  }

  /**
   * Waits for output, then reads. Not an async function: a reader waits as long as its process
   * is quiet, and a suspended async function keeps its whole frame; this keeps one promise and
   * one waiter. The read is made in a microtask after the wake-up, never inside it (the log
   * wakes readers in the middle of a write), and a waiter is called at most once.
   */
  #wait(options: ReadOptions): Promise<OutputChunk[] | null> {
    const { signal } = options;
    return new Promise((resolve) => {
      const wake = () => {
        if (this.#waiter === wake) this.#waiter = undefined;
        signal?.removeEventListener("abort", wake);
        queueMicrotask(() => {
          const now = this.#poll(options);
          resolve(now === undefined ? this.#wait(options) : now);
        });
      };
      signal?.addEventListener("abort", wake, { once: true });
      this.#waiter = wake;
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#log._remove(this);
    this.wake();
  }

  release(chunks: OutputChunk[]): void {
    for (const { data } of chunks) {
      const state = poolable(data);
      if (!state || state.lent <= 0) continue;
      state.lent -= 1;
      if (state.lent === 0 && state.evicted) {
        state.evicted = false;
        recycle(data.buffer, state);
      }
    }
  }
}
