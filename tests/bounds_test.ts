/**
 * End-to-end tests of the bounds on what one caller can make the server hold (issue 10):
 * request bodies (`limits.maxBody`, streamed input, `limits.bodyTimeout`), requests in progress
 * counted against the connection limits, unconfirmed output (`sessions.maxHeld`), sessions per
 * caller (`sessions.maxPerCaller`), the output memory budget (`limits.outputBudget`), and failed
 * pow-1 REST calls counted against `limits.startsPerMinute`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { defineCommand, hashToken, type PowConfig } from "../mod.ts";
import { startServer, type TestServer, waitUntil, withTimeout } from "./_helpers.ts";
import { blobChunks, blobHash, V2Client } from "./_native.ts";

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** Every built-in front end with a few test processes. */
function serve(configure?: (config: PowConfig) => void): Promise<TestServer> {
  return startServer({
    configure(config) {
      config.furtherLink = { enabled: true, path: "/run", workDir: "/tmp", runners: {} };
      Object.assign(config.processes, {
        cat: defineCommand(["cat"]),
        sha256: defineCommand(["sha256sum"]),
      });
      configure?.(config);
    },
  });
}

/** A request body that streams `size` deterministic bytes (no Content-Length). */
function blobBody(size: number, seed: number): ReadableStream<Uint8Array> {
  const chunks = blobChunks(size, seed);
  return new ReadableStream({
    pull(controller) {
      const next = chunks.next();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
  });
}

/** Sends a raw HTTP/1.1 request head (and no body) on a new TCP connection. */
async function rawHead(server: TestServer, head: string[]): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: server.url.hostname, port: Number(server.url.port) });
  await conn.write(
    new TextEncoder().encode([...head, `Host: ${server.url.host}`, "", ""].join("\r\n")),
  );
  return conn;
}

/** Reads a connection until the peer closes it or a whole response with a body arrived. */
async function readResponse(conn: Deno.TcpConn): Promise<{ status: number; body: string }> {
  const buffer = new Uint8Array(65536);
  let text = "";
  while (true) {
    const head = text.indexOf("\r\n\r\n");
    if (head >= 0) {
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(text.slice(0, head));
      if (length && text.length - head - 4 >= Number(length[1])) break;
    }
    const n = await conn.read(buffer).catch(() => null);
    if (n === null) break;
    text += new TextDecoder().decode(buffer.subarray(0, n));
  }
  const head = text.indexOf("\r\n\r\n");
  return { status: Number(text.slice(9, 12)), body: text.slice(head + 4) };
}

Deno.test("limits.maxBody: a body over the limit is answered 413 on every route; the server and a running session carry on", async () => {
  await using server = await serve((c) => (c.limits.maxBody = 64 * 1024));
  await using client = await V2Client.connect(server.wsUrl.href);
  await client.start(1, "cat");
  const message = "Cannot read the request body: it is larger than 65536 bytes";
  // 20 MB of deeply nested arrays, announced (Content-Length) and streamed (chunked).
  const nested = `{"name":"count","params":${"[".repeat(10_000_000)}${"]".repeat(10_000_000)}}`;
  const chunked = () =>
    new ReadableStream({
      start(controller) {
        for (let i = 0; i < 20; i++) controller.enqueue(new Uint8Array(1024 * 1024).fill(0x5b));
        controller.close();
      },
    });
  for (const body of [nested, chunked()]) {
    const response = await fetch(new URL("api/v2/sessions", server.url), { method: "POST", body });
    assert.deepEqual([response.status, await response.json()], [413, {
      code: "limit_reached",
      message,
    }]);
  }
  const signal = await fetch(new URL("api/v2/sessions/x/signal", server.url), {
    method: "POST",
    body: nested,
  });
  assert.equal(signal.status, 404, "the session is looked up first");
  await signal.body?.cancel();
  for (const path of ["new", "upload"]) {
    const response = await fetch(new URL(path, server.url), { method: "POST", body: chunked() });
    assert.deepEqual([path, response.status, await response.text()], [path, 413, message]);
  }
  // The server is healthy and the running session continues.
  const processes = await fetch(new URL("api/v2/processes", server.url));
  assert.equal(processes.status, 200);
  await processes.body?.cancel();
  client.stdin(1, "still here\n");
  client.send({ type: "eof", id: 1 });
  assert.equal((await client.exit(1)).result.status, "fulfilled");
  assert.equal(client.channel(1).stdout, "still here\n");
});

