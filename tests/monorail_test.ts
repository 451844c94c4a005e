/**
 * End-to-end tests of the MonoRail front end: a real server on a free port and a MonoRail client
 * written from the spec (a plain WebSocket without subprotocol, JSON messages with `handler`).
 */

import assert from "node:assert/strict";
import { defineProcess, hashToken, logServer, type PowConfig } from "../mod.ts";
import { broadcast, BROADCAST_TOPIC } from "../server/front_ends/monorail/mod.ts";
import { rawRequest, startServer, type TestServer } from "./_helpers.ts";
import { type Message, Rail } from "./_monorail.ts";

const ALICE = "alice-token-0123456789abcdef";
const BOB = "bob-token-0123456789abcdef";

async function ticket(server: TestServer, token: string): Promise<string> {
  const response = await fetch(new URL("tickets", server.url), {
    method: "POST",
    headers: { authorization: `Bearer ${token}` },
  });
  return (await response.json()).ticket;
}

function withTokens(config: PowConfig) {
  config.auth.tokens = [
    { name: "alice", hash: hashToken(ALICE), roles: ["admin"] },
    { name: "bob", hash: hashToken(BOB) },
  ];
}

Deno.test("monorail processes channel answers every handler, and errors never close the connection", async () => {
  await using server = await startServer();
  const rail = await new Rail(server.wsUrl, "processes").open();
  rail.send({ handler: "init" });
  const session = await rail.next();
  assert.equal(session.handler, "session");
  assert.match(session.id, /^[A-Za-z0-9_-]{22}$/);

  rail.send({ handler: "all" });
  const all = await rail.next();
  assert.equal(all.handler, "list");
  const names = all.items.map((p: Message) => p.name);
  assert.deepEqual(names, [...names].sort());
  assert.ok(names.includes("count") && names.includes("echo"));

  rail.send({ handler: "query", params: { name: "count" } });
  const one = await rail.next();
  assert.deepEqual(one.items, [{
    name: "count",
    description: "Print the numbers 1..N",
    params: [{ name: "n", description: "How far to count", pattern: "[0-9]{1,7}" }],
    pty: false,
  }]);

  rail.send({ handler: "get", params: { name: "count" } });
  assert.deepEqual(await rail.next(), { handler: "item", data: one.items[0] });
  rail.send({ handler: "get", params: { name: "nope" } });
  assert.deepEqual(await rail.next(), { handler: "remove", params: { name: "nope" } });

  rail.socket.sendText("{not json");
  assert.deepEqual(await rail.next(), {
    handler: "error",
    code: "bad_json",
    text: "Cannot parse the message: not JSON",
  });
  rail.send({ handler: "fly" });
  assert.deepEqual(await rail.next(), {
    handler: "error",
    code: "unknown_handler",
    text: 'Unknown handler "fly": expected one of init, query, all, get, watch, stop',
  });
  rail.send({ handler: "query", params: { colour: "red" } });
  assert.deepEqual(await rail.next(), {
    handler: "error",
    code: "bad_params",
    text: 'Invalid params of "query": unknown key "colour"; expected name',
  });
  rail.send({ handler: "get" });
  assert.deepEqual(await rail.next(), {
    handler: "error",
    code: "bad_params",
    text: 'Invalid params of "get": "name" is required',
  });
  rail.send({ handler: "watch", params: [] });
  assert.equal((await rail.next()).code, "bad_params");
  // Still open and answering.
  rail.send({ handler: "get", params: { name: "cat" } });
  assert.equal((await rail.next()).data.name, "cat");
  await rail.close();
});

