/**
 * End-to-end tests of every configurable limit and its documented refusal (docs/security.md):
 * connections in total and per address, sessions per connection and in total, message size,
 * params, output retention, idle connections, the pow-1 call deadline, process timeouts and
 * starts per minute per caller.
 *
 * @module
 */

import assert from "node:assert/strict";
import { defineCommand, hashToken, type PowConfig } from "../mod.ts";
import { rawRequest, startServer, type TestServer, waitUntil } from "./_helpers.ts";
import { V2Client } from "./_native.ts";

const HANDSHAKE = {
  Upgrade: "websocket",
  Connection: "Upgrade",
  "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
  "Sec-WebSocket-Version": "13",
};
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** Every built-in front end with a few test processes. */
function serve(configure?: (config: PowConfig) => void): Promise<TestServer> {
  return startServer({
    configure(config) {
      config.furtherLink = {
        enabled: true,
        path: "/run",
        workDir: "/tmp",
        runners: { shell: "sh" },
      };
      Object.assign(config.processes, {
        sh: defineCommand(["sh"]),
        slow: defineCommand(["sleep", "30"], { timeout: 300, killGrace: 1000 }),
      });
      configure?.(config);
    },
  });
}

/** A pow-1 WebSocket call: the output texts, the result, and the close. */
async function pow1(
  server: TestServer,
  call: unknown,
  options: { headers?: Record<string, string>; raw?: string } = {},
): Promise<{ output: string; result: unknown; close: { code: number; reason: string } }> {
  const ws = new WebSocket(server.wsUrl, { protocols: ["pow-1"], headers: options.headers });
  ws.binaryType = "arraybuffer";
  let output = "";
  let result: unknown;
  ws.onmessage = ({ data }) => {
    if (typeof data === "string") output += data;
    else result = JSON.parse(new TextDecoder().decode(data));
  };
  const close = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.onclose = ({ code, reason }) => resolve({ code, reason });
  });
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  if (options.raw !== undefined) ws.send(options.raw);
  if (call !== undefined) ws.send(new TextEncoder().encode(JSON.stringify(call)));
  const closed = await close;
  return { output, result, close: closed };
}

/** Upgrades with a raw request; answers the status and body. */
async function handshake(server: TestServer, path: string, protocol?: string) {
  const response = await rawRequest(new URL(path, server.url), {
    ...HANDSHAKE,
    ...(protocol ? { "Sec-WebSocket-Protocol": protocol } : {}),
  });
  return [response.status, response.status === 101 ? "" : response.body];
}

Deno.test("limits.connections: a connection over the total is refused with 503 on every WebSocket", async () => {
  await using server = await serve((c) => (c.limits.connections = 2));
  const a = await V2Client.connect(server.wsUrl.href);
  const b = await V2Client.connect(server.wsUrl.href);
  const refusal = [503, "too many connections: the server allows 2"];
  assert.deepEqual(await handshake(server, "", "pow.v2"), refusal);
  assert.deepEqual(await handshake(server, "", "pow-1"), refusal);
  assert.deepEqual(await handshake(server, "run"), refusal);
  await a.close();
  await waitUntil(() => server.running.server.connections === 1, 5000, "one connection");
  await using c = await V2Client.connect(server.wsUrl.href);
  assert.equal(c.hello.type, "hello");
  await b.close();
});

Deno.test("limits.connectionsPerAddress: one address over its share is refused with 429", async () => {
  await using server = await serve((c) => (c.limits.connectionsPerAddress = 1));
  await using a = await V2Client.connect(server.wsUrl.href);
  const refusal = [429, "too many connections from 127.0.0.1: at most 1 allowed"];
  assert.deepEqual(await handshake(server, "", "pow.v2"), refusal);
  assert.deepEqual(await handshake(server, "", "pow-1"), refusal);
  assert.deepEqual(await handshake(server, "run"), refusal);
  assert.equal(server.running.server.connections, 1);
  assert.equal(a.ws.readyState, WebSocket.OPEN);
});

