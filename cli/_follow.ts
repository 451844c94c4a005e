/**
 * Follows a remote process to its end for `call` and `attach`: output to the local stdout and
 * stderr, Ctrl-C to the process, a bounded wait for a lost server, and the exit code.
 *
 * - A closed local stdout (`| head`) cancels the remote process and exits
 *   {@linkcode EXIT_PIPE} (141) without a word, as ssh does under a shell.
 * - When the connection drops, the client reconnects and reattaches; after
 *   `reconnectTimeout` without a connection it gives up with {@linkcode EXIT_CONNECTION}.
 * - A fulfilled result with a value (TypeScript processes) is printed as one JSON line on
 *   stdout after the output, unless `printResult` is off.
 *
 * @module
 */

import {
  ConnectionError,
  type PowClient,
  type PowClientOptions,
  type ProcessResult,
  RemoteError,
  type RemoteProcess,
  SessionLostError,
} from "../client/mod.ts";
import { signalNumber } from "../client/protocol/mod.ts";
import { EXIT_CONNECTION, EXIT_PIPE } from "./_common.ts";

/**
 * The local exit code of a remote result.
 *
 * @param result The result.
 * @returns The exit code; 128 + N for signal N; 0 or 1 otherwise.
 */
export function exitCodeOf(result: ProcessResult): number {
  if (result.exitCode !== undefined) return result.exitCode;
  if (result.signal !== undefined) {
    const n = signalNumber(result.signal);
    return n === undefined ? 1 : 128 + n;
  }
  return result.status === "fulfilled" ? 0 : 1;
}

/**
 * Watches the connection of a client: says on stderr when it is lost and when it is back, and
 * gives up (closes the client) when it stays lost for longer than the timeout.
 */
export class ConnectionWatch {
  #prefix: string;
  #timeout: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #client: PowClient | undefined;
  #lost = false;
  #closed = "";
  /** Whether the watch gave up on the connection. */
  gaveUp = false;

  /**
   * Creates the watch.
   *
   * @param prefix The message prefix, e.g. `pow call`.
   * @param timeout How long to keep trying, in milliseconds.
   */
  constructor(prefix: string, timeout: number) {
    this.#prefix = prefix;
    this.#timeout = timeout;
  }

  /** The client options that make the watch see the connection. */
  get options(): PowClientOptions {
    return {
      // Short delays: the whole retry window is only a few seconds.
      reconnect: { initialDelay: 200, maxDelay: 2000 },
      onStateChange: (state) => this.#onState(state),
      onClose: ({ code, reason }) => {
        // 1005/1006 (and 0, what Deno reports for a dropped socket) carry no information.
        this.#closed = [0, 1005, 1006].includes(code)
          ? ""
          : ` (it closed the connection with ${code}${reason ? ` ${JSON.stringify(reason)}` : ""})`;
      },
    };
  }

  /**
   * Tells the watch which client to close when it gives up.
   *
   * @param client The client.
   */
  watch(client: PowClient): void {
    this.#client = client;
  }

  /** Stops the timer. */
  stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #onState(state: string): void {
    if (state === "reconnecting" && !this.#lost) {
      this.#lost = true;
      if (this.#timeout <= 0) return this.#giveUp();
      console.error(
        `${this.#prefix}: lost the connection to the server${this.#closed}; reconnecting for up to ${
          seconds(this.#timeout)
        }`,
      );
      this.#timer = setTimeout(() => this.#giveUp(), this.#timeout);
    } else if (state === "open" && this.#lost) {
      this.#lost = false;
      this.stop();
      console.error(`${this.#prefix}: reconnected`);
    }
  }

  #giveUp(): void {
    this.#timer = undefined;
    this.gaveUp = true;
    void this.#client?.close();
  }

  /** The message when giving up. */
  get message(): string {
    return `cannot reach the server: gave up reconnecting after ${seconds(this.#timeout)}`;
  }
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

/** Options of {@linkcode follow}. */
export interface FollowOptions {
  /** The message prefix, e.g. `pow call`. */
  prefix: string;
  /** The connection watch of the client. */
  watch: ConnectionWatch;
  /** Forward local stdin to the process (end of input closes its stdin). */
  stdin: boolean;
  /** Print a fulfilled result's value as a JSON line on stdout. */
  printResult: boolean;
  /** The local terminal is raw (pty): follow window-size changes. */
  pty: boolean;
}

