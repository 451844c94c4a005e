/**
 * Runners start processes: a command through `Deno.Command` in its own process group, or a
 * TypeScript function. The session core is their only user; front ends never see them.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import type { EventBus } from "./bus.ts";
import { recordGroup } from "./process_ledger.ts";
import {
  type Launcher,
  LAUNCHER_SCRIPT,
  LAUNCHER_SHELL,
  launchScript,
  MAX_WARM,
  MAX_WARM_SCRIPT,
  WarmPool,
} from "./warm_pool.ts";
import {
  copyWithHeadroom,
  OUTPUT_HEADROOM,
  type OutputStream,
  POOLED_READ_SIZE,
  takeReadBuffer,
  withHeadroom,
} from "./output_log.ts";
import type {
  Caller,
  CommandProcess,
  FunctionProcess,
  ProcessContext,
  ProcessDefinition,
  WriteOptions,
} from "./process.ts";
import { expandTemplate } from "./params.ts";
import {
  endGroup,
  groupAlive,
  killGroup,
  signalGroup as signalGroupLater,
  signalMode,
} from "./signals.ts";

/** Where a runner writes output; `write` waits while the output log is full. */
export interface OutputSink {
  /** Appends output, waiting for room. */
  write(stream: OutputStream, data: Uint8Array): Promise<void>;
}

/** How a process ended. */
export interface ExitInfo {
  /** The exit code of a program. */
  code?: number;
  /** The signal that ended a program, e.g. `"SIGTERM"`. */
  signal?: string;
  /** The value a function returned. */
  value?: unknown;
  /** The error a function threw (`error` is set when `failed` is true). */
  error?: unknown;
  /** Whether a function threw. */
  failed?: boolean;
}

/** A started process, as the session core drives it. */
export interface RunningProcess {
  /** The OS process id, where there is one. */
  readonly pid: number | undefined;
  /** Writes to standard input, resolving once the process took it. */
  write(data: Uint8Array): Promise<void>;
  /** Closes standard input: the process reads a clean end of file. */
  closeInput(): Promise<void>;
  /** Sends a signal to the whole process group (a function sees its `AbortSignal` fire). */
  kill(signal: Deno.Signal): void;
  /** Changes the terminal size (pseudo-terminals only). */
  resize?(cols: number, rows: number): void;
  /** Resolves once the process has ended and all its output has been written to the sink. */
  readonly exited: Promise<ExitInfo>;
  /**
   * How the process ended, when it had already ended as it started (a function that returned
   * without waiting): its session ends in the same call, `exited` holds the same.
   */
  readonly exit?: ExitInfo;
}

/** What a runner needs to start a process. */
export interface RunOptions {
  /** The validated params. */
  params: readonly string[];
  /** Whether the call left params out. */
  paramsOmitted?: boolean;
  /** Who is calling. */
  caller: Caller;
  /** The session id. */
  sessionId: string;
  /** Where output goes. */
  output: OutputSink;
  /** Milliseconds between SIGTERM and SIGKILL when cleaning up leftover group members. */
  killGrace: number;
  /** A pseudo-terminal of this size, when the client asked for one. */
  pty?: { cols: number; rows: number };
  /** The caller's W3C trace context, passed to commands as `TRACEPARENT`/`TRACESTATE`. */
  trace?: { traceparent: string; tracestate?: string };
  /** The server's event bus, given to function processes as `ctx.bus`. */
  bus?: EventBus;
  /** Publishes to a user topic (`ctx.publish` of function processes). */
  publish?: (name: string, data: unknown) => Promise<void>;
}

const INHERITED_ENV = ["PATH", "HOME", "LANG"];

/**
 * Builds a child's environment: `PATH`, `HOME` and `LANG` from the server's, plus the declared
 * variables; anything named `LD_*` is never passed.
 *
 * The caller's W3C trace context, when valid, is passed as `TRACEPARENT` and `TRACESTATE` (the
 * OpenTelemetry convention for environment-carried context), so a traced child process joins
 * the client's trace.
 *
 * @param extra The variables the process declares.
 * @param trace The caller's trace context.
 * @returns The environment for `Deno.Command` with `clearEnv: true`.
 */
export function childEnv(
  extra: Record<string, string> = {},
  trace?: RunOptions["trace"],
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of INHERITED_ENV) {
    let value: string | undefined;
    try {
      value = Deno.env.get(name);
    } catch {
      value = undefined; // no --allow-env for it
    }
    if (value !== undefined) env[name] = value;
  }
  env.PATH ??= "/usr/local/bin:/usr/bin:/bin";
  for (const [name, value] of Object.entries(extra)) {
    if (!name.startsWith("LD_")) env[name] = value;
  }
  if (trace && /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/.test(trace.traceparent)) {
    env.TRACEPARENT = trace.traceparent;
    if (trace.tracestate && /^[\x20-\x7e]{1,512}$/.test(trace.tracestate)) {
      env.TRACESTATE = trace.tracestate;
    }
  }
  return env;
}

