// Copyright the pow authors. MIT license.
// End-to-end tests of processes provided by pow.v2 clients (`provide`): a provider written with
// `@pow/client` serves calls made on every front end.

import assert from "node:assert/strict";
import { PowClient, type ProvidedCall, RemoteError } from "../client/mod.ts";
import { hashToken, type PowConfig } from "../mod.ts";
import { startServer, type TestServer } from "./_helpers.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Uppercases stdin to stdout, notes the params on stderr, returns how many bytes it read. */
async function upper(call: ProvidedCall): Promise<unknown> {
  const err = call.stderr.getWriter();
  await err.write(encoder.encode(`params: ${call.params.join(",")}\n`));
  err.releaseLock();
  const out = call.stdout.getWriter();
  let bytes = 0;
  for await (const chunk of call.stdin) {
    bytes += chunk.byteLength;
    await out.write(encoder.encode(decoder.decode(chunk).toUpperCase()));
  }
  out.releaseLock();
  return { bytes, caller: call.caller };
}

async function text(stream: ReadableStream<Uint8Array>): Promise<string> {
  return await new Response(stream).text();
}

async function provider(
  server: TestServer,
  options: { token?: string } = {},
): Promise<PowClient> {
  const client = new PowClient(server.wsUrl, { token: options.token, reconnect: false });
  await client.provide("upper", upper, {
    description: "Uppercases stdin",
    params: [{ name: "tag", optional: true, variadic: true }],
  });
  return client;
}

Deno.test("provide: a provided process is listed and streams stdin, stdout, stderr and a result over pow.v2", async () => {
  await using server = await startServer();
  await using served = await provider(server);
  const listing = await (await fetch(new URL("api/v2/processes", server.url))).json();
  assert.deepEqual(listing.processes.find((p: Json) => p.name === "upper"), {
    name: "upper",
    description: "Uppercases stdin",
    params: [{ name: "tag", optional: true, variadic: true }],
    pty: false,
  });

  await using caller = new PowClient(server.wsUrl);
  const proc = caller.start("upper", ["a", "b"]);
  const stdout = text(proc.stdout);
  const stderr = text(proc.stderr);
  await proc.write("hello ");
  await proc.write("world\n");
  await proc.closeInput();
  assert.deepEqual(await proc.result, {
    status: "fulfilled",
    value: { bytes: 12, caller: "anonymous" },
  });
  assert.equal(await stdout, "HELLO WORLD\n");
  assert.equal(await stderr, "params: a,b\n");
  void served;
});

Deno.test("provide: a provided process is callable via pow-1 WebSocket, pow.v2 REST with SSE, and main.ts call", async () => {
  await using server = await startServer();
  await using _served = await provider(server);

  // pow-1 over WebSocket: text frames in, stdout and stderr merged as text frames out.
  const pow1 = new WebSocket(server.wsUrl, ["pow-1"]);
  pow1.binaryType = "arraybuffer";
  const output: string[] = [];
  let result: Json;
  const pow1Closed = new Promise<void>((resolve) => pow1.onclose = () => resolve());
  pow1.onmessage = (e) => {
    if (typeof e.data === "string") output.push(e.data);
    else result = JSON.parse(decoder.decode(e.data));
  };
  await new Promise((resolve) => pow1.onopen = resolve);
  pow1.send(encoder.encode(JSON.stringify({ call: "upper", params: ["p1"] })));
  pow1.send("via pow-1");
  pow1.send(encoder.encode(JSON.stringify({ signal: "close" })));
  await pow1Closed;
  assert.equal(output.join(""), "params: p1\nVIA POW-1");
  assert.deepEqual(result, { status: "fulfilled", value: { bytes: 9, caller: "anonymous" } });

  // pow.v2 REST: start, write stdin, close it, read the output as server-sent events.
  const started = await (await fetch(new URL("api/v2/sessions", server.url), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: "upper", params: [] }),
  })).json();
  assert.equal(started.name, "upper");
  const id = started.session;
  const input = await fetch(new URL(`api/v2/sessions/${id}/input`, server.url), {
    method: "POST",
    body: "via rest",
  });
  await input.body?.cancel();
  assert.equal(input.ok, true);
  const eof = await fetch(new URL(`api/v2/sessions/${id}/eof`, server.url), { method: "POST" });
  await eof.body?.cancel();
  const events = await (await fetch(new URL(`api/v2/sessions/${id}/events`, server.url))).text();
  assert.match(events, /VIA REST/);
  assert.match(events, /params: \\n/);
  assert.match(events, /event: exit\n/);
  const info = await (await fetch(new URL(`api/v2/sessions/${id}`, server.url))).json();
  assert.deepEqual(info.result, {
    status: "fulfilled",
    value: { bytes: 8, caller: "anonymous" },
  });

  // main.ts call in a subprocess: stdin piped through, stdout and stderr printed.
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "call", "--url", server.wsUrl.href, "upper", "x"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(encoder.encode("via call\n"));
  await writer.close();
  const done = await child.output();
  // The result value follows the output as one line of JSON.
  assert.equal(decoder.decode(done.stdout), `VIA CALL\n{"bytes":9,"caller":"anonymous"}\n`);
  assert.equal(decoder.decode(done.stderr), "params: x\n");
  assert.equal(done.code, 0);
});

