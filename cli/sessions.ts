/**
 * `pow sessions`: lists the caller's sessions on a pow server (running, lingering and ended
 * ones the server still keeps).
 *
 * ```sh
 * deno run -A main.ts sessions --url ws://HOST:PORT/ [--token T] [--json]
 * ```
 *
 * @module
 */

import type { SessionInfo } from "../client/mod.ts";
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
import { exitCodeOf } from "./_follow.ts";

/** Usage of `sessions`. */
export const SESSIONS_HELP = `Usage: deno run -A main.ts sessions --url URL [--token TOKEN] [--json]

Lists your sessions on the server, oldest first: id, state, exit code (as call would exit),
age, viewers attached, and the command line. Follow one with "attach ID", cancel one
with "cancel ID".
Exit codes: 0; 69 when the server could not be reached; 77 when it wants a (valid) token;
2 for usage errors.
`;

/**
 * Runs `sessions`.
 *
 * @param args The arguments after `sessions`.
 * @returns The exit code.
 */
export async function sessionsCommand(args: string[]): Promise<number> {
  try {
    const { values } = parseCommandLine(args, {
      ...SERVER_OPTIONS,
      json: { type: "boolean" },
    });
    if (values.help) {
      console.log(SESSIONS_HELP);
      return 0;
    }
    const url = serverUrl(values.url as string | undefined);
    await using client = await connect(url, tokenFrom(values.token), { reconnect: false });
    let sessions: SessionInfo[];
    try {
      sessions = await client.list();
    } catch (error) {
      throw new CliError((error as Error).message, EXIT_CONNECTION);
    }
    console.log(
      values.json ? JSON.stringify(sessions, null, 2) : formatSessions(sessions, Date.now()),
    );
    return 0;
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    const hint = error.exitCode === EXIT_USAGE ? `\nRun "sessions --help" for usage.` : "";
    console.error(`pow sessions: ${error.message}${hint}`);
    return error.exitCode;
  }
}

/**
 * Formats sessions as a table.
 *
 * @param sessions The sessions.
 * @param now The current time (ms since the epoch), for the age.
 * @returns The text: a header line and one line per session.
 */
export function formatSessions(sessions: SessionInfo[], now: number): string {
  const rows = [["SESSION", "STATE", "EXIT", "AGE", "ATTACHED", "COMMAND"]];
  for (const s of sessions) {
    rows.push([
      s.session,
      s.state,
      s.result ? String(exitCodeOf(s.result)) : "-",
      age(now - s.createdAt),
      String(s.attached),
      [s.name, ...s.params].join(" "),
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) =>
    r.map((cell, i) => i === r.length - 1 ? cell : cell.padEnd(widths[i])).join("  ")
  ).join("\n");
}

function age(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}