/**
 * The primary group of a user, from `/etc/passwd`.
 *
 * @param uid The user.
 * @returns The group id.
 * @throws {Deno.errors.PermissionDenied} When the user is not there (or it cannot be read):
 *   running it with the server's group is never the fallback.
 */
export function primaryGroup(uid: number): number {
  let table = "";
  try {
    table = Deno.readTextFileSync("/etc/passwd");
  } catch {
    table = "";
  }
  for (const line of table.split("\n")) {
    const fields = line.split(":");
    if (fields[2] !== undefined && fields[2] !== "" && Number(fields[2]) === uid) {
      const gid = Number(fields[3]);
      if (fields[3] !== "" && Number.isInteger(gid)) return gid;
    }
  }
  throw new Deno.errors.PermissionDenied(
    `user ${uid} has no primary group in /etc/passwd: give the process a gid`,
  );
}

/**
 * The server's working directory, if it may read its path.
 *
 * @returns The directory, or `undefined` without read permission for it.
 */
export function currentDirectory(): string | undefined {
  try {
    return Deno.cwd();
  } catch {
    return undefined;
  }
}

/**
 * Whether a user may enter a directory: search permission on it and every directory above it,
 * by the owner, group or other bits (supplementary groups are not given to children).
 *
 * @param dir An absolute directory.
 * @param uid The user.
 * @param gid The user's group.
 * @returns `undefined` when the server cannot tell (no permission to look).
 */
export function canEnter(dir: string, uid: number, gid?: number): boolean | undefined {
  if (uid === 0) return true;
  const parts = dir.split("/").filter(Boolean);
  for (let i = 0; i <= parts.length; i++) {
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(`/${parts.slice(0, i).join("/")}`);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return false;
      return undefined;
    }
    const mode = info.mode ?? 0o777;
    const bit = info.uid === uid ? 0o100 : info.gid === gid ? 0o010 : 0o001;
    if ((mode & bit) === 0) return false;
  }
  return true;
}

/**
 * Where a command runs: its `cwd`; without one, the server's working directory, unless the
 * command runs as a user who cannot enter it: then `/`.
 *
 * @param definition The command.
 * @returns The directory, or `undefined` for the server's own.
 */
export function workingDirectory(definition: CommandProcess): string | undefined {
  if (definition.cwd !== undefined || definition.uid === undefined) return definition.cwd;
  const here = currentDirectory();
  if (here === undefined) return undefined;
  return canEnter(here, definition.uid, definition.gid) === false ? "/" : undefined;
}

/**
 * Starts a command in its own process group (session) with piped stdio.
 *
 * When the program exits while other members of its group are still running, they are sent
 * SIGTERM and, after `killGrace`, SIGKILL, so nothing is left behind and the pipes close.
 *
 * @param definition The command process.
 * @param options Params, caller and output sink.
 * @returns The running process.
 * @throws {Deno.errors.NotFound} When the program does not exist.
 */
