/**
 * The `@pow/client` MonoRail connection against a real server: the spec's client API, and a
 * dropped connection that reconnects and resumes without losing an event.
 */

import assert from "node:assert/strict";
import { MonoRailConnection, type MonoRailMessage } from "../client/mod.ts";
import { startServer, withTimeout } from "./_helpers.ts";

/** Collects the messages of one handler. */
function collect(rail: MonoRailConnection, handler: string): MonoRailMessage[] {
  const out: MonoRailMessage[] = [];
  rail.events.on(handler, (m) => out.push(m));
  return out;
}

/** Waits for the next message of a handler satisfying `predicate`. */
function when(
  rail: MonoRailConnection,
  handler: string,
  predicate: (m: MonoRailMessage) => boolean = () => true,
): Promise<MonoRailMessage> {
  return withTimeout(
    new Promise((resolve) => {
      const listener = (m: MonoRailMessage) => {
        if (!predicate(m)) return;
        rail.events.off(handler, listener);
        resolve(m);
      };
      rail.events.on(handler, listener);
    }),
    5000,
    `"${handler}" message`,
  );
}

/** A URL function whose second and later calls wait until `release()`. */
function gatedUrl(url: URL) {
  let calls = 0;
  const gate = Promise.withResolvers<void>();
  return {
    url: async () => {
      if (calls++ > 0) await gate.promise;
      return url;
    },
    release() {
      gate.resolve();
    },
    get calls() {
      return calls;
    },
  };
}

Deno.test("monorail client API: ready, init, all, query, get, watch, stop and their events", async () => {
  await using server = await startServer();
  const rail = new MonoRailConnection(new URL("events/processes", server.wsUrl));
  const opened = collect(rail, "open");
  rail.connect();
  let readyCalled = false;
  await rail.ready(() => readyCalled = true);
  assert.ok(readyCalled);
  assert.equal(opened.length, 1);
  const id = await rail.init();
  assert.equal(rail.id, id);
  const all = when(rail, "list");
  rail.all();
  assert.ok((await all).items.some((p: { name: string }) => p.name === "count"));
  const one = when(rail, "list");
  rail.query({ name: "cat" });
  assert.deepEqual((await one).items.map((p: { name: string }) => p.name), ["cat"]);
  const got = when(rail, "item");
  rail.get({ name: "wc" });
  assert.equal((await got).data.name, "wc");
  const removed = when(rail, "remove");
  rail.get({ name: "nope" });
  assert.deepEqual((await removed).params, { name: "nope" });
  const error = when(rail, "error", (m) => m?.handler === "error");
  rail.get({});
  assert.equal((await error).code, "bad_params");

  const list = when(rail, "list");
  rail.watch({ name: "added" });
  assert.deepEqual((await list).items, []);
  const item = when(rail, "item");
  server.running.server.manager.setProcess("added", {
    kind: "command",
    command: ["true"],
    params: [],
  });
  assert.equal((await item).data.name, "added");
  rail.stop({ name: "added" });
  const closed = when(rail, "close");
  rail.disconnect();
  await closed;
  assert.equal(rail.isOpen, false);
});

Deno.test("monorail client reconnects after a drop and resumes: no session event and no log byte lost", async () => {
  await using server = await startServer();
  const manager = server.running.server.manager;
  const caller = { id: "anonymous" };
  const gate = gatedUrl(new URL("events/sessions", server.wsUrl));
  const rail = new MonoRailConnection(gate.url, { backoff: { initialDelay: 1, jitter: 0 } });
  const items = collect(rail, "item");
  rail.connect();
  const id = await rail.init();
  const first = when(rail, "list");
  rail.watch();
  await first;
  const before = manager.start("count", ["1"], { caller });
  await when(rail, "item", (m) => m.data.id === before.id && m.data.state === "fulfilled");

  // Drop the socket; the reconnect waits at the gate while a session runs and ends.
  const closed = when(rail, "close");
  rail.wsConn!.close();
  await closed;
  const meanwhile = manager.start("count", ["2"], { caller });
  await meanwhile.result;
  const resumed = when(rail, "session");
  const done = when(
    rail,
    "item",
    (m) => m.data.id === meanwhile.id && m.data.state === "fulfilled",
  );
  gate.release();
  assert.deepEqual(await resumed, { handler: "session", id, resumed: true });
  await done;
  assert.equal(rail.id, id);
  assert.deepEqual(
    items.filter((m) => m.data.id === meanwhile.id).map((m) => m.data.state),
    ["starting", "running", "fulfilled"],
  );
  rail.disconnect();

  // Logs: the bytes written while disconnected come after the resume, from the right offset.
  const logGate = gatedUrl(new URL("events/logs", server.wsUrl));
  const logs = new MonoRailConnection(logGate.url, { backoff: { initialDelay: 1, jitter: 0 } });
  const texts: string[] = [];
  logs.events.on("list", (m) => texts.push(...m.items.map((i: { text: string }) => i.text)));
  logs.events.on("item", (m) => texts.push(m.data.text));
  logs.connect();
  await logs.init();
  const echo = manager.start("echo", [], { caller });
  logs.watch({ session: echo.id });
  await when(logs, "list");
  const a = when(logs, "item");
  await echo.write("a\n");
  await a;
  const dropped = when(logs, "close");
  logs.wsConn!.close();
  await dropped;
  await echo.write("b\n");
  await echo.closeInput();
  await echo.result;
  const end = when(logs, "remove");
  logGate.release();
  const finished = await end;
  assert.deepEqual(finished.params, {
    session: echo.id,
    offset: 4,
    result: { status: "fulfilled", value: [] },
  });
  assert.deepEqual(texts, ["a\n", "b\n"]);
  logs.disconnect();
});