Deno.test("monorail sessions watchers see every state change in order until stop", async () => {
  await using server = await startServer();
  const rail = await new Rail(server.wsUrl, "sessions").open();
  rail.send({ handler: "watch" });
  const list = await rail.next();
  assert.deepEqual(list, { handler: "list", items: [], seq: list.seq });
  const manager = server.running.server.manager;
  const session = manager.start("count", ["3"], { caller: { id: "anonymous" } });
  await session.result;
  const seen = await rail.until((m) => m.data?.state === "fulfilled");
  assert.deepEqual(seen.map((m) => [m.handler, m.data.id, m.data.state]), [
    ["item", session.id, "starting"],
    ["item", session.id, "running"],
    ["item", session.id, "fulfilled"],
  ]);
  const last = seen.at(-1)!;
  assert.equal(last.data.owner, "anonymous");
  assert.equal(last.data.name, "count");
  assert.deepEqual(last.data.params, ["3"]);
  assert.deepEqual(last.data.result, { status: "fulfilled", value: null, exitCode: 0 });
  assert.ok(seen.every((m, i) => i === 0 || m.seq > seen[i - 1].seq));

  rail.send({ handler: "query", params: { state: "fulfilled" } });
  assert.deepEqual((await rail.next()).items.map((s: Message) => s.id), [session.id]);
  rail.send({ handler: "get", params: { id: session.id } });
  assert.equal((await rail.next()).data.state, "fulfilled");

  // A watch with a filter: an item that stops matching is removed once.
  rail.send({ handler: "watch", params: { state: "running" } });
  assert.deepEqual((await rail.next()).items, []);
  rail.send({ handler: "stop", params: {} });
  // No answer to stop: a request after it shows it was served.
  rail.send({ handler: "get", params: { id: session.id } });
  assert.equal((await rail.next()).handler, "item");
  const echo = manager.start("echo", [], { caller: { id: "anonymous" } });
  await echo.closeInput();
  await echo.result;
  // After stop nothing more comes: the next message answers the next request.
  rail.send({ handler: "get", params: { id: "gone" } });
  assert.deepEqual(await rail.next(), { handler: "remove", params: { id: "gone" } });
  await rail.close();
});

Deno.test("monorail watch with a filter removes an item that stops matching", async () => {
  await using server = await startServer();
  const rail = await new Rail(server.wsUrl, "sessions").open();
  rail.send({ handler: "watch", params: { state: "running" } });
  await rail.next();
  const manager = server.running.server.manager;
  const echo = manager.start("echo", [], { caller: { id: "anonymous" } });
  assert.equal((await rail.next()).data.state, "running");
  await echo.closeInput();
  await echo.result;
  const removed = await rail.next();
  assert.equal(removed.handler, "remove");
  assert.deepEqual(removed.params, { id: echo.id });
  await rail.close();
});

Deno.test("monorail logs channel streams a session's output and its end", async () => {
  await using server = await startServer();
  const manager = server.running.server.manager;
  const caller = { id: "anonymous" };
  const done = manager.start("count", ["3"], { caller });
  await done.result;
  const rail = await new Rail(server.wsUrl, "logs").open();
  rail.send({ handler: "get", params: { session: done.id } });
  assert.deepEqual(await rail.next(), {
    handler: "item",
    data: { session: done.id, offset: 0, next: 6, text: "1\n2\n3\n" },
  });
  rail.send({ handler: "query", params: { session: done.id, offset: 2 } });
  assert.deepEqual((await rail.next()).items, [
    { session: done.id, stream: "stdout", offset: 2, next: 6, text: "2\n3\n" },
  ]);
  rail.send({ handler: "all" });
  assert.equal((await rail.next()).code, "unsupported");
  rail.send({ handler: "get", params: { session: "nope" } });
  assert.deepEqual(await rail.next(), { handler: "remove", params: { session: "nope" } });

  // Live: an echo session whose input we write.
  const echo = manager.start("echo", ["x"], { caller });
  rail.send({ handler: "watch", params: { session: echo.id } });
  assert.deepEqual((await rail.next()).items, []);
  await echo.write("hello\n");
  assert.deepEqual((await rail.next()).data, {
    session: echo.id,
    stream: "stdout",
    offset: 0,
    next: 6,
    text: "hello\n",
  });
  await echo.write("again\n");
  assert.equal((await rail.next()).data.text, "again\n");
  await echo.closeInput();
  await echo.result;
  assert.deepEqual(await rail.next(), {
    handler: "remove",
    params: { session: echo.id, offset: 12, result: { status: "fulfilled", value: ["x"] } },
  });
  await rail.close();
});

