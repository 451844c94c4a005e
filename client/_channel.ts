// Copyright the pow authors. MIT license.
/**
 * The client side of one pow.v2 channel: what a {@linkcode RemoteProcess} shows, and what the
 * client needs to reattach it after a reconnect (output offset, output window, stdin offset and
 * unacknowledged stdin). Internal.
 *
 * @module
 */

import { deferred } from "./_deferred.ts";
import {
  type AttachedMessage,
  type ClientMessage,
  DATA_FRAME_HEADER_SIZE,
  DEFAULT_CREDIT,
  encodeDataFrame,
  type ErrorMessage,
  type ExitMessage,
  type ProcessResult,
  type ServerMessage,
  type SignalName,
  type StartedMessage,
} from "./protocol/mod.ts";
import { ConnectionError, RemoteError, SessionLostError } from "./errors.ts";
import { type OutputChunk, OutputQueue, type OutputStream } from "./_output_queue.ts";

/** What a channel needs from its client. */
export interface ChannelHost {
  /** Sends a control message; `false` when not connected. */
  send(message: ClientMessage): boolean;
  /** Sends a binary frame; `false` when not connected. */
  sendBinary(bytes: Uint8Array<ArrayBuffer>): boolean;
  /** Sends a message with a fresh `ref` and resolves with the answer. */
  request(message: ClientMessage, channel?: ChannelCore): Promise<ServerMessage>;
  /** The server's largest message. */
  readonly maxMessageSize: number;
  /** The server's initial stdin credit. */
  readonly stdinCredit: number;
  /** The channel is done: free its id. */
  release(channel: ChannelCore): void;
}

/** A gap in the output (bytes lost to the server's retention). */
export interface GapInfo {
  /** The offset where output resumes. */
  offset: number;
  /** How many bytes were lost before it. */
  skipped: number;
}

/** How the channel was opened. */
export type ChannelOrigin =
  | {
    kind: "start";
    name: string;
    params: string[];
    pty?: boolean;
    cols?: number;
    rows?: number;
    traceparent?: string;
    tracestate?: string;
  }
  | { kind: "attach"; session: string; offset: number };

/** Where the channel is. */
type Phase = "pending" | "requested" | "bound" | "waiting" | "ended";

interface StdinPiece {
  offset: number;
  data: Uint8Array;
}

/** The channel (internal). */
export class ChannelCore {
  readonly host: ChannelHost;
  readonly origin: ChannelOrigin;
  id: number;
  phase: Phase = "pending";
  session: string | undefined;
  name: string | undefined;
  pid: number | undefined;
  pty = false;
  skipped = 0;
  readonly queue: OutputQueue;
  readonly started = deferred<StartedMessage | AttachedMessage>();
  readonly result = deferred<ProcessResult>();
  onGap: ((gap: GapInfo) => void) | undefined;
  #window: number;
  #next = 0;
  #consumedSinceGrant = 0;
  // stdin
  #stdinNext = 0;
  #stdinCredit = 0;
  #stdinBase = 0;
  #stdinGranted = 0;
  #stdinMargin = 0;
  #retained: StdinPiece[] = [];
  #stdinWaiters: (() => void)[] = [];
  #stdinChain: Promise<void> = Promise.resolve();
  #stdinError: Error | undefined;
  #eofRequested = false;
  #eofConfirmed = false;
  #size: { cols: number; rows: number } | undefined;
  #wantCancel = false;
  #reattaching = false;