export function startCommand(definition: CommandProcess, options: RunOptions): RunningProcess {
  const [program, ...args] = expandTemplate(definition.command, options.params);
  const env = childEnv(definition.env, options.trace);
  const cwd = workingDirectory(definition);
  const common = {
    cwd,
    env,
    clearEnv: true,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    uid: definition.uid,
    // A user without a group gets its own primary group, never the server's (root's).
    gid: definition.gid ??
      (definition.uid === undefined ? undefined : primaryGroup(definition.uid)),
  } as const;
  // Through setsid(1) Deno can spawn without forking the whole server (see spawnMode).
  const path = spawnMode() === "setsid" && runAllowed(program)
    ? resolveProgram(program, env.PATH)
    : undefined;
  // A warm launcher, when the command keeps some (server/warm_pool.ts): it becomes the program.
  const warm = path === undefined ? undefined : takeWarm(definition, cwd, path, args, options);
  let child: Deno.ChildProcess;
  try {
    child = warm?.child ??
      (path === undefined
        ? new Deno.Command(program, { ...common, args, detached: true }).spawn()
        : new Deno.Command(SETSID, { ...common, args: [path, ...args] }).spawn());
  } catch (error) {
    const { uid, gid } = definition;
    const dir = cwd ?? currentDirectory();
    if (
      error instanceof Deno.errors.PermissionDenied && uid !== undefined && dir !== undefined &&
      canEnter(dir, uid, gid) === false
    ) {
      throw new Deno.errors.PermissionDenied(
        `user ${uid} cannot enter the working directory "${dir}"`,
      );
    }
    throw error;
  }
  const pid = child.pid;
  // The ledger lets a server started after a crash end this group (server/process_ledger.ts).
  const ended = warm?.ended ?? recordGroup(pid);
  // Until setsid(1) has made the child a session leader, its group is not yet its own: a
  // signal sent that early goes to the child itself (which then never runs the program).
  let leader = path === undefined;
  const signals = signalMode();
  const signalGroup = (signal: Deno.Signal): boolean => {
    if (signals !== "direct") {
      // Without the whole --allow-run: the child through its handle at once, and its group
      // through the kill program when the server may run it (server/signals.ts).
      if (signals === "program") void signalGroupLater(pid, signal);
      try {
        child.kill(signal);
        return true;
      } catch {
        return false;
      }
    }
    if (killGroup(pid, signal)) return leader = true;
    if (leader) return false;
    try {
      Deno.kill(pid, signal);
      return true;
    } catch {
      return false;
    }
  };
  const stdin = child.stdin.getWriter();
  let inputClosed = false;
  // The launcher's command goes first; the client's input follows it in the same pipe.
  if (warm) stdin.write(encoder.encode(warm.script)).catch(() => {});

  const stopPumps = new PumpStop();
  const pumpOptions = { stop: stopPumps };
  let pumped = false;
  const pumps = Promise.all([
    pumpOutput(
      child.stdout,
      (data) => options.output.write("stdout", data),
      undefined,
      pumpOptions,
    ),
    // stderr is usually quiet: its pending read holds the smallest buffer from the start.
    pumpOutput(
      child.stderr,
      (data) => options.output.write("stderr", data),
      MIN_READ_SIZE,
      pumpOptions,
    ),
  ]).then(() => {
    pumped = true;
  });

  // Not an async function awaiting the status: that would keep its frame for the process's
  // whole life; this keeps one reaction until the exit.
  const exited = child.status.then(async (status): Promise<ExitInfo> => {
    if (!inputClosed) {
      inputClosed = true;
      stdin.close().catch(() => {});
    }
    // Members of the group that outlive the leader would keep the pipes open: end them.
    leader = true; // the child has been reaped: never signal its pid alone again
    // Usually the pipes have ended with the program: no timers then (a quick call's path).
    if (!pumped) await Promise.race([pumps, nextTurn()]);
    if (pumped) {
      // SIGTERM, and SIGKILL after the grace if anything was left; the exit need not wait, and
      // the signal goes in the next task, once the result is out: the group is usually gone,
      // and the "no such process" error of a group just emptied took 60-100 µs of a call's
      // path (docs/benchmarks.md, round nine).
      setImmediate(() => void endGroup(pid, options.killGrace));
    } else {
      const others = await signalGroupLater(pid, "SIGTERM");
      // A descendant that called setsid is out of reach of group signals and may hold the
      // pipes: once the group had its grace, stop reading pipes that stay empty, and end.
      const grace = setTimeout(() => stopPumps.stop(), options.killGrace + PIPE_GRACE);
      const timer = others
        ? setTimeout(() => void signalGroupLater(pid, "SIGKILL"), options.killGrace)
        : undefined;
      await pumps;
      // The pipes ending says nothing about members that never held them (or ignore SIGTERM):
      // SIGKILL stays due unless the group is gone.
      if (!(await groupAlive(pid))) clearTimeout(timer);
      clearTimeout(grace);
    }
    ended();
    return status.signal ? { signal: status.signal } : { code: status.code };
  });

  return {
    pid,
    write: (data) => stdin.write(data),
    closeInput: async () => {
      if (inputClosed) return;
      inputClosed = true;
      await stdin.close().catch(() => {});
    },
    kill: (signal) => void signalGroup(signal),
    exited,
  };
}

/** Resolves on the next event-loop turn (after pending I/O callbacks). */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Options for {@linkcode pumpOutput}. */
export interface PumpOptions {
  /**
   * When stopped, reading stops as soon as the pipe is empty (after what it still holds), even
   * though its write end is still open: a descendant that left the process group may hold it.
   */
  stop?: PumpStop;
}

/**
 * Stops the pipe pumps of one process ({@linkcode PumpOptions.stop}). What an `AbortController`
 * would do for them, without its signal and event listeners: every running command keeps one
 * for its whole life (about 1 KB less per session; docs/benchmarks.md, "Round twelve").
 *
 * @example
 * ```ts
 * import { PumpStop } from "./runner.ts";
 * import assert from "node:assert/strict";
 *
 * const stop = new PumpStop();
 * const heard: string[] = [];
 * stop.listen(() => heard.push("first"));
 * const second = () => heard.push("second");
 * stop.listen(second);
 * stop.unlisten(second);
 * stop.stop();
 * stop.stop();
 * assert.ok(stop.stopped);
 * assert.deepEqual(heard, ["first"]);
 * ```
 */
export class PumpStop {
  #stopped = false;
  #listeners: (() => void)[] = [];

