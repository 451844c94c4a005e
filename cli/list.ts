/**
 * `pow list`: lists the processes a pow server offers, with their params and descriptions.
 *
 * ```sh
 * deno run -A main.ts list --url ws://HOST:PORT/ [--token T] [--json]
 * ```
 *
 * A `ws:`/`wss:` URL asks with the native `processes` message; an `http:`/`https:` URL with
 * `GET api/v2/processes`.
 *
 * @module
 */

import type { ProcessInfo } from "../client/mod.ts";
import {
  CliError,
  EXIT_AUTH,
  EXIT_CONNECTION,
  EXIT_USAGE,
  parseCommandLine,
  SERVER_OPTIONS,
  serverUrl,
  tokenFrom,
} from "./_common.ts";
import { connect } from "./_connect.ts";

/** Usage of `list`. */
export const LIST_HELP = `Usage: deno run -A main.ts list --url URL [--token TOKEN] [--json]

Lists the processes the server lets you start, with their params and descriptions.
A ws:// URL uses the WebSocket protocol, an http:// URL the REST API.
Exit codes: 0; 69 when the server could not be reached; 77 when it wants a (valid) token;
2 for usage errors.
`;

/**
 * Runs `list`.
 *
 * @param args The arguments after `list`.
 * @returns The exit code.
 */
export async function listCommand(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseCommandLine(args, {
      ...SERVER_OPTIONS,
      json: { type: "boolean" },
    });
  } catch (error) {
    console.error(`pow list: ${(error as Error).message}\nRun "list --help" for usage.`);
    return EXIT_USAGE;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(LIST_HELP);
    return 0;
  }
  if (positionals.length > 0) {
    console.error(
      `pow list: unexpected argument "${positionals[0]}"\nRun "list --help" for usage.`,
    );
    return EXIT_USAGE;
  }
  if (typeof values.url !== "string") {
    console.error(`pow list: --url is required\nRun "list --help" for usage.`);
    return EXIT_USAGE;
  }
  const token = tokenFrom(values.token);
  let processes: ProcessInfo[];
  try {
    processes = await fetchProcesses(values.url, token);
  } catch (error) {
    console.error(`pow list: ${(error as Error).message}`);
    return error instanceof CliError ? error.exitCode : EXIT_CONNECTION;
  }
  console.log(values.json ? JSON.stringify(processes, null, 2) : formatProcesses(processes));
  return 0;
}

async function fetchProcesses(url: string, token: string | undefined): Promise<ProcessInfo[]> {
  if (/^wss?:/i.test(url)) {
    await using client = await connect(serverUrl(url), token, { reconnect: false });
    return await client.processes();
  }
  let base: URL;
  try {
    base = new URL(url);
  } catch {
    throw new CliError(`invalid --url "${url}": expected a URL such as ws://127.0.0.1:8028/`, 2);
  }
  if (!base.pathname.endsWith("/")) base.pathname += "/";
  const response = await fetch(new URL("api/v2/processes", base), {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  const body = await response.text();
  if (response.status === 401) {
    throw new CliError("authentication required: use --token or POW_TOKEN", EXIT_AUTH);
  }
  if (!response.ok) throw new Error(`Cannot list processes: HTTP ${response.status}: ${body}`);
  const json = JSON.parse(body);
  return Array.isArray(json) ? json : json.processes;
}

/**
 * Formats process definitions for a terminal: a usage line per process, its description, and
 * one line per param.
 *
 * @param processes The definitions.
 * @returns The text.
 */
export function formatProcesses(processes: ProcessInfo[]): string {
  const blocks = processes.map((p) => {
    const usage = [
      p.name,
      ...p.params.map((param) => {
        const name = param.variadic ? `${param.name}...` : param.name;
        return param.optional || param.variadic ? `[${name}]` : name;
      }),
    ].join(" ");
    const lines = [`${usage}${p.pty ? "   (pty)" : ""}`];
    if (p.description) lines.push(`    ${p.description}`);
    for (const param of p.params) {
      const rule = param.enum
        ? `one of ${param.enum.join(", ")}`
        : param.pattern
        ? `matches /${param.pattern}/`
        : "";
      const text = [param.description, rule].filter(Boolean).join("; ");
      if (text) lines.push(`    ${param.name}: ${text}`);
    }
    return lines.join("\n");
  });
  return blocks.join("\n");
}