/**
 * Follows a remote process until it ends.
 *
 * @param client The client.
 * @param proc The process.
 * @param options See {@linkcode FollowOptions}.
 * @returns The exit code.
 */
export async function follow(
  client: PowClient,
  proc: RemoteProcess,
  options: FollowOptions,
): Promise<number> {
  const { prefix, watch } = options;
  let interrupts = 0;
  const onInterrupt = () => {
    interrupts++;
    proc.signal(interrupts === 1 ? "interrupt" : "cancel").catch(() => {});
  };
  const onResize = () => {
    const { columns, rows } = terminalSize();
    proc.resize(columns, rows).catch(() => {});
  };
  Deno.addSignalListener("SIGINT", onInterrupt);
  if (options.pty) {
    Deno.stdin.setRaw(true);
    Deno.addSignalListener("SIGWINCH", onResize);
  }

  if (options.stdin) Deno.stdin.readable.pipeTo(proc.stdin).catch(() => {});
  let stdoutClosed = false;
  const onStdoutClosed = () => {
    if (stdoutClosed) return;
    stdoutClosed = true;
    proc.cancel().catch(() => {});
  };
  const stdout = pump(proc.stdout, Deno.stdout, onStdoutClosed);
  const stderr = pump(proc.stderr, Deno.stderr, () => {});

  let code: number;
  try {
    const result = await proc.result;
    await Promise.all([stdout, stderr]);
    if (stdoutClosed) return EXIT_PIPE;
    code = exitCodeOf(result);
    // Say why, unless the exit code says it all or we asked for the end ourselves.
    const endedByUs = interrupts >= 2 || stdoutClosed;
    if (
      result.status === "rejected" &&
      ((result.exitCode === undefined && result.signal === undefined) ||
        ((result.kind === "cancelled" || result.kind === "timeout") && !endedByUs))
    ) {
      console.error(`${prefix}: ${proc.name ?? "process"}: ${result.reason}`);
    }
    if (
      options.printResult && result.status === "fulfilled" && result.value !== null &&
      result.value !== undefined
    ) {
      await write(Deno.stdout, new TextEncoder().encode(`${JSON.stringify(result.value)}\n`))
        .catch(() => stdoutClosed = true);
      if (stdoutClosed) return EXIT_PIPE;
    }
  } catch (error) {
    await Promise.all([stdout, stderr]);
    if (stdoutClosed) return EXIT_PIPE;
    if (watch.gaveUp) {
      console.error(`${prefix}: ${watch.message}`);
      code = EXIT_CONNECTION;
    } else if (error instanceof SessionLostError) {
      console.error(`${prefix}: ${error.message}; its outcome is unknown`);
      code = EXIT_CONNECTION;
    } else if (error instanceof ConnectionError) {
      console.error(`${prefix}: ${error.message}`);
      code = EXIT_CONNECTION;
    } else {
      console.error(`${prefix}: ${error instanceof RemoteError ? error.message : String(error)}`);
      code = 1;
    }
  } finally {
    watch.stop();
    Deno.removeSignalListener("SIGINT", onInterrupt);
    if (options.pty) {
      Deno.removeSignalListener("SIGWINCH", onResize);
      Deno.stdin.setRaw(false);
    }
  }
  await client.close();
  return code;
}

/** The local terminal size; 80x24 when it is unknown or 0x0. */
export function terminalSize(): { columns: number; rows: number } {
  try {
    const size = Deno.consoleSize();
    if (size.columns > 0 && size.rows > 0) return size;
  } catch { /* not a terminal */ }
  return { columns: 80, rows: 24 };
}

async function pump(
  from: ReadableStream<Uint8Array>,
  to: { write(p: Uint8Array): Promise<number> },
  onClosed: () => void,
): Promise<void> {
  const reader = from.getReader();
  while (true) {
    let chunk: ReadableStreamReadResult<Uint8Array>;
    try {
      chunk = await reader.read();
    } catch {
      return; // the remote output failed: the result says why
    }
    if (chunk.done) return;
    try {
      await write(to, chunk.value);
    } catch {
      // The local side is closed (EPIPE): stop reading, tell the caller.
      onClosed();
      await reader.cancel().catch(() => {});
      return;
    }
  }
}

async function write(to: { write(p: Uint8Array): Promise<number> }, data: Uint8Array) {
  let at = 0;
  while (at < data.byteLength) at += await to.write(data.subarray(at));
}