  /** Whether {@linkcode PumpStop.stop} was called. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /**
   * Calls `listener` when the pumps are told to stop (once).
   *
   * @param listener What to call.
   */
  listen(listener: () => void): void {
    if (!this.#stopped) this.#listeners.push(listener);
  }

  /**
   * Forgets a listener.
   *
   * @param listener One given to {@linkcode PumpStop.listen}.
   */
  unlisten(listener: () => void): void {
    const at = this.#listeners.indexOf(listener);
    if (at >= 0) this.#listeners.splice(at, 1);
  }

  /** Tells the pumps to stop; listeners are called once, in order. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    const listeners = this.#listeners;
    this.#listeners = [];
    for (const listener of listeners) listener();
  }
}

/** How long a stopped pump waits for more bytes before it lets the pipe go. */
const PIPE_IDLE_AFTER_STOP = 50;

/**
 * How long after a command exits its pipes may stay open, beyond `killGrace`: a descendant that
 * called `setsid` escapes the group signals and could hold them forever.
 */
export const PIPE_GRACE = 1000;

/** The smallest read from a child's pipe: what a quiet process holds per stream. */
export const MIN_READ_SIZE = 256;
/** The first read from a child's stdout. */
export const START_READ_SIZE = 4 * 1024;
/** The largest read from a child's pipe (a Linux pipe holds 64 KiB by default). */
export const MAX_READ_SIZE: number = POOLED_READ_SIZE;

/**
 * Reads a child's pipe into `write` until it ends, with a buffer that adapts to the process.
 *
 * A pending read holds its buffer for as long as the process is quiet, so reads start at
 * `initial` ({@linkcode START_READ_SIZE} unless told), double (up to {@linkcode MAX_READ_SIZE}) each time a read fills
 * the buffer, and shrink each time a read uses less than a quarter of it (see `shrunk`). Reads that use most of
 * the buffer are handed on as they are; smaller ones are copied into an array of their own size
 * (the output log keeps chunks, so a small chunk must not pin a large buffer) and the buffer is
 * used again for the next read.
 *
 * @param stream The pipe (a byte stream).
 * @param write Where each chunk goes; reading waits for it. When it throws, reading stops.
 * @param initial The size of the first read (at least {@linkcode MIN_READ_SIZE}).
 * @returns A promise that resolves when the pipe has ended or reading stopped.
 */
export async function pumpOutput(
  stream: ReadableStream<Uint8Array>,
  write: (data: Uint8Array) => Promise<void>,
  initial: number = START_READ_SIZE,
  options: PumpOptions = {},
): Promise<void> {
  const reader = stream.getReader({ mode: "byob" });
  let size = Math.min(Math.max(initial, MIN_READ_SIZE), MAX_READ_SIZE);
  let buffer: ArrayBuffer | undefined;
  const { stop } = options;
  // Once told to stop, a read that is pending is cancelled at once, and every later read (what
  // the pipe still holds) gets PIPE_IDLE_AFTER_STOP to complete. One listener and at most one
  // timer per pump, not a promise per read: a quiet process keeps only its pending read.
  let reading = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const cancel = () => void reader.cancel().catch(() => {});
  const onStop = () => {
    if (reading) cancel();
  };
  stop?.listen(onStop);
  // The last read's result, its bytes and its chunk live outside the loop so that they can be
  // dropped before the next read waits: a suspended async function keeps every register it
  // used, and a quiet process would otherwise pin the buffer of its last read (4 KiB after the
  // first line) on top of the small one its pending read holds.
  let outcome: ReadableStreamReadResult<Uint8Array> | undefined;
  let value: Uint8Array | undefined;
  let chunk: Uint8Array | undefined;
  try {
    while (true) {
      // Read behind OUTPUT_HEADROOM spare bytes: a front end can put its frame header there.
      // Full-size buffers come from the output log's pool of evicted ones when it has some.
      buffer ??= size === POOLED_READ_SIZE
        ? takeReadBuffer()
        : new ArrayBuffer(OUTPUT_HEADROOM + size);
      if (stop?.stopped) timer = setTimeout(cancel, PIPE_IDLE_AFTER_STOP);
      reading = true;
      outcome = value = chunk = undefined;
      outcome = await reader.read(new Uint8Array(buffer, OUTPUT_HEADROOM, size));
      reading = false;
      clearTimeout(timer);
      value = outcome.value;
      if (outcome.done || value === undefined) break;
      const n = value.byteLength;
      if (n * 4 >= size * 3) {
        chunk = withHeadroom(value);
        buffer = undefined;
      } else {
        chunk = copyWithHeadroom(value);
        buffer = value.buffer as ArrayBuffer;
      }
      const next = n === size
        ? Math.min(size * 2, MAX_READ_SIZE)
        : n * 4 < size
        ? shrunk(size, n)
        : size;
      if (next !== size) {
        size = next;
        buffer = undefined;
      }
      if (n > 0) await write(chunk);
    }
  } catch {
    // The sink was closed (the session ended early): stop reading and let the pipe go.
    await reader.cancel().catch(() => {});
  } finally {
    clearTimeout(timer);
    stop?.unlisten(onStop);
  }
}

/**
 * The read size after a read of `n` bytes that used less than a quarter of `size`: halved as
 * often as that read would still have used less than a quarter (at least once), so a process
 * that printed a line and went quiet holds the smallest buffer from its second read on.
 */
function shrunk(size: number, n: number): number {
  let next = size / 2;
  while (next > MIN_READ_SIZE && n * 4 < next) next /= 2;
  return Math.max(next, MIN_READ_SIZE);
}

/** Where setsid(1), the util-linux program that starts a program in a new session, is. */
export const SETSID = "/usr/bin/setsid";

let mode: "setsid" | "detached" | undefined;

/**
 * How commands get their own session and process group, decided once per server process.
 *
 * - `"setsid"`: the server may run `/usr/bin/setsid` (util-linux). The command is spawned as
 *   `setsid /path/to/program args...` without `detached`, so Deno starts it with
 *   `posix_spawn` (vfork) instead of forking the whole server, which costs time that grows with
 *   the server's memory (a few milliseconds at 200 MB). setsid(1) calls `setsid()` and execs
 *   the program in place (the caller is not a group leader), so the pid stays the session and
 *   group id. It is only used for a program the server may run itself (its run permission is
 *   checked per spawn), so scoped `--allow-run` lists keep their meaning.
 * - `"detached"`: `Deno.Command({ detached: true })`, where Deno forks and calls `setsid()`.
 *   This is what a server without permission to run `setsid` uses (`deno task start`).
 *
 * @returns The mode.
 */
export function spawnMode(): "setsid" | "detached" {
  if (mode === undefined) {
    mode = "detached";
    try {
      if (
        Deno.build.os === "linux" &&
        Deno.permissions.querySync({ name: "run", command: "setsid" }).state === "granted" &&
        Deno.permissions.querySync({ name: "run", command: SETSID }).state === "granted" &&
        Deno.statSync(SETSID).isFile
      ) mode = "setsid";
    } catch {
      // no read permission, or no setsid: stay with detached
    }
  }
  return mode;
}

function runAllowed(program: string): boolean {
  try {
    return Deno.permissions.querySync({ name: "run", command: program }).state === "granted";
  } catch {
    return false;
  }
}

/**
 * Finds the file a program name refers to, as `execvp` would: an absolute path is taken as it
 * is, a bare name is looked up in `PATH` (a relative path with a slash is left to Deno).
 *
 * @returns The path, or `undefined` to leave the spawn to Deno (which then reports what is
 * wrong, e.g. a missing program, exactly as without setsid).
 */
function resolveProgram(program: string, path: string | undefined): string | undefined {
  if (program === "" || (program.includes("/") && !program.startsWith("/"))) return undefined;
  // A failed stat costs tens of microseconds (an exception): remember where a name was found
  // and only check that file is still there.
  const key = `${path}\0${program}`;
  const known = resolved.get(key);
  if (known !== undefined) {
    if (isExecutable(known)) return known;
    resolved.delete(key);
  }
  const candidates = program.startsWith("/")
    ? [program]
    : (path ?? "").split(":").filter((dir) => dir.startsWith("/")).map((dir) =>
      `${dir}/${program}`
    );
  for (const candidate of candidates) {
    if (isExecutable(candidate)) {
      if (resolved.size >= 1024) resolved.clear();
      resolved.set(key, candidate);
      return candidate;
    }
  }
  return undefined;
}

const resolved = new Map<string, string>();

function isExecutable(file: string): boolean {
  try {
    const info = Deno.statSync(file);
    return info.isFile && info.mode !== null && (info.mode & 0o111) !== 0;
  } catch {
    return false; // not there, or not readable
  }
}

const encoder = new TextEncoder();

function noBus(): Promise<void> {
  return Promise.reject(new Error("Cannot publish: this session has no event bus"));
}

/** The warm pools of command definitions, made on their first call, and their launchers' env. */
const warmPools = new Map<CommandProcess, { pool: WarmPool; base: Record<string, string> }>();

/**
 * Takes a warm launcher for a call of a command with `warm`, and the text that makes it the
 * program. Commands that run as another user, and calls whose words hold a NUL, start cold.
 */
function takeWarm(
  definition: CommandProcess,
  cwd: string | undefined,
  path: string,
  args: readonly string[],
  options: RunOptions,
): (Launcher & { script: string }) | undefined {
  const size = Math.min(definition.warm ?? 0, MAX_WARM);
  if (size <= 0 || definition.uid !== undefined || definition.gid !== undefined) return undefined;
  const warm = warmPools.get(definition);
  if (!warm) {
    const base = childEnv(definition.env);
    const shell = runAllowed(LAUNCHER_SHELL)
      ? resolveProgram(LAUNCHER_SHELL, base.PATH)
      : undefined;
    if (shell === undefined) return undefined;
    const pool = new WarmPool({
      size,
      spawn: () =>
        new Deno.Command(SETSID, {
          cwd,
          env: base,
          clearEnv: true,
          stdin: "piped",
          stdout: "piped",
          stderr: "piped",
          args: [shell, "-c", LAUNCHER_SCRIPT],
        }).spawn(),
    });
    warmPools.set(definition, { pool, base });
    pool.fill(); // this call starts cold; the next ones find launchers ready
    return undefined;
  }
  // What the call's environment adds to the launcher's: the caller's trace context, and a PWD
  // the command sets (the shell replaces the one it inherited).
  const extra: Record<string, string> = {};
  if (options.trace) {
    for (const [name, value] of Object.entries(childEnv(definition.env, options.trace))) {
      if (warm.base[name] !== value) extra[name] = value;
    }
  }
  if (warm.base.PWD !== undefined) extra.PWD = warm.base.PWD;
  const script = launchScript(path, args, extra);
  if (script === undefined || script.length > MAX_WARM_SCRIPT) return undefined;
  const launcher = warm.pool.take();
  return launcher && { ...launcher, script };
}

/**
 * Whether warm starts can work in this server: it may run setsid(1) and sh(1) and find them
 * (docs/config.md, "Warm starts"). Without, commands with `warm` start cold.
 *
 * @returns Whether they can.
 */
export function warmAvailable(): boolean {
  return spawnMode() === "setsid" && runAllowed(LAUNCHER_SHELL) &&
    resolveProgram(LAUNCHER_SHELL, childEnv().PATH) !== undefined;
}

/**
 * Ends the warm launchers of a command (when it is removed or replaced, and at shutdown).
 *
 * @param definition The command.
 * @returns A promise that resolves when they have exited.
 */
export async function closeWarmPool(definition: ProcessDefinition): Promise<void> {
  if (definition.kind !== "command") return;
  const warm = warmPools.get(definition);
  if (!warm) return;
  warmPools.delete(definition);
  await warm.pool.close();
}

/**
 * Runs a TypeScript function process.
 *
 * @param definition The function process.
 * @param options Params, caller and output sink.
 * @returns The running process.
 */
export function startFunction(definition: FunctionProcess, options: RunOptions): RunningProcess {
  const io = new FunctionIO(options.output);
  // The function has ended once it returned and the output took every write it made, awaited
  // or not (as a program's output is flushed when it exits).
  const ended = (info: ExitInfo): ExitInfo | Promise<ExitInfo> => {
    io.endInput();
    const idle = io.idle;
    return idle === undefined ? info : idle.then(() => info);
  };
  let out: unknown;
  let done: ExitInfo | Promise<ExitInfo> | undefined;
  try {
    out = definition.run(new FunctionContext(options, io));
  } catch (error) {
    done = ended({ error, failed: true });
  }
  if (done === undefined) {
    try {
      done = isThenable(out)
        ? Promise.resolve(out).then(
          (value) => ended({ value }),
          (error) => ended({ error, failed: true }),
        )
        : ended({ value: out });
    } catch (error) {
      // What it returned threw when asked for its `then`: the function failed.
      done = ended({ error, failed: true });
    }
  }
  // Returned without waiting, all output taken: the process has ended already.
  const exit = done instanceof Promise ? undefined : done;
  return {
    pid: undefined,
    write: (data) => io.input().write(data),
    closeInput: () => io.closeInput(),
    kill: (signal) => io.abort(signal),
    exited: exit === undefined ? done as Promise<ExitInfo> : Promise.resolve(exit),
    exit,
  };
}

/** Whether `await` would wait for `value` (a promise or another thenable). */
function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null | undefined)?.then === "function";
}

