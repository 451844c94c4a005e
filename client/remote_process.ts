// Copyright the pow authors. MIT license.
/**
 * {@linkcode RemoteProcess}: the handle of a process running on a pow server.
 *
 * @module
 */

import type { AttachedMessage, ProcessResult, SignalName, StartedMessage } from "./protocol/mod.ts";
import type { ChannelCore, GapInfo } from "./_channel.ts";
import type { OutputChunk, OutputStream } from "./_output_queue.ts";

export type { GapInfo, OutputChunk, OutputStream };

/** Options of `PowClient.attach()`. */
export interface AttachOptions {
  /**
   * The output offset to read from (0: all retained output).
   *
   * @default {0}
   */
  offset?: number;
  /**
   * The output window in bytes: how much output the server may send ahead of what the
   * application has read. Credit is granted as `stdout`, `stderr` or the output iterator are
   * read.
   *
   * @default {1048576}
   */
  credit?: number;
  /** Cancels the process (`signal: cancel`) when aborted. */
  signal?: AbortSignal;
  /** Called when output bytes were lost (the server no longer had them); never silent. */
  onGap?: (gap: GapInfo) => void;
}

/** Options of `PowClient.start()`. */
export interface StartOptions extends Omit<AttachOptions, "offset"> {
  /**
   * Run the process in a pseudo terminal (stdout and stderr merge into stdout).
   *
   * @default {false}
   */
  pty?: boolean;
  /** Terminal columns, with `pty` (together with `rows`). */
  cols?: number;
  /** Terminal rows, with `pty` (together with `cols`). */
  rows?: number;
  /**
   * W3C `traceparent` of the caller's span: the server's process span joins the trace, and the
   * process gets it as `TRACEPARENT`. By default, the context of the OpenTelemetry span active
   * where `start()` is called (from `@opentelemetry/api` or Deno's built-in OpenTelemetry, found
   * through the OpenTelemetry global, with no dependency); `""` sends none.
   *
   * @default {the active span's context, if any}
   */
  traceparent?: string;
  /** W3C `tracestate`, with `traceparent`. */
  tracestate?: string;
  /**
   * `"null"` closes the process's stdin right away (like `Deno.Command`'s option).
   *
   * @default {"piped"}
   */
  stdin?: "piped" | "null";
}

/** Where a remote process runs: answered by the server once it started or was attached. */
export interface ProcessStarted {
  /** The server session id (for `attach` from another connection). */
  session: string;
  /** The operating system process id, where there is one. */
  pid?: number;
  /** Whether it runs in a pseudo terminal. */
  pty: boolean;
}

/** What `RemoteProcess.output()` collects. */
export interface ProcessOutput {
  /** Everything written to stdout. */
  stdout: Uint8Array<ArrayBuffer>;
  /** Everything written to stderr. */
  stderr: Uint8Array<ArrayBuffer>;
  /** How the process ended. */
  result: ProcessResult;
}

let construct: (channel: ChannelCore, options: StartOptions) => RemoteProcess;

/**
 * A process running on a pow server, returned by `PowClient.start()` and
 * `PowClient.attach()`.
 *
 * Output is read through **one** of: the `stdout` and `stderr` streams, or the merged async
 * iterator (chunks in the order they were written). The server sends only as much output as
 * the application has read plus the credit window, so an unread stream eventually pauses
 * the process: cancel a stream you do not want (`proc.stderr.cancel()`). A chunk is a view of
 * the message it came in (no copy): mind its `byteOffset` when you use its `buffer`.
 *
 * `result` resolves with the process's result, fulfilled or rejected (with `exitCode` or
 * `signal`); it rejects only when the client cannot tell: a `RemoteError` (start refused), a
 * `SessionLostError` or a `ConnectionError`, or the abort reason when aborted before the start
 * was sent.
 *
 * @example Merged output in order (see `PowClient` for a runnable setup with a fake server)
 * ```ts ignore
 * const proc = client.start("greet", ["world"]);
 * for await (const { stream, data } of proc) {
 *   console.log(stream, new TextDecoder().decode(data));
 * }
 * const { status, exitCode } = await proc.result;
 * ```
 */
export class RemoteProcess implements AsyncIterable<OutputChunk> {
  static {
    construct = (channel, options) => new RemoteProcess(channel, options);
  }
  #channel: ChannelCore;
  #stdin: WritableStream<Uint8Array>;
  #stdout: ReadableStream<Uint8Array<ArrayBuffer>>;
  #stderr: ReadableStream<Uint8Array<ArrayBuffer>>;

