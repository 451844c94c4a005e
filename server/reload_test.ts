import assert from "node:assert/strict";
import { ConfigError } from "./config.ts";
import { createServer } from "./server.ts";
import { defaultConfig } from "./default_config.ts";
import { reloadConfig } from "./reload.ts";
import type { BusMessage } from "./bus.ts";

Deno.test("reload applies the new catalogue and publishes one event per change", async () => {
  const server = createServer(defaultConfig());
  const events = server.manager.bus.subscribe("process.*");
  const changes = reloadConfig(
    server,
    "processes:\n  count: { command: [seq, '1', '{1}'], params: [{ name: n }] }\n  new: { command: ['true'] }\n",
  );
  assert.deepEqual(changes.added, ["new"]);
  assert.deepEqual(changes.changed, ["count"]);
  assert.ok(changes.removed.includes("cat") && !changes.removed.includes("echo"));
  // TypeScript processes come from code and stay.
  assert.equal(server.manager.processes.echo.kind, "function");
  assert.equal(server.manager.processes.cat, undefined);
  const topics: string[] = [];
  for (let n = events.pending; n > 0; n--) {
    const { value } = await events.next();
    const message = value as BusMessage<{ name: string }>;
    if (message.type === "event") topics.push(`${message.event.topic}:${message.event.data.name}`);
  }
  assert.ok(topics.includes("process.removed:cat"));
  assert.ok(topics.includes("process.changed:count"));
  assert.equal(topics.at(-1), "process.added:new");
  events.close();
  await server.close();
});

Deno.test("a bad reload is refused with the startup message and nothing changes", async () => {
  const server = createServer(defaultConfig());
  const before = Object.keys(server.manager.processes);
  assert.throws(
    () => reloadConfig(server, "processes:\n  x: { command: [] }\n", { file: "pow.yaml" }),
    (error) =>
      error instanceof ConfigError &&
      error.message ===
        'Invalid config "pow.yaml" at processes.x.command (line 2): must name a program',
  );
  assert.deepEqual(Object.keys(server.manager.processes), before);
  await server.close();
});