Deno.test("native REST: caller data is validated as parsed, never serialized again (deep nesting is a bad param, not a crash)", async () => {
  await using server = await serve();
  const depth = 200_000;
  const deep = `${"[".repeat(depth)}${"]".repeat(depth)}`;
  const start = (body: string) =>
    fetch(new URL("api/v2/sessions", server.url), { method: "POST", body });
  const refused = await start(`{"name":"count","params":[${deep}]}`);
  assert.deepEqual([refused.status, await refused.json()], [400, {
    code: "bad_message",
    message: 'Cannot parse "start" message: "params[0]" is not a string',
  }]);
  // Unknown fields are ignored, however deep.
  const started = await start(`{"name":"count","params":["2"],"extra":${deep}}`);
  assert.equal(started.status, 201);
  const { session } = await started.json();
  await server.running.server.manager.get(session)!.result;
});

Deno.test("POST input: a 24 MB body is streamed to stdin byte for byte under a 1 MiB pending-input limit", async () => {
  const size = 24 * 1024 * 1024;
  await using server = await serve((c) => (c.sessions.maxPendingInput = 1024 * 1024));
  const expected = `${blobHash(size, 7)}  -\n`;
  // Native REST.
  const started = await fetch(new URL("api/v2/sessions", server.url), {
    method: "POST",
    body: JSON.stringify({ name: "sha256" }),
  });
  const { session: id } = await started.json();
  const input = await fetch(new URL(`api/v2/sessions/${id}/input`, server.url), {
    method: "POST",
    body: blobBody(size, 7),
  });
  assert.equal(input.status, 204, await input.text());
  await (await fetch(new URL(`api/v2/sessions/${id}/eof`, server.url), { method: "POST" })).text();
  const session = server.running.server.manager.get(id)!;
  assert.equal((await session.result).status, "fulfilled");
  assert.equal(session.inputOffset, size);
  const output = await fetch(new URL(`api/v2/sessions/${id}/output`, server.url));
  assert.equal(await output.text(), expected);
  // pow-1 REST.
  const pow1Id = await (await fetch(new URL("new", server.url), {
    method: "POST",
    body: JSON.stringify({ call: "sha256" }),
  })).json();
  const sent = await fetch(new URL(`input/${pow1Id}`, server.url), {
    method: "POST",
    body: blobBody(size, 7),
  });
  assert.deepEqual([sent.status, await sent.text()], [200, "input sent"]);
  await (await fetch(new URL(`closeInput/${pow1Id}`, server.url), { method: "POST" })).text();
  const pow1Session = server.running.server.manager.get(pow1Id)!;
  await pow1Session.result;
  const status = await (await fetch(new URL(`status/${pow1Id}`, server.url))).json();
  assert.deepEqual(status, {
    buffer: expected.trimEnd(),
    result: { status: "fulfilled", value: null },
  });
});