/** Reads a stream until the text read so far satisfies `done`. */
async function readUntil(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  done: (text: string) => boolean,
  seen = "",
): Promise<string> {
  let text = seen;
  while (!done(text)) {
    const { value, done: end } = await reader.read();
    if (end) throw new Error(`Stream ended before the expected text; got ${JSON.stringify(text)}`);
    text += decoder.decode(value, { stream: true });
  }
  return text;
}

Deno.test("provide: a provided session is viewed by a second connection and reattached from offset 0", async () => {
  await using server = await startServer();
  await using _served = await provider(server);
  await using caller = new PowClient(server.wsUrl);
  const proc = caller.start("upper", ["v"]);
  const { session } = await proc.started;
  const stdout = proc.stdout.getReader();
  await proc.write("one\n");
  assert.equal(await readUntil(stdout, (t) => t.includes("ONE\n")), "ONE\n");

  // A viewer on another connection sees the output so far and what follows.
  await using viewerClient = new PowClient(server.wsUrl);
  const viewer = viewerClient.attach(session, { offset: 0 });
  const viewerOut = viewer.stdout.getReader();
  const viewerErr = text(viewer.stderr);
  assert.equal(await readUntil(viewerOut, (t) => t.includes("ONE\n")), "ONE\n");
  await proc.write("two\n");
  await proc.closeInput();
  const expected = { status: "fulfilled", value: { bytes: 8, caller: "anonymous" } };
  assert.deepEqual(await proc.result, expected);
  assert.equal(await readUntil(stdout, (t) => t.endsWith("TWO\n"), "ONE\n"), "ONE\nTWO\n");
  assert.deepEqual(await viewer.result, expected);
  assert.equal(await readUntil(viewerOut, (t) => t.endsWith("TWO\n"), "ONE\n"), "ONE\nTWO\n");
  assert.equal(await viewerErr, "params: v\n");

  // Reattached from offset 0 after the end: the whole log, then the result.
  await using later = new PowClient(server.wsUrl);
  const again = later.attach(session, { offset: 0 });
  const [out, err] = await Promise.all([text(again.stdout), text(again.stderr)]);
  assert.deepEqual([out, err], ["ONE\nTWO\n", "params: v\n"]);
  assert.deepEqual(await again.result, expected);
  assert.equal(again.offset, "params: v\nONE\nTWO\n".length);
});

Deno.test("provide: cancelling a call tells the provider, whose signal aborts", async () => {
  await using server = await startServer();
  await using provider = new PowClient(server.wsUrl, { reconnect: false });
  const reasons = Promise.withResolvers<string>();
  await provider.provide("wait", async (call) => {
    await new Promise((resolve) => call.signal.addEventListener("abort", resolve));
    reasons.resolve((call.signal.reason as Error).message);
    return "stopped";
  });
  await using caller = new PowClient(server.wsUrl);
  const proc = caller.start("wait", []);
  await proc.started;
  await proc.cancel();
  assert.equal(await reasons.promise, "Received SIGTERM");
  assert.deepEqual(await proc.result, {
    status: "rejected",
    reason: "client requested cancellation",
    kind: "cancelled",
  });
});

Deno.test("provide: a provider disconnecting mid-call rejects the session and removes the process", async () => {
  await using server = await startServer();
  const { manager } = server.running.server;
  const watch = manager.bus.subscribe("process.*");
  const provider = new PowClient(server.wsUrl, { reconnect: false });
  const serving = Promise.withResolvers<void>();
  await provider.provide("stuck", async (call) => {
    const out = call.stdout.getWriter();
    await out.write(encoder.encode("partial\n"));
    serving.resolve();
    await new Promise(() => {});
  });
  const added = await watch.next();
  assert.deepEqual(
    added.value.type === "event" && [added.value.event.topic, added.value.event.data],
    ["process.added", { name: "stuck" }],
  );
  await using caller = new PowClient(server.wsUrl);
  const proc = caller.start("stuck", []);
  const stdout = text(proc.stdout);
  await serving.promise;
  await provider.close();
  assert.deepEqual(await proc.result, {
    status: "rejected",
    reason: 'Provider of "stuck" disconnected',
    kind: "error",
  });
  assert.equal(await stdout, "partial\n");
  const removed = await watch.next();
  assert.deepEqual(
    removed.value.type === "event" && [removed.value.event.topic, removed.value.event.data],
    ["process.removed", { name: "stuck" }],
  );
  watch.close();
  assert.equal(Object.hasOwn(manager.processes, "stuck"), false);
  await assert.rejects(caller.start("stuck", []).result, {
    message: 'Cannot start process "stuck": no such process',
  });
});

