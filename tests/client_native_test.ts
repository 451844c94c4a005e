// Copyright the pow authors. MIT license.
/**
 * End-to-end tests of `@pow/client`'s native (pow.v2) client against a real server, including
 * a connection dropped under a running process (through a TCP proxy the test can cut).
 */

import { deepStrictEqual, doesNotMatch, equal, match, ok, rejects } from "node:assert/strict";
import { type CloseInfo, PowClient, RemoteError } from "../client/mod.ts";
import { defineCommand, defineProcess } from "../mod.ts";
import { frontEnds } from "../server/front_ends.ts";
import { hashToken } from "../server/auth.ts";
import { nativeWebSocket } from "../server/front_ends/v2/mod.ts";
import { startServer, withTimeout } from "./_helpers.ts";

const FRONT_ENDS = frontEnds.includes(nativeWebSocket)
  ? frontEnds
  : [nativeWebSocket, ...frontEnds];
const decoder = new TextDecoder();

/** A TCP proxy to `port` whose connections the test can cut (the client sees 1006). */
function startProxy(port: number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const pairs = new Set<[Deno.Conn, Deno.Conn]>();
  let connections = 0;
  const accepting = (async () => {
    for await (const client of listener) {
      connections++;
      const upstream = await Deno.connect({ hostname: "127.0.0.1", port });
      const pair: [Deno.Conn, Deno.Conn] = [client, upstream];
      pairs.add(pair);
      const pipe = (from: Deno.Conn, to: Deno.Conn) =>
        from.readable.pipeTo(to.writable).catch(() => {});
      Promise.all([pipe(client, upstream), pipe(upstream, client)]).finally(() =>
        pairs.delete(pair)
      );
    }
  })().catch(() => {});
  return {
    url: `ws://127.0.0.1:${(listener.addr as Deno.NetAddr).port}/`,
    get connections() {
      return connections;
    },
    /** Cuts every connection (both directions, no close frame). */
    cut() {
      for (const [a, b] of pairs) {
        for (const conn of [a, b]) {
          try {
            conn.close();
          } catch { /* closed */ }
        }
      }
      pairs.clear();
    },
    async close() {
      this.cut();
      listener.close();
      await accepting;
    },
  };
}

function expectedCount(n: number): string {
  let s = "";
  for (let i = 1; i <= n; i++) s += `${i}\n`;
  return s;
}

Deno.test("a process survives a dropped connection: output is reattached byte for byte", async () => {
  await using server = await startServer({ frontEnds: FRONT_ENDS });
  const proxy = startProxy(Number(server.url.port));
  const opens: boolean[] = [];
  const client = new PowClient(proxy.url, {
    reconnect: { initialDelay: 50, jitter: 0.5 },
    onOpen: (info) => opens.push(info.reconnected),
  });
  try {
    const n = 100_000;
    const proc = client.start("count", [String(n)], { credit: 64 * 1024 });
    const chunks: Uint8Array<ArrayBuffer>[] = [];
    let received = 0;
    let cuts = 0;
    for await (const chunk of proc.stdout) {
      chunks.push(chunk);
      received += chunk.byteLength;
      // Cut the connection twice while output is still coming.
      if ((cuts === 0 && received > 100_000) || (cuts === 1 && received > 300_000)) {
        cuts++;
        proxy.cut();
      }
    }
    const result = await withTimeout(proc.result, 10_000, "result");
    deepStrictEqual(result, { status: "fulfilled", value: null, exitCode: 0 });
    const text = decoder.decode(new Uint8Array(await new Blob(chunks).arrayBuffer()));
    equal(text.length, expectedCount(n).length);
    ok(text === expectedCount(n), "the output differs from seq 1 100000");
    equal(cuts, 2);
    deepStrictEqual(opens, [false, true, true]);
    equal(proxy.connections, 3);
    equal(proc.skipped, 0);
  } finally {
    await client.close();
    await proxy.close();
  }
});

Deno.test("a process that reads stdin keeps its input exactly once across a dropped connection", async () => {
  await using server = await startServer({ frontEnds: FRONT_ENDS });
  const proxy = startProxy(Number(server.url.port));
  const client = new PowClient(proxy.url, { reconnect: { initialDelay: 20 } });
  try {
    const proc = client.start("wc");
    await proc.started;
    const block = new Uint8Array(256 * 1024).fill(97);
    for (let i = 0; i < 8; i++) {
      await proc.write(block);
      if (i === 3) proxy.cut();
    }
    await proc.closeInput();
    const { stdout, result } = await proc.output();
    equal(decoder.decode(stdout).trim(), String(8 * 256 * 1024));
    equal(result.exitCode, 0);
  } finally {
    await client.close();
    await proxy.close();
  }
});

