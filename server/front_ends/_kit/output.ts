/**
 * Output chunks as front ends send them: merged into fewer, larger pieces, decoded as text per
 * stream without splitting a character.
 *
 * @module
 */

import { headroom, type OutputChunk, type OutputStream } from "../../output_log.ts";

/**
 * Joins byte arrays into one (the array itself when there is one).
 *
 * @example
 * ```ts
 * import { concat } from "./output.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(concat([new Uint8Array([1]), new Uint8Array([2, 3])]), new Uint8Array([1, 2, 3]));
 * ```
 *
 * @param parts The arrays.
 * @returns Their bytes in order.
 */
export function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Options for {@linkcode runs}. */
export interface RunsOptions {
  /**
   * Bytes a frame header needs in front of a chunk. With it, a chunk of at least
   * {@linkcode RunsOptions.alone} bytes that has that much headroom (see `headroom` in
   * `output_log.ts`) is a run of its own, to be sent in place: one more frame costs less than
   * copying it into a larger one. @default {never alone}
   */
  header?: number;
  /** The smallest chunk that goes alone. @default {8192} */
  alone?: number;
}

/**
 * Groups adjacent chunks of one stream into runs (of at most `max` bytes each, unless a single
 * chunk is larger), keeping their order and without copying: a front end can then send each run
 * as one frame, built with a single copy (or none, for a run of one chunk).
 *
 * @example
 * ```ts
 * import { runs } from "./output.ts";
 * import { OUTPUT_HEADROOM, withHeadroom } from "../../output_log.ts";
 * import assert from "node:assert/strict";
 *
 * const a = { stream: "stdout" as const, offset: 0, data: new Uint8Array([1]) };
 * const b = { stream: "stdout" as const, offset: 1, data: new Uint8Array([2]) };
 * const c = { stream: "stderr" as const, offset: 2, data: new Uint8Array([3]) };
 * assert.deepEqual(runs([a, b, c]), [[a, b], [c]]);
 *
 * // A large chunk with room for a header goes alone; small ones still collect.
 * const big = new Uint8Array(new ArrayBuffer(OUTPUT_HEADROOM + 8192), OUTPUT_HEADROOM);
 * const d = { stream: "stdout" as const, offset: 2, data: withHeadroom(big) };
 * const e = { stream: "stdout" as const, offset: 8194, data: new Uint8Array(9000) };
 * assert.deepEqual(runs([a, b, d, e], Infinity, { header: 13 }), [[a, b], [d], [e]]);
 * ```
 *
 * @param chunks Chunks in log order.
 * @param max The most bytes in a run. @default {Infinity}
 * @param options When a chunk goes alone.
 * @returns The runs.
 */
export function runs(
  chunks: OutputChunk[],
  max: number = Infinity,
  options: RunsOptions = {},
): OutputChunk[][] {
  const { header, alone: aloneMin = 8192 } = options;
  const out: OutputChunk[][] = [];
  let run: OutputChunk[] = [];
  let size = 0;
  for (const chunk of chunks) {
    const first = run[0];
    const alone = header !== undefined && chunk.data.length >= aloneMin &&
      headroom(chunk.data) >= header;
    const contiguous = !alone && first !== undefined && first.stream === chunk.stream &&
      first.offset + size === chunk.offset && size + chunk.data.length <= max;
    if (!contiguous && run.length > 0) {
      out.push(run);
      run = [];
      size = 0;
    }
    run.push(chunk);
    size += chunk.data.length;
    if (alone) {
      out.push(run);
      run = [];
      size = 0;
    }
  }
  if (run.length > 0) out.push(run);
  return out;
}

/**
 * Merges adjacent chunks of one stream (up to `max` bytes each), keeping their order.
 *
 * @example
 * ```ts
 * import { coalesce } from "./output.ts";
 * import assert from "node:assert/strict";
 *
 * const a = { stream: "stdout" as const, offset: 0, data: new Uint8Array([1]) };
 * const b = { stream: "stdout" as const, offset: 1, data: new Uint8Array([2]) };
 * assert.deepEqual(coalesce([a, b]), [{ stream: "stdout", offset: 0, data: new Uint8Array([1, 2]) }]);
 * ```
 *
 * @param chunks Chunks in log order.
 * @param max The largest merged chunk, in bytes. @default {Infinity}
 * @returns The merged chunks.
 */
export function coalesce(chunks: OutputChunk[], max: number = Infinity): OutputChunk[] {
  // A quick call's output is often one chunk: nothing to merge.
  if (chunks.length === 1 && chunks[0].data.length <= max) return chunks;
  return runs(chunks, max).map((run) => {
    const first = run[0];
    if (run.length === 1) return first;
    return { stream: first.stream, offset: first.offset, data: concat(run.map((c) => c.data)) };
  });
}

/**
 * How many bytes at the end of `bytes` are the start of a UTF-8 character that is not complete
 * yet (0 to 3).
 *
 * @example
 * ```ts
 * import { incompleteTail } from "./output.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(incompleteTail(new Uint8Array([0x61, 0xe2, 0x82])), 2);
 * ```
 *
 * @param bytes The bytes.
 * @returns The length of the incomplete character at the end.
 */
export function incompleteTail(bytes: Uint8Array): number {
  for (let back = 1; back <= Math.min(3, bytes.length); back++) {
    const byte = bytes[bytes.length - back];
    if ((byte & 0xc0) === 0x80) continue; // a continuation byte: look further back
    // Only 0xC2 to 0xF4 start a character of several bytes; anything else is no start.
    const needed = byte > 0xf4 ? 0 : byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc2 ? 2 : 0;
    return needed > back ? back : 0;
  }
  return 0;
}

/**
 * A text decoder per output stream, made when the stream first has output (stderr often has
 * none): a character split between two chunks of a stream is decoded whole; invalid UTF-8
 * becomes U+FFFD.
 *
 * @example
 * ```ts
 * import { StreamDecoders } from "./output.ts";
 * import assert from "node:assert/strict";
 *
 * const decoders = new StreamDecoders();
 * assert.equal(decoders.decode("stdout", new Uint8Array([0x68, 0xc3])), "h");
 * assert.equal(decoders.decode("stdout", new Uint8Array([0xa9])), "é");
 * assert.equal(decoders.end("stdout"), "");
 * ```
 */
export class StreamDecoders {
  #decoders: { stdout?: TextDecoder; stderr?: TextDecoder } = {};

  /**
   * Decodes the next bytes of a stream.
   *
   * @param stream The stream.
   * @param data Its next bytes.
   * @returns The text of the complete characters.
   */
  decode(stream: OutputStream, data: Uint8Array): string {
    return (this.#decoders[stream] ??= new TextDecoder()).decode(data, { stream: true });
  }

  /**
   * Ends a stream: an incomplete character at its very end becomes U+FFFD.
   *
   * @param stream The stream.
   * @returns What was held back.
   */
  end(stream: OutputStream): string {
    return this.#decoders[stream]?.decode() ?? "";
  }
}
