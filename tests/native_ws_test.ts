import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { hashToken } from "../server/auth.ts";
import { startServerProcess } from "../tools/_server_process.ts";
import { blobHash, startNativeServer, V2Client } from "./_native.ts";

const MiB = 1024 * 1024;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

Deno.test("pow.v2 sends hello first with the server's limits", async () => {
  await using server = await startNativeServer((c) => {
    c.limits.sessionsPerConnection = 7;
    c.sessions.linger = 1234;
  });
  await using client = await V2Client.connect(server.wsUrl);
  assert.deepEqual(client.ws.protocol, "pow.v2");
  assert.deepEqual(client.messages[0], {
    type: "hello",
    protocol: "pow.v2",
    server: "pow/0.1.0",
    maxMessageSize: MiB,
    stdinCredit: MiB,
    lingerMs: 1234,
    maxChannels: 7,
    inline: true,
  });
  assert.deepEqual(await client.request({ type: "ping" }), { type: "pong", ref: "r1" });
});

Deno.test("pow.v2 streams 100 MB of binary output intact on one channel while another interleaves", async () => {
  await using server = await startNativeServer();
  await using client = await V2Client.connect(server.wsUrl);
  const size = 100_000_000;
  const big = client.channel(1);
  big.hash = createHash("sha256");
  big.autoCredit = MiB;
  const small = client.channel(2);
  small.autoCredit = MiB;
  await client.start(1, "blob", [String(size), "7"]);
  await client.start(2, "ticker", ["40", "20"]);
  const [exit1, exit2] = [await client.exit(1, 120_000), await client.exit(2, 20_000)];
  assert.deepEqual(exit1.result, { status: "fulfilled", value: size });
  assert.deepEqual(exit1.offset, size);
  assert.deepEqual(big.discontinuity, undefined);
  assert.deepEqual(big.bytes, size);
  assert.deepEqual(big.hash.digest("hex"), blobHash(size, 7));
  assert.deepEqual(exit2.result, { status: "fulfilled", value: 40 });
  assert.deepEqual(
    small.stdout,
    Array.from({ length: 40 }, (_, i) => `tick ${i + 1}\n`).join(""),
  );
  // The ticker's frames arrived between the first and the last frame of the blob.
  const first = client.frameOrder.indexOf(1);
  const last = client.frameOrder.lastIndexOf(1);
  assert(client.frameOrder.slice(first, last).includes(2), "channels did not interleave");
  assert(big.frames.every((f) => f.length <= 64 * 1024 && f.kind === "stdout"));
});

Deno.test("pow.v2 keeps stdout and stderr apart in one offset space", async () => {
  await using server = await startNativeServer();
  await using client = await V2Client.connect(server.wsUrl);
  const started = await client.start(1, "both");
  assert.deepEqual(started.pty, false);
  assert.deepEqual(typeof started.pid, "number");
  const exit = await client.exit(1);
  const out = client.channel(1);
  assert.deepEqual(out.stdout, "out1\nout2\n");
  assert.deepEqual(out.stderr, "err1\nerr2\n");
  assert.deepEqual(out.discontinuity, undefined);
  assert.deepEqual(exit.offset, 20);
  assert.deepEqual(exit.session, started.session);
  assert.deepEqual(exit.result, { status: "fulfilled", value: null, exitCode: 0 });
  assert.deepEqual(new Set(out.frames.map((f) => f.kind)), new Set(["stdout", "stderr"]));
});