/**
 * A function process's streams and signal, made when the function (or a client's input) first
 * needs them: a quick call that only writes to stdout does not pay for stdin and stderr.
 */
class FunctionIO {
  #sink: OutputSink;
  /** Settles (never rejects) when the last queued write was taken; `undefined` when none is. */
  #tail: Promise<void> | undefined;
  #queued = 0;
  #dequeue = (): void => {
    if (--this.#queued === 0) this.#tail = undefined;
  };
  #abort: AbortController | undefined;
  #input: TransformStream<Uint8Array, Uint8Array> | undefined;
  #inputWriter: WritableStreamDefaultWriter<Uint8Array> | undefined;
  #inputClosed = false;
  #stdout: WritableStream<Uint8Array> | undefined;
  #stderr: WritableStream<Uint8Array> | undefined;

  constructor(sink: OutputSink) {
    this.#sink = sink;
  }

  get stdin(): ReadableStream<Uint8Array> {
    this.input();
    return this.#input!.readable;
  }

  get stdout(): WritableStream<Uint8Array> {
    return this.#stdout ??= this.#output("stdout");
  }

  get stderr(): WritableStream<Uint8Array> {
    return this.#stderr ??= this.#output("stderr");
  }

  get signal(): AbortSignal {
    return (this.#abort ??= new AbortController()).signal;
  }

  /** Writes still to be taken by the output, across both streams. */
  get queued(): number {
    return this.#queued;
  }

  /** Settles when every write queued so far was taken; `undefined` when none is waiting. */
  get idle(): Promise<void> | undefined {
    return this.#tail;
  }

  /**
   * Runs `take` once every write queued before it was taken, and returns its promise: the
   * function's `write`, its writers and its streams' sinks all queue here, so output keeps the
   * order in which it was written. `failed` hears a failure (the returned promise rejects too).
   */
  queue(take: () => Promise<void>, failed?: (error: unknown) => void): Promise<void> {
    const previous = this.#tail;
    const taken = previous === undefined ? attempt(take) : previous.then(take);
    this.#queued++;
    this.#tail = taken.then(
      this.#dequeue,
      failed === undefined ? this.#dequeue : (error) => {
        this.#dequeue();
        failed(error);
      },
    );
    return taken;
  }

  /** The function's `write`: a string as UTF-8, bytes as a copy, in order with the streams. */
  write(data: string | Uint8Array, options?: WriteOptions): Promise<void> {
    const stream = options?.stream ?? "stdout";
    if (stream !== "stdout" && stream !== "stderr") {
      return refused(
        new TypeError(
          `Cannot write to a function's output: invalid stream ${
            JSON.stringify(stream)
          }, expected "stdout" or "stderr"`,
        ),
      );
    }
    let chunk: Uint8Array;
    if (typeof data === "string") chunk = encoder.encode(data);
    else if (data instanceof Uint8Array) chunk = data.slice();
    else {
      return refused(
        new TypeError(
          `Cannot write to a function's output: expected a string or a Uint8Array, got ${
            data === null ? "null" : typeof data
          }`,
        ),
      );
    }
    const sink = this.#sink;
    return this.queue(() => sink.write(stream, chunk));
  }

  /** The writer of the function's standard input. */
  input(): WritableStreamDefaultWriter<Uint8Array> {
    return this.#inputWriter ??= (this.#input ??= new TransformStream()).writable.getWriter();
  }

  /** Closes the function's standard input (the client closed it). */
  async closeInput(): Promise<void> {
    if (this.#inputClosed) return;
    this.#inputClosed = true;
    await this.input().close().catch(() => {});
  }

  /** Ends the function's standard input when it returned. */
  endInput(): void {
    if (this.#inputClosed) return;
    this.#inputClosed = true;
    this.#inputWriter?.abort().catch(() => {});
  }

  /** Aborts the function's signal. */
  abort(signal: string): void {
    const abort = this.#abort ??= new AbortController();
    if (!abort.signal.aborted) abort.abort(new DOMException(`Received ${signal}`, "AbortError"));
  }

  #output(stream: OutputStream): WritableStream<Uint8Array> {
    const sink = this.#sink;
    return new FunctionOutput(this, (chunk) => sink.write(stream, chunk));
  }
}

