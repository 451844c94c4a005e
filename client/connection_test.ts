// Copyright the pow authors. MIT license.
import { deepStrictEqual, equal, ok, rejects, throws } from "node:assert/strict";
import {
  type CloseInfo,
  Connection,
  type ConnectionOptions,
  type RestartErrorInfo,
} from "./connection.ts";
import { ConnectionError } from "./errors.ts";
import { FakeClock, FakeServer } from "./testing.ts";

function setup(options: Partial<ConnectionOptions> = {}) {
  const server = new FakeServer();
  const clock = new FakeClock();
  const events: string[] = [];
  const closes: CloseInfo[] = [];
  const restarts: RestartErrorInfo[] = [];
  const connection = new Connection("ws://pow.test/", {
    protocol: "pow.v2",
    WebSocket: server.WebSocket,
    clock,
    reconnect: { initialDelay: 100, maxDelay: 1000, jitter: 0 },
    onOpen: (info) => events.push(`open${info.reconnected ? " again" : ""}`),
    onClose: (info) => {
      closes.push(info);
      events.push(`close ${info.code}${info.reconnecting ? " reconnecting" : ""}`);
    },
    onRestartError: (info) => {
      restarts.push(info);
      events.push(`restart error ${info.attempt} next ${info.nextDelay}`);
    },
    onStateChange: (state) => events.push(`state ${state}`),
    ...options,
  });
  return { server, clock, connection, events, closes, restarts };
}

Deno.test("connection reconnects with exponential backoff while the server refuses", async () => {
  const { server, clock, connection, events } = setup();
  await connection.connect();
  server.refuse = true;
  server.last!.drop();
  await server.settle();
  equal(connection.state, "reconnecting");
  deepStrictEqual(clock.delays, [100]);
  // Attempts at 100, then 200, 400, 800, 1000 (the maximum) ms.
  for (const delay of [100, 200, 400, 800]) {
    clock.tick(delay);
    await server.settle();
  }
  deepStrictEqual(clock.delays, [100, 200, 400, 800, 1000]);
  equal(server.sockets.length, 5);
  server.refuse = false;
  clock.tick(999);
  await server.settle();
  equal(server.sockets.length, 5);
  clock.tick(1);
  await server.settle();
  equal(connection.state, "open");
  deepStrictEqual(events, [
    "state open",
    "open",
    "close 1006 reconnecting",
    "state reconnecting",
    "restart error 1 next 200",
    "restart error 2 next 400",
    "restart error 3 next 800",
    "restart error 4 next 1000",
    "state open",
    "open again",
  ]);
  await connection.close();
  equal(connection.state, "closed");
  equal(clock.pending, 0);
});

Deno.test("connection gives up on close codes that say so", async () => {
  for (const code of [1000, 1002, 1008, 1009, 4500, 4501, 3003]) {
    const { server, clock, connection, closes } = setup();
    await connection.connect();
    server.last!.closeFromServer(code, "bye");
    const info = await connection.closed;
    equal(connection.state, "closed", `code ${code}`);
    equal(info.code, code);
    equal(closes[0].reconnecting, false);
    equal(clock.pending, 0);
    equal(server.sockets.length, 1);
  }
});

Deno.test("connection reconnects on close codes that allow it, 1013 with a longer backoff", async () => {
  for (
    const [code, delay] of [[1001, 100], [1006, 100], [1011, 100], [4000, 100], [4001, 100], [
      1013,
      400,
    ]]
  ) {
    const { server, clock, connection } = setup();
    await connection.connect();
    server.last!.closeFromServer(code);
    await server.settle();
    equal(connection.state, "reconnecting", `code ${code}`);
    deepStrictEqual(clock.delays, [delay], `code ${code}`);
    clock.tick(delay);
    await server.settle();
    equal(connection.state, "open");
    equal(server.sockets.length, 2);
    await connection.close();
  }
});

