// Copyright the pow authors. MIT license.
/**
 * Providing processes: the client side of `provide` (see docs/protocol.md and docs/client.md).
 * A {@linkcode PowClient} offers a process with {@linkcode PowClient.provide}; every start of
 * it, from any front end of the server, is a {@linkcode ProvidedCall} handed to the handler.
 *
 * @module
 */

import {
  DATA_FRAME_HEADER_SIZE,
  DEFAULT_CREDIT,
  encodeDataFrame,
  type ParamInfo,
  type ProcessResult,
  type ServeMessage,
  type ServerMessage,
} from "./protocol/mod.ts";
import type { ClientMessage } from "./protocol/mod.ts";

/** One call of a provided process, as the handler sees it. */
export interface ProvidedCall {
  /** The provided process's name. */
  readonly name: string;
  /** The caller's params, already validated by the server against the declared params. */
  readonly params: readonly string[];
  /** The caller's session id. */
  readonly session: string;
  /** The caller's identity. */
  readonly caller: string;
  /** The caller's stdin; ends when the caller closes it. */
  readonly stdin: ReadableStream<Uint8Array>;
  /** Goes to the session's output log as stdout. */
  readonly stdout: WritableStream<Uint8Array>;
  /** Goes to the session's output log as stderr. */
  readonly stderr: WritableStream<Uint8Array>;
  /** Aborts when the caller cancels or signals the session, or the connection is lost. */
  readonly signal: AbortSignal;
}

/**
 * Serves one call. What it returns (JSON) is the session's result value; what it throws
 * rejects the session with the error's message.
 */
export type ProvideHandler = (call: ProvidedCall) => unknown;

/** Options of {@linkcode PowClient.provide}. */
export interface ProvideOptions {
  /** What the process does, shown in listings. */
  description?: string;
  /** The params it takes; the server refuses calls that do not match. @default {[]} */
  params?: ParamInfo[];
}

/** What the provider machinery needs from the client. */
export interface ProviderHost {
  send(message: ClientMessage): boolean;
  sendBinary(bytes: Uint8Array<ArrayBuffer>): boolean;
  readonly maxMessageSize: number;
}

interface Served {
  readonly id: number;
  readonly abort: AbortController;
  /** Output bytes sent (the next frame's offset). */
  sent: number;
  /** Output bytes the server still takes. */
  credit: number;
  wake: (() => void) | undefined;
  /** Every output write, in order. */
  chain: Promise<void>;
  /** Stdin bytes received. */
  received: number;
  /** Stdin chunks not yet read by the handler. */
  queue: Uint8Array[];
  eof: boolean;
  /** Wakes a waiting stdin read. */
  ready: (() => void) | undefined;
  /** Stdin bytes read but not yet granted again. */
  toGrant: number;
  gone: boolean;
}

/** The provided processes of one client and the calls it is serving. Private to the client. */
export class Provider {
  #host: ProviderHost;
  #handlers = new Map<string, ProvideHandler>();
  #calls = new Map<number, Served>();

  constructor(host: ProviderHost) {
    this.#host = host;
  }

  /** Registers a handler (after the server accepted `provide`). */
  add(name: string, handler: ProvideHandler): void {
    this.#handlers.set(name, handler);
  }

  /** Whether a channel id is a call being served. */
  has(id: number): boolean {
    return this.#calls.has(id);
  }

