/**
 * The pow command line: dispatches to one file per command in `cli/`.
 *
 * ```sh
 * deno run -A main.ts [serve] [--config FILE] [--host H] [--port P] [--base-path B]
 *   [--cert FILE --key FILE]
 * deno run -A main.ts permissions [--config FILE]
 * deno run -A main.ts call|list|sessions|attach|cancel --url URL ...
 * deno run -A main.ts help | version
 * ```
 *
 * @module
 */

import { serveCommand } from "./cli/serve.ts";

type Command = (args: string[]) => number | Promise<number>;

const help = () => import("./cli/help.ts").then((m) => m.helpCommand);
const version = () => import("./cli/version.ts").then((m) => m.versionCommand);
/**
 * The other commands, each loaded when it is run: the server does not load the client the
 * client commands use (docs/benchmarks.md, "Round twelve").
 */
const COMMANDS: Record<string, () => Promise<Command>> = {
  call: () => import("./cli/call.ts").then((m) => m.callCommand),
  list: () => import("./cli/list.ts").then((m) => m.listCommand),
  sessions: () => import("./cli/sessions.ts").then((m) => m.sessionsCommand),
  attach: () => import("./cli/attach.ts").then((m) => m.attachCommand),
  cancel: () => import("./cli/cancel.ts").then((m) => m.cancelCommand),
  "hash-token": () => import("./cli/hash_token.ts").then((m) => m.hashTokenCommand),
  help,
  "--help": help,
  "-h": help,
  version,
  "--version": version,
  "-V": version,
};

async function main(args: string[]): Promise<number> {
  const load = Object.hasOwn(COMMANDS, args[0] ?? "") ? COMMANDS[args[0]] : undefined;
  // serve and permissions accept their options before the command name.
  return load ? await (await load())(args.slice(1)) : await serveCommand(args);
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
