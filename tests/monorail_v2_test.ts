/**
 * pow.v2 `watch`/`unwatch`: the MonoRail channels over a native connection, one watch id per
 * subscription, the same message shapes as on `/events`.
 */

import assert from "node:assert/strict";
import { defineProcess, hashToken } from "../mod.ts";
import { startServer, TestSocket } from "./_helpers.ts";

const BOB = "bob-token-0123456789abcdef";

// deno-lint-ignore no-explicit-any
type Json = Record<string, any>;

/** Reads a pow.v2 socket's text messages in order. */
function reader(socket: TestSocket) {
  let read = 0;
  return async (): Promise<Json> => {
    await socket.waitFor(() => socket.texts.length > read);
    return JSON.parse(socket.texts[read++]);
  };
}

Deno.test("pow.v2 watch streams the same list, item and remove messages as MonoRail until unwatch", async () => {
  await using server = await startServer();
  const manager = server.running.server.manager;
  const socket = new TestSocket(server.wsUrl, ["pow.v2"]);
  await socket.opened;
  const next = reader(socket);
  assert.equal((await next()).type, "hello");
  const send = (message: Json) => socket.sendText(JSON.stringify(message));

  send({ type: "watch", watch: 1, channel: "sessions" });
  const list = await next();
  assert.deepEqual(list, {
    type: "event",
    watch: 1,
    event: { handler: "list", items: [], seq: list.event.seq },
  });
  send({ type: "watch", watch: 2, channel: "processes", params: { name: "count" } });
  const processes = await next();
  assert.equal(processes.watch, 2);
  assert.deepEqual(processes.event.items.map((p: Json) => p.name), ["count"]);

  const session = manager.start("count", ["1"], { caller: { id: "anonymous" } });
  await session.result;
  const states = [];
  for (let i = 0; i < 3; i++) {
    const event = await next();
    assert.equal(event.type, "event");
    assert.equal(event.watch, 1);
    assert.equal(event.event.handler, "item");
    assert.equal(event.event.data.id, session.id);
    states.push(event.event.data.state);
  }
  assert.deepEqual(states, ["starting", "running", "fulfilled"]);

  manager.removeProcess("count");
  assert.deepEqual((await next()).event, {
    handler: "remove",
    params: { name: "count" },
    seq: await manager.bus.lastId(),
  });

  // Bad params come back as the MonoRail error, inside the watch's event.
  send({ type: "watch", watch: 3, channel: "logs", params: {} });
  assert.deepEqual(await next(), {
    type: "event",
    watch: 3,
    event: {
      handler: "error",
      code: "bad_params",
      text: 'Invalid params of "watch": "session" is required',
    },
  });
  send({ type: "watch", watch: 1, channel: "sessions", ref: "dup" });
  assert.deepEqual(await next(), {
    type: "error",
    ref: "dup",
    code: "duplicate_id",
    message: "Watch id 1 is already in use",
  });
  send({ type: "watch", watch: 4, channel: "nowhere" });
  assert.equal((await next()).code, "bad_message");
  send({ type: "watch", watch: 5, channel: "server" });
  assert.deepEqual(await next(), {
    type: "error",
    code: "not_allowed",
    message: 'Cannot watch channel "server": caller "anonymous" is not an admin',
  });

  send({ type: "unwatch", watch: 1 });
  send({ type: "unwatch", watch: 9, ref: 7 });
  assert.deepEqual(await next(), {
    type: "error",
    ref: 7,
    code: "unknown_id",
    message: "Watch id 9 is not in use",
  });
  const after = manager.start("date", ["-u"], { caller: { id: "anonymous" } });
  await after.result;
  // Nothing more for watch 1: the next message answers the next request.
  send({ type: "ping", ref: "p" });
  assert.deepEqual(await next(), { type: "pong", ref: "p" });
  socket.ws.close();
  await socket.close();
});

Deno.test("pow.v2 watch shows only what the caller may see", async () => {
  await using server = await startServer({
    configure(config) {
      config.auth.tokens = [{ name: "bob", hash: hashToken(BOB) }];
      config.processes.secret = defineProcess({ allow: ["alice"], run: () => 1 });
    },
  });
  const manager = server.running.server.manager;
  const ticket = await (await fetch(new URL("tickets", server.url), {
    method: "POST",
    headers: { authorization: `Bearer ${BOB}` },
  })).json();
  const socket = new TestSocket(new URL(`?ticket=${ticket.ticket}`, server.wsUrl), ["pow.v2"]);
  await socket.opened;
  const next = reader(socket);
  await next();
  socket.sendText(JSON.stringify({ type: "watch", watch: 1, channel: "sessions" }));
  await next();
  socket.sendText(JSON.stringify({ type: "watch", watch: 2, channel: "processes" }));
  const processes = await next();
  assert.ok(!processes.event.items.some((p: Json) => p.name === "secret"));
  const others = manager.start("count", ["1"], { caller: { id: "alice" } });
  await others.result;
  const own = manager.start("count", ["1"], { caller: { id: "bob" } });
  await own.result;
  const event = await next();
  assert.equal(event.event.data.id, own.id);
  socket.ws.close();
  await socket.close();
});