Deno.test("pow.v2 reports exit codes and signals in the exit message", async () => {
  await using server = await startNativeServer();
  await using client = await V2Client.connect(server.wsUrl);
  await client.start(1, "exit", ["3"]);
  await client.start(2, "sleep", ["30"]);
  await client.start(3, "sleep", ["30"]);
  await client.start(4, "sleep", ["30"]);
  await client.start(5, "forever");
  const exit1 = await client.exit(1);
  assert.deepEqual(exit1.result, {
    status: "rejected",
    reason: "exit status 3",
    kind: "error",
    exitCode: 3,
  });
  assert.deepEqual(client.channel(1).stderr, "exiting with status 3\n");
  assert.deepEqual(await client.request({ type: "signal", id: 2, signal: "kill" }), {
    type: "ok",
    id: 2,
    ref: "r6",
  });
  assert.deepEqual((await client.exit(2)).result, {
    status: "rejected",
    reason: "signal: SIGKILL",
    kind: "error",
    signal: "SIGKILL",
  });
  client.send({ type: "signal", id: 3, signal: "cancel" });
  assert.deepEqual((await client.exit(3)).result, {
    status: "rejected",
    reason: "client requested cancellation",
    kind: "cancelled",
    signal: "SIGTERM",
  });
  client.send({ type: "signal", id: 4, signal: "interrupt" });
  assert.deepEqual((await client.exit(4)).result.signal, "SIGINT");
  const hangup = await client.request({ type: "signal", id: 5, signal: "hangup" });
  assert.deepEqual([hangup.type, "code" in hangup && hangup.code], ["error", "unsupported"]);
  client.send({ type: "signal", id: 5, signal: "cancel" });
  assert.deepEqual((await client.exit(5)).result.status, "rejected");
});

Deno.test("pow.v2 half-closes stdin with eof while output continues (wc -c)", async () => {
  await using server = await startNativeServer();
  await using client = await V2Client.connect(server.wsUrl);
  await client.start(1, "wc");
  client.stdin(1, "hello ", 0);
  client.stdin(1, "world\n", 6);
  client.stdin(1, "hello world\n", 0); // a resend: already received, ignored
  const grant = await client.next((m) => m.type === "credit" && m.id === 1);
  assert.ok((grant as { bytes: number }).bytes > 0);
  const ok = await client.request({ type: "eof", id: 1 });
  assert.deepEqual(ok, { type: "ok", id: 1, ref: "r2" });
  const exit = await client.exit(1);
  assert.deepEqual(client.channel(1).stdout.trim(), "12");
  assert.deepEqual(exit.result, { status: "fulfilled", value: null, exitCode: 0 });
});

Deno.test("pow.v2 stdin offsets drop resends and refuse holes; cat echoes in order", async () => {
  await using server = await startNativeServer();
  await using client = await V2Client.connect(server.wsUrl);
  await client.start(1, "cat");
  client.stdin(1, "abc", 0);
  client.stdin(1, "bcdef", 1); // "bc" seen, "def" appended
  client.stdin(1, "zz", 99); // a hole
  const hole = await client.next((m) => m.type === "error" && m.id === 1);
  assert.deepEqual("code" in hole && hole.code, "bad_offset");
  client.stdin(1, "!"); // append
  client.send({ type: "eof", id: 1 });
  await client.exit(1);
  assert.deepEqual(client.channel(1).stdout, "abcdef!");
});

Deno.test("pow.v2 client without credit pauses a 1 GB writer and keeps memory bounded", async () => {
  // The server runs in a subprocess: its memory is measured alone, not with this test's.
  const configFile = await Deno.makeTempFile({ suffix: ".yaml" });
  await Deno.writeTextFile(
    configFile,
    'processes:\n  flood:\n    command: [head, -c, "1000000000", /dev/zero]\n',
  );
  await using server = await startServerProcess(configFile);
  await Deno.remove(configFile);
  await using client = await V2Client.connect(server.wsUrl.href);
  const before = server.rss();
  const started = await client.start(1, "flood", [], { credit: 0 });
  const offsetNow = async () => {
    const list = await client.request({ type: "list" });
    if (list.type !== "sessions") throw new Error(JSON.stringify(list));
    return list.sessions.find((s) => s.session === started.session)!.offset;
  };
  // Wait until the log holds its 4 MiB retention and stops growing, however slow the machine.
  let first = await offsetNow();
  for (let stable = false, tries = 0; !stable; tries++) {
    assert.ok(tries < 150, `the writer did not stop within 30 s: offset ${first}`);
    await sleep(200);
    const now = await offsetNow();
    stable = now >= 4 * MiB && now === first;
    first = now;
  }
  await sleep(1000);
  const second = await offsetNow();
  assert.deepEqual(second, first, "the writer was not paused");
  assert.ok(second < 8 * MiB, `${second} >= 8 * MiB`);
  assert.deepEqual(client.channel(1).bytes, 0);
  assert.ok(server.rss() - before < 64 * MiB, `${server.rss() - before} >= 64 * MiB`);
  // A grant of 100000 bytes gets exactly that much, from offset 0.
  client.send({ type: "credit", id: 1, bytes: 100_000 });
  client.channel(1).window = 100_000;
  await client.until(() => client.channel(1).bytes >= 100_000 || undefined, 5000).catch((e) => {
    throw new Error(`${JSON.stringify(client.channel(1))} ${e}`);
  });
  await sleep(200);
  assert.deepEqual(client.channel(1).bytes, 100_000);
  assert.deepEqual(client.channel(1).discontinuity, undefined);
  client.send({ type: "signal", id: 1, signal: "cancel" });
  // `exit` comes only after every output byte was sent: let the rest through.
  client.channel(1).autoCredit = 4 * MiB;
  client.channel(1).window += 4 * MiB;
  client.send({ type: "credit", id: 1, bytes: 4 * MiB });
  const exit = await client.exit(1);
  assert.deepEqual(exit.offset, client.channel(1).next);
  assert.deepEqual(client.channel(1).discontinuity, undefined);
  assert.deepEqual(exit.result.status, "rejected");
  assert.deepEqual((exit.result as { kind: string }).kind, "cancelled");
});

