/**
 * The process session: one run of a process. Every front end drives processes only through
 * this class: its states, standard input, cancellation and signals, the ordered output log
 * with offsets, and the result.
 *
 * ```text
 * starting --spawned--> running --ended--> fulfilled | rejected
 *     `------------ failed to start -----> rejected
 * ```
 *
 * @module
 */

import { formatDuration } from "./units.ts";
import {
  MemoryOutputLog,
  type OutputLog,
  type OutputReader,
  type ReaderOptions,
} from "./output_log.ts";
import type { EventBus } from "./bus.ts";
import { Observers, QuietEventTarget } from "./quiet_event_target.ts";
import type { Caller, ProcessDefinition } from "./process.ts";
import { type ExitInfo, type RunningProcess, startCommand, startFunction } from "./runner.ts";

/** The states of a session. */
export type SessionState = "starting" | "running" | "fulfilled" | "rejected";

/**
 * Why a session was rejected: the process failed (`error`), crashed or returned something that
 * cannot be sent (`crash`), could not be started (`spawn`), was cancelled (`cancelled`) or
 * timed out (`timeout`).
 */
export type RejectionKind = "error" | "crash" | "spawn" | "cancelled" | "timeout";

/** A successful end. */
export interface FulfilledResult {
  /** Discriminates results. */
  status: "fulfilled";
  /** What a function returned (`null` for a command). */
  value: unknown;
  /** The exit code of a command (0). */
  exitCode?: number;
}

/** A failed end. */
export interface RejectedResult {
  /** Discriminates results. */
  status: "rejected";
  /** A human-readable reason, e.g. `"exit status 3"`. */
  reason: string;
  /** What kind of failure it was. */
  kind: RejectionKind;
  /** The exit code of a command, when it exited. */
  exitCode?: number;
  /** The signal that ended a command, e.g. `"SIGTERM"`. */
  signal?: string;
}

/** How a session ended. */
export type SessionResult = FulfilledResult | RejectedResult;

/**
 * What front ends use of a session: a local {@linkcode Session}, or a handle on a session that
 * runs on another node of a cluster (`RemoteSession`). Front ends hold handles, never assume
 * the in-memory object.
 */
export interface SessionHandle extends EventTarget {
  /** The session id. */
  readonly id: string;
  /** The process name. */
  readonly name: string;
  /** The validated params. */
  readonly params: readonly string[];
  /** Who started it. */
  readonly caller: Caller;
  /** What kind of process it runs. */
  readonly definition: { readonly kind: ProcessDefinition["kind"] };
  /** When it was created (epoch milliseconds). */
  readonly createdAt: number;
  /** Resolves with the result. */
  readonly result: Promise<SessionResult>;
  /** The caller's trace context, when known. */
  readonly trace: TraceContext | undefined;
  /** The state. */
  readonly state: SessionState;
  /**
   * Resolves once the session is no longer `starting`: the process was spawned (it has its
   * pid) or the session ended without it. Front ends wait on this before they announce a start.
   */
  readonly started: Promise<void>;
  /** The result, once ended. */
  readonly outcome: SessionResult | undefined;
  /** Whether it has ended. */
  readonly ended: boolean;
  /** The process id. */
  readonly pid: number | undefined;
  /** Whether it runs in a pseudo-terminal. */
  readonly pty: boolean;
  /** Whether its input is closed. */
  readonly inputClosed: boolean;
  /** Stdin bytes received. */
  readonly inputOffset: number;
  /** Clients attached. */
  readonly attached: number;
  /** Whether its result was handed to a client's open connection ({@linkcode SessionHandle.markDelivered}). */
  readonly delivered: boolean;
  /** When it ended. */
  readonly endedAt: number | undefined;
  /** Where its output stands: the oldest retained offset, the end, and whether it is closed. */
  readonly log: { readonly start: number; readonly end: number; readonly closed: boolean };
  /** Writes to stdin. */
  write(data: Uint8Array | string): Promise<void>;
  /** Closes stdin. */
  closeInput(): Promise<void>;
  /** Cancels it. */
  cancel(reason?: string): void;
  /** Sends a signal. */
  signal(signal: Deno.Signal): void;
  /** Resizes its terminal. */
  resize(cols: number, rows: number): void;
  /** Opens a reader on its output. */
  reader(options?: ReaderOptions): OutputReader;
  /** Counts a client as attached until the returned function runs. */
  attach(): () => void;
  /**
   * Records that a front end handed the result, after all the output, to a client's open
   * connection. An ended session that was delivered and has no client attached gives way to a
   * new session when the server is at `sessions.max`, `sessions.maxPerCaller` or its output
   * budget, instead of counting until its linger has passed (docs/config.md).
   */
  markDelivered(): void;
  /** Marks it active (keeps it from being reaped). */
  touch(): void;
}

