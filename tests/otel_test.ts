// Copyright the pow authors. MIT license.
/**
 * Trace context end to end: a REST `traceparent` header reaches the process as `TRACEPARENT`,
 * and the client sends the active OpenTelemetry span's context by itself (here Deno's built-in
 * OpenTelemetry, `OTEL_DENO=true`, exporting to a small OTLP/HTTP JSON collector in the test).
 */

import { deepStrictEqual, equal, match, notEqual } from "node:assert/strict";
import { defineCommand } from "../mod.ts";
import { frontEnds } from "../server/front_ends.ts";
import { nativeRest, nativeWebSocket } from "../server/front_ends/v2/mod.ts";
import { startServer } from "./_helpers.ts";

const root = new URL("..", import.meta.url);
const FRONT_ENDS = [nativeWebSocket, nativeRest].every((f) => frontEnds.includes(f))
  ? frontEnds
  : [nativeWebSocket, nativeRest, ...frontEnds];
const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT = `00-${TRACE_ID}-00f067aa0ba902b7-01`;

function withEnv(config: { processes: Record<string, unknown> }) {
  config.processes.env = defineCommand(["env"]);
}

/** The TRACE* lines of `env` output. */
function traceVars(text: string): string[] {
  return text.split("\n").filter((l) => l.startsWith("TRACE")).sort();
}

Deno.test("a REST start's traceparent and tracestate headers reach the process", async () => {
  await using server = await startServer({ frontEnds: FRONT_ENDS, configure: withEnv });
  const api = new URL("api/v2/", server.url);
  const started = await fetch(new URL("sessions", api), {
    method: "POST",
    headers: { traceparent: PARENT, tracestate: "vendor=abc" },
    body: JSON.stringify({ name: "env" }),
  });
  equal(started.status, 201);
  const { session } = await started.json();
  await server.running.server.manager.get(session)!.result;
  const output = await fetch(new URL(`sessions/${session}/output?offset=0`, api));
  deepStrictEqual(traceVars(await output.text()), [
    `TRACEPARENT=${PARENT}`,
    "TRACESTATE=vendor=abc",
  ]);
  // The body wins over the headers.
  const other = `00-${"1".repeat(32)}-${"2".repeat(16)}-00`;
  const again = await fetch(new URL("sessions", api), {
    method: "POST",
    headers: { traceparent: PARENT },
    body: JSON.stringify({ name: "env", traceparent: other }),
  });
  const second = (await again.json()).session;
  await server.running.server.manager.get(second)!.result;
  const text = await (await fetch(new URL(`sessions/${second}/output?offset=0`, api))).text();
  deepStrictEqual(traceVars(text), [`TRACEPARENT=${other}`]);
});

/** A span as OTLP/HTTP JSON carries it (the fields the tests read). */
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind?: number;
  attributes?: { key: string; value: Record<string, unknown> }[];
  events?: { name: string }[];
  status?: { code?: number };
}

/** A span's attributes as plain values. */
function attributesOf(span: OtlpSpan | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { key, value } of span?.attributes ?? []) {
    const v = Object.values(value)[0];
    out[key] = "intValue" in value ? Number(v) : v;
  }
  return out;
}

/** An OTLP/HTTP JSON collector: every span posted to /v1/traces. */
function startCollector() {
  const spans: OtlpSpan[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    if (new URL(req.url).pathname === "/v1/traces") {
      const body = await req.json();
      for (const rs of body.resourceSpans ?? []) {
        for (const ss of rs.scopeSpans ?? []) spans.push(...(ss.spans ?? []));
      }
    } else {
      await req.body?.cancel();
    }
    return Response.json({});
  });
  return {
    spans,
    url: `http://127.0.0.1:${server.addr.port}`,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

/** Runs a script with Deno's built-in OpenTelemetry exporting to `endpoint`. */
async function runTraced(source: string, args: string[], endpoint: string) {
  const dir = await Deno.makeTempDir({ prefix: "pow-otel-" });
  try {
    await Deno.writeTextFile(`${dir}/main.ts`, source);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-lock", "main.ts", ...args],
      cwd: dir,
      env: {
        OTEL_DENO: "true",
        OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        OTEL_SERVICE_NAME: "pow-test-client",
      },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decode = (b: Uint8Array) => new TextDecoder().decode(b);
    if (!out.success) throw new Error(decode(out.stderr));
    return decode(out.stdout);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("the client sends the active span's context with no option (Deno's built-in OpenTelemetry)", async () => {
  await using collector = startCollector();
  await using server = await startServer({ frontEnds: FRONT_ENDS, configure: withEnv });
  // An HTTP handler (Deno.serve is instrumented: its span joins the request's traceparent)
  // starts a pow process; the process must see the handler's span as its parent.
  const stdout = await runTraced(
    `
import { PowClient } from "${new URL("client/mod.ts", root).href}";
const client = new PowClient(Deno.args[0]);
const app = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async () => {
  const proc = client.start("env");
  const text = await new Response(proc.stdout).text();
  return new Response(text.split("\\n").filter((l) => l.startsWith("TRACEPARENT=")).join("\\n"));
});
const response = await fetch(\`http://127.0.0.1:\${app.addr.port}/\`, {
  headers: { traceparent: "${PARENT}" },
});
console.log(await response.text());
await client.close();
await app.shutdown();
`,
    [server.wsUrl.href],
    collector.url,
  );
  const traceparent = /^TRACEPARENT=(\S+)$/m.exec(stdout)?.[1] ?? "";
  match(traceparent, new RegExp(`^00-${TRACE_ID}-[0-9a-f]{16}-01$`));
  const spanId = traceparent.split("-")[2];
  notEqual(spanId, PARENT.split("-")[2], "the handler's own span, not the incoming parent");
  const handlerSpan = collector.spans.find((s) => s.spanId === spanId);
  equal(handlerSpan?.traceId, TRACE_ID, "the exported handler span is the process's parent");
});

Deno.test("the server's session spans join the caller's trace (main.ts with OTEL_DENO)", async () => {
  await using collector = startCollector();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("main.ts", root).pathname, "--port", "0"],
    env: {
      OTEL_DENO: "true",
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_SERVICE_NAME: "pow",
    },
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    let line = "";
    while (!line.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      line += value;
    }
    const port = /Listening on http:\/\/127\.0\.0\.1:(\d+)\//.exec(line)?.[1];
    if (port === undefined) throw new Error(`unexpected output ${JSON.stringify(line)}`);
    const { PowClient } = await import("../client/mod.ts");
    await using client = new PowClient(`ws://127.0.0.1:${port}/`);
    const { result } = await client.start("count", ["2"], { traceparent: PARENT }).output();
    equal(result.exitCode, 0);
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await reader.cancel();
  }
  const session = collector.spans.find((s) => s.name === "pow session count");
  equal(session?.traceId, TRACE_ID, "the session span is in the caller's trace");
  equal(session?.parentSpanId, PARENT.split("-")[2], "the caller's span is its parent");
  equal(session?.kind, 2, "OTLP kind 2 is SPAN_KIND_SERVER");
  const attributes = attributesOf(session);
  equal(attributes["pow.process"], "count");
  equal(attributes["pow.front_end"], "pow.v2");
  equal(attributes["process.exit.code"], 0);
  equal(attributes["pow.result.status"], "fulfilled");
  deepStrictEqual(session?.events?.map((e) => e.name), ["exit"]);
  const children = collector.spans.filter((s) => s.parentSpanId === session?.spanId)
    .map((s) => [s.name, s.traceId]).sort();
  deepStrictEqual(children, [["pow run count", TRACE_ID], ["pow start count", TRACE_ID]]);
});
