/**
 * End-to-end tests of the wubsub front end. The client here is written from the JSON of the
 * original wubsub README alone (github.com/premiering/wubsub), not from pow's modules: plain
 * WebSocket, JSON text messages with a `type`.
 *
 * No test waits for a fixed time: to show that a client was *not* sent something, it sends a
 * message that is always answered (an unknown type) and checks that the answer comes first.
 *
 * @module
 */

import assert from "node:assert/strict";
import { PowClient } from "../client/mod.ts";
import { defineProcess, hashToken, type PowConfig } from "../mod.ts";
import { startServer, type TestServer, withTimeout } from "./_helpers.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** A wubsub client as the seed describes it: JSON messages in, JSON messages out. */
class Wub {
  readonly ws: WebSocket;
  readonly received: Json[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<void>;
  #read = 0;
  #wake: (() => void) | undefined;

  constructor(url: URL | string) {
    this.ws = new WebSocket(url);
    const opened = Promise.withResolvers<void>();
    const closed = Promise.withResolvers<void>();
    this.opened = opened.promise;
    this.closed = closed.promise;
    this.ws.onopen = () => opened.resolve();
    this.ws.onerror = () => opened.reject(new Error("WebSocket failed to open"));
    this.ws.onmessage = (event) => {
      this.received.push(JSON.parse(event.data));
      this.#wake?.();
    };
    this.ws.onclose = () => {
      closed.resolve();
      this.#wake?.();
    };
  }

  static async open(server: TestServer, query = ""): Promise<Wub> {
    const wub = new Wub(new URL(`wubsub${query}`, server.wsUrl));
    await wub.opened;
    return wub;
  }

  send(message: Json): void {
    this.ws.send(typeof message === "string" ? message : JSON.stringify(message));
  }

  /** The next message not read yet. */
  async next(): Promise<Json> {
    while (this.#read >= this.received.length) {
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error("closed while waiting");
      const { promise, resolve } = Promise.withResolvers<void>();
      this.#wake = resolve;
      await withTimeout(promise, 5000, `a message; got ${JSON.stringify(this.received)}`);
    }
    return this.received[this.#read++];
  }

  /** Sends an unknown type and expects its error as the very next message: nothing else came. */
  async nothingElse(): Promise<void> {
    this.send({ type: "barrier" });
    const message = await this.next();
    assert.equal(message.type, "error", `unexpected ${JSON.stringify(message)}`);
    assert.match(message.data, /^Unknown message type "barrier"/);
  }

  async close(): Promise<void> {
    this.ws.close();
    await this.closed;
  }
}

const SAMPLE = {
  type: "register",
  channel: "sample_channel",
  data: {
    name: "sample_channel",
    description: "Assistant chatting service",
    pubsub: { topics: ["responses"] },
    restpie: { methods: ["status", "get-opts", "get-opts-schema"] },
  },
};

function register(channel: string, topics: string[], methods: string[]): Json {
  return {
    type: "register",
    channel,
    data: { name: channel, pubsub: { topics }, restpie: { methods } },
  };
}

/** Registers and waits until the registration took effect (a barrier answers after it). */
async function owner(server: TestServer, message: Json): Promise<Wub> {
  const wub = await Wub.open(server);
  wub.send(message);
  await wub.nothingElse();
  return wub;
}

Deno.test("wubsub: the seed's exchange, message for message", async () => {
  await using server = await startServer();
  const own = await owner(server, SAMPLE);
  const user = await Wub.open(server);
  const other = await Wub.open(server);

  user.send({ type: "ps-sub", channel: "sample_channel", topic: "responses" });
  other.send({ type: "ps-sub", channel: "sample_channel", topic: "responses" });
  await user.nothingElse();
  await other.nothingElse();
  own.send({
    type: "ps-pub",
    channel: "sample_channel",
    topic: "responses",
    data: { text: "Why is the sky blue?" },
  });
  const recv = {
    type: "ps-recv",
    channel: "sample_channel",
    topic: "responses",
    data: { text: "Why is the sky blue?" },
  };
  assert.deepEqual(await user.next(), recv);
  assert.deepEqual(await other.next(), recv);

  user.send({ type: "pie-do", channel: "sample_channel", topic: "status" });
  const ack = await user.next();
  assert.equal(ack.type, "pie-ack");
  assert.match(ack.reqid, UUID);
  assert.deepEqual(ack, {
    type: "pie-ack",
    channel: "sample_channel",
    topic: "status",
    reqid: ack.reqid,
  });
  // The seed's pie-req has no data when pie-do had none.
  assert.deepEqual(await own.next(), {
    type: "pie-req",
    channel: "sample_channel",
    topic: "status",
    reqid: ack.reqid,
  });
  own.send({
    type: "pie-resp",
    channel: "sample_channel",
    topic: "status",
    reqid: ack.reqid,
    data: { text: "Ok!", cpu_load: "5.2%" },
  });
  assert.deepEqual(await user.next(), {
    type: "pie-recv",
    channel: "sample_channel",
    reqid: ack.reqid,
    topic: "status",
    data: { text: "Ok!", cpu_load: "5.2%" },
  });
  // Only the caller hears the answer; the owner hears nothing back.
  await other.nothingElse();
  await own.nothingElse();

  // pie-do with data: the owner gets it in pie-req.
  user.send({ type: "pie-do", channel: "sample_channel", topic: "get-opts", data: { a: [1] } });
  const ack2 = await user.next();
  const req2 = await own.next();
  assert.deepEqual(req2, {
    type: "pie-req",
    channel: "sample_channel",
    topic: "get-opts",
    reqid: ack2.reqid,
    data: { a: [1] },
  });
  assert.notEqual(ack2.reqid, ack.reqid);

  // ps-unsub (a pow extension): no more ps-recv.
  other.send({ type: "ps-unsub", channel: "sample_channel", topic: "responses" });
  await other.nothingElse();
  own.send({ type: "ps-pub", channel: "sample_channel", topic: "responses", data: 2 });
  assert.deepEqual((await user.next()).data, 2);
  await other.nothingElse();

  for (const w of [own, user, other]) await w.close();
});

Deno.test("wubsub: every refusal is an error message with a clear text", async () => {
  await using server = await startServer({
    configure: (config) => config.wubsub.requestTimeout = 100,
  });
  const own = await owner(server, register("chan", ["news"], ["add"]));
  const user = await Wub.open(server);
  const cases: [Json, string][] = [
    ["{not json", "Invalid message: not valid JSON"],
    ["[1,2]", 'Invalid message: expected a JSON object with a "type"'],
    [{ channel: "chan" }, 'Invalid message: expected a JSON object with a "type"'],
    [
      { type: "hello" },
      'Unknown message type "hello": expected register, ps-pub, ps-sub, ps-unsub, pie-do or pie-resp',
    ],
    [{ type: "ps-sub", channel: "nope", topic: "news" }, 'Unknown channel "nope"'],
    [{ type: "ps-sub", channel: "chan", topic: "olds" }, 'Unknown topic "olds" on channel "chan"'],
    [{ type: "ps-sub", channel: "chan" }, 'Missing "topic"'],
    [{ type: "pie-do", channel: "nope", topic: "add" }, 'Unknown channel "nope"'],
    [{ type: "pie-do", channel: "chan", topic: "sub" }, 'Unknown method "sub" on channel "chan"'],
    [{ type: "ps-pub", channel: "nope", topic: "news", data: 1 }, 'Unknown channel "nope"'],
    [
      { type: "ps-pub", channel: "chan", topic: "news", data: 1 },
      "Tried to publish to channel you aren't a publisher for.",
    ],
    [register("chan", [], []), 'Channel "chan" is already registered'],
    [
      register("a.b", [], []),
      'Invalid channel name "a.b": use 1 to 64 letters, digits, "_", "-", ":", "+" or "@"',
    ],
    [
      { type: "pie-resp", reqid: "3642af4c-1bde-4dc8-9833-e4d2104c33f2", data: 1 },
      'Unknown request "3642af4c-1bde-4dc8-9833-e4d2104c33f2": it was answered, timed out, or was not sent to you',
    ],
    [{ type: "pie-resp" }, 'Missing "reqid"'],
  ];
  for (const [message, text] of cases) {
    user.send(message);
    const error = await user.next();
    assert.equal(error.type, "error", JSON.stringify(message));
    assert.equal(error.data, text);
  }
  // The owner publishing to a topic it did not declare.
  own.send({ type: "ps-pub", channel: "chan", topic: "olds", data: 1 });
  assert.equal((await own.next()).data, 'Unknown topic "olds" on channel "chan"');
  // A request the owner does not answer times out.
  user.send({ type: "pie-do", channel: "chan", topic: "add" });
  const ack = await user.next();
  const req = await own.next();
  assert.equal(req.reqid, ack.reqid);
  assert.deepEqual(await user.next(), {
    type: "error",
    data: 'Request to "chan/add" timed out after 100ms: the owner did not answer',
    channel: "chan",
    topic: "add",
    reqid: ack.reqid,
  });
  // A late answer is refused; a caller's answer to someone else's request too.
  own.send({ type: "pie-resp", reqid: ack.reqid, data: 1 });
  assert.match((await own.next()).data, /^Unknown request "/);
  user.send({ type: "pie-do", channel: "chan", topic: "add" });
  const ack3 = await user.next();
  await own.next();
  user.send({ type: "pie-resp", reqid: ack3.reqid, data: "forged" });
  assert.match((await user.next()).data, /^Unknown request "/);
  await own.close();
  await user.close();
});

Deno.test("wubsub: two owners, many subscribers, each gets only its topics", async () => {
  await using server = await startServer();
  const a = await owner(server, register("alpha", ["t1", "t2"], []));
  const b = await owner(server, register("beta", ["t1"], []));
  const subscribers = await Promise.all(Array.from({ length: 20 }, () => Wub.open(server)));
  subscribers.forEach((s, i) => {
    s.send({ type: "ps-sub", channel: i % 2 ? "alpha" : "beta", topic: "t1" });
  });
  await Promise.all(subscribers.map((s) => s.nothingElse()));
  for (let n = 0; n < 5; n++) {
    a.send({ type: "ps-pub", channel: "alpha", topic: "t1", data: { n } });
    a.send({ type: "ps-pub", channel: "alpha", topic: "t2", data: "not subscribed" });
    b.send({ type: "ps-pub", channel: "beta", topic: "t1", data: { n, from: "beta" } });
  }
  for (const [i, s] of subscribers.entries()) {
    for (let n = 0; n < 5; n++) {
      const message = await s.next();
      assert.deepEqual(
        message,
        i % 2
          ? { type: "ps-recv", channel: "alpha", topic: "t1", data: { n } }
          : { type: "ps-recv", channel: "beta", topic: "t1", data: { n, from: "beta" } },
      );
    }
    await s.nothingElse();
  }
  // B cannot publish to A's channel.
  b.send({ type: "ps-pub", channel: "alpha", topic: "t1", data: 1 });
  assert.equal((await b.next()).data, "Tried to publish to channel you aren't a publisher for.");
  await Promise.all([a, b, ...subscribers].map((w) => w.close()));
});

Deno.test("wubsub: an owner leaving mid-request tells its callers and subscribers", async () => {
  await using server = await startServer();
  const own = await owner(server, register("svc", ["news"], ["slow"]));
  const user = await Wub.open(server);
  user.send({ type: "ps-sub", channel: "svc", topic: "news" });
  user.send({ type: "pie-do", channel: "svc", topic: "slow", data: 1 });
  const ack = await user.next();
  assert.equal(ack.type, "pie-ack");
  await own.next(); // pie-req
  const process = new PowClient(server.wsUrl).start("svc/slow", ["x"]);
  await own.next(); // its pie-req
  await own.close();
  const told = [await user.next(), await user.next()];
  told.sort((x, y) => (x.reqid ? 1 : 0) - (y.reqid ? 1 : 0));
  assert.deepEqual(told, [
    { type: "error", data: 'Channel "svc" is gone: its owner disconnected', channel: "svc" },
    {
      type: "error",
      data: 'Request to "svc/slow" failed: Channel "svc" is gone: its owner disconnected',
      channel: "svc",
      topic: "slow",
      reqid: ack.reqid,
    },
  ]);
  const result = await process.result;
  assert.deepEqual(result.status, "rejected");
  assert.equal(
    result.status === "rejected" && result.reason,
    'Request to "svc/slow" failed: Channel "svc" is gone: its owner disconnected',
  );
  // The channel and its process are gone; the name is free again.
  user.send({ type: "ps-sub", channel: "svc", topic: "news" });
  assert.equal((await user.next()).data, 'Unknown channel "svc"');
  assert.equal(Object.hasOwn(server.running.server.manager.processes, "svc/slow"), false);
  const again = await owner(server, register("svc", [], []));
  await again.close();
  await user.close();
});

/** Answers every pie-req of `wub` with `{method, got: data}`. */
function serve(wub: Wub): Promise<void> {
  return (async () => {
    while (true) {
      let req: Json;
      try {
        req = await wub.next();
      } catch {
        return;
      }
      if (req.type !== "pie-req") continue;
      wub.send({ type: "pie-resp", reqid: req.reqid, data: { method: req.topic, got: req.data } });
    }
  })();
}

Deno.test("wubsub: a provided method is a process for pow-1, pow.v2, both REST APIs and call", async () => {
  await using server = await startServer();
  const watch = server.running.server.manager.bus.subscribe("process.*");
  const own = await owner(server, register("calc", [], ["sum"]));
  const serving = serve(own);
  const added = await watch.next();
  assert.deepEqual(
    added.value.type === "event" && [added.value.event.topic, added.value.event.data],
    [
      "process.added",
      { name: "calc/sum" },
    ],
  );

  // Listed by pow.v2 REST.
  const listing = await (await fetch(new URL("api/v2/processes", server.url))).json();
  const entry = listing.processes.find((p: Json) => p.name === "calc/sum");
  assert.ok(entry, JSON.stringify(listing));
  assert.match(entry.description, /^Method "sum" of wubsub channel "calc"/);

  // pow.v2 (the client), params as the request data.
  await using client = new PowClient(server.wsUrl);
  const v2 = client.start("calc/sum", ["1", "2"]);
  assert.deepEqual(await v2.result, {
    status: "fulfilled",
    value: { method: "sum", got: ["1", "2"] },
  });

  // pow-1 over WebSocket: stdin (JSON) as the request data, once input is closed.
  const pow1 = new WebSocket(server.wsUrl, ["pow-1"]);
  const frames: string[] = [];
  const pow1Closed = new Promise<void>((resolve) => pow1.onclose = () => resolve());
  pow1.binaryType = "arraybuffer";
  pow1.onmessage = (e) =>
    frames.push(typeof e.data === "string" ? e.data : new TextDecoder().decode(e.data));
  await new Promise((resolve) => pow1.onopen = resolve);
  const encode = (m: Json) => new TextEncoder().encode(JSON.stringify(m));
  pow1.send(encode({ call: "calc/sum" }));
  pow1.send('{"x": 1}');
  pow1.send(encode({ signal: "close" }));
  await pow1Closed;
  assert.deepEqual(frames, ['{"status":"fulfilled","value":{"method":"sum","got":{"x":1}}}']);

  // pow-1 REST.
  const id = await (await fetch(new URL("new", server.url), {
    method: "POST",
    body: JSON.stringify({ call: "calc/sum", params: ["a"] }),
  })).json();
  let status: Json;
  do {
    status = await (await fetch(new URL(`status/${id}`, server.url))).json();
  } while (status.result.status === "pending");
  assert.deepEqual(status.result, { status: "fulfilled", value: { method: "sum", got: ["a"] } });

  // pow.v2 REST.
  const started = await (await fetch(new URL("api/v2/sessions", server.url), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: "calc/sum", params: ["b"] }),
  })).json();
  let info: Json;
  do {
    info = await (await fetch(new URL(`api/v2/sessions/${started.session}`, server.url))).json();
  } while (!info.result);
  assert.deepEqual(info.result.value, { method: "sum", got: ["b"] });

  // main.ts call: stdin becomes the data, the answer (the result value) is printed as JSON.
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "call", "--url", server.wsUrl.href, "calc/sum"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode('{"n": 42}'));
  await writer.close();
  const output = await child.output();
  assert.equal(new TextDecoder().decode(output.stderr), "");
  assert.equal(output.code, 0);
  assert.equal(new TextDecoder().decode(output.stdout), '{"method":"sum","got":{"n":42}}\n');

  await own.close();
  await serving;
  const removed = await watch.next();
  assert.deepEqual(
    removed.value.type === "event" && [removed.value.event.topic, removed.value.event.data],
    ["process.removed", { name: "calc/sum" }],
  );
  watch.close();
});