Deno.test("pow.v2 reattach from another connection resumes at the offset, no byte lost or doubled", async () => {
  await using server = await startNativeServer();
  const size = 12 * MiB + 12345; // more than the 4 MiB retention: still running at the drop
  const hash = createHash("sha256");
  const a = await V2Client.connect(server.wsUrl);
  a.channel(1).hash = hash;
  const started = await a.start(1, "blob", [String(size), "3"], { credit: MiB + 1000 });
  await a.until(() => a.channel(1).bytes === MiB + 1000 || undefined);
  const next = a.channel(1).next;
  await a.close();

  await using b = await V2Client.connect(server.wsUrl);
  const list = await b.request({ type: "list" });
  assert(list.type === "sessions");
  assert.deepEqual(list.sessions.length, 1);
  assert.deepEqual(list.sessions[0].attached, 0);
  assert.deepEqual(list.sessions[0].state, "running");
  const beyond = await b.request({
    type: "attach",
    id: 4,
    session: started.session,
    offset: size * 10,
  });
  assert.deepEqual("code" in beyond && beyond.code, "bad_offset");
  const out = b.channel(7);
  out.hash = hash;
  out.next = next;
  out.autoCredit = MiB;
  const attached = await b.request({
    type: "attach",
    id: 7,
    session: started.session,
    offset: next,
  });
  assert.deepEqual(attached, {
    type: "attached",
    id: 7,
    ref: "r3",
    session: started.session,
    name: "blob",
    state: "running",
    pty: false,
    offset: next,
    skipped: 0,
    stdinOffset: 0,
    stdinClosed: false,
  });
  const exit = await b.exit(7);
  assert.deepEqual(exit.offset, size);
  assert.deepEqual(out.discontinuity, undefined);
  assert.deepEqual(hash.digest("hex"), blobHash(size, 3));
});

Deno.test("pow.v2 lets several viewers follow one session, each with its own exit", async () => {
  await using server = await startNativeServer();
  await using a = await V2Client.connect(server.wsUrl);
  await using b = await V2Client.connect(server.wsUrl);
  const started = await a.start(1, "ticker", ["6", "100"]);
  await a.until(() => a.channel(1).stdout.includes("tick 2") || undefined);
  const attached = await b.request({ type: "attach", id: 9, session: started.session });
  assert.deepEqual(attached.type, "attached");
  const second = await a.request({ type: "attach", id: 2, session: started.session });
  assert.deepEqual(second.type, "attached");
  const list = await a.request({ type: "list" });
  assert(list.type === "sessions");
  assert.deepEqual(list.sessions[0].attached, 3);
  const ticks = Array.from({ length: 6 }, (_, i) => `tick ${i + 1}\n`).join("");
  for (const [client, id] of [[a, 1], [a, 2], [b, 9]] as const) {
    const exit = await client.exit(id);
    assert.deepEqual(exit.result, { status: "fulfilled", value: 6 });
    assert.deepEqual(client.channel(id).stdout, ticks);
  }
});