Deno.test("limits.bodyTimeout: an announced body that never comes is answered 408", async () => {
  await using server = await serve((c) => (c.limits.bodyTimeout = 200));
  for (const path of ["api/v2/sessions", "new"]) {
    const conn = await rawHead(server, [
      `POST ${server.url.pathname}${path} HTTP/1.1`,
      "Content-Length: 1000",
    ]);
    try {
      const response = await withTimeout(readResponse(conn), 10_000, `the answer to ${path}`);
      assert.equal(response.status, 408);
      assert.match(response.body, /Cannot read the request body: no data for 200 ms/);
    } finally {
      conn.close();
    }
  }
  // A session's input body that stalls half-way is answered too, after what arrived was written.
  const started = await fetch(new URL("api/v2/sessions", server.url), {
    method: "POST",
    body: JSON.stringify({ name: "cat" }),
  });
  const { session: id } = await started.json();
  const conn = await rawHead(server, [
    `POST ${server.url.pathname}api/v2/sessions/${id}/input HTTP/1.1`,
    "Content-Length: 100000000",
  ]);
  try {
    await conn.write(new TextEncoder().encode("partial\n"));
    const response = await withTimeout(readResponse(conn), 10_000, "the answer to input");
    assert.equal(response.status, 408);
  } finally {
    conn.close();
  }
  const session = server.running.server.manager.get(id)!;
  assert.equal(session.inputOffset, 8);
  session.cancel();
  await session.result;
});

Deno.test("limits.connections: requests in progress count like connections", async () => {
  await using server = await serve((c) => (c.limits.connections = 1));
  const processes = () => fetch(new URL("api/v2/processes", server.url));
  const held = await rawHead(server, [
    `POST ${server.url.pathname}api/v2/sessions HTTP/1.1`,
    "Content-Length: 1000",
  ]);
  try {
    await waitUntil(() => server.running.server.pending === 1, 5000, "a pending request");
    const refused = await processes();
    assert.deepEqual([refused.status, await refused.text()], [
      503,
      "too many connections: the server allows 1",
    ]);
  } finally {
    held.close();
  }
  await waitUntil(() => server.running.server.pending === 0, 5000, "the request to end");
  const served = await processes();
  assert.equal(served.status, 200);
  await served.body?.cancel();
});

Deno.test("sessions.maxHeld: a pow.v2 client claiming 2^50 credit and never confirming cannot make the log keep more", async () => {
  const maxHeld = 64 * 1024;
  const retention = 64 * 1024;
  await using server = await serve((c) => {
    c.sessions.maxHeld = maxHeld;
    c.sessions.retention = retention;
  });
  const bound = maxHeld + retention + 64 * 1024;
  await using client = await V2Client.connect(server.wsUrl.href);
  const { session: id } = await client.start(1, "count", ["300000"], { credit: 2 ** 50 });
  const session = server.running.server.manager.get(id)!;
  let largest = 0;
  const exit = await client.until(() => {
    largest = Math.max(largest, session.log.end - session.log.start);
    return client.messages.find((m) => m.type === "exit");
  }, 60_000);
  largest = Math.max(largest, session.log.end - session.log.start);
  // Everything was sent (the credit allowed it), none of it confirmed, yet the log stayed small.
  assert.equal(exit.type === "exit" && exit.result.status, "fulfilled");
  const out = client.channel(1);
  let expected = "";
  for (let i = 1; i <= 300000; i++) expected += `${i}\n`;
  assert.ok(out.stdout === expected, "the output is seq 1 300000, byte for byte");
  assert.ok(largest <= bound, `the log held ${largest} bytes (bound ${bound})`);
  // The last maxHeld unconfirmed bytes are still there for a reattach; older ones are reported.
  const end = session.log.end;
  const recent = await client.request({
    type: "attach",
    id: 2,
    session: id,
    offset: end - maxHeld,
  });
  assert.deepEqual(recent.type === "attached" && [recent.offset, recent.skipped], [
    end - maxHeld,
    0,
  ]);
  const old = await client.request({ type: "attach", id: 3, session: id, offset: 0 });
  assert.ok(old.type === "attached" && old.skipped > 0, JSON.stringify(old));
});

