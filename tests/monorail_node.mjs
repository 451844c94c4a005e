// A MonoRail client written from the spec, with the `ws` package the spec recommends, run by
// Node (see monorail_node_test.ts). Usage: node monorail_node.mjs http://127.0.0.1:PORT/
// Prints one JSON line with what it saw; exits 1 on the first unexpected message.
import { strict as assert } from "node:assert";
import WebSocket from "ws";

const base = process.argv[2];
const wsBase = base.replace(/^http/, "ws");

/** Opens a connection to a channel and reads its messages in order. */
function connect(channel) {
  const ws = new WebSocket(`${wsBase}events/${channel}`);
  const queue = [];
  const waiters = [];
  ws.on("message", (data) => {
    const message = JSON.parse(String(data));
    const waiter = waiters.shift();
    if (waiter) waiter(message);
    else queue.push(message);
  });
  const opened = new Promise((resolve, reject) => {
    ws.on("open", resolve);
    ws.on("error", reject);
  });
  return {
    opened,
    send: (message) => ws.send(JSON.stringify(message)),
    sendRaw: (text) => ws.send(text),
    next: () =>
      queue.length > 0
        ? Promise.resolve(queue.shift())
        : new Promise((resolve) => waiters.push(resolve)),
    close: () => ws.close(),
  };
}

const timer = setTimeout(() => {
  console.log(JSON.stringify({ ok: false, error: "timed out" }));
  process.exit(1);
}, 20_000);

try {
  const sessions = connect("sessions");
  await sessions.opened;
  sessions.send({ handler: "init" });
  const session = await sessions.next();
  assert.equal(session.handler, "session");
  assert.equal(typeof session.id, "string");

  sessions.send({ handler: "watch" });
  const list = await sessions.next();
  assert.equal(list.handler, "list");
  assert.deepEqual(list.items, []);

  const started = await fetch(`${base}api/v2/sessions`, {
    method: "POST",
    body: JSON.stringify({ name: "count", params: ["2"] }),
  });
  const { session: id } = await started.json();
  const states = [];
  while (states.at(-1) !== "fulfilled") {
    const item = await sessions.next();
    assert.equal(item.handler, "item");
    assert.equal(item.data.id, id);
    states.push(item.data.state);
  }
  assert.deepEqual(states, ["starting", "running", "fulfilled"]);

  sessions.send({ handler: "stop", params: {} });
  sessions.send({ handler: "query", params: { id } });
  assert.deepEqual((await sessions.next()).items.map((s) => s.id), [id]);
  sessions.send({ handler: "all" });
  assert.equal((await sessions.next()).items.length, 1);
  sessions.send({ handler: "get", params: { id } });
  assert.equal((await sessions.next()).data.state, "fulfilled");
  sessions.send({ handler: "get", params: { id: "nope" } });
  assert.deepEqual(await sessions.next(), { handler: "remove", params: { id: "nope" } });
  sessions.sendRaw("not json");
  assert.equal((await sessions.next()).code, "bad_json");
  sessions.send({ handler: "dance" });
  assert.equal((await sessions.next()).code, "unknown_handler");
  sessions.close();

  const logs = connect("logs");
  await logs.opened;
  logs.send({ handler: "watch", params: { session: id } });
  const output = await logs.next();
  assert.equal(output.handler, "list");
  assert.equal(output.items.map((i) => i.text).join(""), "1\n2\n");
  const end = await logs.next();
  assert.equal(end.handler, "remove");
  assert.equal(end.params.session, id);
  logs.close();

  const processes = connect("processes");
  await processes.opened;
  processes.send({ handler: "get", params: { name: "count" } });
  const count = await processes.next();
  assert.equal(count.data.name, "count");
  processes.close();

  console.log(JSON.stringify({ ok: true, states, log: "1\n2\n", process: count.data.name }));
  clearTimeout(timer);
} catch (error) {
  console.log(JSON.stringify({ ok: false, error: String(error?.stack ?? error) }));
  process.exit(1);
}
