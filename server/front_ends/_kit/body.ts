/**
 * Reading request bodies with bounds, for every REST route of every front end.
 *
 * Control bodies (JSON: a start, a signal, a resize, an upload) are read whole, but never more
 * than `limit` bytes: a body announced larger (`Content-Length`) is refused before a byte is
 * read, and one that grows past the limit while it streams in is cancelled at the first byte
 * too many. Nothing else holds a copy: the caller parses the returned text once and never
 * serializes it again.
 *
 * Input bodies (bytes for a process's stdin) are not collected at all: {@linkcode pipeBody}
 * hands each piece to the session as it arrives and reads the next only once the process has
 * taken enough of the earlier ones, so a 200 MB body costs a window of memory, not 200 MB, and
 * the session's `maxPendingInput` bounds it as it bounds WebSocket input.
 *
 * Both wait at most `timeout` milliseconds for each next piece of the body, so a client that
 * announces a body and never sends it (or stops half-way) is answered 408 instead of holding
 * the request open for ever. Time spent waiting for the process to take input does not count.
 *
 * @module
 */

/**
 * A request body was refused: too large (413), too slow (408), or cut off (400: the client went
 * away or sent a broken body; nobody may be there to read the answer).
 */
export class BodyError extends Error {
  /** The HTTP status to answer with. */
  readonly status: 400 | 408 | 413;

  /**
   * Creates a body error.
   *
   * @param status 413, 408 or 400.
   * @param message What went wrong.
   */
  constructor(status: 400 | 408 | 413, message: string) {
    super(message);
    this.name = "BodyError";
    this.status = status;
  }
}

/** Options for {@linkcode readBody}. */
export interface ReadBodyOptions {
  /** The most bytes accepted. */
  limit: number;
  /** Milliseconds to wait for each next piece of the body; 0: no limit. */
  timeout: number;
}

/** Waits for the next piece of a body, failing with 408 after `timeout` ms without one. */
async function next(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  timeout: number,
): Promise<ReadableStreamReadResult<Uint8Array>> {
  const read = reader.read().catch((error) => {
    throw new BodyError(400, `Cannot read the request body: ${(error as Error).message}`);
  });
  if (!(timeout > 0)) return await read;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      read,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new BodyError(
                408,
                `Cannot read the request body: no data for ${timeout} ms`,
              ),
            ),
          timeout,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function tooLarge(limit: number): BodyError {
  return new BodyError(413, `Cannot read the request body: it is larger than ${limit} bytes`);
}

/**
 * Reads a whole request body as UTF-8 text, refusing more than `limit` bytes.
 *
 * @example Refuse a body over the limit
 * ```ts
 * import { BodyError, readBody } from "./body.ts";
 * import assert from "node:assert/strict";
 *
 * const request = new Request("http://localhost/", { method: "POST", body: "x".repeat(20) });
 * await assert.rejects(
 *   readBody(request, { limit: 10, timeout: 0 }),
 *   (e) => e instanceof BodyError && e.status === 413,
 * );
 * ```
 *
 * @param request The request.
 * @param options The limit and the timeout.
 * @returns The body as text (invalid UTF-8 becomes U+FFFD).
 * @throws {BodyError} 413 when the body is larger than `limit`, 408 when it stalls, 400 when
 * it cannot be read (the connection broke).
 */
export async function readBody(request: Request, options: ReadBodyOptions): Promise<string> {
  const { limit, timeout } = options;
  const announced = Number(request.headers.get("content-length") ?? NaN);
  if (announced > limit) {
    await request.body?.cancel().catch(() => {});
    throw tooLarge(limit);
  }
  if (!request.body) return "";
  const reader = request.body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  try {
    while (true) {
      const { done, value } = await next(reader, timeout);
      if (done) break;
      size += value.byteLength;
      if (size > limit) throw tooLarge(limit);
      parts.push(value);
    }
  } catch (error) {
    await reader.cancel().catch(() => {});
    throw error;
  } finally {
    reader.releaseLock();
  }
  const decoder = new TextDecoder();
  let text = "";
  for (const part of parts) text += decoder.decode(part, { stream: true });
  return text + decoder.decode();
}

/** Options for {@linkcode pipeBody}. */
export interface PipeBodyOptions {
  /** Milliseconds to wait for each next piece of the body; 0: no limit. */
  timeout: number;
  /**
   * Body bytes handed to `write` but not yet taken (its promises not yet settled) before the
   * next piece is read; also the largest piece handed to `write`. @default {4 MiB}
   */
  window?: number;
}

/** The default window of {@linkcode pipeBody}. */
export const PIPE_WINDOW = 4 * 1024 * 1024;

/**
 * The window for streaming a body into a session's stdin: half its pending-input limit (what
 * {@linkcode pipeBody} keeps waiting then stays below the limit), at most {@linkcode PIPE_WINDOW}.
 *
 * @param maxPendingInput The session's `maxPendingInput`.
 * @returns The window in bytes (at least 1).
 */