Deno.test("wubsub: a provider never shadows a configured process", async () => {
  await using server = await startServer({
    configure: (config) => {
      // A configured name with a slash (only possible from code, not YAML).
      config.processes["calc/echo"] = config.processes.echo;
    },
  });
  const own = await Wub.open(server);
  own.send(register("calc", [], ["echo"]));
  assert.deepEqual(await own.next(), {
    type: "error",
    data:
      'Cannot register channel "calc": method "echo" would shadow the configured process "calc/echo"',
    channel: "calc",
  });
  assert.equal(
    server.running.server.manager.processes["calc/echo"],
    server.running.server.manager.processes.echo,
  );
  await own.close();
});

const ALICE = "alice-token-1"; // role "providers"
const BOB = "bob-token-2";

async function authServer(configure?: (config: PowConfig) => void): Promise<TestServer> {
  return await startServer({
    configure: (config) => {
      config.auth.tokens = [
        { name: "alice", hash: hashToken(ALICE), roles: ["providers"] },
        { name: "bob", hash: hashToken(BOB) },
      ];
      config.wubsub.register = ["providers"];
      config.wubsub.allow = ["alice"];
      configure?.(config);
    },
  });
}

async function ticket(server: TestServer, token: string): Promise<string> {
  const response = await fetch(new URL("tickets", server.url), {
    method: "POST",
    headers: { authorization: `Bearer ${token}` },
  });
  return `?ticket=${(await response.json()).ticket}`;
}