/** A rejection that is no unhandled error when nobody awaits it (fire-and-forget writes). */
function refused(error: unknown): Promise<never> {
  const rejected = Promise.reject(error);
  rejected.catch(() => {});
  return rejected;
}

/** Calls `take`, turning a throw into a rejection. */
function attempt(take: () => Promise<void>): Promise<void> {
  try {
    return take();
  } catch (error) {
    return Promise.reject(error);
  }
}

/** A copy of a chunk written to a function's output (the writer may reuse its buffer). */
function copyChunk(chunk: unknown): Uint8Array {
  if (!(chunk instanceof Uint8Array)) {
    throw new TypeError(
      `Cannot write to a function's output: expected a Uint8Array chunk, got ${
        chunk === null ? "null" : typeof chunk
      }`,
    );
  }
  return chunk.slice();
}

/**
 * A function process's stdout or stderr: a standard `WritableStream`, whose writers hand each
 * chunk to the session's output as soon as the previous one was taken, without the stream's
 * queue in between. A quick call's one `write` costs a fraction of what the queue's promise
 * hops cost (docs/benchmarks.md, round nine). `pipeTo` and the other stream operations use the
 * standard machinery; either way the output keeps its order and waits for room.
 */
class FunctionOutput extends WritableStream<Uint8Array> {
  #io: FunctionIO;
  #write: (chunk: Uint8Array) => Promise<void>;

