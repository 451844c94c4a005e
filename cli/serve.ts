/**
 * `pow serve` (the default command) and `pow permissions`: serve the configured processes, or
 * print the Deno permission flags a config needs.
 *
 * ```sh
 * deno run -A main.ts [serve] [--config FILE] [--host H] [--port P] [--base-path B]
 *   [--cert FILE --key FILE]
 * deno run -A main.ts permissions [--config FILE]
 * ```
 *
 * @module
 */

import {
  ConfigError,
  createLogger,
  createServer,
  defaultConfig,
  listen,
  type ListeningServer,
  loadConfig,
  LOG_LEVELS,
  type LogLevel,
  logServer,
  missingPrograms,
  missingRunPermissions,
  needsPty,
  permissionFlags,
  type PowConfig,
  ptyAllowed,
  reloadConfigFile,
  runtimeProblems,
  type SessionStore,
  startupSummary,
  startupWarnings,
} from "../mod.ts";
import { EXIT_CONNECTION, EXIT_USAGE, parseCommandLine } from "./_common.ts";
import { hashTokenCommand } from "./hash_token.ts";
import { HELP } from "./help.ts";

/**
 * Runs `serve` or `permissions` (the command may come after the options).
 *
 * @param args The arguments, with the command name when given.
 * @returns The exit code.
 */
export async function serveCommand(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseCommandLine(args, {
      config: { type: "string", short: "c" },
      host: { type: "string" },
      port: { type: "string", short: "p" },
      "base-path": { type: "string" },
      cert: { type: "string" },
      key: { type: "string" },
      "log-level": { type: "string" },
      "log-format": { type: "string" },
      help: { type: "boolean", short: "h" },
    });
  } catch (error) {
    console.error(`pow: ${(error as Error).message}\nRun with --help for usage.`);
    return EXIT_USAGE;
  }
  const positionals = parsed.positionals;
  const values = parsed.values as {
    config?: string;
    host?: string;
    port?: string;
    "base-path"?: string;
    cert?: string;
    key?: string;
    "log-level"?: string;
    "log-format"?: string;
    help?: boolean;
  };
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
    const file = values.config ?? "embedded demo config";
    for (const { path, problem } of notFound) {
      console.error(`pow: ${new ConfigError(file, path, undefined, problem).message}`);
    }
    return EXIT_USAGE;
  }
  for (const warning of startupWarnings(config)) logger.warn(warning);
  if (needsPty(config) && !ptyAllowed()) {
    logger.warn(
      `pseudo-terminals need --allow-ffi=node_modules and, in Deno 2.9, the whole --allow-read ` +
        `and --allow-write: sessions that ask for one will not start (see "main.ts permissions")`,
    );
  }

  // Cluster mode: the config's `cluster` section, or POW_REDIS_URL.
  const redisUrl = envVariable("POW_REDIS_URL");
  if (redisUrl && !config.cluster) {
    config.cluster = { redis: redisUrl, prefix: "pow", heartbeat: 1000, lostAfter: 5000 };
  }
  let store: SessionStore | undefined;
  if (config.cluster) {
    // Loaded only in cluster mode: a single node never loads the Redis client.
    const { RedisSessionStore } = await import("../server/redis_store.ts");
    try {
      store = await RedisSessionStore.connect({
        url: config.cluster.redis,
        node: config.cluster.node ?? envVariable("POW_NODE"),
        prefix: config.cluster.prefix,
      });
    } catch (error) {
      console.error(
        `pow: cannot reach Redis at ${config.cluster.redis} for cluster mode: ${
          (error as Error).message
        }`,
      );
      return EXIT_CONNECTION;
    }
  }
  const server = createServer(config, { store, logger });
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
  let running: ListeningServer;
  try {
    running = await listen(server, { signal: stopping.signal, uncaughtErrors: "log" });
  } catch (error) {
    await server.close();
    await store?.close();
    const reason = listenFailure(error);
    if (reason === undefined) throw error;
    const { host, port } = config.server;
    console.error(
      `pow: cannot listen on ${host.includes(":") ? `[${host}]` : host}:${port}: ${reason}`,
    );
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
  logServer(server.manager.bus, "info", `listening on ${running.url}`);
  await running.finished;
  Deno.removeSignalListener("SIGHUP", reload);
  await running.shutdown();
  await store?.close();
  logger.info("stopped");
  return 0;
}

/** The server could not listen (address in use, no permission for it, no such address). */
const EXIT_LISTEN = 1;

/** Why listening failed, in a few words, or `undefined` for an unexpected error. */
function listenFailure(error: unknown): string | undefined {
  if (error instanceof Deno.errors.AddrInUse) return "the address is already in use";
  if (error instanceof Deno.errors.AddrNotAvailable) {
    return "the address is not available on this machine";
  }
  // No permission for a low port, or scoped flags without --allow-net for this address.
  if (error instanceof Deno.errors.PermissionDenied) return error.message;
  if (error instanceof Deno.errors.NotCapable) return error.message;
  if (error instanceof Deno.errors.NotFound) return error.message;
  // An unknown host name: Deno reports "failed to lookup address information: ...".
  if (error instanceof Error && /lookup address/.test(error.message)) return error.message;
  return undefined;
}

/** Reads an environment variable the server may not have permission to read (then: unset). */
function envVariable(name: string): string | undefined {
  const { state } = Deno.permissions.querySync({ name: "env", variable: name });
  return state === "granted" ? Deno.env.get(name) : undefined;
}