Deno.test("wubsub: authorization: who registers (wubsub.register) and who calls (wubsub.allow)", async () => {
  await using server = await authServer();
  // Without a token: refused before the upgrade.
  const anonymous = await fetch(new URL("wubsub", server.url), {
    headers: { upgrade: "websocket" },
  });
  assert.equal(anonymous.status, 401);
  await anonymous.body?.cancel();

  const alice = await Wub.open(server, await ticket(server, ALICE));
  const bob = await Wub.open(server, await ticket(server, BOB));
  bob.send(register("bobs", [], ["m"]));
  assert.equal(
    (await bob.next()).data,
    'Not authorized to register channel "bobs": caller "bob" is not in wubsub.register',
  );
  alice.send(register("alices", ["t"], ["m"]));
  await alice.nothingElse();
  bob.send({ type: "pie-do", channel: "alices", topic: "m" });
  assert.equal(
    (await bob.next()).data,
    'Not authorized to call "alices/m": caller "bob" is not in wubsub.allow',
  );
  // Subscribing is open to everyone let in.
  bob.send({ type: "ps-sub", channel: "alices", topic: "t" });
  await bob.nothingElse();
  // As a process: bob is not allowed, and does not see it listed; alice is.
  const list = async (token: string) =>
    (await (await fetch(new URL("api/v2/processes", server.url), {
      headers: { authorization: `Bearer ${token}` },
    })).json()).processes.map((p: Json) => p.name);
  assert.equal((await list(BOB)).includes("alices/m"), false);
  assert.equal((await list(ALICE)).includes("alices/m"), true);
  await using asBob = new PowClient(server.wsUrl, { token: BOB });
  await assert.rejects(asBob.start("alices/m", []).result, {
    message: 'Cannot start process "alices/m": caller "bob" is not allowed to run it',
  });
  await bob.close();
  await alice.close();
});

