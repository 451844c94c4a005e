// Copyright the pow authors. MIT license.
/**
 * The pow client, for Deno, browsers, Node and Bun, with no dependencies and no build step.
 * Its codecs (`./protocol/`, also published as `@pow/protocol`) are imported by relative path,
 * so this module can be imported by path or URL with no import map.
 *
 * - {@linkcode PowClient} speaks the native protocol `pow.v2`: many remote processes on one
 *   connection, each a {@linkcode RemoteProcess} with a `stdin` `WritableStream`, `stdout` and
 *   `stderr` `ReadableStream`s (backpressure becomes flow-control credit), signals, pty
 *   resize and a `result` with exit code or signal. When the connection drops it reconnects
 *   with exponential backoff and jitter and reattaches every running process from the last
 *   byte received: nothing lost, nothing doubled, nothing re-run.
 * - {@linkcode Connection} is the reconnecting engine underneath, usable on its own.
 * - {@linkcode Pow1WebSocketSession} and {@linkcode Pow1RestSession} speak `pow-1`, the
 *   protocol of the original Process Over WebSocket implementation.
 * - `@pow/client/testing` has a fake server and a fake clock for tests.
 *
 * @example Run a command and stream its output (needs a pow server)
 * ```ts ignore
 * import { PowClient } from "@pow/client";
 *
 * await using client = new PowClient("ws://localhost:8028/", { token: "…" });
 * const proc = client.start("count", ["3"]);
 * await proc.stdout.pipeTo(new WritableStream({ write: (b) => console.log(new TextDecoder().decode(b)) }));
 * const result = await proc.result; // { status: "fulfilled", value: null, exitCode: 0 }
 * ```
 *
 * @example The same with a fake server, runnable anywhere
 * ```ts
 * import { PowClient } from "@pow/client";
 * import { FakeServer } from "@pow/client/testing";
 * import { deepStrictEqual } from "node:assert/strict";
 *
 * const server = new FakeServer();
 * server.onConnection = (socket) => {
 *   socket.onClientMessage = () => {
 *     for (const m of socket.takeMessages()) {
 *       if (m.type === "processes") {
 *         socket.sendMessage({ type: "processes", ref: m.ref, processes: [{ name: "count", params: [], pty: false }] });
 *       }
 *     }
 *   };
 * };
 * await using client = new PowClient("ws://pow.test/", { WebSocket: server.WebSocket });
 * deepStrictEqual((await client.processes()).map((p) => p.name), ["count"]);
 * ```
 *
 * @module
 */

export * from "./backoff.ts";
export * from "./client.ts";
export * from "./connection.ts";
export * from "./errors.ts";
export * from "./pow1_rest.ts";
export * from "./pow1_websocket.ts";
export {
  type AttachOptions,
  type GapInfo,
  type OutputChunk,
  type OutputStream,
  type ProcessOutput,
  type ProcessStarted,
  RemoteProcess,
  type StartOptions,
} from "./remote_process.ts";
export * from "./timers.ts";
export * from "./websocket.ts";
export type {
  ErrorCode,
  FulfilledResult,
  HelloMessage,
  ParamInfo,
  Pow1Result,
  ProcessInfo,
  ProcessResult,
  RejectedResult,
  SessionInfo,
  SessionState,
  SignalName,
} from "./protocol/mod.ts";
