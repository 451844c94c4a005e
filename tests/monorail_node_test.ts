/**
 * A MonoRail client written from the spec with the npm `ws` package, run by Node 20 against a
 * real server: the spec's recommended stack works unchanged.
 */

import assert from "node:assert/strict";
import { startServer } from "./_helpers.ts";

const SCRIPT = new URL("./monorail_node.mjs", import.meta.url).pathname;

function nodeAvailable(): boolean {
  try {
    return Deno.statSync("/usr/bin/node").isFile;
  } catch {
    return false;
  }
}

Deno.test({
  name: "monorail client written from the spec with npm ws under Node sees every handler work",
  ignore: !nodeAvailable(),
  async fn() {
    await using server = await startServer();
    const output = await new Deno.Command("/usr/bin/node", {
      args: [SCRIPT, server.url.href],
      cwd: new URL("..", import.meta.url).pathname,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(output.stdout);
    const errors = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, `node failed: ${text}${errors}`);
    assert.deepEqual(JSON.parse(text), {
      ok: true,
      states: ["starting", "running", "fulfilled"],
      log: "1\n2\n",
      process: "count",
    });
  },
});