Deno.test("wubsub: pending requests per caller are bounded", async () => {
  await using server = await startServer({
    configure: (config) => config.wubsub.maxPendingPerCaller = 1,
  });
  const own = await owner(server, register("svc", [], ["m"]));
  const user = await Wub.open(server);
  user.send({ type: "pie-do", channel: "svc", topic: "m" });
  const ack = await user.next();
  user.send({ type: "pie-do", channel: "svc", topic: "m" });
  assert.equal(
    (await user.next()).data,
    "Too many pending requests: 1 of yours are waiting for an answer (wubsub.maxPendingPerCaller)",
  );
  const req = await own.next();
  own.send({ type: "pie-resp", reqid: req.reqid, data: null });
  assert.equal((await user.next()).reqid, ack.reqid);
  user.send({ type: "pie-do", channel: "svc", topic: "m" });
  assert.equal((await user.next()).type, "pie-ack");
  await own.close();
  await user.close();
});

Deno.test("wubsub: topics on the bus: ps-pub reaches SSE, REST publishes to the bus", async () => {
  await using server = await startServer();
  const own = await owner(server, register("weather", ["today"], []));
  const bus = server.running.server.manager.bus;
  const onBus = bus.subscribe("topic.weather.today");
  const sse = await fetch(new URL("wubsub/topics/weather.today", server.url));
  assert.equal(sse.headers.get("content-type"), "text/event-stream; charset=utf-8");
  const reader = sse.body!.pipeThrough(new TextDecoderStream()).getReader();
  assert.equal((await reader.read()).value, ": subscribed\n\n");
  own.send({ type: "ps-pub", channel: "weather", topic: "today", data: { sun: true } });
  const { value } = await onBus.next();
  assert.deepEqual(value.type === "event" && value.event.data, { sun: true });
  const id = value.type === "event" ? value.event.id : 0;
  assert.equal(
    (await reader.read()).value,
    `id: ${id}\nevent: message\ndata: {"topic":"weather.today","data":{"sun":true}}\n\n`,
  );
  await reader.cancel();
  onBus.close();

  // REST publishing to a wubsub channel is refused: it has one publisher.
  const refused = await fetch(new URL("wubsub/topics/weather.today", server.url), {
    method: "POST",
    body: "1",
  });
  assert.equal(refused.status, 403);
  assert.equal(
    await refused.text(),
    'Cannot publish to "weather.today": channel "weather" belongs to a wubsub client, which is its only publisher',
  );
  // Other topics are open to REST.
  const news = bus.subscribe("topic.news");
  const posted = await fetch(new URL("wubsub/topics/news", server.url), {
    method: "POST",
    body: '{"headline":"pow speaks wubsub"}',
  });
  assert.equal(posted.status, 200);
  const event = await news.next();
  assert.deepEqual(event.value.type === "event" && event.value.event.data, {
    headline: "pow speaks wubsub",
  });
  const bad = await fetch(new URL("wubsub/topics/news", server.url), { method: "POST", body: "{" });
  assert.equal(bad.status, 400);
  assert.equal(await bad.text(), "Invalid body: not valid JSON");
  news.close();
  await own.close();
});

