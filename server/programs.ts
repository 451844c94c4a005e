/**
 * Finds configured programs that do not exist, at startup rather than at the first call.
 *
 * @module
 */

import type { PowConfig } from "./config.ts";
import { childEnv } from "./runner.ts";

/** A configured program that cannot be found. */
export interface MissingProgram {
  /** The process that runs it. */
  process: string;
  /** The key path of the program in the config, e.g. `processes.backup.command[0]`. */
  path: string;
  /** What is wrong, e.g. `program "bakup" was not found in PATH (/usr/bin:/bin)`. */
  problem: string;
}

function readable(path: string): boolean {
  try {
    return Deno.permissions.querySync({ name: "read", path }).state === "granted";
  } catch {
    return false;
  }
}

function executable(file: string): boolean {
  try {
    const info = Deno.statSync(file);
    return info.isFile && info.mode !== null && (info.mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

/**
 * Looks for every configured command's program as the runner will: an absolute path as it is,
 * a bare name in the `PATH` the process gets. Only what the server may read is checked (with
 * scoped `--allow-read` a program outside it is left to the first call); relative paths with a
 * slash and programs built from params are not checked.
 *
 * @example
 * ```ts
 * import { missingPrograms } from "./programs.ts";
 * import { parseConfig } from "./config.ts";
 * import assert from "node:assert/strict";
 *
 * const config = parseConfig("processes:\n  a: { command: [sh, -c, 'true'] }\n  b: { command: [/no/such/program] }\n");
 * assert.deepEqual(missingPrograms(config), [{
 *   process: "b",
 *   path: "processes.b.command[0]",
 *   problem: 'program "/no/such/program" does not exist or is not executable',
 * }]);
 * ```
 *
 * @param config The configuration.
 * @returns The programs that were looked for and not found (empty when all is well).
 */
export function missingPrograms(config: PowConfig): MissingProgram[] {
  const missing: MissingProgram[] = [];
  for (const [name, definition] of Object.entries(config.processes)) {
    if (definition.kind !== "command") continue;
    const program = definition.command[0];
    if (program.includes("{") || (program.includes("/") && !program.startsWith("/"))) continue;
    const path = `processes.${name}.command[0]`;
    if (program.startsWith("/")) {
      if (readable(program) && !executable(program)) {
        missing.push({
          process: name,
          path,
          problem: `program "${program}" does not exist or is not executable`,
        });
      }
      continue;
    }
    const search = childEnv(definition.env).PATH ?? "";
    const dirs = search.split(":").filter((dir) => dir.startsWith("/"));
    const candidates = dirs.map((dir) => `${dir}/${program}`);
    if (!candidates.every(readable)) continue;
    if (!candidates.some(executable)) {
      missing.push({
        process: name,
        path,
        problem: `program "${program}" was not found in PATH (${search})`,
      });
    }
  }
  return missing;
}
