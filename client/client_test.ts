// Copyright the pow authors. MIT license.
import { deepStrictEqual, equal, match, ok, rejects } from "node:assert/strict";
import type { ClientMessage, ProcessResult } from "./protocol/mod.ts";
import { DATA_FRAME_HEADER_SIZE } from "./protocol/mod.ts";
import { PowClient, type PowClientOptions } from "./client.ts";
import { ConnectionError, RemoteError, SessionLostError } from "./errors.ts";
import { FakeClock, FakeServer, type FakeSocket } from "./testing.ts";

const OK: ProcessResult = { status: "fulfilled", value: null, exitCode: 0 };
const text = (s: string) => new TextEncoder().encode(s);

/** A fake pow.v2 server: sends hello, then hands every client message to `handle`. */
function setup(
  handle: (socket: FakeSocket, message: ClientMessage) => void,
  options: PowClientOptions & { stdinCredit?: number } = {},
) {
  const server = new FakeServer();
  const clock = new FakeClock();
  server.onConnection = (socket) => {
    socket.sendMessage({
      type: "hello",
      protocol: "pow.v2",
      server: "fake",
      maxMessageSize: 1024,
      stdinCredit: options.stdinCredit ?? 1 << 20,
      lingerMs: 1000,
      maxChannels: 8,
    });
    socket.onClientMessage = () => {
      for (const message of socket.takeMessages()) handle(socket, message);
    };
  };
  const client = new PowClient("ws://pow.test/", {
    WebSocket: server.WebSocket,
    clock,
    reconnect: { initialDelay: 100, jitter: 0 },
    ...options,
  });
  return { server, clock, client };
}

Deno.test("answers are matched to requests by ref, whatever their order", async () => {
  const held: ClientMessage[] = [];
  const { server, client } = setup((socket, message) => {
    held.push(message);
    if (held.length < 3) return;
    for (const m of held.reverse()) {
      if (m.type === "list") socket.sendMessage({ type: "sessions", ref: m.ref, sessions: [] });
      if (m.type === "processes") {
        socket.sendMessage({
          type: "processes",
          ref: m.ref,
          processes: [{ name: "date", params: [], pty: false }],
        });
      }
      if (m.type === "ping") {
        socket.sendMessage({ type: "error", ref: m.ref, code: "internal", message: "no pong" });
      }
    }
  });
  const [sessions, processes, ping] = await Promise.allSettled([
    client.list(),
    client.processes(),
    client.ping(),
  ]);
  deepStrictEqual(sessions, { status: "fulfilled", value: [] });
  deepStrictEqual(processes, {
    status: "fulfilled",
    value: [{ name: "date", params: [], pty: false }],
  });
  equal(ping.status, "rejected");
  ok((ping as PromiseRejectedResult).reason instanceof RemoteError);
  equal((ping as PromiseRejectedResult).reason.code, "internal");
  deepStrictEqual(server.last!.messages().map((m) => m.ref), [1, 2, 3]);
  await client.close();
});

Deno.test("concurrent processes on one connection get their own output and results", async () => {
  const { client } = setup((socket, m) => {
    if (m.type !== "start") return;
    socket.sendMessage({ type: "started", id: m.id, ref: m.ref, session: `s${m.id}`, pty: false });
    const out = text(`${m.name} ${m.params.join(" ")}\n`);
    socket.sendData({ kind: "stdout", id: m.id, offset: 0, data: out });
    socket.sendData({ kind: "stderr", id: m.id, offset: out.length, data: text("warn\n") });
    socket.sendMessage({
      type: "exit",
      id: m.id,
      session: `s${m.id}`,
      offset: out.length + 5,
      result: m.name === "fail"
        ? { status: "rejected", reason: "exit status 3", kind: "error", exitCode: 3 }
        : OK,
    });
  });
  const a = client.start("echo", ["a"]);
  const b = client.start("fail", ["b"]);
  const [outA, outB] = await Promise.all([a.output(), b.output()]);
  equal(new TextDecoder().decode(outA.stdout), "echo a\n");
  equal(new TextDecoder().decode(outA.stderr), "warn\n");
  deepStrictEqual(outA.result, OK);
  equal(new TextDecoder().decode(outB.stdout), "fail b\n");
  deepStrictEqual(outB.result, {
    status: "rejected",
    reason: "exit status 3",
    kind: "error",
    exitCode: 3,
  });
  equal((await a.started).session, "s1");
  equal((await b.started).session, "s2");
  await client.close();
});

