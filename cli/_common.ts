/**
 * What the commands share: exit codes, option parsing, the server URL and the token. Connecting
 * is in `_connect.ts`, so that `serve` does not load the client.
 *
 * @module
 */

/** Exit code for usage errors (a bad option, a bad `--url`). */
export const EXIT_USAGE = 2;
/**
 * Exit code when the server cannot be reached, is not a pow server, the connection was lost
 * for good or the remote session is gone (EX_UNAVAILABLE).
 */
export const EXIT_CONNECTION = 69;
/** Exit code when the server wants a (valid) token (EX_NOPERM). */
export const EXIT_AUTH = 77;
/**
 * Exit code when local stdout was closed (e.g. `| head`): 128 + SIGPIPE, what a shell reports
 * for ssh killed by SIGPIPE.
 */
export const EXIT_PIPE = 141;

/** A failure with the message to print and the exit code to use. */
export class CliError extends Error {
  /** The exit code. */
  readonly exitCode: number;

  /**
   * Creates the error.
   *
   * @param message What to print (after the command's prefix).
   * @param exitCode The exit code.
   */
  constructor(message: string, exitCode: number) {
    super(message);
    this.name = "CliError";
    this.exitCode = exitCode;
  }
}

/** How an option is parsed by {@linkcode parseCommandLine}. */
export interface OptionSpec {
  /** `string` options take a value (`--url X` or `--url=X`). */
  type: "string" | "boolean";
  /** A one-letter alias. */
  short?: string;
}

/** The options every command that talks to a server takes: `--url`, `--token`, `--help`. */
export const SERVER_OPTIONS: Readonly<Record<"url" | "token" | "help", OptionSpec>> = {
  url: { type: "string" },
  token: { type: "string" },
  help: { type: "boolean", short: "h" },
};

/** What {@linkcode parseCommandLine} found. */
export interface ParsedCommandLine {
  /** Option values by name. */
  values: Record<string, string | boolean | undefined>;
  /** The positional arguments. */
  positionals: string[];
}

/**
 * Parses options and positionals. With `stopAtPositional`, everything from the first
 * positional on is positional, even when it starts with `-` (so `call date -u` passes `-u` to
 * the process); `--` also ends the options.
 *
 * @param args The arguments.
 * @param spec The options.
 * @param stopAtPositional Whether options end at the first positional.
 * @returns The values and positionals.
 * @throws {CliError} For an unknown option or a missing value (exit code 2).
 */
export function parseCommandLine(
  args: string[],
  spec: Record<string, OptionSpec>,
  stopAtPositional = false,
): ParsedCommandLine {
  const values: Record<string, string | boolean | undefined> = {};
  const positionals: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      if (stopAtPositional) {
        positionals.push(...args.slice(i));
        break;
      }
      positionals.push(arg);
      continue;
    }
    let name: string | undefined;
    let inline: string | undefined;
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      name = arg.slice(2, eq === -1 ? undefined : eq);
      if (eq !== -1) inline = arg.slice(eq + 1);
    } else if (arg.length === 2) {
      name = Object.keys(spec).find((key) => spec[key].short === arg[1]);
    }
    const option = name === undefined ? undefined : spec[name];
    if (name === undefined || option === undefined) {
      throw new CliError(`unknown option "${arg}"`, EXIT_USAGE);
    }
    if (option.type === "boolean") {
      if (inline !== undefined) {
        throw new CliError(`option "--${name}" takes no value`, EXIT_USAGE);
      }
      values[name] = true;
    } else if (inline !== undefined) {
      values[name] = inline;
    } else if (i + 1 < args.length) {
      values[name] = args[++i];
    } else {
      throw new CliError(`option "--${name}" needs a value`, EXIT_USAGE);
    }
  }
  return { values, positionals };
}

/**
 * Checks a `--url` and turns `http:`/`https:` into `ws:`/`wss:`.
 *
 * @param text The `--url` value.
 * @returns The WebSocket URL.
 * @throws {CliError} With exit code 2 when it is not a ws, wss, http or https URL.
 */
export function serverUrl(text: string | undefined): URL {
  if (text === undefined) throw new CliError("--url is required", EXIT_USAGE);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new CliError(
      `invalid --url "${text}": expected a URL such as ws://127.0.0.1:8028/`,
      EXIT_USAGE,
    );
  }
  if (url.protocol === "http:" || url.protocol === "https:") {
    url.protocol = url.protocol === "http:" ? "ws:" : "wss:";
  }
  if (url.protocol !== "ws:" && url.protocol !== "wss:") {
    throw new CliError(
      `invalid --url "${text}": expected a ws:, wss:, http: or https: URL`,
      EXIT_USAGE,
    );
  }
  return url;
}

/**
 * The token to use: `--token`, else `$POW_TOKEN`.
 *
 * @param option The `--token` value.
 * @returns The token, if any.
 */
export function tokenFrom(option: string | boolean | undefined): string | undefined {
  if (typeof option === "string") return option;
  const env = Deno.env.get("POW_TOKEN");
  return env === "" ? undefined : env;
}