  constructor(io: FunctionIO, write: (chunk: Uint8Array) => Promise<void>) {
    super({
      write: (chunk) => {
        const copy = copyChunk(chunk);
        return io.queue(() => write(copy));
      },
    });
    this.#io = io;
    this.#write = write;
  }

  override getWriter(): WritableStreamDefaultWriter<Uint8Array> {
    return new FunctionOutputWriter(this, this.#io, this.#write);
  }
}

/**
 * The writer of a {@linkcode FunctionOutput}: the standard writer (it holds the stream's lock,
 * and `close`, `abort` and `closed` are the standard ones), with `write`, `ready` and
 * `desiredSize` that go straight to the output. Writes are taken one at a time, in order; a
 * failed write errors the stream as a failed sink write does.
 */
class FunctionOutputWriter extends WritableStreamDefaultWriter<Uint8Array> {
  #io: FunctionIO;
  #write: (chunk: Uint8Array) => Promise<void>;
  #error: { reason: unknown } | undefined;
  #closing = false;
  #released = false;
  #failed = (error: unknown): void => this.#fail(error);

  constructor(
    stream: FunctionOutput,
    io: FunctionIO,
    write: (chunk: Uint8Array) => Promise<void>,
  ) {
    super(stream);
    this.#io = io;
    this.#write = write;
  }