Deno.test("start asks for an inline answer, and one inline exit gives started, output and result", async () => {
  const starts: ClientMessage[] = [];
  const { client } = setup((socket, m) => {
    if (m.type !== "start") return;
    starts.push(m);
    socket.sendMessage({
      type: "exit",
      id: m.id,
      ref: m.ref,
      session: `s${m.id}`,
      pid: 42,
      pty: false,
      offset: 9,
      output: [{ stream: "stdout", data: "dGljayAxCg==" }, { stream: "stderr", data: "aGk=" }],
      result: { status: "fulfilled", value: 1 },
    });
  });
  const proc = client.start("ticker", ["1"]);
  const out = await proc.output();
  equal(new TextDecoder().decode(out.stdout), "tick 1\n");
  equal(new TextDecoder().decode(out.stderr), "hi");
  deepStrictEqual(out.result, { status: "fulfilled", value: 1 });
  const started = await proc.started;
  equal(started.session, "s1");
  equal(proc.pid, 42);
  equal(starts.length, 1);
  equal((starts[0] as { inline?: boolean }).inline, true);
  // The channel id is free again.
  const again = client.start("ticker", ["1"]);
  deepStrictEqual((await again.output()).result, { status: "fulfilled", value: 1 });
  await client.close();
});

Deno.test("a refused start rejects result and started with the server's error", async () => {
  const { client } = setup((socket, m) => {
    if (m.type === "start") {
      socket.sendMessage({
        type: "error",
        id: m.id,
        ref: m.ref,
        code: "unknown_process",
        message: 'Cannot start process "nope": no such process',
      });
    }
  });
  const proc = client.start("nope");
  await rejects(proc.result, (e) => e instanceof RemoteError && e.code === "unknown_process");
  await rejects(proc.started, RemoteError);
  await rejects(new Response(proc.stdout).text(), RemoteError);
  await client.close();
});

Deno.test("after a dropped connection, a running process is reattached from the last offset received", async () => {
  const log = text("0123456789abcdefghij");
  const sessions: string[] = [];
  const { server, clock, client } = setup((socket, m) => {
    sessions.push(m.type);
    if (m.type === "start") {
      socket.sendMessage({ type: "started", id: m.id, ref: m.ref, session: "S", pty: false });
      socket.sendData({ kind: "stdout", id: m.id, offset: 0, data: log.subarray(0, 7) });
      socket.drop();
    }
    if (m.type === "attach") {
      equal(m.session, "S");
      equal(m.offset, 7);
      socket.sendMessage({
        type: "attached",
        id: m.id,
        ref: m.ref,
        session: "S",
        name: "gen",
        state: "running",
        pty: false,
        offset: 7,
        skipped: 0,
        stdinOffset: 0,
        stdinClosed: false,
      });
      // A defensive overlap: bytes 5..12 (5 and 6 were already received).
      socket.sendData({ kind: "stdout", id: m.id, offset: 5, data: log.subarray(5, 12) });
      socket.sendData({ kind: "stderr", id: m.id, offset: 12, data: log.subarray(12) });
      socket.sendMessage({ type: "exit", id: m.id, session: "S", offset: 20, result: OK });
    }
  });
  const closes: number[] = [];
  const proc = client.start("gen");
  const output = proc.output();
  await server.settle();
  equal(client.state, "reconnecting");
  clock.tick(100);
  const { stdout, stderr, result } = await output;
  equal(new TextDecoder().decode(stdout), "0123456789ab");
  equal(new TextDecoder().decode(stderr), "cdefghij");
  deepStrictEqual(result, OK);
  deepStrictEqual(sessions, ["start", "attach"]);
  equal(server.sockets.length, 2);
  equal(proc.offset, 20);
  await client.close();
  deepStrictEqual(closes, []);
});

Deno.test("a start whose answer was lost with the connection is reported, never sent again", async () => {
  let starts = 0;
  const { server, clock, client } = setup((socket, m) => {
    if (m.type === "start") {
      starts++;
      socket.drop();
    }
  });
  const proc = client.start("deploy");
  await rejects(
    proc.result,
    (e) => e instanceof SessionLostError && /Cannot tell whether/.test(e.message),
  );
  clock.tick(100);
  await server.settle();
  equal(client.state, "open");
  equal(starts, 1);
  await client.close();
});

Deno.test("a session gone while disconnected fails with SessionLostError and output errors", async () => {
  const { server, clock, client } = setup((socket, m) => {
    if (m.type === "start") {
      socket.sendMessage({ type: "started", id: m.id, ref: m.ref, session: "S", pty: false });
      socket.sendData({ kind: "stdout", id: m.id, offset: 0, data: text("partial") });
      socket.drop(1001);
    }
    if (m.type === "attach") {
      socket.sendMessage({
        type: "error",
        id: m.id,
        ref: m.ref,
        code: "unknown_session",
        message: "gone",
      });
    }
  });
  const proc = client.start("x");
  const reader = proc.stdout.getReader();
  equal(new TextDecoder().decode((await reader.read()).value), "partial");
  await server.settle();
  clock.tick(100);
  await rejects(reader.read(), SessionLostError);
  await rejects(proc.result, (e) => e instanceof SessionLostError && e.session === "S");
  await client.close();
});