/** Options for {@linkcode Session}. */
export interface SessionOptions {
  /** The session id. */
  id: string;
  /** The process name. */
  name: string;
  /** The process definition. */
  definition: ProcessDefinition;
  /** The validated params. */
  params: readonly string[];
  /** Who started it. */
  caller: Caller;
  /** Where output goes. @default {a MemoryOutputLog with the definition's retention} */
  log?: OutputLog;
  /** Milliseconds between SIGTERM and SIGKILL. @default {5000} */
  killGrace?: number;
  /** Output bytes retained (when `log` is not given). @default {4194304} */
  retention?: number;
  /** End the process after this many milliseconds. */
  timeout?: number;
  /** Pending standard input allowed, in bytes, before writes are refused. @default {8388608} */
  maxPendingInput?: number;
  /** Milliseconds an unattached session is kept (running, or ended and unread). @default {60000} */
  linger?: number;
  /** Whether the call left params out. */
  paramsOmitted?: boolean;
  /** Start a pseudo-terminal of this size. */
  pty?: { cols: number; rows: number };
  /** The W3C trace context of the caller's span, kept for tracing and listings. */
  trace?: TraceContext;
  /** The server's event bus, given to function processes as `ctx.bus`. */
  bus?: EventBus;
  /** Publishes to a user topic (`ctx.publish` of function processes). */
  publish?: (name: string, data: unknown) => Promise<void>;
  /** The clock for activity times (epoch milliseconds), e.g. a fake one in tests. @default {Date.now} */
  now?: () => number;
  /** Told the size of every chunk of output as it is added to the log (the manager's output budget). */
  onOutput?: (bytes: number) => void;
}

/** A W3C trace context (`traceparent` and `tracestate` headers) a client started a session with. */
export interface TraceContext {
  /** The `traceparent` of the caller's span. */
  traceparent: string;
  /** The `tracestate`, if any. */
  tracestate?: string;
}

/** Details of a session's state change, sent with the `state` event. */
export interface SessionStateEventDetail {
  /** The session. */
  session: Session;
  /** The new state. */
  state: SessionState;
}

const encoder = new TextEncoder();

/** What an ended session keeps for its settled resolver, and returns for observing it. */
const nothing = (): void => {};

/** A JSON.parse reviver that freezes every object and array (results are shared, never copied). */
const frozen = (_key: string, value: unknown): unknown =>
  typeof value === "object" && value !== null ? Object.freeze(value) : value;

/**
 * What a function returned, as the JSON a client receives: a copy (frozen: the session's
 * result, its record and its events share it) made through JSON, or the same value without the
 * round trip where JSON would return it unchanged (a string, a boolean, a finite number, `-0`
 * as `0`). Throws what `JSON.stringify` throws (a `BigInt`, a cycle).
 */
function jsonResult(value: unknown): unknown {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      return Number.isFinite(value) ? value + 0 : null;
    case "undefined":
      return null;
  }
  return value === null ? null : JSON.parse(JSON.stringify(value) ?? "null", frozen);
}

/** The input of a session that has none pending: one settled promise that every session shares. */
const DELIVERED: Promise<void> = Promise.resolve();

/**
 * One run of a process.
 *
 * @example Run a function process and read its output
 * ```ts
 * import { Session } from "./session.ts";
 * import { defineProcess } from "./process.ts";
 * import assert from "node:assert/strict";
 *
 * const session = new Session({
 *   id: "s1",
 *   name: "hello",
 *   params: ["world"],
 *   caller: { id: "me" },
 *   definition: defineProcess({
 *     async run({ params, stdout }) {
 *       const writer = stdout.getWriter();
 *       await writer.write(new TextEncoder().encode(`hello ${params[0]}\n`));
 *       return 42;
 *     },
 *   }),
 * });
 * session.start();
 * const result = await session.result;
 * assert.deepEqual(result, { status: "fulfilled", value: 42 });
 * assert.equal(new TextDecoder().decode(session.log.retained()[0].data), "hello world\n");
 * ```
 */