Deno.test("connection gives up after maxAttempts failed reconnects", async () => {
  const { server, clock, connection, restarts } = setup({
    reconnect: { initialDelay: 10, jitter: 0, maxAttempts: 3 },
  });
  await connection.connect();
  server.refuse = true;
  server.last!.drop();
  await server.settle();
  for (let i = 0; i < 5; i++) {
    clock.tick(1000);
    await server.settle();
  }
  equal(connection.state, "closed");
  deepStrictEqual(restarts.map((r) => [r.attempt, r.nextDelay]), [[1, 20], [2, 40], [
    3,
    undefined,
  ]]);
  ok(restarts[2].error instanceof ConnectionError);
  equal(clock.pending, 0);
});

Deno.test("connection fails fast when the first attempt fails, unless told to retry", async () => {
  const { server, connection, clock } = setup();
  server.refuse = true;
  await rejects(connection.connect(), ConnectionError);
  equal(connection.state, "closed");
  equal(clock.pending, 0);

  const retrying = setup({ retryFirstConnect: true });
  retrying.server.refuse = true;
  const opened = retrying.connection.connect();
  await retrying.server.settle();
  equal(retrying.connection.state, "connecting");
  retrying.server.refuse = false;
  deepStrictEqual(retrying.clock.delays, [200]);
  retrying.clock.tick(200);
  await opened;
  equal(retrying.connection.state, "open");
  await retrying.connection.close();
});

Deno.test("connection refuses a server that does not choose the subprotocol", async () => {
  const server = new FakeServer({ protocol: "" });
  const connection = new Connection("ws://pow.test/", {
    protocol: "pow.v2",
    WebSocket: server.WebSocket,
  });
  await rejects(connection.connect(), /the server chose subprotocol none, not "pow.v2"/);
  equal(server.last!.clientClose?.code, 1000);
  equal(server.last!.readyState, 3);
});

Deno.test("stopReconnecting cancels the pending attempt and close() is graceful", async () => {
  const { server, clock, connection, closes } = setup();
  await connection.connect();
  server.last!.drop();
  await server.settle();
  equal(clock.pending, 1);
  connection.stopReconnecting();
  equal(connection.state, "closed");
  equal(clock.pending, 0);

  const second = setup();
  await second.connection.connect();
  await second.connection.close(1000, "done");
  deepStrictEqual(second.server.last!.clientClose, { code: 1000, reason: "done" });
  equal(second.closes.at(-1)?.clientInitiated, true);
  equal(closes[0].reconnecting, true);
});

Deno.test("connection sends the token in a header or a subprotocol entry", async () => {
  const server = new FakeServer({ protocol: "pow.v2" });
  for (const transport of ["header", "subprotocol"] as const) {
    const connection = new Connection("ws://pow.test/", {
      protocol: "pow.v2",
      token: () => "s3cr3t!",
      tokenTransport: transport,
      WebSocket: server.WebSocket,
    });
    await connection.connect();
    await connection.close();
  }
  deepStrictEqual(server.sockets[0].request.headers, { authorization: "Bearer s3cr3t!" });
  deepStrictEqual(server.sockets[0].request.protocols, ["pow.v2"]);
  deepStrictEqual(server.sockets[1].request.protocols, ["pow.v2", "pow.token.czNjcjN0IQ"]);
});

Deno.test("a throwing onMessage is reported to onReadError and the connection stays open", async () => {
  const errors: unknown[] = [];
  const { server, connection } = setup({
    onMessage: () => {
      throw new Error("boom");
    },
    onReadError: (error) => errors.push(error),
  });
  await connection.connect();
  server.last!.sendText("x");
  await server.settle();
  equal((errors[0] as Error).message, "boom");
  equal(connection.state, "open");
  await connection.close();
});

Deno.test("a handshake that fails with an error and no close event (Node 22) still settles and retries", async () => {
  const { server, clock, connection, events } = setup({ retryFirstConnect: true });
  server.refuse = true;
  server.errorWithoutClose = true;
  const connected = connection.connect();
  await server.settle();
  equal(connection.state, "connecting");
  deepStrictEqual(events, ["restart error 1 next 200"]);
  server.refuse = false;
  clock.tick(200);
  await connected;
  equal(connection.state, "open");
  equal(server.sockets.length, 2);

  const fresh = setup();
  fresh.server.refuse = true;
  fresh.server.errorWithoutClose = true;
  await rejects(
    fresh.connection.connect(),
    /^ConnectionError: Cannot connect to "ws:\/\/pow.test\/": the WebSocket handshake failed/,
  );
  equal(fresh.connection.state, "closed");
  await connection.close();
});

