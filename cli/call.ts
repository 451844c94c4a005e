/**
 * `pow call`: runs a process of a pow server like a local command, the way ssh or
 * `kubectl exec` run a remote one.
 *
 * ```sh
 * deno run -A main.ts call --url ws://HOST:PORT/ [--token T] [--pty] [--no-result]
 *   [--reconnect-timeout SECONDS] NAME [PARAMS...]
 * ```
 *
 * Options come before NAME; everything after NAME is a param, even when it starts with `-`.
 * See {@linkcode CALL_HELP} for the behaviour and the exit codes.
 *
 * @module
 */

import {
  CliError,
  EXIT_AUTH,
  EXIT_CONNECTION,
  EXIT_PIPE,
  EXIT_USAGE,
  parseCommandLine,
  SERVER_OPTIONS,
  serverUrl,
  tokenFrom,
} from "./_common.ts";
import { connect } from "./_connect.ts";
import { ConnectionWatch, exitCodeOf, follow, terminalSize } from "./_follow.ts";

export { EXIT_AUTH, EXIT_CONNECTION, EXIT_PIPE, EXIT_USAGE, exitCodeOf };

/** Usage of `call`. */
export const CALL_HELP = `Usage: deno run -A main.ts call --url URL [options] NAME [PARAMS...]

Runs process NAME of a pow server like a local command: stdin streams to it (end of input
closes its stdin), its stdout and stderr go to yours, and the exit code is its exit code.
Options go before NAME: everything after NAME is a param, even if it starts with "-"
(call date -u). Ctrl-C interrupts the process; a second Ctrl-C cancels it.

Options:
  --url URL                  The server's URL, e.g. ws://127.0.0.1:8028/ (required;
                             http:// and https:// mean ws:// and wss://)
  --token TOKEN              Bearer token (default: $POW_TOKEN)
  --pty                      Run in a pseudo terminal of your terminal's size (80x24 when
                             unknown); needs a terminal on stdin, else a warning and no pty
  --reconnect-timeout SECS   How long to try to reconnect after losing the server, then
                             give up with status 69 (default: 10; 0 gives up at once)
  --no-result                Do not print the result value (see below)
  -h, --help                 Show this help

A TypeScript process's result value, when it is not null, is printed as one JSON line on
stdout after its output (commands have none).

Exit codes: the remote exit code; 128+N when signal N ended it (130 SIGINT, 137 SIGKILL,
139 SIGSEGV, 143 SIGTERM; when the server ended it, stderr says why); 1 when the process was refused or failed without an exit code;
141 when your stdout was closed (| head): the remote process is cancelled; 69 when the
server could not be reached, is not a pow server, stayed away longer than
--reconnect-timeout, or no longer has the session; 77 when it wants a (valid) token;
2 for usage errors.
`;

const OPTIONS = {
  ...SERVER_OPTIONS,
  pty: { type: "boolean" },
  "no-result": { type: "boolean" },
  "reconnect-timeout": { type: "string" },
} as const;

/**
 * Runs `call`.
 *
 * @param args The arguments after `call`.
 * @returns The exit code.
 */
export async function callCommand(args: string[]): Promise<number> {
  try {
    return await call(args);
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    const hint = error.exitCode === EXIT_USAGE ? `\nRun "call --help" for usage.` : "";
    console.error(`pow call: ${error.message}${hint}`);
    return error.exitCode;
  }
}

async function call(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(args, OPTIONS, true);
  if (values.help) {
    console.log(CALL_HELP);
    return 0;
  }
  const url = serverUrl(values.url as string | undefined);
  if (positionals.length === 0) throw new CliError("a process name is required", EXIT_USAGE);
  const timeout = reconnectTimeout(values["reconnect-timeout"] as string | undefined);
  const [name, ...params] = positionals;
  let pty = values.pty === true;
  if (pty && !Deno.stdin.isTerminal()) {
    console.error("pow call: warning: --pty ignored: stdin is not a terminal");
    pty = false;
  }

  const watch = new ConnectionWatch("pow call", timeout);
  const client = await connect(url, tokenFrom(values.token), watch.options);
  watch.watch(client);
  const size = pty ? terminalSize() : undefined;
  const proc = client.start(name, params, {
    pty,
    ...(size ? { cols: size.columns, rows: size.rows } : {}),
  });
  return await follow(client, proc, {
    prefix: "pow call",
    watch,
    stdin: true,
    printResult: values["no-result"] !== true,
    pty,
  });
}

/**
 * Parses `--reconnect-timeout`.
 *
 * @param text The value in seconds.
 * @returns Milliseconds (default 10 s).
 * @throws {CliError} 2 when it is not a number of seconds.
 */
export function reconnectTimeout(text: string | undefined): number {
  if (text === undefined) return 10_000;
  const seconds = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || !Number.isFinite(seconds)) {
    throw new CliError(
      `invalid --reconnect-timeout "${text}": expected a number of seconds`,
      EXIT_USAGE,
    );
  }
  return seconds * 1000;
}