Deno.test("limits.sessionsPerConnection: a pow.v2 channel over the limit gets limit_reached", async () => {
  await using server = await serve((c) => (c.limits.sessionsPerConnection = 2));
  await using client = await V2Client.connect(server.wsUrl.href);
  assert.equal(client.hello.maxChannels, 2);
  await client.start(1, "sleep", ["30"]);
  await client.start(2, "sleep", ["30"]);
  const refused = await client.request({ type: "start", id: 3, name: "sleep", params: ["30"] });
  assert.deepEqual(refused, {
    type: "error",
    ref: "r3",
    id: 3,
    code: "limit_reached",
    message: "Cannot bind channel 3: the connection already has 2 channels",
  });
  assert.equal(server.running.server.manager.registry.size, 2, "nothing else was started");
  // Another connection has its own channels.
  await using other = await V2Client.connect(server.wsUrl.href);
  await other.start(1, "count", ["1"]);
  assert.equal((await other.exit(1)).result.status, "fulfilled");
  for (const id of [1, 2]) client.send({ type: "signal", id, signal: "kill" });
  await client.exit(1);
  await client.exit(2);
});

Deno.test("sessions.max: a start over the total is refused on every front end", async () => {
  await using server = await serve((c) => (c.sessions.max = 1));
  await using client = await V2Client.connect(server.wsUrl.href);
  await client.start(1, "sleep", ["30"]);
  const message = 'Cannot start process "count": 1 sessions are already alive';
  const v2 = await client.request({ type: "start", id: 2, name: "count", params: ["1"] });
  assert.deepEqual("code" in v2 && [v2.code, v2.message], ["limit_reached", message]);
  const rest = await fetch(new URL("api/v2/sessions", server.url), {
    method: "POST",
    body: JSON.stringify({ name: "count", params: ["1"] }),
  });
  assert.deepEqual([rest.status, await rest.json()], [429, { code: "limit_reached", message }]);
  const limit = { status: "rejected", reason: "failed to get process: limit reached" };
  assert.deepEqual((await pow1(server, { call: "count", params: ["1"] })).result, limit);
  // pow-1 REST gives an id even to a failed call, but a failed call holds a session too: over
  // the limit it is refused outright, so failed calls cannot grow the registry without bound.
  for (const call of ["count", "no-such-process"]) {
    const refused = await fetch(new URL("new", server.url), {
      method: "POST",
      body: JSON.stringify({ call, params: ["1"] }),
    });
    assert.deepEqual([refused.status, await refused.text()], [
      429,
      "failed to get process: limit reached",
    ]);
  }
  client.send({ type: "signal", id: 1, signal: "kill" });
  await client.exit(1);
});

