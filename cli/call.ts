/**
 * `pow call`: runs a process of a pow server like a local command.
 *
 * ```sh
 * deno run -A main.ts call --url ws://HOST:PORT/ [--token T] [--pty] NAME [PARAMS...]
 * ```
 *
 * Local stdin streams to the process (end of input closes its stdin), its stdout and stderr go
 * to the local ones, and the command exits with the process's exit code. Ctrl-C interrupts the
 * process; a second Ctrl-C cancels it. Exit codes: the remote exit code; 128 + N when a signal
 * ended it; 1 when it was refused or failed without an exit code (the reason on stderr);
 * {@linkcode EXIT_CONNECTION} (69) when the server could not be reached or the connection was
 * lost for good; 2 for usage errors.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  ConnectionError,
  PowClient,
  type ProcessResult,
  RemoteError,
  SessionLostError,
} from "../client/mod.ts";

/** Exit code when the server cannot be reached or the connection is lost for good (EX_UNAVAILABLE). */
export const EXIT_CONNECTION = 69;
/** Exit code for usage errors. */
export const EXIT_USAGE = 2;

const SIGNAL_NUMBERS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGKILL: 9,
  SIGPIPE: 13,
  SIGTERM: 15,
};

/** Usage of `call`. */
export const CALL_HELP = `Usage: deno run -A main.ts call --url URL [options] NAME [PARAMS...]

Runs process NAME of a pow server like a local command: stdin streams to it (end of input
closes its stdin), its stdout and stderr go to yours, and the exit code is its exit code.
Ctrl-C interrupts it; a second Ctrl-C cancels it.

Options:
  --url URL        The server's WebSocket URL, e.g. ws://127.0.0.1:8028/ (required)
  --token TOKEN    Bearer token (default: $POW_TOKEN)
  --pty            Run in a pseudo terminal (raw local terminal, follows window size)
  -h, --help       Show this help

Exit codes: the remote exit code; 128+N when signal N ended it; 1 when the process was
refused or failed without an exit code; 69 when the server could not be reached or the
connection was lost; 2 for usage errors.
`;

/**
 * Runs `call`.
 *
 * @param args The arguments after `call`.
 * @returns The exit code.
 */
export async function callCommand(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        url: { type: "string" },
        token: { type: "string" },
        pty: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    console.error(`pow call: ${(error as Error).message}\nRun "call --help" for usage.`);
    return EXIT_USAGE;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(CALL_HELP);
    return 0;
  }
  if (values.url === undefined || positionals.length === 0) {
    console.error(`pow call: --url and a process name are required\nRun "call --help" for usage.`);
    return EXIT_USAGE;
  }
  const [name, ...params] = positionals;
  const pty = values.pty === true && Deno.stdin.isTerminal();
  const token = values.token ?? Deno.env.get("POW_TOKEN");

  const client = new PowClient(values.url, { token, retryFirstConnect: false });
  try {
    await client.ready();
  } catch (error) {
    console.error(`pow call: ${(error as Error).message}`);
    return EXIT_CONNECTION;
  }
  const size = pty ? Deno.consoleSize() : undefined;
  const proc = client.start(name, params, {
    pty,
    ...(size ? { cols: size.columns, rows: size.rows } : {}),
  });

  let interrupts = 0;
  const onInterrupt = () => {
    interrupts++;
    proc.signal(interrupts === 1 ? "interrupt" : "cancel").catch(() => {});
  };
  const onResize = () => {
    const { columns, rows } = Deno.consoleSize();
    proc.resize(columns, rows).catch(() => {});
  };
  Deno.addSignalListener("SIGINT", onInterrupt);
  if (pty) {
    Deno.stdin.setRaw(true);
    Deno.addSignalListener("SIGWINCH", onResize);
  }

  // stdin: forwarded until local EOF, then the remote stdin is closed.
  const input = Deno.stdin.readable.pipeTo(proc.stdin).catch(() => {});
  const stdout = proc.stdout.pipeTo(Deno.stdout.writable, {
    preventClose: true,
    preventAbort: true,
  });
  const stderr = proc.stderr.pipeTo(Deno.stderr.writable, {
    preventClose: true,
    preventAbort: true,
  });

  let code: number;
  try {
    const result = await proc.result;
    await Promise.allSettled([stdout, stderr]);
    code = exitCodeOf(result);
    if (
      result.status === "rejected" && result.exitCode === undefined && result.signal === undefined
    ) {
      console.error(`pow call: ${name}: ${result.reason}`);
    }
  } catch (error) {
    await Promise.allSettled([stdout, stderr]);
    code = error instanceof ConnectionError && !(error instanceof SessionLostError)
      ? EXIT_CONNECTION
      : 1;
    const message = error instanceof RemoteError || error instanceof SessionLostError ||
        error instanceof ConnectionError
      ? error.message
      : String(error);
    console.error(`pow call: ${message}`);
  } finally {
    Deno.removeSignalListener("SIGINT", onInterrupt);
    if (pty) {
      Deno.removeSignalListener("SIGWINCH", onResize);
      Deno.stdin.setRaw(false);
    }
  }
  void input;
  await client.close();
  return code;
}

/**
 * The local exit code of a remote result.
 *
 * @param result The result.
 * @returns The exit code, 128 + the signal's number, 0 or 1.
 */
export function exitCodeOf(result: ProcessResult): number {
  if (result.exitCode !== undefined) return result.exitCode;
  if (result.signal !== undefined) return 128 + (SIGNAL_NUMBERS[result.signal] ?? 0);
  return result.status === "fulfilled" ? 0 : 1;
}
