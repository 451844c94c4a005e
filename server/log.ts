/**
 * The server's log: what an operator reads on stderr (or in the journal). One line per event,
 * as text for people or as JSON for machines:
 *
 * ```text
 * 2026-01-01T12:00:00.000Z INFO listening url=http://127.0.0.1:8028/ config="embedded demo config" auth=none ...
 * 2026-01-01T12:00:01.000Z INFO session started session=q1Xv... process=count caller=anonymous via=pow.v2 pid=4242
 * 2026-01-01T12:00:01.020Z INFO session ended session=q1Xv... process=count caller=anonymous status=fulfilled exitCode=0 duration=0.020s
 * ```
 *
 * The `Listening on URL` line on stdout is not part of the log: scripts and tests parse it.
 *
 * @module
 */

import type { PowConfig } from "./config.ts";
import type { RegistryEventType, SessionRegistry } from "./registry.ts";
import type { Session } from "./session.ts";
import { signalMode } from "./signals.ts";
import { warmAvailable } from "./runner.ts";

/** How much is logged: `debug` < `info` < `warn` < `error`; `off` logs nothing. */
export type LogLevel = "debug" | "info" | "warn" | "error" | "off";

/** How a line looks: `text` for people, `json` (one object per line) for machines. */
export type LogFormat = "text" | "json";

/** The values of a log line's fields; `undefined` fields are left out. */
export type LogFields = Record<
  string,
  string | number | boolean | null | undefined | readonly string[]
>;

/** Every log level, least severe first. */
export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error", "off"];

/** Writes log lines. */
export interface Logger {
  /** The least severe level written. */
  readonly level: LogLevel;
  /**
   * Logs detail for debugging.
   *
   * @param message What happened.
   * @param fields Details.
   */
  debug(message: string, fields?: LogFields): void;
  /**
   * Logs a normal event.
   *
   * @param message What happened.
   * @param fields Details.
   */
  info(message: string, fields?: LogFields): void;
  /**
   * Logs something the operator should look at.
   *
   * @param message What happened.
   * @param fields Details.
   */
  warn(message: string, fields?: LogFields): void;
  /**
   * Logs a failure.
   *
   * @param message What happened.
   * @param fields Details.
   */
  error(message: string, fields?: LogFields): void;
}

/** Options for {@linkcode createLogger}. */
export interface LoggerOptions {
  /** The least severe level written. @default {"info"} */
  level?: LogLevel;
  /** The line format. @default {"text"} */
  format?: LogFormat;
  /** Writes one line (without its newline). @default {writes the line to stderr} */
  write?: (line: string) => void;
  /** The clock. @default {() => new Date()} */
  now?: () => Date;
}

const encoder = new TextEncoder();

/** Lines logged and not yet written to stderr. */
let pending = "";
let flushTimer: ReturnType<typeof setTimeout> | undefined;
/** Lines are written at most this long after they were logged. */
const FLUSH_DELAY_MS = 5;
/** Pending text beyond which lines are written at once. */
const FLUSH_BYTES = 64 * 1024;

/**
 * Writes what was logged to stderr. Lines are collected and written together, a few
 * milliseconds after the first of them (one system call for the `session started` and
 * `session ended` lines of many quick calls, none on a call's own path); {@linkcode
 * flushLog} writes them at once, and so does the end of the process (its `unload` event, or
 * an uncaught error). Warnings and errors are written at once.
 */
function writeStderr(line: string): void {
  pending += `${line}\n`;
  if (pending.length >= FLUSH_BYTES) return flushLog();
  if (flushTimer === undefined) {
    flushTimer = setTimeout(flushLog, FLUSH_DELAY_MS);
    Deno.unrefTimer(flushTimer);
    if (!unloadListening) {
      unloadListening = true;
      // Written before the process ends: normally, by `Deno.exit`, or by an uncaught error.
      for (const type of ["unload", "error", "unhandledrejection"]) {
        globalThis.addEventListener(type, flushLog);
      }
    }
  }
}
let unloadListening = false;

/**
 * Writes the log lines still waiting to stderr (lines are otherwise written a few milliseconds
 * after they are logged). Call it before `Deno.exit`.
 */