export class Session extends QuietEventTarget {
  /** The session id. */
  readonly id: string;
  /** The process name. */
  readonly name: string;
  /** The validated params. */
  readonly params: readonly string[];
  /** Who started it. */
  readonly caller: Caller;
  /** The process definition. */
  readonly definition: ProcessDefinition;
  /** The output log. */
  readonly log: OutputLog;
  /** When it was created (epoch milliseconds). */
  readonly createdAt: number = Date.now();
  /** Milliseconds an unattached session is kept. */
  linger: number;
  /** The result, once the session has ended. */
  readonly result: Promise<SessionResult>;
  /** The W3C trace context the session was started with, if any. */
  readonly trace: TraceContext | undefined;

  #state: SessionState = "starting";
  #outcome: SessionResult | undefined;
  #resolve!: (result: SessionResult) => void;
  #process: RunningProcess | undefined;
  #pid: number | undefined;
  #options: SessionOptions;
  #killGrace: number;
  #cancel: { reason: string; kind: RejectionKind } | undefined;
  #killTimer: ReturnType<typeof setTimeout> | undefined;
  #timeoutTimer: ReturnType<typeof setTimeout> | undefined;
  /** Settles when the last input write or close was delivered. */
  #input: Promise<void> = DELIVERED;
  #pendingInput = 0;
  #maxPendingInput: number;
  #closedByClient = false;
  #inputClosed = false;
  #inputOffset = 0;
  #attached = 0;
  #delivered = false;
  #now: () => number;
  #lastActive: number;
  #endedAt: number | undefined;
  /** Dropped when the session ends: its state never changes again. */
  #observers: Observers<[SessionState]> | undefined = new Observers();