Deno.test("pow.v2 detach unbinds the channel and leaves the session running", async () => {
  await using server = await startNativeServer();
  await using client = await V2Client.connect(server.wsUrl);
  const started = await client.start(1, "ticker", ["100", "20"]);
  await client.until(() => client.channel(1).bytes > 0 || undefined);
  assert.deepEqual(await client.request({ type: "detach", id: 1 }), {
    type: "detached",
    id: 1,
    ref: "r2",
  });
  const bytes = client.channel(1).bytes;
  await sleep(200);
  assert.deepEqual(client.channel(1).bytes, bytes);
  const list = await client.request({ type: "list" });
  assert(list.type === "sessions");
  assert.deepEqual([list.sessions[0].state, list.sessions[0].attached], ["running", 0]);
  const again = await client.request({ type: "eof", id: 1 });
  assert.deepEqual("code" in again && again.code, "unknown_id");
  // The id is free again.
  assert.deepEqual(
    (await client.request({ type: "attach", id: 1, session: started.session })).type,
    "attached",
  );
  client.send({ type: "signal", id: 1, signal: "cancel" });
  await client.exit(1);
});

Deno.test("pow.v2 runs a process in a pty with a size and resizes it", async () => {
  await using server = await startNativeServer();
  await using client = await V2Client.connect(server.wsUrl);
  const started = await client.start(1, "terminal", [], { pty: true, cols: 100, rows: 30 });
  assert.deepEqual(started.pty, true);
  await client.until(() => client.channel(1).stdout.includes("30 100") || undefined);
  assert.match(client.channel(1).stdout, /\/dev\/pts\/\d+/);
  assert.deepEqual(await client.request({ type: "resize", id: 1, cols: 120, rows: 40 }), {
    type: "ok",
    id: 1,
    ref: "r2",
  });
  client.stdin(1, "\n");
  const exit = await client.exit(1);
  assert.match(client.channel(1).stdout, /40 120/);
  assert.deepEqual(exit.result.status, "fulfilled");
  assert.deepEqual(client.channel(1).stderr, "");
});

Deno.test("pow.v2 answers every bad message with its error code and leaves other channels alone", async () => {
  await using server = await startNativeServer((c) => {
    c.limits.sessionsPerConnection = 4;
    c.sessions.maxPendingInput = 1000;
  });
  await using client = await V2Client.connect(server.wsUrl);
  assert.deepEqual(client.hello.stdinCredit, 1000);
  await client.start(5, "ticker", ["30", "10"]);
  const errorOf = async (send: () => void) => {
    const from = client.messages.length;
    send();
    const m = await client.next((m) => m.type === "error", 10_000, from);
    return m as Extract<typeof m, { type: "error" }>;
  };
  const text = (message: string) => () => client.send(message);
  const json = (message: Record<string, unknown>) => () => client.send(message);

  assert.deepEqual(await errorOf(text("{oops")), {
    type: "error",
    code: "bad_json",
    message: "Cannot parse message: invalid JSON",
  });
  const badMessage = await errorOf(json({ type: "start", id: 1, ref: "x" }));
  assert.deepEqual([badMessage.code, badMessage.id, badMessage.ref], ["bad_message", 1, "x"]);
  assert.deepEqual(await errorOf(json({ type: "launch", ref: 7 })), {
    type: "error",
    ref: 7,
    code: "unknown_type",
    message: 'Unknown message type "launch"',
  });
  assert.deepEqual(await errorOf(() => client.ws.send(new Uint8Array(5))), {
    type: "error",
    code: "bad_frame",
    message: "Cannot decode data frame: header needs 13 bytes, got 5",
  });
  const unknownId = await errorOf(json({ type: "eof", id: 99, ref: "u" }));
  assert.deepEqual([unknownId.code, unknownId.id, unknownId.ref], ["unknown_id", 99, "u"]);
  assert.deepEqual((await errorOf(() => client.stdin(98, "x"))).code, "unknown_id");

  await client.start(1, "cat");
  const duplicate = await errorOf(json({ type: "start", id: 1, name: "date", params: ["-u"] }));
  assert.deepEqual([duplicate.code, duplicate.message], [
    "duplicate_id",
    "Channel id 1 is already in use",
  ]);
  const unknownProcess = await errorOf(json({ type: "start", id: 2, ref: 1, name: "nope" }));
  assert.deepEqual(unknownProcess, {
    type: "error",
    id: 2,
    ref: 1,
    code: "unknown_process",
    message: 'Cannot start process "nope": no such process',
  });
  const badParams = await errorOf(json({ type: "start", id: 2, name: "count", params: ["x"] }));
  assert.deepEqual(badParams.code, "bad_params");
  assert.match(badParams.message, /^Cannot start process "count": parameter 1/);
  assert.deepEqual(
    (await errorOf(json({ type: "start", id: 2, name: "secret" }))).code,
    "not_allowed",
  );
  const noPty = await errorOf(json({ type: "start", id: 2, name: "cat", pty: true }));
  assert.deepEqual(noPty.code, "not_allowed");
  const unknownSession = await errorOf(json({ type: "attach", id: 2, session: "nope" }));
  assert.deepEqual(unknownSession.code, "unknown_session");
  assert.deepEqual(
    (await errorOf(json({ type: "resize", id: 1, cols: 80, rows: 24 }))).code,
    "not_pty",
  );
  await client.start(2, "forever");
  const unsupported = await errorOf(json({ type: "signal", id: 2, signal: "hangup" }));
  assert.deepEqual(unsupported.code, "unsupported");
  await client.start(3, "sleep", ["30"]);
  const limit = await errorOf(json({ type: "start", id: 4, name: "sleep", params: ["1"] }));
  assert.deepEqual([limit.code, limit.id], ["limit_reached", 4]);
  const hole = await errorOf(() => client.stdin(1, "abc", 5));
  assert.deepEqual(hole.code, "bad_offset");
  const tooMuch = await errorOf(() => client.stdin(1, new Uint8Array(1001)));
  assert.deepEqual([tooMuch.code, tooMuch.id], ["credit_exceeded", 1]);
  // cat saw end of file and exits; sleep on channel 3 ignores stdin and keeps running.
  assert.deepEqual((await client.exit(1)).result.status, "fulfilled");
  client.send({ type: "eof", id: 3 });
  const closed = await errorOf(() => client.stdin(3, "x"));
  assert.deepEqual([closed.code, closed.id], ["stdin_closed", 3]);

  // The ticker on channel 5 was not disturbed.
  const exit = await client.exit(5);
  assert.deepEqual(exit.result, { status: "fulfilled", value: 30 });
  assert.deepEqual(client.channel(5).stdout.split("\n").length, 31);
  assert.deepEqual(client.channel(5).discontinuity, undefined);
  for (const id of [2, 3]) client.send({ type: "signal", id, signal: "kill" });
  await client.exit(2);
  await client.exit(3);
});