export function flushLog(): void {
  clearTimeout(flushTimer);
  flushTimer = undefined;
  if (pending === "") return;
  const bytes = encoder.encode(pending);
  pending = "";
  let written = 0;
  try {
    while (written < bytes.length) written += Deno.stderr.writeSync(bytes.subarray(written));
  } catch {
    // stderr is closed: nowhere to log
  }
}

function textValue(value: string | number | boolean | null | readonly string[]): string {
  const text = Array.isArray(value) ? value.join(",") : String(value);
  return text === "" || /[\s"=\\]|[^\x20-\x7e]/.test(text) ? JSON.stringify(text) : text;
}

/**
 * Makes a logger.
 *
 * @example Log as JSON
 * ```ts
 * import { createLogger } from "./log.ts";
 * import assert from "node:assert/strict";
 *
 * const lines: string[] = [];
 * const log = createLogger({
 *   format: "json",
 *   write: (line) => lines.push(line),
 *   now: () => new Date(0),
 * });
 * log.debug("not written: below info");
 * log.info("session started", { process: "count", pid: 42 });
 * assert.deepEqual(lines.map((line) => JSON.parse(line)), [
 *   { time: "1970-01-01T00:00:00.000Z", level: "info", msg: "session started", process: "count", pid: 42 },
 * ]);
 * ```
 *
 * @param options Level, format and where lines go.
 * @returns The logger.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? "info";
  if (!LOG_LEVELS.includes(level)) {
    throw new TypeError(`Invalid log level "${level}": expected one of ${LOG_LEVELS.join(", ")}`);
  }
  const format = options.format ?? "text";
  if (format !== "text" && format !== "json") {
    throw new TypeError(`Invalid log format "${format}": expected text or json`);
  }
  const write = options.write ?? writeStderr;
  const now = options.now ?? (() => new Date());
  const least = LOG_LEVELS.indexOf(level);
  const log = (at: Exclude<LogLevel, "off">, message: string, fields: LogFields = {}) => {
    if (LOG_LEVELS.indexOf(at) < least) return;
    const time = now().toISOString();
    if (format === "json") {
      const record: Record<string, unknown> = { time, level: at, msg: message };
      for (const [key, value] of Object.entries(fields)) {
        if (value !== undefined && !(key in record)) record[key] = value;
      }
      write(JSON.stringify(record));
      if (at !== "debug" && at !== "info" && write === writeStderr) flushLog();
      return;
    }
    let line = `${time} ${at.toUpperCase()} ${message}`;
    for (const [key, value] of Object.entries(fields)) {
      if (value !== undefined) line += ` ${key}=${textValue(value)}`;
    }
    write(line);
    if (at !== "debug" && at !== "info" && write === writeStderr) flushLog();
  };
  return {
    level,
    debug: (message, fields) => log("debug", message, fields),
    info: (message, fields) => log("info", message, fields),
    warn: (message, fields) => log("warn", message, fields),
    error: (message, fields) => log("error", message, fields),
  };
}

/**
 * Logs one line when a session starts (`session started`, with its pid) and one when it ends
 * (`session ended`: status, exit code or signal, the reason of a failure, and the duration). A
 * program that could not be started or a result that could not be sent is a warning. A call
 * recorded as already refused (pow-1 REST) is one `session refused` line; `debug` adds a
 * `session starting` line with the params.
 *
 * @param registry Where the sessions live.
 * @param logger Where the lines go.
 * @returns A function that stops logging.
 */
export function logSessions(registry: SessionRegistry, logger: Logger): () => void {
  const least = LOG_LEVELS.indexOf(logger.level);
  const debug = least <= LOG_LEVELS.indexOf("debug");
  const info = least <= LOG_LEVELS.indexOf("info");
  const warn = least <= LOG_LEVELS.indexOf("warn");
  return registry.observe((type: RegistryEventType, session: Session) => {
    const state = session.state;
    // Nothing is built for a line the level drops: this runs on every state change.
    if (!info && (!warn || type !== "state" || state === "running")) return;
    const who = {
      session: session.id,
      process: session.name,
      caller: session.caller.id,
      via: session.caller.via,
      address: session.caller.address || undefined,
    };
    if (type === "created") {
      if (state === "starting") {
        if (debug) logger.debug("session starting", { ...who, params: session.params });
      } else if (state === "fulfilled" || state === "rejected") {
        // Recorded already ended: a call refused before anything ran (pow-1 REST keeps an id
        // for those). The client's mistake, not the operator's: not a warning.
        const result = session.outcome;
        logger.info("session refused", {
          ...who,
          reason: result?.status === "rejected" ? result.reason : undefined,
        });
      }
    } else if (type === "state" && state === "running") {
      logger.info("session started", { ...who, pid: session.pid });
    } else if (type === "state" && (state === "fulfilled" || state === "rejected")) {
      const result = session.outcome;
      const ms = (session.endedAt ?? Date.now()) - session.createdAt;
      const fields: LogFields = {
        ...who,
        status: state,
        exitCode: result?.exitCode,
        signal: result?.status === "rejected" ? result.signal : undefined,
        kind: result?.status === "rejected" ? result.kind : undefined,
        reason: result?.status === "rejected" ? result.reason : undefined,
        duration: `${(ms / 1000).toFixed(3)}s`,
      };
      // A program that could not be started or a result that could not be sent is the
      // operator's to fix.
      const serious = result?.status === "rejected" &&
        (result.kind === "spawn" || result.kind === "crash");
      (serious ? logger.warn : logger.info)("session ended", fields);
    }
  });
}

/** What {@linkcode startupSummary} describes besides the configuration. */
export interface StartupInfo {
  /** The URL clients use. */
  url: URL;
  /** The config file, if one was read. */
  configFile?: string;
  /** The names of the front ends served. */
  frontEnds: readonly string[];
}

/**
 * The fields of the startup line: where the server listens, which config, which processes and
 * front ends, and how callers authenticate.
 *
 * @param config The configuration.
 * @param info The URL, config file and front ends.
 * @returns The fields.
 */
export function startupSummary(config: PowConfig, info: StartupInfo): LogFields {
  const tokens = config.auth.tokens.length;
  return {
    url: info.url.href,
    config: info.configFile ?? "embedded demo config",
    processes: Object.keys(config.processes),
    frontEnds: info.frontEnds,
    auth: tokens === 0
      ? "none"
      : `${tokens} token${tokens === 1 ? "" : "s"}${
        config.auth.anonymous ? ", anonymous allowed" : ""
      }`,
  };
}

/**
 * Whether a listening address only accepts connections from this machine.
 *
 * @param host A host name or IP address.
 * @returns `true` for `localhost`, `127.0.0.0/8` and `::1`.
 */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) ||
    h === "::ffff:127.0.0.1";
}