  /**
   * Creates a session in the `starting` state; call {@linkcode Session.start} to run it.
   *
   * @param options What to run, for whom, and how.
   */
  constructor(options: SessionOptions) {
    super();
    this.id = options.id;
    this.name = options.name;
    // Frozen: the store's records and the bus's events share them.
    this.params = Object.isFrozen(options.params)
      ? options.params
      : Object.freeze([...options.params]);
    this.caller = options.caller;
    this.definition = options.definition;
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#lastActive = this.#now();
    this.log = options.log ?? new MemoryOutputLog({
      retention: options.retention ?? options.definition.retention,
    });
    this.#killGrace = options.killGrace ?? options.definition.killGrace ?? 5000;
    this.#maxPendingInput = options.maxPendingInput ?? 8 * 1024 * 1024;
    this.linger = options.linger ?? 60_000;
    this.trace = options.trace;
    this.result = new Promise((resolve) => (this.#resolve = resolve));
  }

  /**
   * Creates a session that is already rejected, for a call that could not start but still
   * needs an id (the pow-1 REST API gives one to every call).
   *
   * @param options What was called.
   * @param reason Why it failed.
   * @param kind What kind of failure.
   * @returns The rejected session.
   */
  static rejected(
    options: SessionOptions,
    reason: string,
    kind: RejectionKind = "spawn",
  ): Session {
    const session = new Session(options);
    session.#finish({ status: "rejected", reason, kind });
    return session;
  }

  /** The current state. */
  get state(): SessionState {
    return this.#state;
  }

  /** Resolves once the session is no longer `starting` (spawned, or ended without a process). */
  get started(): Promise<void> {
    return untilStarted(this);
  }

  /** The result, once ended, else `undefined`. */
  get outcome(): SessionResult | undefined {
    return this.#outcome;
  }

  /** Whether the session has ended. */
  get ended(): boolean {
    return this.#outcome !== undefined;
  }

  /** The OS process id, where there is one. */
  get pid(): number | undefined {
    return this.#pid;
  }

  /** Whether standard input has been closed. */
  get inputClosed(): boolean {
    return this.#inputClosed;
  }

  /** Whether the process runs in a pseudo-terminal. */
  get pty(): boolean {
    return this.#options.pty !== undefined;
  }

  /**
   * Standard input bytes accepted by {@linkcode Session.write} so far (the stdin offset that
   * clients resume at).
   */
  get inputOffset(): number {
    return this.#inputOffset;
  }

  /** The number of front-end connections currently attached. */
  get attached(): number {
    return this.#attached;
  }

  /** The last time a client used the session (epoch milliseconds). */
  get lastActive(): number {
    return this.#lastActive;
  }

  /** When the session ended (epoch milliseconds). */
  get endedAt(): number | undefined {
    return this.#endedAt;
  }

  /** Starts the process. Failures to start end the session rejected; this never throws. */
  start(): void {
    if (this.#state !== "starting" || this.#outcome) return;
    const { definition } = this;
    const runOptions = {
      params: this.params,
      paramsOmitted: this.#options.paramsOmitted,
      trace: this.trace,
      bus: this.#options.bus,
      caller: this.caller,
      sessionId: this.id,
      killGrace: this.#killGrace,
      pty: this.#options.pty,
      publish: this.#options.publish,
      output: {
        write: (stream: "stdout" | "stderr", data: Uint8Array) => {
          if (this.#outcome) {
            return Promise.reject(
              new TypeError(`Cannot write to the output of session "${this.id}": it has ended`),
            );
          }
          this.#options.onOutput?.(data.length);
          return this.log.append(stream, data);
        },
      },
    };
    const timeout = this.#options.timeout ?? definition.timeout;
    if (timeout !== undefined && timeout > 0) {
      this.#timeoutTimer = setTimeout(
        () => this.#end(`process timed out after ${formatDuration(timeout)}`, "timeout"),
        timeout,
      );
    }
    if (definition.kind === "function" && !this.#options.pty) {
      // Nothing to spawn: the session is running at once, so that a front end can announce it,
      // and send a quick call's output and result, in the same event-loop turn.
      let process: RunningProcess;
      try {
        process = startFunction(definition, runOptions);
      } catch (error) {
        return this.#failed(error);
      }
      return this.#started(process);
    }
    const launch = async () => {
      if (this.#options.pty) {
        // Loaded lazily: servers without terminals never load the native module.
        const { startPty } = await import("./pty_runner.ts");
        return await startPty(definition, runOptions);
      }
      return definition.kind === "command"
        ? startCommand(definition, runOptions)
        : startFunction(definition, runOptions);
    };
    launch().then((process) => this.#started(process), (error) => this.#failed(error));
  }

  #started(process: RunningProcess): void {
    this.#process = process;
    this.#pid = process.pid;
    if (this.#outcome) {
      this.#process = undefined;
      process.kill("SIGKILL");
      return;
    }
    this.#setState("running");
    if (this.#cancel) this.#signalEnd();
    // A function that returned without waiting ends its session in this same call.
    if (process.exit !== undefined) return this.#exited(process.exit);
    process.exited.then(
      (exit) => this.#exited(exit),
      (error) => this.#finish({ status: "rejected", reason: message(error), kind: "crash" }),
    );
  }

  #failed(error: unknown): void {
    const { definition } = this;
    const program = definition.kind === "command" ? definition.command[0] : this.name;
    const reason = error instanceof Deno.errors.NotFound
      ? `Cannot run "${program}": program not found`
      : error instanceof Deno.errors.PermissionDenied
      ? `Cannot run "${program}": ${
        /^user \d+ (cannot enter|has no primary group)/.test(message(error))
          ? message(error)
          : "permission denied"
      }`
      : `Cannot run "${program}": ${message(error)}`;
    this.#finish({ status: "rejected", reason, kind: "spawn" });
  }

  /**
   * Writes to standard input. Writes are delivered in order; the promise resolves when the
   * process has taken the data.
   *
   * @param data Bytes or text (encoded as UTF-8).
   * @throws {TypeError} When input is closed or the session has ended.
   * @throws {RangeError} When more than `maxPendingInput` bytes are already waiting.
   */
  write(data: Uint8Array | string): Promise<void> {
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    // A client that closed input is told so, even if the process has ended since.
    if (this.#inputClosed && (this.#closedByClient || !this.#outcome)) {
      return Promise.reject(new TypeError(`Cannot write to session "${this.id}": input is closed`));
    }
    if (this.#outcome) {
      return Promise.reject(new TypeError(`Cannot write to session "${this.id}": it has ended`));
    }
    if (this.#pendingInput + bytes.length > this.#maxPendingInput) {
      return Promise.reject(
        new RangeError(
          `Cannot write to session "${this.id}": ${this.#pendingInput} bytes of input are still pending (limit ${this.#maxPendingInput})`,
        ),
      );
    }
    this.touch();
    this.#pendingInput += bytes.length;
    this.#inputOffset += bytes.length;
    const write = this.#input.then(async () => {
      try {
        const process = await this.#running();
        if (process && !this.#outcome) await process.write(bytes);
      } finally {
        this.#pendingInput -= bytes.length;
      }
    });
    this.#input = write.catch(() => {});
    return write.catch((error) => {
      throw new TypeError(`Cannot write to session "${this.id}": ${message(error)}`);
    });
  }

  /**
   * Closes standard input once pending writes are delivered: the process reads a clean end of
   * file. Later writes are refused. Closing twice is harmless.
   */
  closeInput(): Promise<void> {
    this.touch();
    if (this.#inputClosed) return this.#input;
    this.#inputClosed = true;
    this.#closedByClient = true;
    this.#input = this.#input.then(async () => {
      const process = await this.#running();
      await process?.closeInput();
    }).catch(() => {});
    return this.#input;
  }

