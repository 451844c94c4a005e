// Copyright the pow authors. MIT license.
/** End-to-end tests of `main.ts call` and `main.ts list` against a real server. */

import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { frontEnds } from "../server/front_ends.ts";
import { nativeWebSocket } from "../server/native_ws.ts";
import { PowClient } from "../client/mod.ts";
import { startServer, waitUntil } from "./_helpers.ts";

const FRONT_ENDS = frontEnds.includes(nativeWebSocket)
  ? frontEnds
  : [nativeWebSocket, ...frontEnds];
const MAIN = new URL("../main.ts", import.meta.url).pathname;

interface Run {
  code: number;
  stdout: Uint8Array;
  stderr: string;
}

async function pow(args: string[], stdin?: ReadableStream<Uint8Array>): Promise<Run> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const input = stdin ? stdin.pipeTo(child.stdin) : child.stdin.close();
  const [output] = await Promise.all([child.output(), input]);
  return {
    code: output.code,
    stdout: output.stdout,
    stderr: new TextDecoder().decode(output.stderr),
  };
}

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)).toHex();
}

Deno.test("call pipes 50 MB through cat, byte for byte", async () => {
  await using server = await startServer({ frontEnds: FRONT_ENDS });
  const size = 50 * 1024 * 1024;
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i += 65536) crypto.getRandomValues(data.subarray(i, i + 65536));
  const expected = await sha256(data);
  let sent = 0;
  const stdin = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= size) return controller.close();
      const n = Math.min(1 << 20, size - sent);
      controller.enqueue(data.subarray(sent, sent + n));
      sent += n;
    },
  });
  const run = await pow(["call", "--url", server.wsUrl.href, "cat"], stdin);
  equal(run.stderr, "");
  equal(run.code, 0);
  equal(run.stdout.byteLength, size);
  equal(await sha256(run.stdout as Uint8Array<ArrayBuffer>), expected);
});

Deno.test("call exits with the remote exit code and keeps stderr apart", async () => {
  await using server = await startServer({ frontEnds: FRONT_ENDS });
  const url = server.wsUrl.href;
  const greet = await pow(["call", "--url", url, "greet", "bob"]);
  deepStrictEqual(
    [greet.code, new TextDecoder().decode(greet.stdout), greet.stderr],
    [3, "hello bob\n", "to stderr\n"],
  );
  const exit = await pow(["call", "--url", url, "exit", "42"]);
  deepStrictEqual([exit.code, exit.stderr], [42, "exiting with status 42\n"]);
  const count = await pow(["call", "--url", url, "count", "3"]);
  deepStrictEqual([count.code, new TextDecoder().decode(count.stdout)], [0, "1\n2\n3\n"]);
});

Deno.test("call exits 1 with the reason when the process is refused", async () => {
  await using server = await startServer({ frontEnds: FRONT_ENDS });
  const run = await pow(["call", "--url", server.wsUrl.href, "nope"]);
  equal(run.code, 1);
  match(run.stderr, /^pow call: Cannot start process "nope"/);
});

Deno.test("call exits 69 when the server cannot be reached, 2 on usage errors", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const run = await pow(["call", "--url", `ws://127.0.0.1:${port}/`, "cat"]);
  equal(run.code, 69);
  match(run.stderr, /^pow call: Cannot connect to "ws:\/\/127\.0\.0\.1:\d+\/"/);
  const usage = await pow(["call", "cat"]);
  equal(usage.code, 2);
});

Deno.test("list shows processes with params and descriptions", async () => {
  await using server = await startServer({ frontEnds: FRONT_ENDS });
  const run = await pow(["list", "--url", server.wsUrl.href]);
  equal(run.code, 0, run.stderr);
  const text = new TextDecoder().decode(run.stdout);
  ok(
    text.includes(
      "count n\n    Print the numbers 1..N\n    n: How far to count; matches /[0-9]{1,7}/",
    ),
    text,
  );
  ok(text.includes("echo [params...]"), text);
  const json = await pow(["list", "--url", server.wsUrl.href, "--json"]);
  const processes = JSON.parse(new TextDecoder().decode(json.stdout));
  ok(processes.some((p: { name: string }) => p.name === "date"));
});

Deno.test("call: Ctrl-C interrupts the remote process, which exits by SIGINT (130)", async () => {
  await using server = await startServer({ frontEnds: FRONT_ENDS });
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "call", "--url", server.wsUrl.href, "sleep", "30"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  await using client = new PowClient(server.wsUrl);
  await waitUntil(
    async () => (await client.list()).some((s) => s.name === "sleep" && s.state === "running"),
    20_000,
    "the remote sleep to run",
  );
  child.kill("SIGINT");
  const output = await child.output();
  equal(output.code, 130);
  const [session] = await client.list();
  equal(session.result?.signal, "SIGINT");
});