  constructor(host: ChannelHost, id: number, origin: ChannelOrigin, credit = DEFAULT_CREDIT) {
    if (!Number.isSafeInteger(credit) || credit < 1) {
      throw new RangeError(`Cannot use credit ${credit}: expected a positive integer`);
    }
    this.host = host;
    this.id = id;
    this.origin = origin;
    this.#window = credit;
    this.queue = new OutputQueue((n) => this.#consumed(n));
    if (origin.kind === "attach") {
      this.session = origin.session;
      this.#next = origin.offset;
    } else {
      this.name = origin.name;
      this.pty = origin.pty ?? false;
    }
    this.started.promise.catch(() => {});
    this.result.promise.catch(() => {});
  }

  /** The offset after the last output byte received. */
  get next(): number {
    return this.#next;
  }

  get ended(): boolean {
    return this.phase === "ended";
  }

  /** The message that binds this channel on a (new) connection. */
  bindMessage(): ClientMessage {
    if (this.session === undefined && this.origin.kind === "start") {
      const o = this.origin;
      return {
        type: "start",
        id: this.id,
        name: o.name,
        params: o.params,
        pty: o.pty,
        cols: o.cols,
        rows: o.rows,
        credit: this.#window,
        traceparent: o.traceparent,
        tracestate: o.tracestate,
        // A quick call may be answered by one inline `exit` (servers that predate it ignore this).
        inline: true,
      };
    }
    return {
      type: "attach",
      id: this.id,
      session: this.session as string,
      offset: this.#next,
      credit: Math.max(0, this.#window - this.queue.queuedBytes),
    };
  }

  /** Sends `start` or `attach` (on open, or at once when connected). */
  bind(): void {
    const reattach = this.session !== undefined;
    this.#reattaching = reattach;
    this.phase = "requested";
    this.host.request(this.bindMessage(), this).then(
      () => {},
      (error) => this.#bindFailed(error, reattach),
    );
  }

  /** The answer to `start` or `attach` (called synchronously, before later frames). */
  bound(answer: StartedMessage | AttachedMessage): void {
    if (this.phase === "ended") return;
    const reattach = this.#reattaching;
    this.phase = "bound";
    this.session = answer.session;
    this.pid = answer.pid;
    this.pty = answer.pty;
    this.#consumedSinceGrant = 0;
    this.#stdinCredit = this.host.stdinCredit;
    if (answer.type === "attached") {
      this.name = answer.name;
      if (answer.skipped > 0) this.#gap(answer.offset, answer.skipped);
      this.#next = answer.offset;
      if (reattach) {
        this.#resendStdin(answer.stdinOffset);
      } else {
        this.#stdinNext = this.#stdinBase = answer.stdinOffset;
      }
      this.#stdinMargin = this.host.stdinCredit;
      this.#stdinGranted = 0;
      if (answer.stdinClosed) {
        this.#eofConfirmed = true;
        this.#eofRequested = true;
      }
    }
    this.started.resolve(answer);
    if (this.#eofRequested && !this.#eofConfirmed) this.#sendEof().catch(() => {});
    if (this.#wantCancel) this.host.send({ type: "signal", id: this.id, signal: "cancel" });
    if (reattach && this.#size && this.pty) {
      this.host.send({ type: "resize", id: this.id, ...this.#size });
    }
    this.#wake();
  }

  #bindFailed(error: unknown, reattach: boolean): void {
    if (this.phase === "ended") return;
    if (error instanceof ConnectionDropped && !error.sent) {
      if (this.phase === "requested") this.phase = reattach ? "waiting" : "pending";
    } else if (error instanceof RemoteError && error.code === "unknown_session") {
      this.fail(
        new SessionLostError(
          `Cannot reattach session "${this.session}": it no longer exists on the server`,
          this.session,
        ),
      );
    } else if (error instanceof ConnectionError && !reattach && this.phase === "requested") {
      // Never re-send start: the process may or may not exist.
      this.fail(
        new SessionLostError(
          `Cannot tell whether process "${this.name}" started: the connection dropped before the server answered`,
        ),
      );
    } else if (error instanceof ConnectionDropped) {
      // the client will bind again on the next connection
    } else {
      this.fail(error);
    }
  }

  /** The connection dropped; wait for the next one. */
  disconnected(): void {
    if (this.phase === "bound" || (this.phase === "requested" && this.session !== undefined)) {
      this.phase = "waiting";
    }
  }

  // -------------------------------------------------------------------------
  // output

  data(stream: OutputStream, offset: number, data: Uint8Array): void {
    if (this.phase === "ended") return;
    let bytes = data;
    let at = offset;
    if (at + bytes.byteLength <= this.#next) return; // already had it
    if (at < this.#next) {
      bytes = bytes.subarray(this.#next - at);
      at = this.#next;
    } else if (at > this.#next) {
      this.#gap(at, at - this.#next);
    }
    if (bytes.byteLength === 0) return;
    this.#next = at + bytes.byteLength;
    // No copy: with `binaryType = "arraybuffer"` every message is an `ArrayBuffer` of its own,
    // which the chunk keeps (its 13-byte header included) and nothing else writes to.
    this.queue.push({ stream, data: bytes, offset: at });
  }

  gap(offset: number, skipped: number): void {
    if (offset > this.#next) this.#gap(offset, skipped);
  }

  #gap(offset: number, skipped: number): void {
    this.skipped += skipped;
    this.#next = offset;
    try {
      this.onGap?.({ offset, skipped });
    } catch { /* ignore */ }
  }

  #consumed(n: number): void {
    this.#consumedSinceGrant += n;
    this.#grant();
  }

  #grant(): void {
    if (this.phase !== "bound") return;
    if (this.#consumedSinceGrant < Math.max(1, this.#window / 2)) return;
    if (this.host.send({ type: "credit", id: this.id, bytes: this.#consumedSinceGrant })) {
      this.#consumedSinceGrant = 0;
    }
  }

  exit(message: ExitMessage): void {
    if (this.phase === "ended") return;
    if (message.offset > this.#next) this.#gap(message.offset, message.offset - this.#next);
    this.session = message.session;
    this.phase = "ended";
    this.queue.end();
    this.#stdinError = new TypeError(`Cannot write to process "${this.name}": it has ended`);
    this.#wake();
    this.started.reject(new TypeError(`Cannot start process "${this.name}": it has ended`));
    this.result.resolve(message.result);
    this.host.release(this);
  }

  fail(error: unknown): void {
    if (this.phase === "ended") return;
    this.phase = "ended";
    this.queue.fail(error);
    this.#stdinError = error instanceof Error ? error : new Error(String(error));
    this.#wake();
    this.started.reject(error);
    this.result.reject(error);
    this.host.release(this);
  }

  /** An `error` message for this channel without a pending request. */
  error(message: ErrorMessage): void {
    if (message.code === "unknown_id") return; // crossed an exit or detach
    if (message.code === "stdin_closed" || message.code === "credit_exceeded") {
      this.#stdinError = new RemoteError(message.code, message.message);
      this.#wake();
    }
  }

  // -------------------------------------------------------------------------
  // stdin

  stdinGrant(bytes: number): void {
    this.#stdinCredit += bytes;
    this.#stdinGranted += bytes;
    const acknowledged = this.#stdinBase + this.#stdinGranted - this.#stdinMargin;
    while (
      this.#retained.length > 0 &&
      this.#retained[0].offset + this.#retained[0].data.byteLength <= acknowledged
    ) {
      this.#retained.shift();
    }
    this.#wake();
  }

  #resendStdin(received: number): void {
    this.#stdinBase = received;
    const pieces = this.#retained;
    this.#retained = [];
    if (received < this.#stdinNext) {
      const first = pieces[0];
      if (first === undefined || first.offset > received) {
        this.#stdinError = new SessionLostError(
          `Cannot resend stdin of session "${this.session}" from offset ${received}: not retained`,
          this.session,
        );
        return;
      }
      for (const piece of pieces) {
        const end = piece.offset + piece.data.byteLength;
        if (end <= received) continue;
        const data = piece.offset < received
          ? piece.data.subarray(received - piece.offset)
          : piece.data;
        const offset = Math.max(piece.offset, received);
        this.#retained.push({ offset, data });
        this.host.sendBinary(encodeDataFrame({ kind: "stdin", id: this.id, offset, data }));
        this.#stdinCredit -= data.byteLength;
      }
    }
  }

  #wake(): void {
    const waiters = this.#stdinWaiters;
    this.#stdinWaiters = [];
    for (const wake of waiters) wake();
  }

  #waitForStdin(): Promise<void> {
    return new Promise((resolve) => this.#stdinWaiters.push(resolve));
  }

  write(bytes: Uint8Array): Promise<void> {
    const run = this.#stdinChain.then(() => this.#write(bytes));
    this.#stdinChain = run.catch(() => {});
    return run;
  }

  async #write(bytes: Uint8Array): Promise<void> {
    if (this.#eofRequested) {
      throw new TypeError(`Cannot write to process "${this.name}": its input is closed`);
    }
    let pos = 0;
    while (pos < bytes.byteLength) {
      if (this.#stdinError) throw this.#stdinError;
      if (this.phase !== "bound" || this.#stdinCredit <= 0) {
        await this.#waitForStdin();
        continue;
      }
      const max = this.host.maxMessageSize - DATA_FRAME_HEADER_SIZE;
      const n = Math.min(bytes.byteLength - pos, this.#stdinCredit, max);
      const data = bytes.slice(pos, pos + n);
      const frame = encodeDataFrame({ kind: "stdin", id: this.id, offset: this.#stdinNext, data });
      if (!this.host.sendBinary(frame)) {
        await this.#waitForStdin();
        continue;
      }
      this.#retained.push({ offset: this.#stdinNext, data });
      this.#stdinNext += n;
      this.#stdinCredit -= n;
      pos += n;
    }
  }

  /** Closes stdin after what was written; resolves when the server confirmed. */
  closeInput(): Promise<void> {
    if (this.#eofRequested) return this.#stdinChain;
    this.#eofRequested = true;
    const run = this.#stdinChain.then(() => {
      if (this.phase === "ended") return;
      return this.#sendEof();
    });
    this.#stdinChain = run.catch(() => {});
    return run;
  }

  async #sendEof(): Promise<void> {
    if (this.phase !== "bound") return; // sent again on bind
    try {
      await this.host.request({ type: "eof", id: this.id }, this);
      this.#eofConfirmed = true;
    } catch (error) {
      if (error instanceof ConnectionDropped) return; // resent after reattach
      if (error instanceof RemoteError && error.code === "unknown_id") return;
      throw error;
    }
  }

  async signal(signal: SignalName): Promise<void> {
    if (signal === "cancel") this.#wantCancel = true;
    while (this.phase !== "bound") {
      if (this.phase === "ended") return;
      await this.started.promise.catch(() => {});
      if (this.phase === "waiting" || this.phase === "requested") await this.#waitForStdin();
    }
    try {
      await this.host.request({ type: "signal", id: this.id, signal }, this);
    } catch (error) {
      if (error instanceof ConnectionDropped && signal === "cancel") return; // resent on bind
      if (error instanceof RemoteError && error.code === "unknown_id") return;
      throw error;
    }
  }

  async resize(cols: number, rows: number): Promise<void> {
    this.#size = { cols, rows };
    while (this.phase !== "bound") {
      if (this.phase === "ended") return;
      await this.started.promise.catch(() => {});
      if (this.phase === "waiting" || this.phase === "requested") await this.#waitForStdin();
    }
    try {
      await this.host.request({ type: "resize", id: this.id, cols, rows }, this);
    } catch (error) {
      if (error instanceof ConnectionDropped) return; // sent again on bind
      throw error;
    }
  }

  take(stream?: OutputStream): Promise<OutputChunk | null> {
    return this.queue.take(stream);
  }
}

/** A request was in flight when the connection dropped (the client reconnects). */
export class ConnectionDropped extends ConnectionError {
  /** Whether the request had been sent. */
  readonly sent: boolean;

  constructor(sent: boolean) {
    super(
      sent
        ? "Cannot get an answer: the connection dropped"
        : "Cannot send the request: not connected",
    );
    this.name = "ConnectionDropped";
    this.sent = sent;
  }
}
