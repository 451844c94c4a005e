/**
 * `pow attach`: follows an existing session (see `sessions`) like `call` follows a new one:
 * its output from offset 0 (all the output the server retained, then live), Ctrl-C, and the
 * exit code of the process.
 *
 * ```sh
 * deno run -A main.ts attach --url ws://HOST:PORT/ [--token T] [--offset N] ID
 * ```
 *
 * @module
 */

import { SessionLostError } from "../client/mod.ts";
import {
  CliError,
  EXIT_USAGE,
  parseCommandLine,
  SERVER_OPTIONS,
  serverUrl,
  tokenFrom,
} from "./_common.ts";
import { connect } from "./_connect.ts";
import { ConnectionWatch, follow } from "./_follow.ts";
import { reconnectTimeout } from "./call.ts";

/** Usage of `attach`. */
export const ATTACH_HELP = `Usage: deno run -A main.ts attach --url URL [options] SESSION

Follows one of your sessions (see "sessions") like "call": its output from the start (as
far as the server retained it; a warning says how much was lost), then live, and the exit
code of its process. Local stdin is not forwarded. Ctrl-C interrupts the process; a second
Ctrl-C cancels it.

Options:
  --url URL                  The server's URL (required)
  --token TOKEN              Bearer token (default: $POW_TOKEN)
  --offset N                 Replay from output offset N instead of 0
  --reconnect-timeout SECS   As for call (default: 10)
  --no-result                Do not print the result value
  -h, --help                 Show this help

Exit codes: as for call; 1 when there is no such session.
`;

/**
 * Runs `attach`.
 *
 * @param args The arguments after `attach`.
 * @returns The exit code.
 */
export async function attachCommand(args: string[]): Promise<number> {
  try {
    const { values, positionals } = parseCommandLine(args, {
      ...SERVER_OPTIONS,
      offset: { type: "string" },
      "reconnect-timeout": { type: "string" },
      "no-result": { type: "boolean" },
    });
    if (values.help) {
      console.log(ATTACH_HELP);
      return 0;
    }
    const url = serverUrl(values.url as string | undefined);
    if (positionals.length !== 1) throw new CliError("one session id is required", EXIT_USAGE);
    const offsetText = (values.offset as string | undefined) ?? "0";
    if (!/^\d{1,15}$/.test(offsetText)) {
      throw new CliError(`invalid --offset "${offsetText}": expected a byte offset`, EXIT_USAGE);
    }
    const timeout = reconnectTimeout(values["reconnect-timeout"] as string | undefined);
    const watch = new ConnectionWatch("pow attach", timeout);
    const client = await connect(url, tokenFrom(values.token), watch.options);
    watch.watch(client);
    const proc = client.attach(positionals[0], {
      offset: Number(offsetText),
      onGap: ({ skipped }) =>
        console.error(`pow attach: warning: ${skipped} bytes of output are no longer retained`),
    });
    try {
      await proc.started;
    } catch (error) {
      // Anything else is reported by follow() with the result.
      if (error instanceof SessionLostError) {
        await client.close();
        throw new CliError(
          `no session "${positionals[0]}": it does not exist, has expired or is not yours`,
          1,
        );
      }
    }
    return await follow(client, proc, {
      prefix: "pow attach",
      watch,
      stdin: false,
      printResult: values["no-result"] !== true,
      pty: false,
    });
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    const hint = error.exitCode === EXIT_USAGE ? `\nRun "attach --help" for usage.` : "";
    console.error(`pow attach: ${error.message}${hint}`);
    return error.exitCode;
  }
}