Deno.test("pow.v2 closes the connection with 1009 on a message over the limit", async () => {
  await using server = await startNativeServer((c) => (c.v2.maxMessage = 4096));
  await using client = await V2Client.connect(server.wsUrl);
  assert.deepEqual(client.hello.maxMessageSize, 4096);
  client.send({ type: "ping", ref: "x".repeat(5000) });
  assert.deepEqual(await client.closed, { code: 1009, reason: "message too big" });
});

Deno.test("pow.v2 handshake refuses an unknown version with 400", async () => {
  await using server = await startNativeServer();
  const { hostname, port } = server.running.url;
  const conn = await Deno.connect({ hostname, port: Number(port) });
  const request = [
    "GET / HTTP/1.1",
    `Host: ${hostname}:${port}`,
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Version: 13",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Protocol: pow.v3",
    "",
    "",
  ].join("\r\n");
  await conn.write(new TextEncoder().encode(request));
  let response = "";
  const buffer = new Uint8Array(4096);
  while (!/\r\n\r\n[\s\S]*speaks pow\.v2$/.test(response)) {
    const n = await conn.read(buffer);
    if (n === null) break;
    response += new TextDecoder().decode(buffer.subarray(0, n));
  }
  conn.close();
  assert.match(response, /^HTTP\/1\.1 400 /);
  assert.match(
    response,
    /\r\n\r\nUnsupported subprotocol "pow\.v3": this endpoint speaks pow\.v2$/,
  );
});

