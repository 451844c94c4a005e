/**
 * Processes provided by `pow.v2` clients (`provide`, specified in `docs/protocol.md`).
 *
 * A provider connection offers a process by name; while it is connected the process is in the
 * catalogue like a configured one, and any front end can start it. A start makes an ordinary
 * session whose TypeScript function forwards the call to the provider:
 *
 * - `serve {id, name, params, session, caller, credit}` goes to the provider on a channel id the
 *   server chooses, counting down from 4294967295 (clients count up from 1, so they never meet);
 * - the caller's stdin goes to the provider as stdin data frames on that id, no more than the
 *   provider's credit (1 MiB to begin with, more with `credit`), then `eof`;
 * - the provider's stdout and stderr data frames are written, in the order they came, to the
 *   session's output log. The provider may have `credit` bytes in flight; each write returns its
 *   bytes as new credit once the log has taken it, so a log that holds a slow process back holds
 *   the provider back too, and nothing is buffered without bound;
 * - the provider's `exit {id, result}` ends the session with that result;
 * - cancelling or signalling the session sends `cancel {id, reason}`; the provider should then
 *   end the call with `exit`. The session ends as any cancelled function does;
 * - the provider disconnecting removes its processes from the catalogue and rejects every call
 *   it was serving with `Provider of "<name>" disconnected`.
 *
 * The WebSocket adapter (`native_ws.ts`) only routes messages and frames here.
 *
 * @module
 */

import {
  type DataFrame,
  DEFAULT_CREDIT,
  encodeDataFrame,
  type ErrorInfo,
  MAX_CHANNEL_ID,
  MAX_OFFSET,
  type ProvideMessage,
  type ReturnMessage,
  type ServerMessage,
} from "@pow/protocol";
import type { ProvideConfig } from "./config.ts";
import {
  type Caller,
  defineProcess,
  type ProcessContext,
  type ProcessDefinition,
} from "./process.ts";

/** Where provided processes go: pow's process catalogue (the session manager). */
export interface ProviderCatalogue {
  /** The processes by name. */
  readonly processes: Record<string, ProcessDefinition>;
  /** Adds or replaces a process. */
  setProcess(name: string, definition: ProcessDefinition): void;
  /** Removes a process. */
  removeProcess(name: string): boolean;
}

/** The connection a provider speaks through (the `pow.v2` adapter). */
export interface ProviderPeer {
  /** Who is connected. */
  readonly caller: Caller;
  /** Sends a control message. */
  send(message: ServerMessage): void;
  /** Sends a data frame. */
  sendBinary(bytes: Uint8Array<ArrayBuffer>): void;
  /** Resolves when the socket's send buffer has drained enough to send more. */
  drained(): Promise<void>;
  /** Whether a channel id is bound to an ordinary channel of the connection. */
  isBound(id: number): boolean;
}

/** Options for {@linkcode ProviderConnection}. */
export interface ProviderConnectionOptions {
  /** The catalogue provided processes enter. */
  catalogue: ProviderCatalogue;
  /** Names a provider may never take (the configured processes). */
  reserved: ReadonlySet<string>;
  /** The `provide` settings. */
  config: ProvideConfig;
  /** Output bytes a provider may have in flight per call. @default {1048576} */
  outputCredit?: number;
  /** The largest stdin payload per data frame. @default {65536} */
  maxFrame?: number;
}

/** One call being served. */
interface Call {
  readonly id: number;
  readonly name: string;
  readonly ctx: ProcessContext;
  /** Output bytes taken from the provider (the next frame's offset). */
  received: number;
  /** Output bytes the provider may still send. */
  outputCredit: number;
  /** Output bytes written to the log but not yet granted again. */
  toGrant: number;
  /** Output writes not yet taken by the log. */
  writing: number;
  /** Every output write, in order: stdout and stderr share one queue. */
  chain: Promise<void>;
  stdout: WritableStreamDefaultWriter<Uint8Array> | undefined;
  stderr: WritableStreamDefaultWriter<Uint8Array> | undefined;
  /** Stdin bytes the provider may still be sent. */
  stdinCredit: number;
  /** Wakes the stdin pump (more credit, or the call ended). */
  wake: (() => void) | undefined;
  ended: boolean;
  /** Resolves (with `undefined`) when the call ends. */
  whenEnded: Promise<undefined>;
  markEnded(): void;
  resolve(value: unknown): void;
  reject(error: Error): void;
}

