// Copyright the pow authors. MIT license.
import { deepStrictEqual, equal } from "node:assert/strict";
import { type DataFrame, decodeDataFrame, MAX_CHANNEL_ID } from "./protocol/mod.ts";
import { PowClient } from "./client.ts";
import { FakeClock, FakeServer, type FakeSocket } from "./testing.ts";
import type { ProvidedCall } from "./provider.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const ID = MAX_CHANNEL_ID;

function setup() {
  const server = new FakeServer();
  server.onConnection = (socket) => {
    socket.sendMessage({
      type: "hello",
      protocol: "pow.v2",
      server: "fake",
      maxMessageSize: 1024,
      stdinCredit: 1 << 20,
      lingerMs: 1000,
      maxChannels: 8,
    });
    socket.onClientMessage = () => {
      for (const m of socket.messages()) {
        if (m.type === "provide" && !answered.has(m)) {
          answered.add(m);
          socket.sendMessage({ type: "provided", ref: m.ref, name: m.name });
        }
      }
    };
  };
  const answered = new Set<unknown>();
  const clock = new FakeClock();
  const client = new PowClient("ws://pow.test/", {
    WebSocket: server.WebSocket,
    clock,
    reconnect: { initialDelay: 10, jitter: 0 },
  });
  return { server, client, clock };
}

/** Every data frame the client sent, whatever its kind. */
function frames(socket: FakeSocket): DataFrame[] {
  return socket.received.flatMap((d) => {
    if (typeof d === "string") return [];
    const decoded = decodeDataFrame(d);
    return decoded.ok ? [decoded.value] : [];
  });
}

async function until(server: FakeServer, done: () => boolean): Promise<void> {
  while (!done()) await server.settle();
}

Deno.test("a provided call reads stdin, writes output within the server's credit, and exits with the result", async () => {
  const { server, client } = setup();
  const calls: ProvidedCall[] = [];
  await client.provide("upper", async (call) => {
    calls.push(call);
    const input = await new Response(call.stdin).text();
    const out = call.stdout.getWriter();
    await out.write(encoder.encode(input.toUpperCase()));
    return { bytes: input.length };
  }, { description: "Uppercases" });
  const socket = server.last!;
  deepStrictEqual(socket.messages()[0], {
    type: "provide",
    ref: 1,
    name: "upper",
    params: [],
    description: "Uppercases",
  });
  socket.sendMessage({
    type: "serve",
    id: ID,
    name: "upper",
    params: ["x"],
    session: "s1",
    caller: "alice",
    credit: 4,
  });
  socket.sendData({ kind: "stdin", id: ID, offset: 0, data: encoder.encode("abc") });
  // A resend of bytes already received is ignored.
  socket.sendData({ kind: "stdin", id: ID, offset: 0, data: encoder.encode("abcdef") });
  socket.sendMessage({ type: "eof", id: ID });
  // Only the 4 bytes of credit go out until the server grants more.
  await until(server, () => frames(socket).length === 1);
  await server.settle();
  deepStrictEqual(
    frames(socket).map((f) => [f.kind, f.id, f.offset, decoder.decode(f.data)]),
    [["stdout", ID, 0, "ABCD"]],
  );
  equal(calls[0].caller, "alice");
  deepStrictEqual(calls[0].params, ["x"]);
  socket.sendMessage({ type: "credit", id: ID, bytes: 4 });
  await until(server, () => socket.messages().some((m) => m.type === "exit"));
  deepStrictEqual(
    frames(socket).map((f) => [f.kind, f.offset, decoder.decode(f.data)]),
    [["stdout", 0, "ABCD"], ["stdout", 4, "EF"]],
  );
  const sent = socket.messages();
  // Stdin credit goes back as the handler reads: all 9 bytes the server sent (3 of them resent).
  equal(
    sent.filter((m) => m.type === "credit").reduce(
      (n, m) => n + (m.type === "credit" ? m.bytes : 0),
      0,
    ),
    9,
  );
  deepStrictEqual(sent.at(-1), {
    type: "exit",
    id: ID,
    result: { status: "fulfilled", value: { bytes: 6 } },
  });
  await client.close();
});

Deno.test("a provided call is cancelled by the server, and a thrown error rejects it", async () => {
  const { server, client } = setup();
  await client.provide("wait", async (call) => {
    await new Promise((resolve) => call.signal.addEventListener("abort", resolve));
    throw new Error(`stopped: ${(call.signal.reason as Error).message}`);
  });
  const socket = server.last!;
  socket.sendMessage({
    type: "serve",
    id: ID,
    name: "wait",
    params: [],
    session: "s1",
    caller: "a",
    credit: 1024,
  });
  socket.sendMessage({ type: "cancel", id: ID, reason: "Received SIGTERM" });
  await until(server, () => socket.messages().some((m) => m.type === "exit"));
  deepStrictEqual(socket.messages().at(-1), {
    type: "exit",
    id: ID,
    result: { status: "rejected", reason: "stopped: Received SIGTERM" },
  });
  await client.close();
});

Deno.test("after a reconnect the client provides again, and calls in flight are aborted", async () => {
  const { server, client, clock } = setup();
  const aborted = Promise.withResolvers<string>();
  await client.provide("wait", async (call) => {
    await new Promise((resolve) => call.signal.addEventListener("abort", resolve));
    aborted.resolve((call.signal.reason as Error).message);
  });
  const first = server.last!;
  first.sendMessage({
    type: "serve",
    id: ID,
    name: "wait",
    params: [],
    session: "s1",
    caller: "a",
    credit: 1024,
  });
  await server.settle();
  first.drop();
  equal(await aborted.promise, "connection lost");
  clock.tick(10);
  await until(server, () => server.last !== first && server.last!.messages().length > 0);
  deepStrictEqual(server.last!.messages()[0], {
    type: "provide",
    ref: 2,
    name: "wait",
    params: [],
  });
  await client.close();
});