Deno.test("monorail topics channel delivers bus topic events; the server channel is for admins", async () => {
  await using server = await startServer({ configure: withTokens });
  const bus = server.running.server.manager.bus;
  await bus.publish("topic.news", { headline: "before" });
  const rail = await new Rail(server.wsUrl, "topics/news", await ticket(server, BOB)).open();
  rail.send({ handler: "query" });
  assert.deepEqual((await rail.next()).items.map((i: Message) => i.data), [{ headline: "before" }]);
  rail.send({ handler: "watch" });
  await rail.next();
  await bus.publish("topic.sport", { headline: "other topic" });
  await bus.publish("topic.news", { headline: "live" });
  const item = await rail.next();
  assert.equal(item.data.topic, "topic.news");
  assert.deepEqual(item.data.data, { headline: "live" });
  rail.send({ handler: "get" });
  assert.equal((await rail.next()).code, "unsupported");
  await rail.close();

  // bob is no admin: the upgrade is refused.
  const refused = await rawRequest(new URL("events/server", server.wsUrl), {
    authorization: `Bearer ${BOB}`,
    upgrade: "websocket",
    connection: "Upgrade",
    "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
    "sec-websocket-version": "13",
  });
  assert.equal(refused.status, 403);
  assert.equal(refused.body, 'Cannot watch channel "server": caller "bob" is not an admin');
  const admin = await new Rail(server.wsUrl, "server", await ticket(server, ALICE)).open();
  admin.send({ handler: "watch" });
  await admin.next();
  logServer(bus, "warn", "disk almost full");
  const line = await admin.next();
  assert.equal(line.data.level, "warn");
  assert.equal(line.data.text, "disk almost full");
  await admin.close();
});

Deno.test("monorail shows each caller only its own sessions and the processes it may run", async () => {
  await using server = await startServer({
    configure(config) {
      withTokens(config);
      config.processes.secret = defineProcess({ allow: ["alice"], run: () => 1 });
    },
  });
  const manager = server.running.server.manager;
  const bob = await new Rail(server.wsUrl, "sessions", await ticket(server, BOB)).open();
  const alice = await new Rail(server.wsUrl, "sessions", await ticket(server, ALICE)).open();
  bob.send({ handler: "watch" });
  alice.send({ handler: "watch" });
  await bob.next();
  await alice.next();
  const bobs = manager.start("count", ["1"], { caller: { id: "bob" } });
  await bobs.result;
  const alices = manager.start("count", ["1"], { caller: { id: "alice", roles: ["admin"] } });
  await alices.result;
  const seenByAlice = await alice.until((m) => m.data?.state === "fulfilled");
  assert.ok(seenByAlice.every((m) => m.data.id === alices.id));
  const seenByBob = await bob.until((m) => m.data?.state === "fulfilled");
  assert.ok(seenByBob.every((m) => m.data.id === bobs.id));
  bob.send({ handler: "get", params: { id: alices.id } });
  assert.deepEqual(await bob.next(), { handler: "remove", params: { id: alices.id } });
  await bob.close();
  await alice.close();

  const logs = await new Rail(server.wsUrl, "logs", await ticket(server, BOB)).open();
  logs.send({ handler: "watch", params: { session: alices.id } });
  assert.deepEqual(await logs.next(), { handler: "remove", params: { session: alices.id } });
  await logs.close();

  const processes = await new Rail(server.wsUrl, "processes", await ticket(server, BOB)).open();
  processes.send({ handler: "get", params: { name: "secret" } });
  assert.deepEqual(await processes.next(), { handler: "remove", params: { name: "secret" } });
  await processes.close();
  const allowed = await new Rail(server.wsUrl, "processes", await ticket(server, ALICE)).open();
  allowed.send({ handler: "get", params: { name: "secret" } });
  assert.equal((await allowed.next()).data.name, "secret");
  await allowed.close();

  const anonymous = await fetch(new URL("events/sessions", server.url));
  assert.equal(anonymous.status, 401);
  await anonymous.body?.cancel();
});