/** The text a call is rejected with when its provider goes away. */
export function providerGone(name: string): string {
  return `Provider of "${name}" disconnected`;
}

function matches(list: readonly string[], caller: Caller): boolean {
  return list.includes("*") || list.includes(caller.id) ||
    (caller.roles ?? []).some((role) => list.includes(role));
}

/**
 * The provider side of one `pow.v2` connection: the processes it provides and the calls it is
 * serving.
 *
 * @example Provide a process and see it in the catalogue
 * ```ts
 * import { ProviderConnection } from "./provider.ts";
 * import type { ProcessDefinition } from "./process.ts";
 * import assert from "node:assert/strict";
 *
 * const processes: Record<string, ProcessDefinition> = {};
 * const sent: unknown[] = [];
 * const provider = new ProviderConnection({
 *   caller: { id: "alice" },
 *   send: (message) => sent.push(message),
 *   sendBinary() {},
 *   drained: () => Promise.resolve(),
 *   isBound: () => false,
 * }, {
 *   catalogue: {
 *     processes,
 *     setProcess: (name, definition) => void (processes[name] = definition),
 *     removeProcess: (name) => delete processes[name],
 *   },
 *   reserved: new Set(["ls"]),
 *   config: { enabled: true, providers: ["*"], maxPendingCalls: 64, maxProcesses: 64 },
 * });
 * provider.provide({ type: "provide", ref: 1, name: "upper", params: [] });
 * provider.provide({ type: "provide", ref: 2, name: "ls", params: [] });
 * assert.deepEqual(Object.keys(processes), ["upper"]);
 * assert.deepEqual(sent[0], { type: "provided", ref: 1, name: "upper" });
 * assert.equal((sent[1] as { code: string }).code, "conflict");
 * provider.close();
 * assert.deepEqual(Object.keys(processes), []);
 * ```
 */
export class ProviderConnection {
  #peer: ProviderPeer;
  #options: ProviderConnectionOptions;
  #names = new Set<string>();
  #calls = new Map<number, Call>();
  #nextId = MAX_CHANNEL_ID;
  #closed = false;

  /**
   * Makes the provider side of a connection.
   *
   * @param peer The connection.
   * @param options The catalogue, reserved names and settings.
   */
  constructor(peer: ProviderPeer, options: ProviderConnectionOptions) {
    this.#peer = peer;
    this.#options = options;
  }

  /** Whether the connection provides any process or serves any call. */
  get active(): boolean {
    return this.#names.size > 0 || this.#calls.size > 0;
  }

  /**
   * Whether a channel id is a call this connection is serving.
   *
   * @param id The channel id.
   * @returns `true` for a served call's id.
   */
  has(id: number): boolean {
    return this.#calls.has(id);
  }

