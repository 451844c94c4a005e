// Copyright the pow authors. MIT license.
/** End-to-end tests of `@pow/client`'s pow-1 sessions against our server. */

import { deepStrictEqual, equal, rejects } from "node:assert/strict";
import { Pow1Error, Pow1RestSession, Pow1WebSocketSession } from "../client/mod.ts";
import { startServer, withTimeout } from "./_helpers.ts";

Deno.test("pow-1 WebSocket session: echo of hello and world, result is the params", async () => {
  await using server = await startServer();
  const lines: string[] = [];
  const session = new Pow1WebSocketSession(server.wsUrl, {
    call: "echo",
    params: ["random", "params"],
    onLogLine: (line) => lines.push(line),
  });
  await session.connect();
  session.sendText("hello");
  session.sendText("world");
  session.closeInput();
  const outcome = await withTimeout(session.wait(), 10_000, "pow-1 result");
  deepStrictEqual(outcome, { result: { status: "fulfilled", value: ["random", "params"] } });
  equal(lines.join(""), "helloworld");
  equal((await Array.fromAsync(session)).join(""), "helloworld");
});

Deno.test("pow-1 WebSocket session: cancel rejects with the original's reason", async () => {
  await using server = await startServer();
  const session = new Pow1WebSocketSession(server.wsUrl, { call: "sleep", params: ["30"] });
  await session.connect();
  session.cancel();
  deepStrictEqual(await withTimeout(session.wait(), 10_000, "result"), {
    result: {
      status: "rejected",
      reason: "process returned error: client requested cancellation",
    },
  });
});

Deno.test("pow-1 WebSocket session: unknown process and an unreachable server", async () => {
  await using server = await startServer();
  const session = new Pow1WebSocketSession(server.wsUrl, { call: "nope" });
  await session.connect();
  deepStrictEqual(await session.wait(), {
    result: { status: "rejected", reason: "failed to get process: unknown process" },
  });
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const unreachable = new Pow1WebSocketSession(`ws://127.0.0.1:${port}/`, { call: "echo" });
  await rejects(unreachable.connect(), Pow1Error);
  await rejects(unreachable.wait(), Pow1Error);
});

Deno.test("pow-1 REST session: echo of hello and world, result is the params", async () => {
  await using server = await startServer();
  const lines: string[] = [];
  const session = new Pow1RestSession(server.url, {
    call: "echo",
    params: ["random", "params"],
    pollInterval: 20,
    onLogLine: (line) => lines.push(line),
  });
  await session.connect();
  await session.sendText("hello\n");
  await session.sendText("world\n");
  await session.closeInput();
  const outcome = await withTimeout(session.wait(), 10_000, "pow-1 REST result");
  deepStrictEqual(outcome, { result: { status: "fulfilled", value: ["random", "params"] } });
  deepStrictEqual(lines, ["hello", "world"]);
});

Deno.test("pow-1 REST session: cancel ends the process", async () => {
  await using server = await startServer();
  const session = new Pow1RestSession(server.url, {
    call: "sleep",
    params: ["30"],
    pollInterval: 20,
  });
  await session.connect();
  await session.cancel();
  deepStrictEqual(await withTimeout(session.wait(), 10_000, "result"), {
    result: { status: "rejected", reason: "process returned error: client requested cancellation" },
  });
});
