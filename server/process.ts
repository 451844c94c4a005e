/**
 * Process definitions: what an operator declares and a client calls by name.
 *
 * @module
 */

import type { EventBus } from "./bus.ts";
import type { ParamSpec } from "./params.ts";

/** Who is calling a process, as established by the front end. */
export interface Caller {
  /** A stable identity (a token's name, or `"anonymous"`); sessions belong to it. */
  readonly id: string;
  /** Roles of the identity, used by per-process authorization. */
  readonly roles?: readonly string[];
  /** The remote address, when known. */
  readonly address?: string;
  /** The front end the call came through, e.g. `"pow-1"` or `"pow.v2"`. */
  readonly via?: string;
}

/**
 * What a TypeScript function process receives. Destructure what you need
 * (`run({ params, stdout })`): the streams and the signal are getters, made on first use, so a
 * copy by spreading (`{ ...ctx }`) has none of them.
 */
export interface ProcessContext {
  /** The validated params. */
  readonly params: readonly string[];
  /** Whether the call left params out (pow-1 allows a call without `params`). */
  readonly paramsOmitted: boolean;
  /** The process's standard input; it ends when the client closes input. */
  readonly stdin: ReadableStream<Uint8Array>;
  /** The process's standard output; writes wait while the output log is full. */
  readonly stdout: WritableStream<Uint8Array>;
  /** The process's standard error. */
  readonly stderr: WritableStream<Uint8Array>;
  /**
   * Writes to standard output, or to standard error with `{ stream: "stderr" }`: a string as
   * UTF-8, a `Uint8Array` as a copy (the caller may reuse its buffer). Resolves when the output
   * took the bytes: like a `stdout` writer's `write`, it waits while the output log is full.
   * Writes through `write` and through `stdout` and `stderr` (writers, `pipeTo`) are taken one
   * at a time, in the order they were made. The quickest way to answer with output: no stream
   * or writer is made. A function that returns before its writes were taken (it did not await
   * them) ends once they are, as a program's output is flushed when it exits. Rejects with a
   * `TypeError` for data that is neither text nor bytes, an unknown stream, or a session that has
   * ended (cancelled, or timed out); a rejection nobody awaits is no unhandled error.
   *
   * @example
   * ```ts
   * import { defineProcess } from "./process.ts";
   *
   * const greet = defineProcess({
   *   params: [{ name: "name" }],
   *   async run({ params, write }) {
   *     await write(`hello ${params[0]}\n`);
   *     await write("(greeted)\n", { stream: "stderr" });
   *   },
   * });
   * ```
   */
  write(data: string | Uint8Array, options?: WriteOptions): Promise<void>;
  /** Aborted when the session is cancelled or times out. */
  readonly signal: AbortSignal;
  /** Who is calling. */
  readonly caller: Caller;
  /** The session's id. */
  readonly sessionId: string;
  /** The caller's W3C trace context, when the client sent one: start a child span from it. */
  readonly trace?: { readonly traceparent: string; readonly tracestate?: string };
  /**
   * The server's event bus, when the session was started by a server: for events other than
   * user topics, e.g. a broadcast to MonoRail connections (`monorail.broadcast`).
   */
  readonly bus?: EventBus;
  /**
   * Publishes plain JSON data to the user topic `name` (bus topic `topic.<name>`), where
   * pow.v2, REST/SSE and wubsub subscribers read it (a wubsub channel's topic `<c>/<t>` is
   * `<c>.<t>`). Rejects with a `TypeError` for an invalid name.
   */
  publish(name: string, data: unknown): Promise<void>;
}

/** Options of {@linkcode ProcessContext.write}. */
export interface WriteOptions {
  /** Where the bytes go. @default {"stdout"} */
  stream?: "stdout" | "stderr";
}

/** Settings shared by every kind of process. */
export interface ProcessOptions {
  /** What the process does, shown in listings. */
  description?: string;
  /** The params it takes. @default {[]} */
  params?: ParamSpec[];
  /** End the process after this many milliseconds. */
  timeout?: number;
  /** Milliseconds between SIGTERM and SIGKILL when ending it. */
  killGrace?: number;
  /** Output bytes retained for late readers (see the backpressure policy). */
  retention?: number;
  /** Callers (token names) or roles allowed to run it; unset means every authenticated caller. */
  allow?: string[];
}

/** A process implemented by a TypeScript function. */
export interface FunctionProcess extends ProcessOptions {
  /** Discriminates the kinds of process. */
  readonly kind: "function";
  /** Runs the process; the returned value is the result, a thrown error the rejection. */
  run(ctx: ProcessContext): unknown;
}

/** A process that runs a program. */
export interface CommandProcess extends ProcessOptions {
  /** Discriminates the kinds of process. */
  readonly kind: "command";
  /** The program and its argument template (`{1}`, `{2}`, ..., `{*}`); never run through a shell. */
  command: string[];
  /** The working directory. @default {the server's working directory} */
  cwd?: string;
  /** Extra environment variables (the environment is otherwise cleared but `PATH`, `HOME`, `LANG`). */
  env?: Record<string, string>;
  /** Whether a client may ask for a pseudo-terminal. @default {false} */
  pty?: boolean;
  /** Run as this user id. */
  uid?: number;
  /** Run as this group id. */
  gid?: number;
  /**
   * Launchers kept ready (0 to 16), so that a call skips the spawn: shells already in their
   * own process group, each waiting to `exec` one call's program (server/warm_pool.ts). Not
   * for commands with `uid` or `gid`. @default {0}
   */
  warm?: number;
}

/** A process a client may call by name. */
export type ProcessDefinition = FunctionProcess | CommandProcess;

/** The argument of {@linkcode defineProcess}. */
export interface FunctionProcessInit extends ProcessOptions {
  /** Runs the process; the returned value is the result, a thrown error the rejection. */
  run(ctx: ProcessContext): unknown;
}

/**
 * Defines a process implemented by a TypeScript function.
 *
 * @example A process that upper-cases its input
 * ```ts
 * import { defineProcess } from "./process.ts";
 * import assert from "node:assert/strict";
 *
 * const upper = defineProcess({
 *   description: "Upper-cases stdin",
 *   async run({ stdin, stdout }) {
 *     await stdin
 *       .pipeThrough(new TextDecoderStream())
 *       .pipeThrough(new TransformStream({ transform: (t, c) => c.enqueue(t.toUpperCase()) }))
 *       .pipeThrough(new TextEncoderStream())
 *       .pipeTo(stdout);
 *     return "done";
 *   },
 * });
 * assert.equal(upper.kind, "function");
 * ```
 *
 * @param init The description, params and the function.
 * @returns The process definition.
 */
export function defineProcess(init: FunctionProcessInit): FunctionProcess {
  return { ...init, kind: "function", params: init.params ?? [] };
}

/**
 * Defines a process that runs a program.
 *
 * @example
 * ```ts
 * import { defineCommand } from "./process.ts";
 * import assert from "node:assert/strict";
 *
 * const count = defineCommand(["seq", "1", "{1}"], {
 *   params: [{ name: "n", pattern: "[0-9]{1,7}" }],
 * });
 * assert.deepEqual(count.command, ["seq", "1", "{1}"]);
 * ```
 *
 * @param command The program and its argument template.
 * @param options Everything else.
 * @returns The process definition.
 */
export function defineCommand(
  command: string[],
  options: Omit<CommandProcess, "kind" | "command"> = {},
): CommandProcess {
  return { ...options, kind: "command", command, params: options.params ?? [] };
}
