// Copyright the pow authors. MIT license.
import { deepStrictEqual, equal, ok, rejects, throws } from "node:assert/strict";
import { Pow1Error } from "./errors.ts";
import { Pow1WebSocketSession } from "./pow1_websocket.ts";
import { FakeServer } from "./testing.ts";

const decode = (d: string | Uint8Array) => typeof d === "string" ? d : new TextDecoder().decode(d);

Deno.test("pow-1 session sends the call, text and signals as the original client did", async () => {
  const server = new FakeServer();
  server.onConnection = (socket) => {
    socket.onClientMessage = (data) => {
      if (typeof data === "string") socket.sendText(data);
      else if (decode(data) === '{"signal":"close"}') {
        socket.sendBinary(new TextEncoder().encode('{"status":"fulfilled","value":["a"]}'));
        socket.closeFromServer(1000);
      }
    };
  };
  const lines: string[] = [];
  const session = new Pow1WebSocketSession("ws://pow.test/", {
    call: "echo",
    params: ["a"],
    onLogLine: (line) => lines.push(line),
    WebSocket: server.WebSocket,
  });
  throws(() => session.sendText("early"), Pow1Error);
  await session.connect();
  session.sendText("hello");
  session.sendText("world");
  session.closeInput();
  deepStrictEqual(await session.wait(), { result: { status: "fulfilled", value: ["a"] } });
  deepStrictEqual(lines, ["hello", "world"]);
  deepStrictEqual(await Array.fromAsync(session), ["hello", "world"]);
  deepStrictEqual(server.last!.request.protocols, ["pow-1"]);
  deepStrictEqual(server.last!.received.map(decode), [
    '{"call":"echo","params":["a"]}',
    "hello",
    "world",
    '{"signal":"close"}',
  ]);
});

Deno.test("pow-1 session without a result fails with Pow1Error, never unhandled", async () => {
  const server = new FakeServer();
  server.onConnection = (socket) => {
    socket.onClientMessage = () => socket.drop(1006);
  };
  const session = new Pow1WebSocketSession("ws://pow.test/", {
    call: "x",
    WebSocket: server.WebSocket,
  });
  await session.connect();
  await rejects(session.wait(), (e) => e instanceof Pow1Error && e.code === 1006);
  await rejects(Array.fromAsync(session), Pow1Error);
});

Deno.test("pow-1 session refuses a server that does not speak pow-1", async () => {
  const server = new FakeServer({ protocol: "" });
  const session = new Pow1WebSocketSession("ws://pow.test/", {
    call: "x",
    WebSocket: server.WebSocket,
  });
  await rejects(session.connect(), /did not accept subprotocol "pow-1"/);
  await rejects(session.wait(), Pow1Error);
  ok(server.last!.clientClose);
  server.refuse = true;
  const refused = new Pow1WebSocketSession("ws://pow.test/", {
    call: "x",
    WebSocket: server.WebSocket,
  });
  await rejects(refused.connect(), (e) => e instanceof Pow1Error && e.code === 1006);
  equal(server.sockets.length, 2);
});

Deno.test("pow-1 session: a failed handshake without a close event (Node 22) rejects connect and wait", async () => {
  const server = new FakeServer();
  server.refuse = true;
  server.errorWithoutClose = true;
  const session = new Pow1WebSocketSession("ws://pow.test/", {
    call: "echo",
    WebSocket: server.WebSocket,
  });
  await rejects(session.connect(), (e) => e instanceof Pow1Error && e.code === 1006);
  await rejects(session.wait(), Pow1Error);
});

Deno.test("pow-1 session: a malformed result closes with 1000, a code browsers allow", async () => {
  const server = new FakeServer();
  server.onConnection = (socket) => {
    socket.onClientMessage = () => socket.sendBinary(new TextEncoder().encode("{oops"));
  };
  const session = new Pow1WebSocketSession("ws://pow.test/", {
    call: "echo",
    WebSocket: server.WebSocket,
  });
  await session.connect();
  await rejects(session.wait(), /^Pow1Error: Cannot read the result: /);
  equal(server.last!.clientClose?.code, 1000);
});
