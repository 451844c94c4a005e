/**
 * Configuration reload at run time (SIGHUP in `main.ts`): the new process catalogue is applied
 * through {@linkcode SessionManager.setProcess} and {@linkcode SessionManager.removeProcess}, so
 * every watcher of the catalogue sees `process.added`, `process.changed` and `process.removed`.
 * A config that does not validate is refused with the same key-path message as at startup and
 * the old catalogue stays. Only `processes` is applied; other sections need a restart.
 *
 * @example Reload a catalogue
 * ```ts
 * import { createServer, defaultConfig } from "./mod.ts";
 * import { reloadConfig } from "./reload.ts";
 * import assert from "node:assert/strict";
 *
 * const server = createServer(defaultConfig());
 * const changes = reloadConfig(server, "processes:\n  hi: { command: [echo, hi] }\n");
 * assert.equal(changes.added.includes("hi"), true);
 * assert.equal(server.manager.processes.count, undefined);
 * await server.close();
 * ```
 *
 * @module
 */

import { loadConfig, parseConfig, type PowConfig } from "./config.ts";
import type { PowServer } from "./server.ts";
import type { SessionManager } from "./session_manager.ts";
import { logServer } from "./server_log.ts";

/** What a reload changed, by process name. */
export interface ReloadChanges {
  /** New processes. */
  added: string[];
  /** Processes whose definition changed. */
  changed: string[];
  /** Processes no longer configured. */
  removed: string[];
}

/** Options for {@linkcode reloadConfig}. */
export interface ReloadOptions {
  /** The file name, for messages. @default {"<config>"} */
  file?: string;
}

/**
 * Applies a new configuration's process catalogue to a running manager. Command processes that
 * the new config no longer names are removed; TypeScript (function) processes, which come from
 * code and not from the file, stay.
 *
 * @param manager The session manager.
 * @param config The new, validated configuration.
 * @returns What changed.
 */
export function applyProcesses(manager: SessionManager, config: PowConfig): ReloadChanges {
  const changes: ReloadChanges = { added: [], changed: [], removed: [] };
  for (const [name, definition] of Object.entries(manager.processes)) {
    if (definition.kind === "command" && !Object.hasOwn(config.processes, name)) {
      manager.removeProcess(name);
      changes.removed.push(name);
    }
  }
  for (const [name, definition] of Object.entries(config.processes)) {
    const old = Object.hasOwn(manager.processes, name) ? manager.processes[name] : undefined;
    if (old && JSON.stringify(old) === JSON.stringify(definition) && old.kind === definition.kind) {
      continue;
    }
    manager.setProcess(name, definition);
    (old ? changes.changed : changes.added).push(name);
  }
  return changes;
}

/**
 * Validates a configuration text and applies its processes to a server.
 *
 * @param server The server.
 * @param text The YAML text.
 * @param options The file name for messages.
 * @returns What changed.
 * @throws {ConfigError} When the text is invalid; nothing was changed.
 */
export function reloadConfig(
  server: PowServer,
  text: string,
  options: ReloadOptions = {},
): ReloadChanges {
  let config: PowConfig;
  try {
    config = parseConfig(text, options);
  } catch (error) {
    logServer(server.manager.bus, "error", `config reload refused: ${(error as Error).message}`);
    throw error;
  }
  const changes = applyProcesses(server.manager, config);
  logServer(
    server.manager.bus,
    "info",
    `config reloaded: ${changes.added.length} added, ${changes.changed.length} changed, ${changes.removed.length} removed`,
  );
  return changes;
}

/**
 * Reads a configuration file and applies its processes to a server.
 *
 * @param server The server.
 * @param file The YAML file.
 * @returns What changed.
 * @throws {ConfigError} When the file cannot be read or is invalid; nothing was changed.
 */
export async function reloadConfigFile(server: PowServer, file: string): Promise<ReloadChanges> {
  let config: PowConfig;
  try {
    config = await loadConfig(file);
  } catch (error) {
    logServer(server.manager.bus, "error", `config reload refused: ${(error as Error).message}`);
    throw error;
  }
  const changes = applyProcesses(server.manager, config);
  logServer(
    server.manager.bus,
    "info",
    `config reloaded from "${file}": ${changes.added.length} added, ${changes.changed.length} changed, ${changes.removed.length} removed`,
  );
  return changes;
}
