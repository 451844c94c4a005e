/**
 * Server-sent events, written in one place: the event format and a response whose body is
 * pulled only as fast as the client reads it (a client that stops reading holds its source
 * back instead of growing a buffer). Hono's `streamSSE` pushes into a stream instead, which
 * would lose that backpressure, so this small writer is kept.
 *
 * @module
 */

/**
 * Formats one event; the fields are written in the order given, `data` split at line breaks.
 *
 * @example
 * ```ts
 * import { sseEvent } from "./sse.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(sseEvent({ event: "exit", id: "7", data: "{}" }), "event: exit\nid: 7\ndata: {}\n\n");
 * ```
 *
 * @param fields The event's fields (`event`, `id`, `data`, `retry`).
 * @returns The event's text.
 */
export function sseEvent(
  fields: { event?: string; id?: string; data?: string; retry?: number },
): string {
  let text = "";
  for (const [name, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    if (name === "data") {
      for (const line of String(value).split(/\r\n|\r|\n/)) text += `data: ${line}\n`;
    } else text += `${name}: ${value}\n`;
  }
  return `${text}\n`;
}

/**
 * Formats a comment line (keep-alive, or a first line that shows the stream is open).
 *
 * @param text The comment.
 * @returns The comment's text.
 */
export function sseComment(text: string): string {
  return `: ${text}\n\n`;
}

/** Where a {@linkcode sseResponse} gets its events. */
export interface SseSource {
  /** Text sent as soon as the stream opens. */
  start?: string;
  /**
   * The next events (called only when the client has read what was sent): their text, and
   * `done` when these are the last.
   */
  pull(): Promise<{ text: string; done?: boolean }>;
  /** The client went away. */
  cancel(): void;
}

const encoder = new TextEncoder();

/**
 * A `text/event-stream` response pulled from `source`.
 *
 * @example
 * ```ts
 * import { sseEvent, sseResponse } from "./sse.ts";
 * import assert from "node:assert/strict";
 *
 * const response = sseResponse({
 *   pull: () => Promise.resolve({ text: sseEvent({ event: "hi", data: "1" }), done: true }),
 *   cancel() {},
 * });
 * assert.equal(await response.text(), "event: hi\ndata: 1\n\n");
 * ```
 *
 * @param source The events.
 * @returns The response.
 */
export function sseResponse(source: SseSource): Response {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      if (source.start) controller.enqueue(encoder.encode(source.start));
    },
    async pull(controller) {
      const { text, done } = await source.pull();
      if (text) controller.enqueue(encoder.encode(text));
      if (done) controller.close();
    },
    cancel() {
      source.cancel();
    },
  }, { highWaterMark: 0 });
  return new Response(body, {
    headers: {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      "x-accel-buffering": "no",
    },
  });
}