Deno.test("sessions.max: quick calls whose results were delivered do not use it up (pow.v2, pow-1, REST, SSE, further-link)", async () => {
  await using server = await serve((c) => {
    c.sessions.max = 2;
    c.furtherLink.runners = { script: "script" };
    c.processes.script = defineCommand(["sh", "{1}"], { params: [{ name: "file" }] });
  });
  const { registry } = server.running.server.manager;
  // Four times the limit in calls, each answered; the oldest delivered session gives way.
  const removed = server.running.server.manager.bus.subscribe<{ id: string }>("session.removed");
  await using client = await V2Client.connect(server.wsUrl.href);
  const first = (await client.start(1, "count", ["1"])).session;
  for (let id = 1; id <= 8; id++) {
    if (id > 1) await client.start(id, "count", ["1"]);
    assert.deepEqual((await client.exit(id)).result, {
      status: "fulfilled",
      value: null,
      exitCode: 0,
    });
  }
  // Gone as a linger would have removed it: announced on the bus, and `attach` is told so.
  const announced = await removed.next();
  removed.close();
  assert.equal(
    !announced.done && announced.value.type === "event" && announced.value.event.data.id,
    first,
  );
  const attach = await client.request({ type: "attach", id: 9, session: first });
  assert.equal("code" in attach && attach.code, "unknown_session");
  for (let i = 0; i < 4; i++) {
    const call = await pow1(server, { call: "count", params: ["1"] });
    assert.deepEqual([call.output, call.result], ["1\n", { status: "fulfilled", value: null }]);
  }
  for (let i = 0; i < 4; i++) {
    const started = await fetch(new URL("api/v2/sessions", server.url), {
      method: "POST",
      body: JSON.stringify({ name: "count", params: ["1"] }),
    });
    assert.equal(started.status, 201);
    const { session } = await started.json();
    await server.running.server.manager.registry.get(session)?.result;
    const read = await (await fetch(new URL(`api/v2/sessions/${session}?offset=0`, server.url)))
      .json();
    assert.deepEqual([read.state, read.output.complete], ["fulfilled", true]);
  }
  for (let i = 0; i < 2; i++) {
    const started = await fetch(new URL("api/v2/sessions", server.url), {
      method: "POST",
      body: JSON.stringify({ name: "count", params: ["1"] }),
    });
    const { session } = await started.json();
    const events = await (await fetch(new URL(`api/v2/sessions/${session}/events`, server.url)))
      .text();
    assert.match(
      events,
      /event: exit\nid: exit\ndata: \{"offset":2,"result":\{"status":"fulfilled"/,
    );
  }
  for (let i = 0; i < 2; i++) {
    const id = await (await fetch(new URL("new", server.url), {
      method: "POST",
      body: JSON.stringify({ call: "count", params: ["1"] }),
    })).json();
    await server.running.server.manager.registry.get(id)?.result;
    const status = await (await fetch(new URL(`status/${id}`, server.url))).json();
    assert.deepEqual(status.result, { status: "fulfilled", value: null });
  }
  const link = new WebSocket(new URL("run", server.wsUrl));
  const stopped: unknown[] = [];
  link.onmessage = ({ data }) => {
    const message = JSON.parse(data);
    if (message.type === "stopped") stopped.push(message);
  };
  await new Promise((resolve) => link.onopen = resolve);
  for (const process of ["a", "b", "c"]) {
    link.send(JSON.stringify({ type: "start", process, data: { runner: "script", code: "true" } }));
    await waitUntil(() => stopped.length === ["a", "b", "c"].indexOf(process) + 1, 10_000, process);
  }
  link.close();
  assert.deepEqual(stopped.map((m) => (m as { data: unknown }).data), [
    { exitCode: 0 },
    { exitCode: 0 },
    { exitCode: 0 },
  ]);
  assert.equal(registry.size, 2);
  // A result nobody saw holds its place until its linger has passed: the client went away
  // before the exit, so the next calls are refused rather than lose it.
  await using gone = await V2Client.connect(server.wsUrl.href);
  const { session: unseenId } = await gone.start(1, "sleep", ["1"]);
  await gone.close();
  const unseen = registry.get(unseenId)!;
  await unseen.result;
  assert.equal(unseen.delivered, false);
  await client.start(20, "count", ["1"]);
  assert.equal((await client.exit(20)).result.status, "fulfilled");
  await client.start(21, "sleep", ["30"]);
  // One running, one unread: nothing can give way.
  const over = await client.request({ type: "start", id: 22, name: "count", params: ["1"] });
  assert.deepEqual("code" in over && [over.code, over.message], [
    "limit_reached",
    'Cannot start process "count": 2 sessions are already alive',
  ]);
  assert.ok(registry.get(unseen.id), "the unread result is still there");
  client.send({ type: "signal", id: 21, signal: "kill" });
  await client.exit(21);
});

Deno.test("pow1.maxMessage: a larger message closes pow-1 and pow.v2 with 1009", async () => {
  // Read from YAML, `pow1.maxMessage` sets `v2.maxMessage` too (config_test.ts); here, both.
  await using server = await serve((c) => (c.pow1.maxMessage = c.v2.maxMessage = 1024));
  const big = "x".repeat(2000);
  const viaPow1 = await pow1(server, undefined, { raw: big });
  assert.deepEqual(viaPow1.close, {
    code: 1009,
    reason: "message too big: 2000 bytes, the limit is 1024",
  });
  assert.equal(viaPow1.result, undefined);
  await using client = await V2Client.connect(server.wsUrl.href);
  assert.equal(client.hello.maxMessageSize, 1024);
  client.send({ type: "ping", ref: big });
  assert.deepEqual(await client.closed, { code: 1009, reason: "message too big" });
});

Deno.test("sessions.maxParams and maxParamLength: refused as bad_params and invalid args", async () => {
  await using server = await serve((c) => {
    c.sessions.maxParams = 3;
    c.sessions.maxParamLength = 10;
  });
  await using client = await V2Client.connect(server.wsUrl.href);
  const cases: [string[], string][] = [
    [["a", "b", "c", "d"], "too many parameters: 4 given, at most 3 allowed"],
    [
      ["a", "x".repeat(11)],
      'parameter 2 ("params") is too long: 11 characters, at most 10 allowed',
    ],
  ];
  for (const [params, problem] of cases) {
    const message = `Cannot start process "echo": ${problem}`;
    const v2 = await client.request({ type: "start", id: 1, name: "echo", params });
    assert.deepEqual("code" in v2 && [v2.code, v2.message], ["bad_params", message]);
    const rest = await fetch(new URL("api/v2/sessions", server.url), {
      method: "POST",
      body: JSON.stringify({ name: "echo", params }),
    });
    assert.deepEqual([rest.status, await rest.json()], [400, { code: "bad_params", message }]);
    assert.deepEqual((await pow1(server, { call: "echo", params })).result, {
      status: "rejected",
      reason: "failed to get process: invalid args",
    });
  }
  // At the limits, the call runs.
  await client.start(2, "echo", ["a", "b", "x".repeat(10)]);
  client.send({ type: "eof", id: 2 });
  assert.deepEqual((await client.exit(2)).result, {
    status: "fulfilled",
    value: ["a", "b", "x".repeat(10)],
  });
});

Deno.test("sessions.retention: unread output pauses the child, and no byte is dropped", async () => {
  const retention = 64 * 1024;
  await using server = await serve((c) => (c.sessions.retention = retention));
  await using client = await V2Client.connect(server.wsUrl.href);
  // No credit: the connection reads nothing, so the session's unread output piles up.
  const { session: id } = await client.start(1, "count", ["300000"], { credit: 0 });
  const session = server.running.server.manager.get(id)!;
  await waitUntil(() => session.log.end >= retention, 10_000, "the log to fill");
  // Give the child every chance to run on: it must stay blocked on its pipe.
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.equal(session.state, "running");
  assert.ok(session.log.end <= retention + 64 * 1024, `${session.log.end} bytes held`);
  // Reading resumes it; the output is complete and in order.
  const out = client.channel(1);
  out.autoCredit = 256 * 1024;
  out.window += out.autoCredit;
  client.send({ type: "credit", id: 1, bytes: out.autoCredit });
  const exit = await client.exit(1, 60_000);
  assert.equal(exit.result.status, "fulfilled");
  assert.equal(out.discontinuity, undefined);
  let expected = "";
  for (let i = 1; i <= 300000; i++) expected += `${i}\n`;
  assert.equal(out.stdout.length, expected.length);
  assert.ok(out.stdout === expected, "the output is seq 1 300000, byte for byte");
});

Deno.test("limits.idleTimeout: an idle pow.v2 connection is closed with 4000", async () => {
  await using server = await serve((c) => (c.limits.idleTimeout = 200));
  await using idle = await V2Client.connect(server.wsUrl.href);
  assert.deepEqual(await idle.closed, { code: 4000, reason: "idle timeout" });
});

Deno.test("pow1.callDeadline: a pow-1 client that sends no call is rejected with timeout expired", async () => {
  await using server = await serve((c) => (c.pow1.callDeadline = 200));
  const silent = await pow1(server, undefined);
  assert.deepEqual(silent.result, { status: "rejected", reason: "timeout expired" });
  assert.equal(silent.close.code, 1000);
});

Deno.test("pow1.callDeadline: each of several waiting pow-1 clients gets its own deadline; one that calls in time is served", async () => {
  await using server = await serve((c) => (c.pow1.callDeadline = 300));
  const timed = async (call: unknown, after: number) => {
    await new Promise((resolve) => setTimeout(resolve, after));
    const opened = performance.now();
    // The caller's input (sent before its call) ends its shell.
    const outcome = await pow1(server, call, call ? { raw: "exit 0\n" } : {});
    return { ...outcome, waited: performance.now() - opened };
  };
  const [first, second, caller, third] = await Promise.all([
    timed(undefined, 0),
    timed(undefined, 100),
    timed({ call: "sh", params: [] }, 50),
    timed(undefined, 200),
  ]);
  for (const silent of [first, second, third]) {
    assert.deepEqual(silent.result, { status: "rejected", reason: "timeout expired" });
    assert.ok(silent.waited >= 290, `rejected after ${silent.waited} ms, before its 300 ms`);
    assert.ok(silent.waited < 2000, `rejected after ${silent.waited} ms`);
  }
  assert.equal((caller.result as { status: string }).status, "fulfilled");
});

Deno.test("processes.*.timeout: a process past its timeout is ended and says so", async () => {
  await using server = await serve();
  const reason = "process timed out after 300ms";
  assert.deepEqual((await pow1(server, { call: "slow" })).result, {
    status: "rejected",
    reason: `process returned error: ${reason}`,
  });
  await using client = await V2Client.connect(server.wsUrl.href);
  await client.start(1, "slow");
  const exit = await client.exit(1);
  assert.equal(exit.result.status, "rejected");
  assert.deepEqual(
    exit.result.status === "rejected" && [exit.result.kind, exit.result.reason],
    ["timeout", reason],
  );
});

Deno.test("limits.startsPerMinute: a caller over its starts is refused; another caller is not", async () => {
  await using server = await serve((c) => {
    c.limits.startsPerMinute = 2;
    c.auth.tokens = [
      { name: "alice", hash: hashToken("alice-token") },
      { name: "bob", hash: hashToken("bob-token") },
    ];
  });
  const start = (token: string) =>
    fetch(new URL("api/v2/sessions", server.url), {
      method: "POST",
      headers: bearer(token),
      body: JSON.stringify({ name: "count", params: ["1"] }),
    });
  for (let i = 0; i < 2; i++) {
    const response = await start("alice-token");
    assert.equal(response.status, 201);
    await response.body?.cancel();
  }
  const refused = await start("alice-token");
  assert.deepEqual([refused.status, await refused.json()], [429, {
    code: "limit_reached",
    message:
      'Cannot start process "count": caller "alice" already started 2 processes in the last minute',
  }]);
  const viaPow1 = await pow1(server, { call: "count", params: ["1"] }, {
    headers: bearer("alice-token"),
  });
  assert.deepEqual(viaPow1.result, {
    status: "rejected",
    reason: "failed to get process: limit reached",
  });
  await using bob = await V2Client.connect(server.wsUrl.href, { token: "bob-token" });
  await bob.start(1, "count", ["1"]);
  assert.equal((await bob.exit(1)).result.status, "fulfilled");
  const third = await bob.request({ type: "start", id: 2, name: "count", params: ["1"] });
  assert.equal(third.type, "started", JSON.stringify(third));
  await bob.exit(2);
  const fourth = await bob.request({ type: "start", id: 3, name: "count", params: ["1"] });
  assert.equal("code" in fourth && fourth.code, "limit_reached");
});