/**
 * The warnings a configuration deserves at startup: listening on a non-loopback address with
 * no token configured lets anyone who reaches the port run every configured process.
 *
 * @param config The configuration.
 * @returns One message per warning (empty when all is well).
 */
export function startupWarnings(config: PowConfig): string[] {
  const warnings: string[] = [];
  if (!isLoopback(config.server.host) && config.auth.tokens.length === 0) {
    warnings.push(
      `listening on ${config.server.host} without authentication: anyone who can reach this ` +
        `port can run every configured process; configure auth.tokens (see docs/security.md) ` +
        `or listen on 127.0.0.1`,
    );
  } else if (!isLoopback(config.server.host) && config.auth.anonymous) {
    warnings.push(
      `listening on ${config.server.host} with auth.anonymous: callers without a token can run ` +
        `every process that has no allow list`,
    );
  }
  const commands = Object.values(config.processes).some((d) => d.kind === "command");
  if (commands && signalMode() === "leader") {
    warnings.push(
      `no permission to signal process groups: cancel, timeouts and disconnects end a ` +
        `command's own process but not what it started in the background; add kill to ` +
        `--allow-run (see "main.ts permissions")`,
    );
  }
  const warm = Object.values(config.processes).some((d) => d.kind === "command" && d.warm);
  if (warm && !warmAvailable()) {
    warnings.push(
      `warm starts are off, commands with warm start cold: they need the server to run setsid ` +
        `and sh and to read /usr/bin/setsid and the PATH directories (see "main.ts permissions")`,
    );
  }
  return warnings;
}