Deno.test("a dropped connection reported as code 0 (Deno) is reported as 1006 and reconnects", async () => {
  const { server, clock, connection, closes } = setup();
  await connection.connect();
  server.last!.drop(0);
  await server.settle();
  equal(closes[0].code, 1006);
  equal(closes[0].reconnecting, true);
  clock.tick(100);
  await server.settle();
  equal(connection.state, "open");
  await connection.close();
});

Deno.test("an async onMessage that rejects is reported to onReadError and the connection stays open", async () => {
  const errors: unknown[] = [];
  const { server, connection } = setup({
    onMessage: async (data) => {
      await Promise.resolve();
      throw new Error(`cannot handle ${data}`);
    },
    onReadError: (error) => errors.push(error),
  });
  await connection.connect();
  server.last!.sendText("x");
  await server.settle();
  deepStrictEqual(errors.map((e) => (e as Error).message), ["cannot handle x"]);
  equal(connection.state, "open");
  await connection.close();
});

/** An onMessage whose calls finish only when the test says so. */
function gatedHandler() {
  const started: string[] = [];
  const gates = new Map<string, () => void>();
  let active = 0;
  let maxActive = 0;
  const onMessage = (data: string | ArrayBuffer) => {
    const text = String(data);
    started.push(text);
    active++;
    maxActive = Math.max(maxActive, active);
    return new Promise<void>((resolve) =>
      gates.set(text, () => {
        active--;
        resolve();
      })
    );
  };
  return { started, gates, onMessage, maxActive: () => maxActive };
}

Deno.test("concurrency 1 handles messages one at a time, in order", async () => {
  const handler = gatedHandler();
  const { server, connection } = setup({ concurrency: 1, onMessage: handler.onMessage });
  await connection.connect();
  for (const m of ["a", "b", "c"]) server.last!.sendText(m);
  await server.settle();
  deepStrictEqual(handler.started, ["a"]);
  handler.gates.get("a")!();
  await server.settle();
  deepStrictEqual(handler.started, ["a", "b"]);
  handler.gates.get("b")!();
  await server.settle();
  handler.gates.get("c")!();
  await server.settle();
  deepStrictEqual(handler.started, ["a", "b", "c"]);
  equal(handler.maxActive(), 1);
  await connection.close();
});

Deno.test("concurrency N runs at most N handlers at once", async () => {
  const handler = gatedHandler();
  const { server, connection } = setup({ concurrency: 2, onMessage: handler.onMessage });
  await connection.connect();
  for (const m of ["a", "b", "c", "d"]) server.last!.sendText(m);
  await server.settle();
  deepStrictEqual(handler.started, ["a", "b"]);
  handler.gates.get("b")!();
  await server.settle();
  deepStrictEqual(handler.started, ["a", "b", "c"]);
  handler.gates.get("a")!();
  await server.settle();
  deepStrictEqual(handler.started, ["a", "b", "c", "d"]);
  equal(handler.maxActive(), 2);
  handler.gates.get("c")!();
  handler.gates.get("d")!();
  await connection.close();
  throws(() => new Connection("ws://x/", { protocol: "p", concurrency: 0 }), RangeError);
});

Deno.test("pause lets the caller read messages by hand; resume hands the rest to onMessage in order", async () => {
  const handled: unknown[] = [];
  const { server, connection } = setup({ onMessage: (data) => void handled.push(data) });
  await connection.connect();
  await rejects(connection.receive(), TypeError);
  connection.pause();
  equal(connection.paused, true);
  const next = connection.receive();
  server.last!.sendText("answer");
  equal(await next, "answer");
  server.last!.sendText("one");
  server.last!.sendText("two");
  await server.settle();
  deepStrictEqual(handled, []);
  equal(await connection.receive(), "one");
  connection.resume();
  deepStrictEqual(handled, ["two"]);
  connection.pause();
  const pending = connection.receive();
  await connection.close();
  await rejects(pending, ConnectionError);
});