Deno.test("provide: a provider can never shadow a configured or already provided process", async () => {
  await using server = await startServer();
  const echo = server.running.server.manager.processes.echo;
  await using first = new PowClient(server.wsUrl, { reconnect: false });
  await assert.rejects(first.provide("echo", () => null), (error: unknown) => {
    assert.ok(error instanceof RemoteError);
    assert.equal(error.code, "conflict");
    assert.equal(
      error.message,
      'Cannot provide "echo": it would shadow the configured process "echo"',
    );
    return true;
  });
  await first.provide("mine", () => "first");
  await using second = new PowClient(server.wsUrl, { reconnect: false });
  await assert.rejects(second.provide("mine", () => "second"), {
    code: "conflict",
    message: 'Cannot provide "mine": a process of that name already exists',
  });
  await assert.rejects(second.provide("a/b", () => null), {
    code: "bad_message",
    message:
      'Cannot parse "provide" message: "name" must be 1 to 64 letters, digits, "_", "-", ".", ":", "@" or "+"',
  });
  await using caller = new PowClient(server.wsUrl);
  assert.deepEqual(await caller.start("mine", []).result, { status: "fulfilled", value: "first" });
  assert.equal(server.running.server.manager.processes.echo, echo);
});

const ALICE = "alice-token-1"; // role "providers"
const BOB = "bob-token-2";

Deno.test("provide: authorization: who provides (provide.providers) and who calls (provide.allow)", async () => {
  await using server = await startServer({
    configure: (config: PowConfig) => {
      config.auth.tokens = [
        { name: "alice", hash: hashToken(ALICE), roles: ["providers"] },
        { name: "bob", hash: hashToken(BOB) },
      ];
      config.provide.providers = ["providers"];
      config.provide.allow = ["alice"];
    },
  });
  await using bob = new PowClient(server.wsUrl, { token: BOB, reconnect: false });
  await assert.rejects(bob.provide("bobs", () => null), {
    code: "not_allowed",
    message: 'Cannot provide "bobs": caller "bob" is not in provide.providers',
  });
  await using alice = new PowClient(server.wsUrl, { token: ALICE, reconnect: false });
  await alice.provide("alices", (call) => `hello ${call.caller}`);
  assert.equal((await bob.processes()).some((p) => p.name === "alices"), false);
  assert.equal((await alice.processes()).some((p) => p.name === "alices"), true);
  await assert.rejects(bob.start("alices", []).result, {
    message: 'Cannot start process "alices": caller "bob" is not allowed to run it',
  });
  assert.deepEqual(await alice.start("alices", []).result, {
    status: "fulfilled",
    value: "hello alice",
  });
});

Deno.test("provide: calls pending at one provider are bounded by provide.maxPendingCalls", async () => {
  await using server = await startServer({
    configure: (config: PowConfig) => {
      config.provide.maxPendingCalls = 1;
    },
  });
  await using _served = await provider(server);
  await using caller = new PowClient(server.wsUrl);
  const first = caller.start("upper", []);
  const firstErr = first.stderr.getReader();
  // The provider is serving it once its stderr line arrives.
  await readUntil(firstErr, (t) => t.includes("params: \n"));
  const second = caller.start("upper", []);
  assert.deepEqual(await second.result, {
    status: "rejected",
    reason:
      'Cannot call "upper": its provider is already serving 1 calls (provide.maxPendingCalls)',
    kind: "error",
  });
  await first.write("ok");
  await first.closeInput();
  assert.deepEqual(await first.result, {
    status: "fulfilled",
    value: { bytes: 2, caller: "anonymous" },
  });
  // Once the first call is over, the next one is served.
  const third = caller.start("upper", []);
  await third.closeInput();
  assert.equal((await third.result).status, "fulfilled");
});

Deno.test("provide: megabytes flow both ways through a provider within credit, in order and complete", async () => {
  await using server = await startServer();
  await using _served = await provider(server);
  await using caller = new PowClient(server.wsUrl);
  const proc = caller.start("upper", []);
  const size = 3 * 1024 * 1024; // three times the initial credit in each direction
  const line = "abcdefghijklmnopqrstuvwxyz01234\n"; // 32 bytes
  const input = encoder.encode(line.repeat(size / line.length));
  const stdout = (async () => {
    let length = 0;
    let ok = true;
    const expected = line.toUpperCase();
    let carry = "";
    for await (const chunk of proc.stdout) {
      length += chunk.byteLength;
      const text = carry + decoder.decode(chunk);
      const whole = text.length - (text.length % 32);
      for (let i = 0; i < whole; i += 32) ok &&= text.slice(i, i + 32) === expected;
      carry = text.slice(whole);
    }
    return { length, ok: ok && carry === "" };
  })();
  const stderr = text(proc.stderr);
  for (let at = 0; at < input.byteLength; at += 256 * 1024) {
    await proc.write(input.subarray(at, at + 256 * 1024));
  }
  await proc.closeInput();
  assert.deepEqual(await proc.result, {
    status: "fulfilled",
    value: { bytes: size, caller: "anonymous" },
  });
  assert.deepEqual(await stdout, { length: size, ok: true });
  assert.equal(await stderr, "params: \n");
});