Deno.test("wubsub: off when wubsub.enabled is false; a plain GET is told to upgrade; in openapi.json", async () => {
  await using on = await startServer();
  const plain = await fetch(new URL("wubsub", on.url));
  assert.equal(plain.status, 426);
  assert.equal(await plain.text(), "Upgrade required: this endpoint speaks wubsub over WebSocket");
  const doc = await (await fetch(new URL("openapi.json", on.url))).json();
  assert.deepEqual(Object.keys(doc.paths["/wubsub/topics/{name}"]).sort(), ["get", "post"]);
  assert.deepEqual(Object.keys(doc.paths["/wubsub"].get.responses), ["101", "426"]);
  await using off = await startServer({ configure: (c) => c.wubsub.enabled = false });
  const gone = await fetch(new URL("wubsub", off.url));
  assert.equal(gone.status, 404);
  await gone.body?.cancel();
});

Deno.test("wubsub: a TypeScript process publishes with ctx.publish to wubsub subscribers", async () => {
  await using server = await startServer({
    configure: (config) => {
      config.processes.forecast = defineProcess({
        async run({ publish }) {
          await publish("weather.today", { rain: "later" });
          await assert.rejects(publish("bad topic", 1), TypeError);
          return "published";
        },
      });
    },
  });
  const own = await owner(server, register("weather", ["today"], []));
  const user = await Wub.open(server);
  user.send({ type: "ps-sub", channel: "weather", topic: "today" });
  await user.nothingElse();
  await using client = new PowClient(server.wsUrl);
  assert.deepEqual(await client.start("forecast").result, {
    status: "fulfilled",
    value: "published",
  });
  assert.deepEqual(await user.next(), {
    type: "ps-recv",
    channel: "weather",
    topic: "today",
    data: { rain: "later" },
  });
  await user.close();
  await own.close();
});