  private constructor(channel: ChannelCore, options: StartOptions) {
    this.#channel = channel;
    channel.onGap = options.onGap;
    this.#stdin = new WritableStream<Uint8Array>({
      write: (chunk) => channel.write(chunk),
      close: () => channel.closeInput(),
      abort: () => channel.closeInput().catch(() => {}),
    });
    this.#stdout = outputStream(channel, "stdout");
    this.#stderr = outputStream(channel, "stderr");
    if (options.stdin === "null") channel.closeInput().catch(() => {});
    const signal = options.signal;
    if (signal !== undefined) {
      const onAbort = () => {
        if (channel.phase === "pending") channel.fail(signal.reason);
        else channel.signal("cancel").catch(() => {});
      };
      signal.addEventListener("abort", onAbort, { once: true });
      channel.result.promise.finally(() => signal.removeEventListener("abort", onAbort))
        .catch(() => {});
    }
  }

  /** The session id, once known. */
  get session(): string | undefined {
    return this.#channel.session;
  }

  /** The process definition's name, once known (at once for `start`). */
  get name(): string | undefined {
    return this.#channel.name;
  }

  /** The operating system process id, once known and where there is one. */
  get pid(): number | undefined {
    return this.#channel.pid;
  }

  /** How many output bytes were lost so far (see `onGap`); 0 unless the server dropped some. */
  get skipped(): number {
    return this.#channel.skipped;
  }

  /** The output offset after the last byte received. */
  get offset(): number {
    return this.#channel.next;
  }

  /**
   * Resolves when the server started (or attached) the process; rejects like `result` when it
   * could not.
   */
  get started(): Promise<ProcessStarted> {
    return this.#channel.started.promise.then((m: StartedMessage | AttachedMessage) => {
      const info: ProcessStarted = { session: m.session, pty: m.pty };
      if (m.pid !== undefined) info.pid = m.pid;
      return info;
    });
  }

  /** How the process ended (see the class documentation for when it rejects). */
  get result(): Promise<ProcessResult> {
    return this.#channel.result.promise;
  }

  /** The process's stdin; closing it closes the process's input (the process reads EOF). */
  get stdin(): WritableStream<Uint8Array> {
    return this.#stdin;
  }

  /** The process's stdout. Errors only when output was lost with the session. */
  get stdout(): ReadableStream<Uint8Array<ArrayBuffer>> {
    return this.#stdout;
  }

  /** The process's stderr (empty for pty sessions). */
  get stderr(): ReadableStream<Uint8Array<ArrayBuffer>> {
    return this.#stderr;
  }

  /**
   * Writes to stdin (text is UTF-8 encoded), waiting for the server's stdin credit.
   *
   * @param data Text or bytes.
   * @returns Resolves once the data was sent.
   */
  write(data: string | Uint8Array): Promise<void> {
    return this.#channel.write(typeof data === "string" ? new TextEncoder().encode(data) : data);
  }

  /**
   * Closes the process's stdin after everything written so far (half-close: output goes on).
   *
   * @returns Resolves once the server confirmed.
   */
  closeInput(): Promise<void> {
    return this.#channel.closeInput();
  }

  /**
   * Sends a signal: `cancel` (the orderly way: SIGTERM, then SIGKILL), `interrupt`,
   * `terminate`, `kill` or `hangup`.
   *
   * @param signal The signal's name.
   * @returns Resolves once the server applied it.
   */
  signal(signal: SignalName): Promise<void> {
    return this.#channel.signal(signal);
  }

  /**
   * Cancels the process (`signal("cancel")`); `result` then resolves rejected with
   * `kind: "cancelled"`.
   *
   * @returns Resolves once the server applied it.
   */
  cancel(): Promise<void> {
    return this.#channel.signal("cancel");
  }

  /**
   * Resizes the terminal of a pty session (remembered and applied again after a reconnect).
   *
   * @param cols Columns, 1-65535.
   * @param rows Rows, 1-65535.
   * @returns Resolves once the server applied it.
   */
  resize(cols: number, rows: number): Promise<void> {
    return this.#channel.resize(cols, rows);
  }

  /**
   * Reads all output and waits for the result (close stdin first if the process reads it).
   *
   * @returns stdout, stderr and the result.
   */
  async output(): Promise<ProcessOutput> {
    const out: Uint8Array[] = [];
    const err: Uint8Array[] = [];
    for await (const chunk of this) (chunk.stream === "stdout" ? out : err).push(chunk.data);
    return { stdout: concat(out), stderr: concat(err), result: await this.result };
  }

  /**
   * Output chunks in the order the process wrote them, until it ended.
   *
   * @returns The iterator.
   */
  async *[Symbol.asyncIterator](): AsyncIterator<OutputChunk> {
    while (true) {
      const chunk = await this.#channel.take();
      if (chunk === null) return;
      yield chunk;
    }
  }
}

/**
 * Makes the handle of a channel (internal: used by `PowClient`).
 *
 * @param channel The channel.
 * @param options Abort signal, gap callback, stdin mode.
 * @returns The handle.
 */
export function newRemoteProcess(channel: ChannelCore, options: StartOptions): RemoteProcess {
  return construct(channel, options);
}

function outputStream(
  channel: ChannelCore,
  stream: OutputStream,
): ReadableStream<Uint8Array<ArrayBuffer>> {
  return new ReadableStream<Uint8Array<ArrayBuffer>>({
    async pull(controller) {
      const chunk = await channel.take(stream);
      if (chunk === null) controller.close();
      else controller.enqueue(chunk.data as Uint8Array<ArrayBuffer>);
    },
    cancel() {
      channel.queue.discard(stream);
    },
  }, { highWaterMark: 0 });
}

function concat(chunks: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}
