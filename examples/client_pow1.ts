/**
 * The original pow-1 client's use case with `@pow/client`: call `echo`, send two texts, close
 * the input, wait for the result — over WebSocket and over REST.
 *
 * ```sh
 * deno run -A main.ts &
 * deno run -A examples/client_pow1.ts
 * ```
 *
 * @module
 */

import { Pow1RestSession, Pow1WebSocketSession } from "../client/mod.ts";

const ws = new Pow1WebSocketSession("ws://127.0.0.1:8028/", {
  call: "echo",
  params: ["random", "params"],
  onLogLine: (line) => console.log("ws output:", line),
});
await ws.connect();
ws.sendText("hello");
ws.sendText("world");
ws.closeInput();
console.log("ws result:", (await ws.wait()).result);

const rest = new Pow1RestSession("http://127.0.0.1:8028/", {
  call: "echo",
  params: ["random", "params"],
  onLogLine: (line) => console.log("rest output:", line),
});
await rest.connect();
await rest.sendText("hello\n");
await rest.sendText("world\n");
await rest.closeInput();
console.log("rest result:", (await rest.wait()).result);