Deno.test("pow.v2 sessions are visible only to their owner; processes only to who may run them", async () => {
  await using server = await startNativeServer((c) => {
    c.auth.tokens = [
      { name: "alice", hash: hashToken("alice-token"), roles: ["admins"] },
      { name: "bob", hash: hashToken("bob-token") },
    ];
  });
  await using alice = await V2Client.connect(server.wsUrl, { token: "alice-token" });
  await using bob = await V2Client.connect(server.wsUrl, { token: "bob-token" });
  const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  const started = await alice.start(1, "sleep", ["30"], { traceparent, tracestate: "k=v" });
  const mine = await alice.request({ type: "list" });
  assert(mine.type === "sessions");
  assert.deepEqual(mine.sessions.map((s) => [s.session, s.name, s.traceparent, s.tracestate]), [
    [started.session, "sleep", traceparent, "k=v"],
  ]);
  const theirs = await bob.request({ type: "list" });
  assert.deepEqual(theirs, { type: "sessions", ref: "r1", sessions: [] });
  const steal = await bob.request({ type: "attach", id: 1, session: started.session });
  assert.deepEqual("code" in steal && steal.code, "unknown_session");
  const names = async (client: V2Client) => {
    const answer = await client.request({ type: "processes" });
    assert(answer.type === "processes");
    return answer.processes.map((p) => p.name);
  };
  assert((await names(alice)).includes("secret"));
  assert(!(await names(bob)).includes("secret"));
  assert((await names(bob)).includes("count"));
  alice.send({ type: "signal", id: 1, signal: "kill" });
  await alice.exit(1);
});

Deno.test("pow.v2 closes a connection idle past limits.idleTimeout with 4000, not one with a channel", async () => {
  await using server = await startNativeServer((c) => (c.limits.idleTimeout = 300));
  await using idle = await V2Client.connect(server.wsUrl);
  await using busy = await V2Client.connect(server.wsUrl);
  await busy.start(1, "sleep", ["30"]);
  assert.deepEqual(await idle.closed, { code: 4000, reason: "idle timeout" });
  assert.equal(busy.ws.readyState, WebSocket.OPEN);
  busy.send({ type: "signal", id: 1, signal: "kill" });
  await busy.exit(1);
});

Deno.test("pow.v2 keeps a connection that sends messages open past limits.idleTimeout, and closes it once idle", async () => {
  await using server = await startNativeServer((c) => (c.limits.idleTimeout = 300));
  await using client = await V2Client.connect(server.wsUrl);
  // Messages every 100 ms for 700 ms: each one postpones the idle close.
  for (let i = 0; i < 7; i++) {
    await sleep(100);
    await client.request({ type: "ping" });
  }
  // A channel keeps it open; once the channel ends, the connection is idle again.
  await client.start(1, "sleep", ["0.5"]);
  await client.exit(1);
  const ended = performance.now();
  assert.equal(client.ws.readyState, WebSocket.OPEN);
  assert.deepEqual(await client.closed, { code: 4000, reason: "idle timeout" });
  assert(performance.now() - ended >= 250, "closed 300 ms after the channel ended");
});

/** A raw `pow.v2` connection that records every message as it came: text, or frame bytes. */
async function rawConnection(url: string) {
  const ws = new WebSocket(url, ["pow.v2"]);
  ws.binaryType = "arraybuffer";
  const received: (string | Uint8Array)[] = [];
  let wake = () => {};
  ws.onmessage = ({ data }) => {
    received.push(typeof data === "string" ? data : new Uint8Array(data));
    wake();
  };
  const until = async (n: number) => {
    while (received.length < n) await new Promise<void>((resolve) => (wake = resolve));
    return received.splice(0, n);
  };
  await until(1); // hello
  return {
    send: (message: Record<string, unknown>) => ws.send(JSON.stringify(message)),
    until,
    /** Sends `ping` and returns everything received before its `pong`. */
    async before(ref: string) {
      ws.send(JSON.stringify({ type: "ping", ref }));
      const pong = `{"type":"pong","ref":"${ref}"}`;
      while (!received.includes(pong)) await new Promise<void>((resolve) => (wake = resolve));
      return received.splice(0, received.indexOf(pong) + 1).slice(0, -1);
    },
    async close() {
      const closed = new Promise((resolve) => (ws.onclose = resolve));
      ws.close();
      await closed;
    },
  };
}

const dataFrame = (id: number, offset: number, text: string) => [
  1,
  ...[24, 16, 8, 0].map((shift) => (id >>> shift) & 0xff),
  ...[0, 0, 0, 0, 0, 0, 0, offset],
  ...new TextEncoder().encode(text),
];

