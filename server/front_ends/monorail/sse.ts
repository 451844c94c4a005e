/**
 * Server-sent events for the MonoRail channels: `GET <prefix>/<channel>?params=<JSON>` with
 * `Accept: text/event-stream` is a `watch` whose messages come as events (`event:` the handler,
 * `data:` the message, `id:` its `seq`, or the `next` offset on `logs`). A reconnect with
 * `Last-Event-ID` resumes after that event. This adapter looks like a socket to
 * {@linkcode Connection}, so the watch is the same code as on the WebSocket.
 *
 * @module
 */

import type { RailSocket } from "../_kit/watch.ts";

/** Milliseconds between keep-alive comments on an idle stream. */
const KEEP_ALIVE = 15_000;

const encoder = new TextEncoder();

/** A socket whose messages are written to a server-sent event stream. */
export class SseSocket extends EventTarget implements RailSocket {
  /** The event stream, for the response body. */
  readonly body: ReadableStream<Uint8Array>;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #state = 1;
  #timer: ReturnType<typeof setInterval>;

  constructor() {
    super();
    this.body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
      cancel: () => this.close(),
    }, new ByteLengthQueuingStrategy({ highWaterMark: 0 }));
    this.#timer = setInterval(() => this.#write(": keep-alive\n\n"), KEEP_ALIVE);
    Deno.unrefTimer(this.#timer);
  }

  /** 1 while the client reads, 3 once it went away. */
  get readyState(): number {
    return this.#state;
  }

  /** Bytes written that the client has not read yet. */
  get bufferedAmount(): number {
    return this.#state === 1 ? Math.max(0, -(this.#controller.desiredSize ?? 0)) : 0;
  }

  /**
   * Writes one message as an event.
   *
   * @param text The message's JSON.
   */
  send(text: string): void {
    const message = JSON.parse(text);
    // Bus channels: the event's seq; logs: the offset after the last byte sent.
    const id = message.seq ??
      (message.handler === "item"
        ? message.data?.next
        : message.handler === "list"
        ? message.items?.at(-1)?.next
        : undefined);
    this.#write(
      `event: ${message.handler}\n${id === undefined ? "" : `id: ${id}\n`}data: ${text}\n\n`,
    );
  }

  /** Ends the stream. */
  close(): void {
    if (this.#state !== 1) return;
    this.#state = 3;
    clearInterval(this.#timer);
    try {
      this.#controller.close();
    } catch {
      // Already cancelled by the client.
    }
    this.dispatchEvent(new Event("close"));
  }

  #write(text: string): void {
    if (this.#state !== 1) return;
    try {
      this.#controller.enqueue(encoder.encode(text));
    } catch {
      this.close();
    }
  }
}