Deno.test("native client: stderr apart, exit codes, refusals, lists", async () => {
  await using server = await startServer({ frontEnds: FRONT_ENDS });
  await using client = new PowClient(server.wsUrl);
  const greet = await client.start("greet", ["bob"]).output();
  equal(decoder.decode(greet.stdout), "hello bob\n");
  equal(decoder.decode(greet.stderr), "to stderr\n");
  deepStrictEqual(greet.result, {
    status: "rejected",
    reason: "exit status 3",
    kind: "error",
    exitCode: 3,
  });
  await rejects(
    client.start("nope").result,
    (e) => e instanceof RemoteError && e.code === "unknown_process",
  );
  await rejects(
    client.start("count", ["x"]).result,
    (e) => e instanceof RemoteError && e.code === "bad_params",
  );
  const processes = await client.processes();
  ok(processes.some((p) => p.name === "count" && p.description === "Print the numbers 1..N"));
  const sessions = await client.list();
  ok(sessions.some((s) => s.name === "greet" && s.result?.status === "rejected"));
  ok((await client.ping()) >= 0);
});

Deno.test("native client: an abort signal cancels a running process", async () => {
  await using server = await startServer({ frontEnds: FRONT_ENDS });
  await using client = new PowClient(server.wsUrl);
  const controller = new AbortController();
  const proc = client.start("sleep", ["30"], { signal: controller.signal });
  await proc.started;
  controller.abort();
  const result = await withTimeout(proc.result, 10_000, "cancelled result");
  equal(result.status, "rejected");
  equal(result.status === "rejected" ? result.kind : "", "cancelled");
});

Deno.test("client trace context travels with start into the process (TRACEPARENT, ctx.trace)", async () => {
  const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  await using server = await startServer({
    frontEnds: FRONT_ENDS,
    configure(config) {
      config.processes.env = defineCommand(["env"]);
      config.processes.trace = defineProcess({ run: ({ trace }) => trace ?? null });
    },
  });
  await using client = new PowClient(server.wsUrl.href);
  const env = client.start("env", [], { traceparent, tracestate: "vendor=abc" });
  let text = "";
  for await (const chunk of env.stdout.pipeThrough(new TextDecoderStream())) text += chunk;
  await env.result;
  const vars = text.trim().split("\n").filter((l) => l.startsWith("TRACE")).sort();
  deepStrictEqual(vars, [`TRACEPARENT=${traceparent}`, "TRACESTATE=vendor=abc"]);
  const fn = client.start("trace", [], { traceparent });
  deepStrictEqual(await fn.result, { status: "fulfilled", value: { traceparent } });
  const untraced = client.start("env");
  let plain = "";
  for await (const chunk of untraced.stdout.pipeThrough(new TextDecoderStream())) plain += chunk;
  ok(!plain.includes("TRACEPARENT"), "no trace context, no variable");
});

Deno.test("a dropped connection is reported with close code 1006 in Deno, then reconnects", async () => {
  await using server = await startServer({ frontEnds: FRONT_ENDS });
  const proxy = startProxy(Number(server.url.port));
  const closes: CloseInfo[] = [];
  let reopened!: () => void;
  const reopen = new Promise<void>((resolve) => reopened = resolve);
  const client = new PowClient(proxy.url, {
    reconnect: { initialDelay: 20 },
    onClose: (info) => closes.push(info),
    onOpen: (info) => info.reconnected && reopened(),
  });
  try {
    await client.ready();
    proxy.cut();
    await withTimeout(reopen, 10_000, "reconnect");
    deepStrictEqual(
      closes.map(({ code, reconnecting, clientInitiated }) => ({
        code,
        reconnecting,
        clientInitiated,
      })),
      [
        { code: 1006, reconnecting: true, clientInitiated: false },
      ],
    );
  } finally {
    await client.close();
    await proxy.close();
  }
});

Deno.test("a failed handshake names its real cause: a refused token (401) or an invalid header value", async () => {
  await using server = await startServer({
    frontEnds: FRONT_ENDS,
    configure(config) {
      config.auth.tokens = [{ name: "alice", hash: hashToken("alice-token") }];
    },
  });
  const wrong = new PowClient(server.wsUrl.href, { token: "wrong-token" });
  await rejects(wrong.ready(), (error: Error) => {
    match(error.message, /401/);
    match(error.message, /the server requires a valid token: pass the `token` option/);
    doesNotMatch(error.message, /closed with code/);
    return true;
  });
  const placeholder = new PowClient(server.wsUrl.href, { token: "…" });
  await rejects(
    placeholder.ready(),
    /^ConnectionError: Cannot connect to "ws:\/\/127\.0\.0\.1:\d+\/": the token is not a valid HTTP header value/,
  );
  await using right = new PowClient(server.wsUrl.href, { token: "alice-token" });
  await right.ready();
  equal(right.state, "open");
});