  /**
   * Cancels the session: SIGTERM to the process group, SIGKILL after the grace period. The
   * session ends rejected with `reason`, unless it had already ended.
   *
   * @param reason Why, as the rejection reason. @default {"client requested cancellation"}
   */
  cancel(reason = "client requested cancellation"): void {
    this.#end(reason, "cancelled");
  }

  /**
   * Sends a signal to the process group without deciding the outcome (the process may handle
   * it). Function processes see their `AbortSignal` fire.
   *
   * @param signal The signal name.
   */
  signal(signal: Deno.Signal): void {
    this.touch();
    if (!this.#outcome) this.#process?.kill(signal);
  }

  /**
   * Resizes the pseudo-terminal.
   *
   * @param cols Columns.
   * @param rows Rows.
   * @throws {TypeError} When the session has no pseudo-terminal.
   */
  resize(cols: number, rows: number): void {
    if (!this.#options.pty) {
      throw new TypeError(`Cannot resize session "${this.id}": it has no terminal`);
    }
    this.#process?.resize?.(cols, rows);
  }

  /**
   * Opens a reader on the output, from `options.offset` (default 0).
   *
   * @param options Where to start.
   * @returns The reader; close it when done so it no longer holds the process back.
   */
  reader(options?: ReaderOptions): OutputReader {
    this.touch();
    return this.log.reader(options);
  }

  /**
   * Marks a front end as attached until the returned function is called. Sessions without
   * attachments are reaped after `linger`.
   *
   * @returns A function that detaches.
   */
  attach(): () => void {
    this.#attached++;
    this.touch();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.#attached--;
      this.touch();
    };
  }

  /** Whether its result was handed to a client's open connection (see {@linkcode Session.markDelivered}). */
  get delivered(): boolean {
    return this.#delivered;
  }

  /**
   * Records that a front end handed the result, after all the output, to a client's open
   * connection (before the session ended, nothing is recorded). An ended session that was
   * delivered and has no client attached gives way to a new session when the server is at
   * `sessions.max`, `sessions.maxPerCaller` or its output budget, instead of counting until its
   * linger has passed.
   */
  markDelivered(): void {
    if (this.#outcome !== undefined) this.#delivered = true;
  }

  /** Records client activity, postponing expiry. */
  touch(): void {
    this.#lastActive = this.#now();
  }

  /** A JSON-friendly summary. */
  toJSON(): SessionInfo {
    return {
      id: this.id,
      name: this.name,
      params: this.params,
      state: this.#state,
      pid: this.pid,
      createdAt: this.createdAt,
      endedAt: this.#endedAt,
      outputBytes: this.log.end,
      attached: this.#attached,
      result: this.#outcome,
    };
  }

  async #running(): Promise<RunningProcess | undefined> {
    while (!this.#process && !this.#outcome) {
      await new Promise((resolve) => this.addEventListener("state", resolve, { once: true }));
    }
    return this.#process;
  }

