/**
 * Embedding: `createServer(config)` serves every built-in front end without being told, the
 * public modules export the list, and the server module's documentation lints clean.
 */
import assert from "node:assert/strict";
import { createServer, defaultConfig, defineProcess, frontEnds, listen } from "../mod.ts";

const root = new URL("..", import.meta.url).pathname;

Deno.test("createServer(config) serves every built-in front end by default", async () => {
  const config = defaultConfig();
  config.server.port = 0;
  config.processes.shout = defineProcess({
    params: [{ name: "text" }],
    run: ({ params }) => params[0].toUpperCase(),
  });
  const server = createServer(config);
  assert.equal(server.frontEnds.length, frontEnds.length);
  assert.deepEqual(server.frontEnds.map((f) => f.name).sort(), [
    "console",
    "further-link",
    "monorail",
    "openapi",
    "pow-1",
    "pow-1-rest",
    "pow.v2",
    "pow.v2-rest",
    "wubsub",
  ]);
  const running = await listen(server, { onListen() {} });
  try {
    // native REST
    const processes = await fetch(new URL("api/v2/processes", running.url));
    assert.equal(processes.status, 200);
    const names = (await processes.json()).processes.map((p: { name: string }) => p.name);
    assert.ok(names.includes("shout"), names.join(", "));
    // pow-1 REST: a call gets an id, its status the output and result
    const created = await fetch(new URL("new", running.url), {
      method: "POST",
      body: JSON.stringify({ call: "shout", params: ["hi"] }),
    });
    assert.equal(created.status, 200);
    const id = await created.json();
    let status;
    do {
      status = await (await fetch(new URL(`status/${id}`, running.url))).json();
    } while (status.result.status === "pending");
    assert.deepEqual(status.result, { status: "fulfilled", value: "HI" });
    // OpenAPI
    const doc = await fetch(new URL("openapi.json", running.url));
    assert.equal(doc.status, 200);
    assert.ok(Object.keys((await doc.json()).paths).includes("/api/v2/sessions"));
  } finally {
    await running.shutdown();
  }
});

Deno.test("deno doc --lint is clean for the server module", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--lint", "server/mod.ts", "mod.ts"],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, text);
});
