// Copyright the pow authors. MIT license.
/**
 * `@pow/client` in Node 20 (`/usr/bin/node`), which has neither a global `WebSocket` nor
 * `Promise.withResolvers`: the client, bundled to one ES module, runs processes over the `ws`
 * package, reports a refused handshake, and says what to do when no WebSocket is given.
 *
 * `ws` is installed into a temporary folder for the test only (never into the repository).
 */

import { deepStrictEqual, equal, match } from "node:assert/strict";
import { hashToken } from "../server/auth.ts";
import { frontEnds } from "../server/front_ends.ts";
import { nativeWebSocket } from "../server/front_ends/v2/mod.ts";
import { startServer } from "./_helpers.ts";

const NODE = "/usr/bin/node";
const root = new URL("..", import.meta.url).pathname;
const hasNode = (() => {
  try {
    return Deno.statSync(NODE).isFile;
  } catch {
    return false;
  }
})();
if (!hasNode) console.warn(`Skipping the Node test: ${NODE} is not installed`);

const SCRIPT = `
import WebSocket from "ws";
import { PowClient, webSocketFrom } from "./pow-client.mjs";

const [url, protectedUrl] = process.argv.slice(2);
const out = { node: process.versions.node, withResolvers: typeof Promise.withResolvers };

const client = new PowClient(url, { WebSocket: webSocketFrom(WebSocket) });
const proc = client.start("cat");
await proc.write("hello from node\\n");
await proc.closeInput();
const { stdout, result } = await proc.output();
out.stdout = new TextDecoder().decode(stdout);
out.result = result;
await client.close();
out.state = client.state;

const refused = new PowClient(protectedUrl, { WebSocket: webSocketFrom(WebSocket), token: "wrong" });
out.refused = await refused.ready().then(() => "open", (error) => error.message);

const bare = new PowClient(url);
out.bare = await bare.ready().then(() => "open", (error) => error.message);

console.log(JSON.stringify(out));
`;

async function run(cmd: string, args: string[], cwd: string): Promise<string> {
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed:\n${text}${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return text;
}

Deno.test({
  name: "the bundled client runs a process in Node 20 over the ws package",
  ignore: !hasNode,
  async fn() {
    const base = frontEnds.includes(nativeWebSocket) ? frontEnds : [nativeWebSocket, ...frontEnds];
    await using server = await startServer({ frontEnds: base });
    await using protectedServer = await startServer({
      frontEnds: base,
      configure(config) {
        config.auth.tokens = [{ name: "alice", hash: hashToken("alice-token") }];
      },
    });
    const dir = await Deno.makeTempDir({ prefix: "pow-node-" });
    try {
      await run(Deno.execPath(), [
        "bundle",
        "--platform",
        "browser",
        "--format",
        "esm",
        "-o",
        `${dir}/pow-client.mjs`,
        `${root}client/mod.ts`,
      ], root);
      await Deno.writeTextFile(
        `${dir}/package.json`,
        JSON.stringify({ type: "module", dependencies: { ws: "^8.18.0" } }),
      );
      await run(Deno.execPath(), ["install"], dir);
      await Deno.writeTextFile(`${dir}/main.mjs`, SCRIPT);
      const text = await run(
        NODE,
        ["main.mjs", server.wsUrl.href, protectedServer.wsUrl.href],
        dir,
      );
      const out = JSON.parse(text);
      match(out.node, /^20\./);
      equal(out.withResolvers, "undefined");
      equal(out.stdout, "hello from node\n");
      deepStrictEqual(out.result, { status: "fulfilled", value: null, exitCode: 0 });
      equal(out.state, "closed");
      match(out.refused, /401/);
      match(out.refused, /the server requires a valid token/);
      match(out.bare, /this runtime has no global WebSocket.*webSocketFrom/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