Deno.test("wubsub: a provided process that times out or is cancelled drops its request", async () => {
  await using server = await startServer({
    configure: (config) => {
      config.wubsub.requestTimeout = 100;
      config.wubsub.maxMessage = 1000;
    },
  });
  const own = await owner(server, register("svc", [], ["m"]));
  await using client = new PowClient(server.wsUrl);
  const timedOut = client.start("svc/m", ["1"]);
  const req = await own.next();
  assert.deepEqual(req.data, ["1"]);
  assert.deepEqual(await timedOut.result, {
    status: "rejected",
    reason: 'Request to "svc/m" timed out after 100ms: the owner did not answer',
    kind: "error",
  });
  own.send({ type: "pie-resp", reqid: req.reqid, data: "late" });
  assert.match((await own.next()).data, /^Unknown request "/);

  const cancelled = client.start("svc/m", ["2"]);
  const req2 = await own.next();
  await cancelled.cancel();
  assert.equal((await cancelled.result).status, "rejected");
  own.send({ type: "pie-resp", reqid: req2.reqid, data: "too late" });
  assert.equal(
    (await own.next()).data,
    `Unknown request "${req2.reqid}": it was answered, timed out, or was not sent to you`,
  );

  // wubsub.maxMessage, counted in UTF-8 bytes.
  own.send({ type: "ps-sub", channel: "svc", topic: "é".repeat(600) });
  assert.equal(
    (await own.next()).data,
    "Message too big: 1244 bytes, at most 1000 allowed (wubsub.maxMessage)",
  );
  await own.close();
});

Deno.test("wubsub: served under the base path, at a configured path", async () => {
  await using server = await startServer({
    configure: (config) => {
      config.server.basePath = "/pow/";
      config.wubsub.path = "/pubsub";
    },
  });
  assert.match(server.url.pathname, /^\/pow\/$/);
  const wub = new Wub(new URL("pubsub", server.wsUrl));
  await wub.opened;
  wub.send(register("here", ["t"], []));
  await wub.nothingElse();
  const published = await fetch(new URL("pubsub/topics/elsewhere", server.url), {
    method: "POST",
    body: "1",
  });
  assert.equal(published.status, 200);
  const body = await published.json();
  assert.equal(body.topic, "elsewhere");
  assert.ok(Number.isInteger(body.id) && body.id > 0);
  const old = await fetch(new URL("/wubsub", server.url));
  assert.equal(old.status, 404);
  await old.body?.cancel();
  await wub.close();
});