  /** Handles `serve`, `eof`, `cancel` and `credit` for served ids; returns whether it did. */
  message(message: ServerMessage): boolean {
    switch (message.type) {
      case "serve":
        this.#serve(message);
        return true;
      case "eof": {
        const call = this.#calls.get(message.id);
        if (call) {
          call.eof = true;
          call.ready?.();
        }
        return true;
      }
      case "cancel":
        this.#calls.get(message.id)?.abort.abort(
          new DOMException(message.reason, "AbortError"),
        );
        return true;
      case "credit": {
        const call = this.#calls.get(message.id);
        if (!call) return false;
        call.credit += message.bytes;
        call.wake?.();
        return true;
      }
    }
    return false;
  }

  /** Handles a stdin frame of a served call. */
  stdin(id: number, offset: number, data: Uint8Array): void {
    const call = this.#calls.get(id);
    if (!call || call.eof) return;
    const seen = Math.min(data.byteLength, Math.max(0, call.received - offset));
    if (offset > call.received) return;
    const fresh = data.subarray(seen);
    if (seen > 0) this.#grant(call, seen);
    if (fresh.byteLength === 0) return;
    call.received += fresh.byteLength;
    call.queue.push(fresh.slice());
    call.ready?.();
  }

  /** The connection was lost: every call is over (the server rejected them). */
  disconnected(reason: string): void {
    for (const call of this.#calls.values()) {
      call.gone = true;
      call.abort.abort(new DOMException(reason, "AbortError"));
      call.wake?.();
      call.ready?.();
    }
    this.#calls.clear();
  }

  /** The names to provide again after a reconnect. */
  get names(): string[] {
    return [...this.#handlers.keys()];
  }

  #serve(message: ServeMessage): void {
    const handler = this.#handlers.get(message.name);
    const call: Served = {
      id: message.id,
      abort: new AbortController(),
      sent: 0,
      credit: message.credit,
      wake: undefined,
      chain: Promise.resolve(),
      received: 0,
      queue: [],
      eof: false,
      ready: undefined,
      toGrant: 0,
      gone: false,
    };
    this.#calls.set(call.id, call);
    if (!handler) {
      return this.#finish(call, {
        status: "rejected",
        reason: `Process "${message.name}" is not provided by this client`,
      });
    }
    const stdin = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        while (call.queue.length === 0 && !call.eof && !call.gone) {
          await new Promise<void>((resolve) => call.ready = resolve);
          call.ready = undefined;
        }
        const chunk = call.queue.shift();
        if (chunk) {
          controller.enqueue(chunk);
          this.#grant(call, chunk.byteLength);
        } else controller.close();
      },
    }, { highWaterMark: 0 });
    const output = (kind: "stdout" | "stderr") =>
      new WritableStream<Uint8Array>({
        write: (chunk) => call.chain = call.chain.then(() => this.#write(call, kind, chunk)),
      });
    const provided: ProvidedCall = {
      name: message.name,
      params: message.params,
      session: message.session,
      caller: message.caller,
      stdin,
      stdout: output("stdout"),
      stderr: output("stderr"),
      signal: call.abort.signal,
    };
    void (async () => {
      let result: ProcessResult;
      try {
        const value = await handler(provided);
        result = { status: "fulfilled", value: value ?? null };
      } catch (error) {
        result = {
          status: "rejected",
          reason: error instanceof Error ? error.message : String(error),
        };
      }
      await call.chain.catch(() => {});
      this.#finish(call, result);
    })();
  }

  async #write(call: Served, kind: "stdout" | "stderr", chunk: Uint8Array): Promise<void> {
    const maxFrame = this.#host.maxMessageSize - DATA_FRAME_HEADER_SIZE;
    let data = chunk;
    while (data.byteLength > 0) {
      while (call.credit <= 0 && !call.gone) {
        await new Promise<void>((resolve) => call.wake = resolve);
        call.wake = undefined;
      }
      if (call.gone) throw new DOMException("The call is over", "AbortError");
      const size = Math.min(data.byteLength, call.credit, maxFrame);
      const bytes = encodeDataFrame({
        kind,
        id: call.id,
        offset: call.sent,
        data: data.subarray(0, size),
      });
      call.credit -= size;
      call.sent += size;
      data = data.subarray(size);
      this.#host.sendBinary(bytes);
    }
  }

  #grant(call: Served, bytes: number): void {
    call.toGrant += bytes;
    if (call.gone || call.toGrant === 0) return;
    if (call.toGrant >= DEFAULT_CREDIT / 4 || call.queue.length === 0) {
      const granted = call.toGrant;
      call.toGrant = 0;
      this.#host.send({ type: "credit", id: call.id, bytes: granted });
    }
  }

  #finish(call: Served, result: ProcessResult): void {
    if (call.gone) return;
    call.gone = true;
    this.#calls.delete(call.id);
    call.wake?.();
    call.ready?.();
    this.#host.send({ type: "exit", id: call.id, result });
  }
}