Deno.test("an abort before the start was sent rejects with the reason and sends nothing", async () => {
  const { server, client } = setup(() => {});
  const controller = new AbortController();
  const proc = client.start("sleep", ["9"], { signal: controller.signal });
  controller.abort(new DOMException("stop", "AbortError"));
  await rejects(proc.result, { name: "AbortError" });
  await server.settle();
  deepStrictEqual(server.last!.messages(), []);
  await client.close();
});

Deno.test("an abort after the start cancels the process", async () => {
  const { client } = setup((socket, m) => {
    if (m.type === "start") {
      socket.sendMessage({ type: "started", id: m.id, ref: m.ref, session: "S", pty: false });
    }
    if (m.type === "signal") {
      equal(m.signal, "cancel");
      socket.sendMessage({ type: "ok", id: m.id, ref: m.ref! });
      socket.sendMessage({
        type: "exit",
        id: m.id,
        session: "S",
        offset: 0,
        result: { status: "rejected", reason: "cancelled", kind: "cancelled", signal: "SIGTERM" },
      });
    }
  });
  const controller = new AbortController();
  const proc = client.start("sleep", ["9"], { signal: controller.signal });
  await proc.started;
  controller.abort();
  const result = await proc.result;
  equal(result.status, "rejected");
  equal(result.status === "rejected" && result.kind, "cancelled");
  await client.close();
});

Deno.test("output chunks are views of the received frames, not copies", async () => {
  const { client } = setup((socket, m) => {
    if (m.type === "start") {
      socket.sendMessage({ type: "started", id: m.id, ref: m.ref, session: "S", pty: false });
      socket.sendData({ kind: "stdout", id: m.id, offset: 0, data: text("abc") });
    }
  });
  const proc = client.start("gen");
  const reader = proc.stdout.getReader();
  const { value } = await reader.read();
  equal(new TextDecoder().decode(value), "abc");
  // The frame's own buffer: its header in front, the bytes behind it.
  equal(value!.byteOffset, DATA_FRAME_HEADER_SIZE);
  equal(value!.buffer.byteLength, DATA_FRAME_HEADER_SIZE + 3);
  reader.releaseLock();
  await client.close();
});

Deno.test("output credit is granted as the application reads, not as bytes arrive", async () => {
  const { server, client } = setup((socket, m) => {
    if (m.type === "start") {
      equal(m.credit, 10);
      socket.sendMessage({ type: "started", id: m.id, ref: m.ref, session: "S", pty: false });
      socket.sendData({ kind: "stdout", id: m.id, offset: 0, data: text("abc") });
      socket.sendData({ kind: "stdout", id: m.id, offset: 3, data: text("defg") });
    }
  });
  const proc = client.start("gen", [], { credit: 10 });
  await proc.started;
  await server.settle();
  const credits = () => server.last!.messages().filter((m) => m.type === "credit");
  deepStrictEqual(credits(), []);
  const reader = proc.stdout.getReader();
  await reader.read(); // 3 bytes: below half the window
  await server.settle();
  deepStrictEqual(credits(), []);
  await reader.read(); // 7 bytes read: grant them
  await server.settle();
  deepStrictEqual(credits(), [{ type: "credit", id: 1, bytes: 7 }]);
  reader.releaseLock();
  await client.close();
});

Deno.test("stdin waits for the server's credit and resumes at the session's offset after a reconnect", async () => {
  const { server, clock, client } = setup((socket, m) => {
    if (m.type === "start") {
      socket.sendMessage({ type: "started", id: m.id, ref: m.ref, session: "S", pty: false });
    }
    if (m.type === "attach") {
      socket.sendMessage({
        type: "attached",
        id: m.id,
        ref: m.ref,
        session: "S",
        name: "cat",
        state: "running",
        pty: false,
        offset: 0,
        skipped: 0,
        stdinOffset: 6,
        stdinClosed: false,
      });
    }
    if (m.type === "eof") socket.sendMessage({ type: "ok", id: m.id, ref: m.ref! });
  }, { stdinCredit: 4 });
  const proc = client.start("cat");
  await proc.started;
  const written = proc.write("abcdefghij");
  await server.settle();
  const frames = () =>
    server.last!.dataFrames().map((f) => [f.offset, new TextDecoder().decode(f.data)]);
  deepStrictEqual(frames(), [[0, "abcd"]]);
  server.last!.sendMessage({ type: "credit", id: 1, bytes: 4 });
  await server.settle();
  deepStrictEqual(frames(), [[0, "abcd"], [4, "efgh"]]);
  // The connection drops; the session had received 6 bytes: resend from there.
  server.last!.drop();
  await server.settle();
  clock.tick(100);
  await written;
  deepStrictEqual(frames(), [[6, "gh"], [8, "ij"]]);
  await proc.closeInput();
  deepStrictEqual(server.last!.messages().map((m) => m.type), ["attach", "eof"]);
  await client.close();
});