export function stdinWindow(maxPendingInput: number): number {
  return Math.max(1, Math.min(PIPE_WINDOW, Math.floor(maxPendingInput / 2)));
}

/**
 * Streams a request body into `write` piece by piece, reading (and writing) the next piece only
 * while fewer than `window` bytes are still waiting to be taken, so fewer than `2 × window` are
 * ever waiting. Writes are started in order.
 *
 * @example Copy a body
 * ```ts
 * import { pipeBody } from "./body.ts";
 * import assert from "node:assert/strict";
 *
 * const got: number[] = [];
 * const request = new Request("http://localhost/", { method: "POST", body: "hello" });
 * const bytes = await pipeBody(request, async (data) => void got.push(...data), { timeout: 0 });
 * assert.equal(bytes, 5);
 * assert.equal(new TextDecoder().decode(new Uint8Array(got)), "hello");
 * ```
 *
 * @param request The request.
 * @param write Takes one piece; its promise settles when the piece was taken.
 * @param options The timeout and the window.
 * @returns The number of bytes written.
 * @throws {BodyError} 408 when the body stalls, 400 when it cannot be read; any error `write`
 * rejects with (the rest of the body is then cancelled).
 */
export async function pipeBody(
  request: Request,
  write: (data: Uint8Array) => Promise<void>,
  options: PipeBodyOptions,
): Promise<number> {
  if (!request.body) return 0;
  const window = options.window ?? PIPE_WINDOW;
  const reader = request.body.getReader();
  // Pieces read but not yet handed to `write`, and the one write in progress. Writing one piece
  // at a time, made of everything that arrived meanwhile (up to `window`), keeps the number of
  // writes small when the process is slower than the client: one write per chunk of the body
  // (often a few KiB) cost twenty times the time of the same bytes in large writes.
  const queue: Uint8Array[] = [];
  let queued = 0;
  let writing = 0;
  let total = 0;
  const state: { failure?: { error: unknown } } = {};
  // A function, so that the checks see what the writer sets meanwhile.
  const check = () => {
    if (state.failure) throw state.failure.error;
  };
  let wakeReader: (() => void) | undefined;
  let wakeWriter: (() => void) | undefined;
  // Stops a read that waits for the client once a write failed (the answer need not wait).
  let interruptRead: (() => void) | undefined;
  let ended = false;
  const wake = (which: "reader" | "writer") => {
    const w = which === "reader" ? wakeReader : wakeWriter;
    if (which === "reader") wakeReader = undefined;
    else wakeWriter = undefined;
    w?.();
  };
  const take = (): Uint8Array => {
    let size = 0;
    let count = 0;
    while (count < queue.length && size + queue[count].byteLength <= window) {
      size += queue[count++].byteLength;
    }
    if (count === 1) return queue.shift()!;
    const piece = new Uint8Array(size);
    let at = 0;
    for (const part of queue.splice(0, count)) {
      piece.set(part, at);
      at += part.byteLength;
    }
    return piece;
  };
  const writer = (async () => {
    while (!state.failure) {
      if (queue.length === 0) {
        if (ended) return;
        await new Promise<void>((resolve) => wakeWriter = resolve);
        continue;
      }
      const piece = take();
      queued -= piece.byteLength;
      writing = piece.byteLength;
      try {
        await write(piece);
      } catch (error) {
        state.failure ??= { error };
        interruptRead?.();
      }
      writing = 0;
      wake("reader");
    }
  })();
  try {
    while (true) {
      // Fewer than `window` bytes wait before a piece of at most `window` more is read: fewer
      // than twice the window wait at any time.
      while (queued + writing >= window && !state.failure) {
        await new Promise<void>((resolve) => wakeReader = resolve);
      }
      check();
      // A promise per read (a long-lived one in the race would keep every chunk reachable).
      const read = next(reader, options.timeout);
      const outcome = await Promise.race([
        read,
        new Promise<undefined>((resolve) => interruptRead = () => resolve(undefined)),
      ]);
      interruptRead = undefined;
      if (outcome === undefined) {
        read.catch(() => {}); // settles once the body is cancelled
        check();
        continue;
      }
      const { done, value } = outcome;
      if (done) break;
      total += value.byteLength;
      for (let at = 0; at < value.byteLength; at += window) {
        const piece = value.subarray(at, at + window);
        queue.push(piece);
        queued += piece.byteLength;
      }
      wake("writer");
    }
    ended = true;
    wake("writer");
    await writer;
    check();
    return total;
  } catch (error) {
    await reader.cancel().catch(() => {});
    ended = true;
    queue.length = 0;
    wake("writer");
    await writer;
    throw error;
  } finally {
    reader.releaseLock();
  }
}
