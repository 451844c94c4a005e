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
  createLogger,
  createServer,
  defaultConfig,
  hashToken,
  listen,
  type ListeningServer,
  loadConfig,
  LOG_LEVELS,
  type LogLevel,
  missingPrograms,
  missingRunPermissions,
  newToken,
  permissionFlags,
  type PowConfig,
  runtimeProblems,
  startupSummary,
  startupWarnings,
} from "./mod.ts";
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
      --log-level LEVEL debug, info (default), warn, error or off
      --log-format FMT  text (default) or json: the log on stderr, one line per event
  -h, --help            Show this help

Once listening, serve prints one line on stdout: "Listening on http://HOST:PORT/"; its log
(startup summary, one line per session start and end, warnings) goes to stderr.
SIGINT or SIGTERM stops it: running sessions are cancelled and their processes end.
Exit status: 0 after a stop, 1 when it cannot listen (e.g. the port is in use), 2 for a usage
or config error (including a configured program that does not exist).
`;

/** Exit codes of the CLI. */
const EXIT_USAGE = 2;
/** The server could not listen (address in use, no permission for the port, no such address). */
const EXIT_LISTEN = 1;

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
        "log-level": { type: "string" },
        "log-format": { type: "string" },
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

  const level = values["log-level"] ?? "info";
  if (!LOG_LEVELS.includes(level as LogLevel)) {
    console.error(`pow: invalid --log-level "${level}": expected ${LOG_LEVELS.join(", ")}`);
    return EXIT_USAGE;
  }
  const format = values["log-format"] ?? "text";
  if (format !== "text" && format !== "json") {
    console.error(`pow: invalid --log-format "${format}": expected text or json`);
    return EXIT_USAGE;
  }
  const logger = createLogger({ level: level as LogLevel, format });

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
  const notFound = missingPrograms(config);
  if (notFound.length > 0) {
    for (const { path, problem } of notFound) {
      const file = values.config ?? "embedded demo config";
      console.error(`pow: ${new ConfigError(file, path, undefined, problem).message}`);
    }
    return EXIT_USAGE;
  }
  for (const warning of startupWarnings(config)) logger.warn(warning);

  const server = createServer(config, { logger });
  // Listen for signals before listening on the port: a SIGTERM right after the "Listening"
  // line must stop the server gracefully, not kill it.
  const stopping = new AbortController();
  const stop = () => stopping.abort();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  let running: ListeningServer;
  try {
    running = await listen(server, { signal: stopping.signal });
  } catch (error) {
    await server.close();
    const reason = listenFailure(error);
    if (reason === undefined) throw error;
    const { host, port } = config.server;
    const address = `${host.includes(":") ? `[${host}]` : host}:${port}`;
    console.error(`pow: cannot listen on ${address}: ${reason}`);
    return EXIT_LISTEN;
  }
  logger.info("listening", {
    ...startupSummary(config, {
      url: running.url,
      configFile: values.config,
      frontEnds: server.frontEnds.map((f) => f.name),
    }),
  });
  stopping.signal.addEventListener("abort", () => logger.info("stopping"), { once: true });
  await running.finished;
  await running.shutdown();
  logger.info("stopped");
  return 0;
}

/** Why listening failed, in a few words, or `undefined` for an unexpected error. */
function listenFailure(error: unknown): string | undefined {
  if (error instanceof Deno.errors.AddrInUse) return "the address is already in use";
  if (error instanceof Deno.errors.AddrNotAvailable) {
    return "the address is not available on this machine";
  }
  if (error instanceof Deno.errors.PermissionDenied) return (error as Error).message;
  // Scoped permissions without --allow-net for this address (see "main.ts permissions").
  if (error instanceof Deno.errors.NotCapable) return (error as Error).message;
  if (error instanceof Deno.errors.NotFound) return (error as Error).message;
  // An unknown host name: Deno reports "failed to lookup address information: …".
  if (error instanceof Error && /lookup address/.test(error.message)) return error.message;
  return undefined;
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
