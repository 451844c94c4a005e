/**
 * The pow command line.
 *
 * ```sh
 * deno run -A main.ts [serve] [--config FILE] [--host H] [--port P] [--base-path B]
 *   [--cert FILE --key FILE]
 * deno run -A main.ts permissions [--config FILE]
 * deno run -A main.ts --help
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  ConfigError,
  createServer,
  defaultConfig,
  hashToken,
  listen,
  loadConfig,
  logServer,
  missingRunPermissions,
  newToken,
  permissionFlags,
  type PowConfig,
  reloadConfigFile,
  runtimeProblems,
} from "./mod.ts";
import { frontEnds } from "./server/front_ends.ts";
import { callCommand } from "./cli/call.ts";
import { listCommand } from "./cli/list.ts";

const HELP = `pow: Process Over WebSocket

Usage:
  deno run -A main.ts [serve] [options]    Serve the configured processes
  deno run -A main.ts permissions [options] Print the Deno permission flags a config needs
  deno run -A main.ts hash-token [TOKEN]    Print the config hash of a token (a new random
                                           token when none is given, or "-" to read stdin)
  deno run -A main.ts call --url URL NAME [PARAMS...]
                                           Run a process of a pow server like a local
                                           command (see "call --help")
  deno run -A main.ts list --url URL        List a pow server's processes (see "list --help")
  deno run -A main.ts --help               Show this help

Options:
  -c, --config FILE     YAML configuration (default: the embedded demo config)
      --host HOST       Address to listen on (default: 127.0.0.1)
  -p, --port PORT       Port to listen on; 0 picks a free one (default: 8028)
      --base-path PATH  Path to serve under (default: /)
      --cert FILE       TLS certificate (PEM); with --key, serve HTTPS and WSS
      --key FILE        TLS private key (PEM); with --cert
  -h, --help            Show this help

Once listening, serve prints one line: "Listening on http://HOST:PORT/".
SIGINT or SIGTERM stops it: running sessions are cancelled and their processes end.
SIGHUP reloads the processes of the --config file (a bad file is refused; the old ones stay).
`;

/** Exit codes of the CLI. */
const EXIT_USAGE = 2;

async function main(args: string[]): Promise<number> {
  if (args[0] === "call") return await callCommand(args.slice(1));
  if (args[0] === "list") return await listCommand(args.slice(1));
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        config: { type: "string", short: "c" },
        host: { type: "string" },
        port: { type: "string", short: "p" },
        "base-path": { type: "string" },
        cert: { type: "string" },
        key: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    console.error(`pow: ${(error as Error).message}\nRun with --help for usage.`);
    return EXIT_USAGE;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const command = positionals[0] ?? "serve";
  if (command === "hash-token") return await hashTokenCommand(positionals.slice(1));
  if (!["serve", "permissions"].includes(command) || positionals.length > 1) {
    console.error(`pow: unknown command "${positionals.join(" ")}"\nRun with --help for usage.`);
    return EXIT_USAGE;
  }

  let config: PowConfig;
  try {
    config = values.config ? await loadConfig(values.config) : defaultConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`pow: ${error.message}`);
      return EXIT_USAGE;
    }
    throw error;
  }
  if (values.host !== undefined) config.server.host = values.host;
  if (values.port !== undefined) {
    const port = Number(values.port);
    if (!/^\d+$/.test(values.port) || port > 65535) {
      console.error(`pow: invalid --port "${values.port}": expected a number from 0 to 65535`);
      return EXIT_USAGE;
    }
    config.server.port = port;
  }
  if (values["base-path"] !== undefined) {
    const base = values["base-path"];
    if (!base.startsWith("/")) {
      console.error(`pow: invalid --base-path "${base}": it must start with "/"`);
      return EXIT_USAGE;
    }
    config.server.basePath = base.endsWith("/") ? base : `${base}/`;
  }

  if ((values.cert === undefined) !== (values.key === undefined)) {
    console.error("pow: --cert and --key go together: give both or neither");
    return EXIT_USAGE;
  }
  if (values.cert !== undefined) config.server.tls = { cert: values.cert, key: values.key! };

  if (command === "permissions") {
    console.log(permissionFlags(config, { configFile: values.config }).join(" "));
    return 0;
  }

  const missing = await missingRunPermissions(config);
  if (missing.length > 0) {
    console.error(
      `pow: missing permission to run ${missing.map((p) => `"${p}"`).join(", ")}: ` +
        `start Deno with --allow-run=${missing.join(",")} (see "main.ts permissions")`,
    );
    return EXIT_USAGE;
  }

  const problems = runtimeProblems(config);
  if (problems.length > 0) {
    for (const problem of problems) console.error(`pow: ${problem}`);
    return EXIT_USAGE;
  }

  const server = createServer(config, { frontEnds });
  // Listen for signals before listening on the port: a SIGTERM right after the "Listening"
  // line must stop the server gracefully, not kill it.
  const stopping = new AbortController();
  const stop = () => stopping.abort();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  // SIGHUP reloads the process catalogue from the config file; a bad file is refused with the
  // same message as at startup and the old catalogue stays.
  const reload = () => {
    if (!values.config) {
      console.error("pow: SIGHUP: no --config file to reload");
      return;
    }
    reloadConfigFile(server, values.config).then(
      (changes) =>
        console.error(
          `pow: config reloaded: ${changes.added.length} added, ${changes.changed.length} changed, ${changes.removed.length} removed`,
        ),
      (error) => console.error(`pow: config reload refused: ${(error as Error).message}`),
    );
  };
  Deno.addSignalListener("SIGHUP", reload);
  const running = await listen(server, { signal: stopping.signal });
  logServer(server.manager.bus, "info", `listening on ${running.url}`);
  await running.finished;
  Deno.removeSignalListener("SIGHUP", reload);
  await running.shutdown();
  return 0;
}

async function hashTokenCommand(args: string[]): Promise<number> {
  if (args.length > 1) {
    console.error("pow: hash-token takes at most one token\nRun with --help for usage.");
    return EXIT_USAGE;
  }
  let token = args[0];
  if (token === "-") {
    token = (await new Response(Deno.stdin.readable).text()).replace(/\r?\n$/, "");
  }
  if (token === undefined) {
    token = newToken();
    console.log(`token: ${token}`);
  }
  if (token.length < 16) {
    console.error("pow: a token must be at least 16 characters long");
    return EXIT_USAGE;
  }
  console.log(`hash:  ${hashToken(token)}`);
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