Deno.test("a missing pong drops the connection and the client reconnects", async () => {
  const { server, clock, client } = setup(() => {}, { keepAlive: 1000, pongTimeout: 500 });
  await client.ready();
  clock.tick(1000);
  await server.settle();
  deepStrictEqual(server.last!.messages().map((m) => m.type), ["ping"]);
  clock.tick(500);
  await server.settle();
  equal(client.state, "reconnecting");
  equal(server.sockets[0].clientClose?.code, 4000);
  clock.tick(100);
  await server.settle();
  equal(client.state, "open");
  equal(server.sockets.length, 2);
  await client.close();
  equal(clock.pending, 0);
});

Deno.test("when the connection closes for good, every handle fails with ConnectionError", async () => {
  const { server, client } = setup((socket, m) => {
    if (m.type === "start") {
      socket.sendMessage({ type: "started", id: m.id, ref: m.ref, session: "S", pty: false });
      socket.closeFromServer(4500, "revoked");
    }
  });
  const proc = client.start("x");
  await rejects(proc.result, (e) => e instanceof ConnectionError && e.code === 4500);
  await rejects(client.list(), ConnectionError);
  equal(client.state, "closed");
  equal(server.sockets.length, 1);
});

Deno.test("a client that cannot connect rejects ready() and every request", async () => {
  const server = new FakeServer();
  server.refuse = true;
  const client = new PowClient("ws://pow.test/", { WebSocket: server.WebSocket });
  const proc = client.start("x");
  await rejects(client.ready(), ConnectionError);
  await rejects(proc.result, ConnectionError);
});

Deno.test("a malformed server message closes with 1000, a code browsers allow, and frees the socket", async () => {
  const errors: unknown[] = [];
  const { server, client } = setup(() => {}, { onReadError: (error) => errors.push(error) });
  await client.ready();
  server.last!.sendText("{oops");
  const closed = await client.closed;
  deepStrictEqual(server.last!.clientClose, { code: 1000, reason: "bad server message" });
  equal(server.last!.readyState, 3);
  equal(closed.code, 1000);
  equal(client.state, "closed");
  ok(errors[0] instanceof TypeError);
  match((errors[0] as Error).message, /^Cannot read a server message: /);
});

Deno.test("a client whose handshake fails with an error and no close event (Node 22) rejects ready()", async () => {
  const server = new FakeServer();
  server.refuse = true;
  server.errorWithoutClose = true;
  const client = new PowClient("ws://pow.test/", { WebSocket: server.WebSocket });
  await rejects(client.ready(), ConnectionError);
  equal(client.state, "closed");
});

Deno.test("a token that is not a valid header value is named as the cause, without a connection attempt", async () => {
  const server = new FakeServer();
  const client = new PowClient("ws://pow.test/", { WebSocket: server.WebSocket, token: "…" });
  await rejects(client.ready(), /the token is not a valid HTTP header value/);
  equal(server.sockets.length, 0);
});

Deno.test("start carries the active OpenTelemetry span's trace context, found through the API global", async () => {
  const API_KEY = Symbol.for("opentelemetry.js.api.1");
  const SPAN_KEY = Symbol.for("OpenTelemetry Context Key SPAN");
  const span = {
    spanContext: () => ({
      traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
      spanId: "00f067aa0ba902b7",
      traceFlags: 1,
      traceState: { serialize: () => "vendor=abc" },
    }),
  };
  const global = globalThis as Record<symbol, unknown>;
  const before = global[API_KEY];
  global[API_KEY] = {
    context: { active: () => ({ getValue: (key: symbol) => key === SPAN_KEY ? span : undefined }) },
  };
  try {
    const starts: ClientMessage[] = [];
    const { server, client } = setup((socket, m) => {
      if (m.type !== "start") return;
      starts.push(m);
      socket.sendMessage({
        type: "started",
        id: m.id,
        ref: m.ref,
        session: `s${m.id}`,
        pty: false,
      });
    });
    await client.start("a").started;
    await client.start("b", [], {
      traceparent: "00-11111111111111111111111111111111-2222222222222222-00",
    })
      .started;
    await client.start("c", [], { traceparent: "" }).started;
    const traces = starts.map((m) =>
      m.type === "start" ? [m.name, m.traceparent, m.tracestate] : []
    );
    deepStrictEqual(traces, [
      ["a", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "vendor=abc"],
      ["b", "00-11111111111111111111111111111111-2222222222222222-00", undefined],
      ["c", undefined, undefined],
    ]);
    equal(server.sockets.length, 1);
    await client.close();
  } finally {
    global[API_KEY] = before;
  }
});
