/**
 * `pow version` (or `--version`): prints pow's version and the Deno it runs on.
 *
 * @module
 */

import server from "../server/deno.json" with { type: "json" };

/** pow's version (the `@pow/server` package's). */
export const VERSION: string = server.version;

/**
 * Runs `version`.
 *
 * @returns The exit code, 0.
 */
export function versionCommand(): number {
  console.log(`pow ${VERSION} (deno ${Deno.version.deno})`);
  return 0;
}
