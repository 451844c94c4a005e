/**
 * A function process's stray errors (a rejected promise it never awaited, a throw in a timer it
 * set) against a real server process: with `listen({ uncaughtErrors: "log" })` (what `pow serve`
 * passes) they are logged and every other session goes on; by default they end the process, as
 * Deno ends any program with an uncaught error.
 */
import assert from "node:assert/strict";
import { PowClient } from "../client/mod.ts";
import { startServerProcess } from "./_helpers.ts";

const MOD = new URL("../mod.ts", import.meta.url).href;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;

/** A server script with a `leak` function; `listen` gets `uncaughtErrors` from its argument. */
const SCRIPT = `
import { createServer, defaultConfig, defineProcess, listen } from ${JSON.stringify(MOD)};
const config = defaultConfig();
config.server.host = "127.0.0.1";
config.server.port = 0;
config.server.stateDir = false;
config.processes.leak = defineProcess({
  params: [{ name: "how", pattern: "reject|throw" }],
  run({ params }) {
    if (params[0] === "reject") void Promise.reject(new Error("stray rejection"));
    else setTimeout(() => { throw new Error("stray throw"); }, 0);
    return "returned";
  },
});
const uncaughtErrors = Deno.args[0] === "log" ? "log" : undefined;
const running = await listen(createServer(config), { uncaughtErrors });
Deno.addSignalListener("SIGTERM", () => void running.shutdown());
await running.finished;
`;

async function serverProcess(mode: "log" | "default") {
  const dir = await Deno.makeTempDir({ prefix: "pow-uncaught-" });
  const script = `${dir}/server.ts`;
  await Deno.writeTextFile(script, SCRIPT);
  const server = await startServerProcess(Deno.execPath(), [
    "run",
    "-A",
    "--config",
    CONFIG,
    script,
    mode,
  ]);
  return {
    ...server,
    wsUrl: new URL(server.url.href.replace(/^http/, "ws")),
    async [Symbol.asyncDispose]() {
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function call(wsUrl: URL, name: string, params: string[]) {
  await using client = new PowClient(wsUrl);
  return await client.start(name, params).result;
}

Deno.test('uncaughtErrors: "log": a function\'s stray errors are logged and the server goes on', async () => {
  await using server = await serverProcess("log");
  for (const how of ["reject", "throw"]) {
    assert.deepEqual(await call(server.wsUrl, "leak", [how]), {
      status: "fulfilled",
      value: "returned",
    });
  }
  // Another caller's session after both: the same process still serves.
  const count = await call(server.wsUrl, "count", ["3"]);
  assert.equal(count.status, "fulfilled");
  const { code, stderr: log } = await server.stop();
  assert.equal(code, 0);
  assert.match(log, /uncaught error \(the server goes on\): Error: stray rejection/);
  assert.match(log, /uncaught error \(the server goes on\): Error: stray throw/);
});

Deno.test("uncaughtErrors by default: a stray error ends the process, as Deno does", async () => {
  await using server = await serverProcess("default");
  await call(server.wsUrl, "leak", ["reject"]).catch(() => {});
  assert.equal((await server.status).code, 1, "it ended on its own");
  const { stderr } = await server.stop();
  assert.match(stderr, /Uncaught \(in promise\) Error: stray rejection/);
});