  #end(reason: string, kind: RejectionKind): void {
    if (this.#outcome || this.#cancel) return;
    this.#cancel = { reason, kind };
    this.touch();
    if (this.#process) this.#signalEnd();
  }

  #signalEnd(): void {
    const process = this.#process!;
    process.kill("SIGTERM");
    this.#killTimer = setTimeout(() => {
      process.kill("SIGKILL");
      // A function cannot be killed, and a killed command may have left output in its pipes
      // that nobody reads: stop waiting after a last moment and end the session.
      const wait = this.definition.kind === "function" ? 0 : 2000;
      this.#killTimer = setTimeout(() => this.#finish(this.#cancelResult({})), wait);
    }, this.#killGrace);
  }

  #cancelResult(exit: ExitInfo): RejectedResult {
    const { reason, kind } = this.#cancel!;
    const result: RejectedResult = { status: "rejected", reason, kind };
    if (exit.code !== undefined) result.exitCode = exit.code;
    if (exit.signal !== undefined) result.signal = exit.signal;
    return result;
  }

  #exited(exit: ExitInfo): void {
    if (this.#cancel) return this.#finish(this.#cancelResult(exit));
    if (this.definition.kind === "function") {
      if (exit.failed) {
        return this.#finish({ status: "rejected", reason: message(exit.error), kind: "error" });
      }
      let value: unknown;
      try {
        value = jsonResult(exit.value);
      } catch (error) {
        return this.#finish({
          status: "rejected",
          reason: `result cannot be serialized as JSON: ${message(error)}`,
          kind: "crash",
        });
      }
      return this.#finish({ status: "fulfilled", value });
    }
    if (exit.signal) {
      return this.#finish({
        status: "rejected",
        reason: `signal: ${exit.signal}`,
        kind: "error",
        signal: exit.signal,
      });
    }
    if (exit.code === 0) return this.#finish({ status: "fulfilled", value: null, exitCode: 0 });
    this.#finish({
      status: "rejected",
      reason: `exit status ${exit.code}`,
      kind: "error",
      exitCode: exit.code,
    });
  }

  #finish(result: SessionResult): void {
    if (this.#outcome) return;
    clearTimeout(this.#killTimer);
    clearTimeout(this.#timeoutTimer);
    this.#outcome = Object.freeze(result);
    // What ran is done: a session lingers a minute, and keeps only its pid, output and result
    // (docs/benchmarks.md, "Round twelve": what an ended session keeps).
    this.#process = undefined;
    this.#endedAt = Date.now();
    this.#inputClosed = true;
    this.log.close();
    this.#setState(result.status);
    this.#observers = undefined;
    this.#resolve(result);
    this.#resolve = nothing;
  }

  /**
   * Calls `observer` on every state change, before the `state` event is dispatched. For the
   * registry, which follows every session: no event is built for it, and a session nobody else
   * listens to dispatches none. An ended session changes state no more: it keeps no observers.
   *
   * @param observer Called with the new state; what it throws is reported, not raised.
   * @returns A function that stops the observing.
   */
  observe(observer: (state: SessionState) => void): () => void {
    return this.#observers?.add(observer) ?? nothing;
  }

  #setState(state: SessionState): void {
    this.#state = state;
    this.#observers?.call(state);
    if (this.listening("state")) {
      this.dispatchEvent(
        new CustomEvent<SessionStateEventDetail>("state", { detail: { session: this, state } }),
      );
    }
  }
}

/** A JSON-friendly summary of a session. */
export interface SessionInfo {
  /** The session id. */
  id: string;
  /** The process name. */
  name: string;
  /** The params. */
  params: readonly string[];
  /** The state. */
  state: SessionState;
  /** The OS process id, where there is one. */
  pid: number | undefined;
  /** When it was created (epoch milliseconds). */
  createdAt: number;
  /** When it ended (epoch milliseconds). */
  endedAt: number | undefined;
  /** Output bytes produced so far. */
  outputBytes: number;
  /** Front ends attached. */
  attached: number;
  /** The result, once ended. */
  result: SessionResult | undefined;
}

/**
 * Resolves once a session has left the `starting` state (its `state` events tell when).
 *
 * @param session A local or remote session.
 * @returns A promise that resolves when the session is running or has ended.
 */
export async function untilStarted(
  session: EventTarget & { readonly state: SessionState },
): Promise<void> {
  while (session.state === "starting") {
    await new Promise((resolve) => session.addEventListener("state", resolve, { once: true }));
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