  /**
   * Handles `provide`: answers `provided`, or an `error` (`not_allowed`, `conflict`,
   * `limit_reached`).
   *
   * @param message The message.
   */
  provide(message: ProvideMessage): void {
    const { name, ref } = message;
    const { config, catalogue, reserved } = this.#options;
    const caller = this.#peer.caller;
    const refuse = (code: ErrorInfo["code"], text: string) =>
      this.#peer.send({ type: "error", code, message: text, ref });
    if (this.#closed) return;
    if (!config.enabled) {
      return refuse("not_allowed", `Cannot provide "${name}": provide.enabled is false`);
    }
    if (!matches(config.providers, caller)) {
      return refuse(
        "not_allowed",
        `Cannot provide "${name}": caller "${caller.id}" is not in provide.providers`,
      );
    }
    if (reserved.has(name)) {
      return refuse(
        "conflict",
        `Cannot provide "${name}": it would shadow the configured process "${name}"`,
      );
    }
    if (Object.hasOwn(catalogue.processes, name)) {
      return refuse("conflict", `Cannot provide "${name}": a process of that name already exists`);
    }
    if (this.#names.size >= config.maxProcesses) {
      return refuse(
        "limit_reached",
        `Cannot provide "${name}": this connection already provides ${config.maxProcesses} processes (provide.maxProcesses)`,
      );
    }
    this.#names.add(name);
    catalogue.setProcess(
      name,
      defineProcess({
        description: message.description,
        params: message.params.map((param) => ({ ...param })),
        allow: config.allow ? [...config.allow] : undefined,
        run: (ctx) => this.#serve(name, ctx),
      }),
    );
    this.#peer.send({ type: "provided", ref, name });
  }

  /**
   * Handles the provider's `exit`: the call ends with its result once its output is written.
   *
   * @param message The message.
   * @returns `false` when the id is not a served call.
   */
  exit(message: ReturnMessage): boolean {
    const call = this.#calls.get(message.id);
    if (!call) return false;
    this.#end(call);
    const { result } = message;
    void call.chain.then(() => {
      if (result.status === "fulfilled") call.resolve(result.value);
      else call.reject(new Error(result.reason));
      if (message.ref !== undefined) {
        this.#peer.send({ type: "ok", id: message.id, ref: message.ref });
      }
    });
    return true;
  }

  /**
   * Handles `credit` from the provider: more stdin bytes may be sent to it.
   *
   * @param id The served call's id.
   * @param bytes The bytes granted.
   */
  credit(id: number, bytes: number): void {
    const call = this.#calls.get(id);
    if (!call) return;
    call.stdinCredit = Math.min(MAX_OFFSET, call.stdinCredit + bytes);
    call.wake?.();
  }

  /**
   * Handles a stdout or stderr frame from the provider: it goes to the session's output log.
   *
   * @param frame The frame (its id is a served call's).
   */
  output(frame: DataFrame): void {
    const call = this.#calls.get(frame.id);
    if (!call || frame.kind === "stdin") return;
    const fail = (code: ErrorInfo["code"], text: string) =>
      this.#peer.send({ type: "error", code, message: text, id: call.id });
    let data = frame.data;
    const n = data.byteLength;
    if (n > call.outputCredit) {
      fail(
        "credit_exceeded",
        `Cannot take ${n} output bytes on channel ${call.id}: only ${call.outputCredit} granted; the call is rejected`,
      );
      this.#end(call);
      call.reject(
        new Error(`Provider of "${call.name}" sent more output than it was granted`),
      );
      return;
    }
    call.outputCredit -= n;
    if (frame.offset > call.received) {
      this.#grant(call, n);
      return fail(
        "bad_offset",
        `Cannot take output at offset ${frame.offset}: channel ${call.id} has received ${call.received} bytes`,
      );
    }
    const seen = Math.min(n, call.received - frame.offset);
    if (seen > 0) {
      this.#grant(call, seen);
      data = data.subarray(seen);
    }
    const size = data.byteLength;
    if (size === 0) return;
    call.received += size;
    call.writing++;
    const writer = frame.kind === "stdout"
      ? call.stdout ??= call.ctx.stdout.getWriter()
      : call.stderr ??= call.ctx.stderr.getWriter();
    call.chain = call.chain.then(() => writer.write(data)).then(
      () => {
        call.writing--;
        this.#grant(call, size);
      },
      () => {
        call.writing--;
      },
    );
  }

  /** The connection closed: its processes leave the catalogue, its calls are rejected. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const name of this.#names) this.#options.catalogue.removeProcess(name);
    this.#names.clear();
    for (const call of [...this.#calls.values()]) {
      this.#end(call);
      call.reject(new Error(providerGone(call.name)));
    }
  }

  // -------------------------------------------------------------------------

  async #serve(name: string, ctx: ProcessContext): Promise<unknown> {
    if (this.#closed) throw new Error(providerGone(name));
    const max = this.#options.config.maxPendingCalls;
    if (this.#calls.size >= max) {
      throw new Error(
        `Cannot call "${name}": its provider is already serving ${max} calls (provide.maxPendingCalls)`,
      );
    }
    const id = this.#allocateId();
    const { promise, resolve, reject } = Promise.withResolvers<unknown>();
    const credit = this.#options.outputCredit ?? DEFAULT_CREDIT;
    const ended = Promise.withResolvers<undefined>();
    const call: Call = {
      id,
      name,
      ctx,
      received: 0,
      outputCredit: credit,
      toGrant: 0,
      writing: 0,
      chain: Promise.resolve(),
      stdout: undefined,
      stderr: undefined,
      stdinCredit: DEFAULT_CREDIT,
      wake: undefined,
      ended: false,
      whenEnded: ended.promise,
      markEnded: () => ended.resolve(undefined),
      resolve,
      reject,
    };
    this.#calls.set(id, call);
    const onAbort = () => {
      if (call.ended) return;
      const reason = ctx.signal.reason;
      this.#peer.send({
        type: "cancel",
        id,
        reason: reason instanceof Error ? reason.message : String(reason ?? "cancelled"),
      });
    };
    ctx.signal.addEventListener("abort", onAbort, { once: true });
    this.#peer.send({
      type: "serve",
      id,
      name,
      params: [...ctx.params],
      session: ctx.sessionId,
      caller: ctx.caller.id,
      credit,
    });
    if (ctx.signal.aborted) onAbort();
    void this.#pumpStdin(call).catch(() => {});
    try {
      const value = await promise;
      // Every output byte is in the log already (`exit` waited for it): closing is quick.
      await Promise.allSettled([call.stdout?.close(), call.stderr?.close()]);
      return value;
    } catch (error) {
      // A vanished or misbehaving provider: do not wait for output the log cannot take yet.
      call.stdout?.abort(error).catch(() => {});
      call.stderr?.abort(error).catch(() => {});
      throw error;
    } finally {
      this.#end(call);
      ctx.signal.removeEventListener("abort", onAbort);
    }
  }

  /** Sends the caller's stdin to the provider within its credit, then `eof`. */
  async #pumpStdin(call: Call): Promise<void> {
    const reader = call.ctx.stdin.getReader();
    const maxFrame = this.#options.maxFrame ?? 65536;
    let offset = 0;
    try {
      while (!call.ended) {
        const read = await Promise.race([reader.read(), call.whenEnded]);
        if (read === undefined || call.ended) return;
        if (read.done) {
          this.#peer.send({ type: "eof", id: call.id });
          return;
        }
        let chunk = read.value;
        while (chunk.byteLength > 0) {
          while (call.stdinCredit <= 0 && !call.ended) {
            await new Promise<void>((resolve) => call.wake = resolve);
            call.wake = undefined;
          }
          if (call.ended) return;
          await this.#peer.drained();
          if (call.ended) return;
          const size = Math.min(chunk.byteLength, call.stdinCredit, maxFrame);
          const data = chunk.subarray(0, size);
          chunk = chunk.subarray(size);
          call.stdinCredit -= size;
          this.#peer.sendBinary(encodeDataFrame({ kind: "stdin", id: call.id, offset, data }));
          offset += size;
        }
      }
    } finally {
      reader.releaseLock();
    }
  }

  /** Returns output credit to the provider as the log takes its output, in batches. */
  #grant(call: Call, bytes: number): void {
    call.toGrant += bytes;
    if (call.ended || call.toGrant === 0) return;
    const credit = this.#options.outputCredit ?? DEFAULT_CREDIT;
    if (call.toGrant >= credit / 4 || call.writing === 0) {
      const granted = call.toGrant;
      call.toGrant = 0;
      call.outputCredit += granted;
      this.#peer.send({ type: "credit", id: call.id, bytes: granted });
    }
  }

  #end(call: Call): void {
    if (call.ended) return;
    call.ended = true;
    call.markEnded();
    if (this.#calls.get(call.id) === call) this.#calls.delete(call.id);
    call.wake?.();
  }

  #allocateId(): number {
    for (let i = 0; i < MAX_CHANNEL_ID; i++) {
      const id = this.#nextId;
      this.#nextId = id <= 1 ? MAX_CHANNEL_ID : id - 1;
      if (!this.#calls.has(id) && !this.#peer.isBound(id)) return id;
    }
    throw new RangeError("Cannot serve a call: every channel id is in use");
  }
}
