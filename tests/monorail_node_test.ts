/**
 * A MonoRail client written from the spec with the npm `ws` package, run by Node 20 against a
 * real server: the spec's recommended stack works unchanged. `ws` is installed into a temporary
 * directory next to a copy of the script, so the repository's lockfile holds only what the server
 * loads.
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
    const dir = await Deno.makeTempDir({ prefix: "pow-monorail-node-" });
    try {
      await Deno.writeTextFile(
        `${dir}/package.json`,
        JSON.stringify({ type: "module", dependencies: { ws: "8.23.0" } }),
      );
      await Deno.copyFile(SCRIPT, `${dir}/monorail_node.mjs`);
      const install = await new Deno.Command(Deno.execPath(), {
        args: ["install"],
        cwd: dir,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(install.code, 0, new TextDecoder().decode(install.stderr));
      await runNode(dir);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

async function runNode(dir: string): Promise<void> {
  {
    await using server = await startServer();
    const output = await new Deno.Command("/usr/bin/node", {
      args: [`${dir}/monorail_node.mjs`, server.url.href],
      cwd: dir,
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
  }
}
