/**
 * A MonoRail test client written from the spec: a plain WebSocket to `events/<channel>` without
 * a subprotocol, JSON messages with a `handler`, read strictly in order.
 *
 * @module
 */

import { TestSocket } from "./_helpers.ts";

/** A message the server sent. */
// deno-lint-ignore no-explicit-any
export type Message = Record<string, any>;

/** A MonoRail connection for tests. */
export class Rail {
  /** The recording socket. */
  readonly socket: TestSocket;
  #read = 0;

  /**
   * Connects to a channel.
   *
   * @param base The server's WebSocket base URL.
   * @param channel The channel path, e.g. `sessions`.
   * @param ticket A ticket (`POST /tickets`) to authenticate with.
   */
  constructor(base: URL, channel: string, ticket?: string) {
    const url = new URL(`events/${channel}`, base);
    if (ticket) url.searchParams.set("ticket", ticket);
    this.socket = new TestSocket(url, []);
  }

  /** Waits until open. */
  async open(): Promise<this> {
    await this.socket.opened;
    return this;
  }

  /**
   * Sends a message.
   *
   * @param message The message.
   */
  send(message: Message): void {
    this.socket.sendText(JSON.stringify(message));
  }

  /** Every message received so far. */
  get all(): Message[] {
    return this.socket.texts.map((t) => JSON.parse(t));
  }

  /** Messages not read yet. */
  get unread(): Message[] {
    return this.all.slice(this.#read);
  }

  /**
   * Returns the next unread message, waiting for it.
   *
   * @returns The message.
   */
  async next(): Promise<Message> {
    await this.socket.waitFor(() => this.socket.texts.length > this.#read);
    return JSON.parse(this.socket.texts[this.#read++]);
  }

  /**
   * Reads messages until one satisfies `predicate` and returns those read.
   *
   * @param predicate The last message's test.
   * @returns The messages read, the matching one last.
   */
  async until(predicate: (m: Message) => boolean): Promise<Message[]> {
    const out: Message[] = [];
    while (true) {
      const message = await this.next();
      out.push(message);
      if (predicate(message)) return out;
    }
  }

  /** Closes the socket and waits for the close. */
  async close(): Promise<void> {
    this.socket.ws.close();
    await this.socket.close();
  }
}
