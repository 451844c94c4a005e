/**
 * Memory measurements for tests: a script run in its own Deno process with `gc()` exposed, so
 * that what it measures after a full collection is its own, not the test runner's.
 *
 * @module
 */

import assert from "node:assert/strict";

/**
 * Runs `script` with `deno eval --v8-flags=--expose-gc` and parses what it printed as JSON.
 *
 * @example
 * ```ts
 * import { evalWithGc } from "./_gc.ts";
 * import assert from "node:assert/strict";
 *
 * const { heap } = await evalWithGc(
 *   "gc(); console.log(JSON.stringify({ heap: Deno.memoryUsage().heapUsed }));",
 * ) as { heap: number };
 * assert.ok(heap > 0);
 * ```
 *
 * @param script The script; it prints one JSON value on stdout.
 * @returns The value.
 * @throws {AssertionError} When the script fails (with its stderr).
 */
export async function evalWithGc(script: string): Promise<unknown> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--v8-flags=--expose-gc", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  return JSON.parse(new TextDecoder().decode(stdout));
}