Deno.test("sessions.maxPerCaller: a caller over its share is refused; another caller is not", async () => {
  await using server = await serve((c) => {
    c.sessions.maxPerCaller = 2;
    c.auth.tokens = [
      { name: "alice", hash: hashToken("alice-token") },
      { name: "bob", hash: hashToken("bob-token") },
    ];
  });
  await using alice = await V2Client.connect(server.wsUrl.href, { token: "alice-token" });
  await alice.start(1, "cat");
  await alice.start(2, "cat");
  const message = 'Cannot start process "cat": caller "alice" already has 2 sessions alive';
  const v2 = await alice.request({ type: "start", id: 3, name: "cat" });
  assert.deepEqual("code" in v2 && [v2.code, v2.message], ["limit_reached", message]);
  const rest = await fetch(new URL("api/v2/sessions", server.url), {
    method: "POST",
    headers: bearer("alice-token"),
    body: JSON.stringify({ name: "cat" }),
  });
  assert.deepEqual([rest.status, await rest.json()], [429, { code: "limit_reached", message }]);
  const pow1 = await fetch(new URL("new", server.url), {
    method: "POST",
    headers: bearer("alice-token"),
    body: JSON.stringify({ call: "cat" }),
  });
  assert.deepEqual([pow1.status, await pow1.text()], [429, "failed to get process: limit reached"]);
  await using bob = await V2Client.connect(server.wsUrl.href, { token: "bob-token" });
  await bob.start(1, "cat");
  for (const [client, id] of [[alice, 1], [alice, 2], [bob, 1]] as const) {
    client.send({ type: "eof", id });
    await client.exit(id);
  }
});

Deno.test("limits.outputBudget: new work is refused with 503 / limit_reached once held output fills the budget", async () => {
  await using server = await serve((c) => {
    c.sessions.retention = 64 * 1024;
    c.sessions.killGrace = 100;
    c.limits.outputBudget = 64 * 1024;
  });
  const manager = server.running.server.manager;
  {
    await using client = await V2Client.connect(server.wsUrl.href);
    // No credit: the output stays in the log.
    const { session: id } = await client.start(1, "count", ["300000"], { credit: 0 });
    const session = manager.get(id)!;
    await waitUntil(() => session.log.end >= 64 * 1024, 10_000, "the log to fill");
    const message =
      /^Cannot start process "count": the server is out of output memory \(\d+ bytes held, the budget is 65536\)$/;
    const v2 = await client.request({ type: "start", id: 2, name: "count", params: ["1"] });
    assert.equal("code" in v2 && v2.code, "limit_reached");
    assert.match("message" in v2 ? v2.message : "", message);
    const rest = await fetch(new URL("api/v2/sessions", server.url), {
      method: "POST",
      body: JSON.stringify({ name: "count", params: ["1"] }),
    });
    assert.equal(rest.status, 503);
    assert.match((await rest.json()).message, message);
    client.send({ type: "signal", id: 1, signal: "cancel" });
    await session.result;
  }
  // Once the session is gone, its memory is free again.
  await waitUntil(
    () => [...manager.registry.values()].every((s) => s.attached === 0),
    5000,
    "the client to detach",
  );
  manager.reap(Date.now() + 3_600_000);
  assert.equal(manager.outputBytes(), 0);
  const rest = await fetch(new URL("api/v2/sessions", server.url), {
    method: "POST",
    body: JSON.stringify({ name: "count", params: ["1"] }),
  });
  assert.equal(rest.status, 201);
  await rest.body?.cancel();
});

Deno.test("limits.startsPerMinute: failed pow-1 REST calls count as starts", async () => {
  await using server = await serve((c) => (c.limits.startsPerMinute = 2));
  const call = (body: unknown) =>
    fetch(new URL("new", server.url), { method: "POST", body: JSON.stringify(body) });
  for (let i = 0; i < 2; i++) {
    const failed = await call({ call: "no-such-process" });
    assert.equal(failed.status, 200);
    const id = await failed.json();
    const status = await (await fetch(new URL(`status/${id}`, server.url))).json();
    assert.equal(status.result.status, "rejected");
  }
  const refused = await call({ call: "count", params: ["1"] });
  assert.deepEqual([refused.status, await refused.text()], [
    429,
    "failed to get process: limit reached",
  ]);
  assert.equal(server.running.server.manager.registry.size, 2);
});
