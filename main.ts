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

import { attachCommand } from "./cli/attach.ts";
import { callCommand } from "./cli/call.ts";
import { cancelCommand } from "./cli/cancel.ts";
import { hashTokenCommand } from "./cli/hash_token.ts";
import { helpCommand } from "./cli/help.ts";
import { listCommand } from "./cli/list.ts";
import { serveCommand } from "./cli/serve.ts";
import { sessionsCommand } from "./cli/sessions.ts";
import { versionCommand } from "./cli/version.ts";

const COMMANDS: Record<string, (args: string[]) => number | Promise<number>> = {
  call: callCommand,
  list: listCommand,
  sessions: sessionsCommand,
  attach: attachCommand,
  cancel: cancelCommand,
  "hash-token": hashTokenCommand,
  help: helpCommand,
  "--help": helpCommand,
  "-h": helpCommand,
  version: versionCommand,
  "--version": versionCommand,
  "-V": versionCommand,
};

async function main(args: string[]): Promise<number> {
  const command = COMMANDS[args[0]];
  // serve and permissions accept their options before the command name.
  return command ? await command(args.slice(1)) : await serveCommand(args);
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
