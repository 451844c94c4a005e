/**
 * Memory measurements for tests: a script run in its own Deno process with `gc()` exposed, so
 * that what it measures after a full collection is its own, not the test runner's. V8 runs it
 * with its interpreter only, on one thread: compiled code and feedback count in the heap, and
 * when the compilers finish depends on how loaded the machine is (a heap measure that read 1.4 KB
 * per object alone read 1.9 KB inside the parallel test suite).
 *
 * @module
 */

import assert from "node:assert/strict";

/** The V8 flags of {@linkcode evalWithGc}: `gc()`, and no compiler tiers or helper threads. */
export const GC_V8_FLAGS = "--expose-gc,--single-threaded,--no-opt,--no-maglev,--no-sparkplug";

/**
 * Runs `script` with `deno eval --v8-flags=`{@linkcode GC_V8_FLAGS} and parses what it printed
 * as JSON.
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
    args: ["eval", `--v8-flags=${GC_V8_FLAGS}`, script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  return JSON.parse(new TextDecoder().decode(stdout));
}
