/**
 * The output pump of a WebSocket front end: reads a session's output as fast as the socket
 * drains, and lets small writes collect into larger frames while the client is behind.
 *
 * @module
 */

import type { OutputChunk, OutputReader } from "../../output_log.ts";
import type { SessionHandle } from "../../session.ts";
import { drained, SOCKET_HIGH_WATER } from "./drain.ts";

/** Options for {@linkcode pumpOutput}. */
export interface PumpOutputOptions {
  /** The most bytes read (and sent) at once. */
  maxBytes: number;
  /** Bytes queued on the socket above which the pump waits. @default {SOCKET_HIGH_WATER} */
  highWater?: number;
  /**
   * Bytes queued above which the client counts as behind: then, with less than `maxBytes` of
   * output waiting, the pump lets output collect until the queue falls to this mark, so that
   * many small writes go out as one frame. Not after a read that filled `maxBytes`: output that
   * comes in large writes would only be delayed. @default {no coalescing wait}
   */
  backedUp?: number;
  /** Whether to go on; checked after every wait. @default {always} */
  live?: () => boolean;
}

/**
 * Sends what was read. `backlog` is true when the socket still had bytes queued before the
 * read: the client is behind, so the chunks are best sent as one frame.
 */
export type PumpSend = (chunks: OutputChunk[], backlog: boolean) => void;

/**
 * Pumps a session's output from `reader` to `send`, waiting for `socket` to drain in between.
 *
 * @example
 * ```ts ignore
 * const ended = await pumpOutput(socket, session, session.reader(), (chunks) => {
 *   for (const chunk of chunks) socket.send(chunk.data);
 * }, { maxBytes: 64 * 1024 });
 * ```
 *
 * @param socket The WebSocket the output goes to (for its send queue).
 * @param session The session.
 * @param reader A reader on the session's output.
 * @param send Sends chunks.
 * @param options Sizes and when to stop.
 * @returns `true` once all output was sent, `false` when `live()` said to stop.
 */
export async function pumpOutput(
  socket: WebSocket,
  session: SessionHandle,
  reader: OutputReader,
  send: PumpSend,
  options: PumpOutputOptions,
): Promise<boolean> {
  const { maxBytes, highWater = SOCKET_HIGH_WATER, backedUp, live = () => true } = options;
  // Whether the last read filled a frame: output comes in large writes, so waiting for more
  // to collect would only delay it.
  let full = false;
  while (true) {
    await drained(socket, highWater);
    if (!live()) return false;
    if (
      !full && backedUp !== undefined && socket.bufferedAmount > backedUp &&
      !session.log.closed && session.log.end - reader.offset < maxBytes
    ) {
      // Backed up with less than a frame waiting: let output collect while the queue drains.
      await drained(socket, backedUp);
      if (!live()) return false;
    }
    const backlog = socket.bufferedAmount > 0;
    const chunks = await reader.read({ maxBytes });
    if (chunks === null) return true;
    if (!live()) return false;
    let bytes = 0;
    for (const chunk of chunks) bytes += chunk.data.length;
    // Half a frame or more: the output comes in large writes. (Output that arrived while the
    // read resolved says nothing: a writer in a loop of small writes appends one more each
    // time, and it is those writes that are best left to collect when the client is behind.)
    full = bytes * 2 >= maxBytes;
    send(chunks, backlog);
  }
}