Deno.test("pow.v2 answers a quick call with started, a data frame and exit, byte for byte as before", async () => {
  await using server = await startNativeServer();
  const raw = await rawConnection(server.wsUrl);
  raw.send({ type: "start", id: 1, ref: "a", name: "ticker", params: ["1"] });
  const [started, frame, exit] = await raw.until(3);
  const session = JSON.parse(started as string).session;
  assert.equal(started, `{"type":"started","id":1,"ref":"a","session":"${session}","pty":false}`);
  assert.deepEqual([...frame as Uint8Array], dataFrame(1, 0, "tick 1\n"));
  assert.equal(
    exit,
    `{"type":"exit","id":1,"session":"${session}","offset":7,"result":{"status":"fulfilled","value":1}}`,
  );
  // `inline: false` is the same.
  raw.send({ type: "start", id: 2, name: "ticker", params: ["1"], inline: false });
  const three = await raw.before("p");
  assert.deepEqual(three.map((m) => typeof m === "string" ? JSON.parse(m).type : "data"), [
    "started",
    "data",
    "exit",
  ]);
  await raw.close();
});

Deno.test("pow.v2 answers a quick call with inline: true by one exit with the output, else as usual", async () => {
  await using server = await startNativeServer();
  const raw = await rawConnection(server.wsUrl);
  raw.send({ type: "start", id: 1, ref: "a", name: "ticker", params: ["1"], inline: true });
  const [exit] = await raw.before("p1");
  const session = JSON.parse(exit as string).session;
  assert.equal(
    exit,
    `{"type":"exit","id":1,"ref":"a","session":"${session}","pty":false,"offset":7,` +
      `"output":[{"stream":"stdout","data":"dGljayAxCg=="}],"result":{"status":"fulfilled","value":1}}`,
  );
  // Without output: an empty list.
  raw.send({ type: "start", id: 1, name: "ticker", params: ["0"], inline: true });
  const [empty] = await raw.before("p2");
  assert.deepEqual(JSON.parse(empty as string).output, []);
  assert.equal(JSON.parse(empty as string).offset, 0);

  // Output beyond the credit: the usual answer, the output as credit allows.
  raw.send({ type: "start", id: 2, name: "ticker", params: ["1"], inline: true, credit: 4 });
  const [started, first] = await raw.until(2);
  assert.equal(JSON.parse(started as string).type, "started");
  assert.deepEqual([...first as Uint8Array], dataFrame(2, 0, "tick"));
  raw.send({ type: "credit", id: 2, bytes: 3 });
  const [rest, end] = await raw.until(2);
  assert.deepEqual([...rest as Uint8Array], dataFrame(2, 4, " 1\n"));
  assert.equal(JSON.parse(end as string).type, "exit");
  assert.equal(JSON.parse(end as string).output, undefined);

  // A process that does not end at once, and a command: the usual answer.
  raw.send({ type: "start", id: 3, name: "ticker", params: ["2", "20"], inline: true });
  raw.send({ type: "start", id: 4, name: "both", inline: true });
  const all = [];
  while (all.filter((m) => m.type === "exit").length < 2) {
    const [m] = await raw.until(1);
    if (typeof m === "string") all.push(JSON.parse(m)); // (data frames are skipped)
  }
  assert(all.some((m) => m.type === "started" && m.id === 3));
  assert(all.some((m) => m.type === "started" && m.id === 4 && m.pid > 0));
  assert.deepEqual(
    all.filter((m) => m.type === "exit").map((m) => [m.id, "output" in m]).sort(),
    [[3, false], [4, false]],
  );
  await raw.close();
});

Deno.test("pow.v2 refuses a start whose inline is not a boolean, with the id and ref", async () => {
  await using server = await startNativeServer();
  await using client = await V2Client.connect(server.wsUrl);
  for (const inline of ["yes", 1, null, {}]) {
    const answer = await client.request({
      type: "start",
      id: 1,
      name: "ticker",
      params: ["1"],
      inline,
    });
    assert.deepEqual(answer, {
      type: "error",
      id: 1,
      ref: answer.type === "error" ? answer.ref : "",
      code: "bad_message",
      message: 'Cannot parse "start" message: "inline" is not a boolean',
    });
  }
  // The id was never bound: it is free for a good start.
  const exit = await client.request({
    type: "start",
    id: 1,
    name: "ticker",
    params: ["1"],
    inline: true,
  });
  assert(exit.type === "exit" && exit.output?.length === 1 && exit.pty === false);
});
