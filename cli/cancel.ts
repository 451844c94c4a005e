/**
 * `pow cancel`: cancels one of the caller's sessions (SIGTERM to its process group, then
 * SIGKILL) and waits until it ended.
 *
 * ```sh
 * deno run -A main.ts cancel --url ws://HOST:PORT/ [--token T] ID
 * ```
 *
 * @module
 */

import { RemoteError } from "../client/mod.ts";
import {
  CliError,
  EXIT_CONNECTION,
  EXIT_USAGE,
  parseCommandLine,
  SERVER_OPTIONS,
  serverUrl,
  tokenFrom,
} from "./_common.ts";
import { connect } from "./_connect.ts";

/** Usage of `cancel`. */
export const CANCEL_HELP = `Usage: deno run -A main.ts cancel --url URL [--token TOKEN] SESSION

Cancels one of your sessions (see "sessions"): its process group gets SIGTERM, then
SIGKILL. Waits until it has ended and prints nothing.
Exit codes: 0 once it has ended (also when it had already ended); 1 when there is no such
session; 69 when the server could not be reached; 77 when it wants a (valid) token;
2 for usage errors.
`;

/**
 * Runs `cancel`.
 *
 * @param args The arguments after `cancel`.
 * @returns The exit code.
 */
export async function cancelCommand(args: string[]): Promise<number> {
  try {
    const { values, positionals } = parseCommandLine(args, {
      ...SERVER_OPTIONS,
    });
    if (values.help) {
      console.log(CANCEL_HELP);
      return 0;
    }
    const url = serverUrl(values.url as string | undefined);
    if (positionals.length !== 1) throw new CliError("one session id is required", EXIT_USAGE);
    const id = positionals[0];
    await using client = await connect(url, tokenFrom(values.token), { reconnect: false });
    try {
      const session = (await client.list()).find((s) => s.session === id);
      if (session === undefined) throw new CliError(`no session "${id}"`, 1);
      if (session.result !== undefined) return 0;
      // Attach from the end of its output (nothing to replay), cancel, wait for the end.
      const proc = client.attach(id, { offset: session.offset });
      proc.stdout.cancel().catch(() => {});
      proc.stderr.cancel().catch(() => {});
      await proc.started;
      await proc.cancel().catch(() => {});
      await proc.result.catch((error) => {
        if (!(error instanceof RemoteError)) throw error;
      });
    } catch (error) {
      if (error instanceof CliError) throw error;
      if (error instanceof RemoteError && error.code === "unknown_session") {
        throw new CliError(`no session "${id}"`, 1);
      }
      throw new CliError((error as Error).message, EXIT_CONNECTION);
    }
    return 0;
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    const hint = error.exitCode === EXIT_USAGE ? `\nRun "cancel --help" for usage.` : "";
    console.error(`pow cancel: ${error.message}${hint}`);
    return error.exitCode;
  }
}