Deno.test("monorail resume after a dropped connection delivers every event that happened meanwhile", async () => {
  await using server = await startServer();
  const manager = server.running.server.manager;
  const first = await new Rail(server.wsUrl, "sessions").open();
  first.send({ handler: "init" });
  const { id } = await first.next();
  first.send({ handler: "watch" });
  const list = await first.next();
  const before = manager.start("count", ["1"], { caller: { id: "anonymous" } });
  await before.result;
  const seen = await first.until((m) => m.data?.state === "fulfilled");
  const seq = Math.max(list.seq, ...seen.map((m) => m.seq));
  await first.close();

  // Meanwhile: a session runs and ends.
  const meanwhile = manager.start("count", ["2"], { caller: { id: "anonymous" } });
  await meanwhile.result;

  const second = await new Rail(server.wsUrl, "sessions").open();
  second.send({ handler: "init", id, seq });
  assert.deepEqual(await second.next(), { handler: "session", id, resumed: true });
  const replayed = await second.until((m) => m.data?.state === "fulfilled");
  assert.deepEqual(replayed.map((m) => [m.handler, m.data.id, m.data.state]), [
    ["item", meanwhile.id, "starting"],
    ["item", meanwhile.id, "running"],
    ["item", meanwhile.id, "fulfilled"],
  ]);
  // Still watching, live.
  const after = manager.start("count", ["1"], { caller: { id: "anonymous" } });
  await after.result;
  assert.equal((await second.next()).data.id, after.id);

  // An unknown id gets a new one.
  const third = await new Rail(server.wsUrl, "sessions").open();
  third.send({ handler: "init", id: "unknown-connection" });
  const fresh = await third.next();
  assert.equal(fresh.resumed, false);
  assert.notEqual(fresh.id, "unknown-connection");
  await second.close();
  await third.close();
});