  override get desiredSize(): number | null {
    if (this.#released) throw new TypeError("Cannot get desiredSize: the writer was released");
    if (this.#error) return null;
    return this.#closing || this.#io.queued > 0 ? 0 : super.desiredSize;
  }

  override get ready(): Promise<void> {
    const idle = this.#io.idle;
    return idle === undefined ? super.ready : idle.then(() => super.ready);
  }

  override write(chunk: Uint8Array): Promise<void> {
    // Refusals are marked handled, as `write`'s are: a write nobody awaits is no unhandled error.
    if (this.#released) return refused(new TypeError("Cannot write: the writer was released"));
    if (this.#error) return refused(this.#error.reason);
    if (this.#closing) return refused(new TypeError("Cannot write: the stream is closing"));
    let copy: Uint8Array;
    try {
      copy = copyChunk(chunk);
    } catch (error) {
      // As a standard stream's sink would: the bad chunk fails in its turn, after every write
      // queued before it was taken, and errors the stream for the writes after it.
      return this.#io.queue(() => Promise.reject(error), this.#failed);
    }
    return this.#io.queue(
      () => this.#error ? Promise.reject(this.#error.reason) : this.#write(copy),
      this.#failed,
    );
  }

  override async close(): Promise<void> {
    if (this.#released) throw new TypeError("Cannot close: the writer was released");
    this.#closing = true;
    await this.#io.idle;
    return await super.close();
  }

  override abort(reason?: unknown): Promise<void> {
    if (this.#released) {
      return Promise.reject(new TypeError("Cannot abort: the writer was released"));
    }
    // As the standard writer: later writes are refused with the reason.
    this.#error ??= { reason };
    return super.abort(reason);
  }

  override releaseLock(): void {
    this.#released = true;
    super.releaseLock();
  }

  /** Errors the stream with the first failure, as a failed sink write does. */
  #fail(error: unknown): void {
    if (this.#error) return;
    this.#error = { reason: error };
    if (!this.#released) super.abort(error).catch(() => {});
  }
}

/**
 * What a function process receives: nothing but {@linkcode ProcessContext}. A class, not an
 * object literal: an object with getters costs about 1.4 µs to make (V8 keeps it as a
 * dictionary), an instance 0.04.
 */
class FunctionContext implements ProcessContext {
  readonly params: readonly string[];
  readonly paramsOmitted: boolean;
  readonly caller: Caller;
  readonly sessionId: string;
  readonly trace: RunOptions["trace"];
  readonly bus: EventBus | undefined;
  readonly publish: (name: string, data: unknown) => Promise<void>;
  #io: FunctionIO;
  #write: ProcessContext["write"] | undefined;

  constructor(options: RunOptions, io: FunctionIO) {
    // Its own copy: the session's params are frozen and shared by its records and events, and a
    // function written in JavaScript may still change what it was given.
    this.params = [...options.params];
    this.paramsOmitted = options.paramsOmitted ?? false;
    this.caller = options.caller;
    this.sessionId = options.sessionId;
    this.trace = options.trace;
    this.bus = options.bus;
    // An own function, not a method: functions destructure it (`run({ publish })`).
    this.publish = options.publish ?? noBus;
    this.#io = io;
  }

  get stdin(): ReadableStream<Uint8Array> {
    return this.#io.stdin;
  }

  get stdout(): WritableStream<Uint8Array> {
    return this.#io.stdout;
  }

  get stderr(): WritableStream<Uint8Array> {
    return this.#io.stderr;
  }

  get signal(): AbortSignal {
    return this.#io.signal;
  }

  /** A function of its own, as `publish`: functions destructure it (`run({ write })`). */
  get write(): ProcessContext["write"] {
    const io = this.#io;
    return this.#write ??= (data, options) => io.write(data, options);
  }
}