Deno.test("monorail broadcast reaches all connections but the skipped ones, from the API, REST and a process", async () => {
  await using server = await startServer({
    configure(config) {
      withTokens(config);
      config.processes.announce = defineProcess({
        params: [{ name: "skip" }],
        async run({ bus, params }) {
          await bus!.publish(BROADCAST_TOPIC, {
            message: { handler: "notice", from: "process" },
            skip: [params[0]],
          });
        },
      });
    },
  });
  const rails: Rail[] = [];
  const ids: string[] = [];
  for (const channel of ["sessions", "processes", "topics/x"]) {
    const rail = await new Rail(server.wsUrl, channel, await ticket(server, BOB)).open();
    rail.send({ handler: "init" });
    ids.push((await rail.next()).id);
    rails.push(rail);
  }
  const probe = async (rail: Rail) => {
    // The next message after a broadcast: the notice, or the answer to this query.
    rail.send({ handler: "query" });
    return (await rail.next()).handler;
  };
  assert.equal(broadcast(server.running.server, { handler: "notice", n: 1 }, [ids[1]]), 2);
  assert.deepEqual(await rails[0].next(), { handler: "notice", n: 1 });
  assert.deepEqual(await rails[2].next(), { handler: "notice", n: 1 });
  assert.equal(await probe(rails[1]), "list");

  // A predicate.
  assert.equal(
    broadcast(server.running.server, { handler: "notice", n: 2 }, (c) => c.channel !== "topics/x"),
    1,
  );
  assert.deepEqual(await rails[2].next(), { handler: "notice", n: 2 });

  // REST: admins only.
  const post = (token: string, body: unknown) =>
    fetch(new URL("events/broadcast", server.url), {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  const denied = await post(BOB, { message: { handler: "notice" } });
  assert.equal(denied.status, 403);
  assert.equal((await denied.json()).code, "not_allowed");
  const sent = await post(ALICE, { message: { handler: "notice", n: 3 }, skip: [ids[0]] });
  assert.deepEqual(await sent.json(), { delivered: 2 });
  assert.deepEqual(await rails[1].next(), { handler: "notice", n: 3 });
  assert.deepEqual(await rails[2].next(), { handler: "notice", n: 3 });
  const bad = await post(ALICE, { message: "no handler" });
  assert.equal(bad.status, 400);

  // A TypeScript process, through the bus.
  const session = server.running.server.manager.start("announce", [ids[2]], {
    caller: { id: "bob" },
  });
  await session.result;
  assert.deepEqual(await rails[0].next(), { handler: "notice", from: "process" });
  assert.deepEqual(await rails[1].next(), { handler: "notice", from: "process" });
  assert.equal(await probe(rails[2]), "list");
  for (const rail of rails) await rail.close();
});

Deno.test("monorail watcher whose queue overflows gets a fresh list instead of the missed events", async () => {
  await using server = await startServer({
    configure(config) {
      config.monorail.queue = 4;
    },
  });
  const manager = server.running.server.manager;
  const rail = await new Rail(server.wsUrl, "processes").open();
  rail.send({ handler: "watch" });
  const first = await rail.next();
  // 50 changes in one turn: the connection cannot read them as fast as they come.
  for (let i = 0; i < 50; i++) manager.setProcess(`p${i}`, defineProcess({ run: () => i }));
  const messages = await rail.until((m) => m.handler === "list");
  const snapshot = messages.at(-1)!;
  const names = snapshot.items.map((p: Message) => p.name);
  for (let i = 0; i < 50; i++) assert.ok(names.includes(`p${i}`), `p${i} in the snapshot`);
  assert.equal(names.length, first.items.length + 50);
  assert.ok(messages.filter((m) => m.handler === "item").length < 50);
  // Then live again.
  manager.removeProcess("p7");
  const next = await rail.until((m) => m.handler === "remove");
  assert.deepEqual(next.at(-1)!.params, { name: "p7" });
  await rail.close();
});

Deno.test("monorail refuses unknown channels and plain GETs, and can be disabled", async () => {
  await using server = await startServer();
  const unknown = await fetch(new URL("events/nothing", server.url));
  assert.equal(unknown.status, 404);
  assert.match(await unknown.text(), /^Unknown channel "nothing"/);
  const plain = await fetch(new URL("events/sessions", server.url));
  assert.equal(plain.status, 426);
  await plain.body?.cancel();
  await using off = await startServer({
    configure(config) {
      config.monorail.enabled = false;
    },
  });
  const gone = await fetch(new URL("events/sessions", off.url));
  assert.equal(gone.status, 404);
  await gone.body?.cancel();
});

Deno.test("monorail resume after the bus history moved on gets a fresh list, and takes over a live connection", async () => {
  await using server = await startServer();
  const manager = server.running.server.manager;
  const first = await new Rail(server.wsUrl, "sessions").open();
  first.send({ handler: "init" });
  const { id } = await first.next();
  first.send({ handler: "watch" });
  const { seq } = await first.next();
  await first.close();

  const meanwhile = manager.start("count", ["1"], { caller: { id: "anonymous" } });
  await meanwhile.result;
  // More events than the bus holds (4096 by default): the session's are gone from history.
  for (let i = 0; i < 5000; i++) await manager.bus.publish("topic.noise", i);

  const second = await new Rail(server.wsUrl, "sessions").open();
  second.send({ handler: "init", id, seq });
  assert.deepEqual(await second.next(), { handler: "session", id, resumed: true });
  const snapshot = await second.next();
  assert.equal(snapshot.handler, "list");
  assert.deepEqual(snapshot.items.map((s: Message) => [s.id, s.state]), [
    [meanwhile.id, "fulfilled"],
  ]);

  // A client that reconnects before the server noticed the drop takes the live connection over.
  const third = await new Rail(server.wsUrl, "sessions").open();
  third.send({ handler: "init", id });
  assert.deepEqual(await third.next(), { handler: "session", id, resumed: true });
  assert.equal((await second.socket.close()).code, 1000);
  const later = manager.start("count", ["1"], { caller: { id: "anonymous" } });
  await later.result;
  const seen = await third.until((m) => m.data?.state === "fulfilled");
  assert.deepEqual(seen.map((m) => m.data.id), [later.id, later.id, later.id]);
  await third.close();
});
