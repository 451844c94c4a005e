/**
 * End-to-end tests of the native REST API (`/api/v2/`): a real server on a free port, driven
 * with fetch, including server-sent event streams read and resumed with `Last-Event-ID`.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  createServer,
  defaultConfig,
  defineCommand,
  defineProcess,
  hashToken,
  listen,
  type PowConfig,
} from "../mod.ts";
import { nativeRest } from "../server/front_ends/v2/mod.ts";
import { openApi } from "../server/front_ends/openapi/mod.ts";
import { waitUntil } from "./_helpers.ts";
import type { ListeningServer } from "../server/server.ts";

const encoder = new TextEncoder();
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** 300 lines alternating between stdout and stderr, a few milliseconds apart. */
const DRIP_LINES = 300;
function dripText(stream: "out" | "err"): string {
  let text = "";
  for (let i = 0; i < DRIP_LINES; i++) {
    if ((i % 2 === 0) === (stream === "out")) text += `${stream} ${i}\n`;
  }
  return text;
}

function testConfig(): PowConfig {
  const config = defaultConfig();
  config.server.port = 0;
  Object.assign(config.processes, {
    drip: defineProcess({
      description: "Lines on stdout and stderr, a few milliseconds apart",
      async run({ stdout, stderr }) {
        const out = stdout.getWriter();
        const err = stderr.getWriter();
        for (let i = 0; i < DRIP_LINES; i++) {
          if (i % 2 === 0) await out.write(encoder.encode(`out ${i}\n`));
          else await err.write(encoder.encode(`err ${i}\n`));
          if (i % 20 === 0) await delay(5);
        }
        return DRIP_LINES;
      },
    }),
    split: defineProcess({
      description: "An é cut across two writes, then bytes that are not UTF-8",
      async run({ stdout, stderr }) {
        const out = stdout.getWriter();
        await out.write(new Uint8Array([0x63, 0x61, 0x66, 0xc3]));
        await delay(10);
        await out.write(new Uint8Array([0xa9, 0x0a]));
        await stderr.getWriter().write(new Uint8Array([0xff, 0x00, 0xfe]));
        return null;
      },
    }),
    shell: defineCommand(["sh"], { pty: true, description: "A shell in a terminal" }),
    secret: defineCommand(["true"], { allow: ["root"] }),
  });
  return config;
}

interface Fixture extends AsyncDisposable {
  running: ListeningServer;
  api(path: string, init?: RequestInit): Promise<Response>;
  json(path: string, init?: RequestInit): Promise<[number, unknown]>;
  start(name: string, params?: string[], extra?: Record<string, unknown>): Promise<string>;
}

async function serve(
  configure?: (config: PowConfig) => void,
  now?: () => number,
): Promise<Fixture> {
  const config = testConfig();
  configure?.(config);
  const running = await listen(createServer(config, { frontEnds: [nativeRest, openApi], now }), {
    onListen() {},
  });
  const api = (path: string, init?: RequestInit) =>
    fetch(new URL(`api/v2/${path}`, running.url), init);
  const json = async (path: string, init?: RequestInit): Promise<[number, unknown]> => {
    const response = await api(path, init);
    const text = await response.text();
    return [response.status, text ? JSON.parse(text) : null];
  };
  const start = async (name: string, params: string[] = [], extra = {}) => {
    const [status, body] = await json("sessions", {
      method: "POST",
      body: JSON.stringify({ name, params, ...extra }),
    });
    assert.equal(status, 201, JSON.stringify(body));
    return (body as { session: string }).session;
  };
  return {
    running,
    api,
    json,
    start,
    [Symbol.asyncDispose]: () => running.shutdown(),
  };
}

function post(body?: unknown): RequestInit {
  return {
    method: "POST",
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  };
}

async function result(server: Fixture, id: string): Promise<Record<string, unknown>> {
  await server.running.server.manager.get(id)!.result;
  const [, info] = await server.json(`sessions/${id}`);
  return info as Record<string, unknown>;
}

interface SseEvent {
  event: string;
  id: string;
  data: Record<string, unknown>;
}

/** Reads server-sent events from a response until it ends or `stop` says so. */
async function readEvents(
  response: Response,
  stop: (events: SseEvent[]) => boolean = () => false,
): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) return events;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event: SseEvent = { event: "message", id: "", data: {} };
        let comment = true;
        for (const line of block.split("\n")) {
          const [field, ...rest] = line.split(": ");
          if (field === "event") event.event = rest.join(": ");
          if (field === "id") event.id = rest.join(": ");
          if (field === "data") event.data = JSON.parse(rest.join(": "));
          if (!line.startsWith(":")) comment = false;
        }
        if (comment) continue;
        events.push(event);
        if (stop(events)) return events;
      }
    }
  } finally {
    await reader.cancel();
  }
}

function bytesOf(event: SseEvent): Uint8Array {
  const { data, encoding } = event.data as { data: string; encoding?: string };
  if (encoding === "base64") return Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  return encoder.encode(data);
}

Deno.test("native REST starts a process with 201 and reports its state, result and output", async () => {
  await using server = await serve();
  const response = await server.api("sessions", post({ name: "greet", params: ["pow"] }));
  assert.equal(response.status, 201);
  const started = await response.json();
  assert.equal(response.headers.get("location"), `sessions/${started.session}`);
  assert.match(started.session, /^[\w-]{22}$/);
  assert.equal(started.name, "greet");
  assert.deepEqual(started.params, ["pow"]);
  assert.equal(started.state, "running");
  assert.equal(started.pty, false);
  assert.equal(typeof started.pid, "number");
  assert.equal(started.result, undefined);

  const info = await result(server, started.session);
  assert.equal(info.state, "rejected");
  assert.deepEqual(info.result, {
    status: "rejected",
    reason: "exit status 3",
    kind: "error",
    exitCode: 3,
  });
  assert.equal(info.offset, "hello pow\nto stderr\n".length);
  assert.equal(info.output, undefined);

  const [status, body] = await server.json(`sessions/${started.session}?offset=0`);
  assert.equal(status, 200);
  const output = (body as { output: { chunks: { stream: string; data: string }[] } }).output;
  const text = (stream: string) =>
    output.chunks.filter((c) => c.stream === stream).map((c) => c.data).join("");
  assert.equal(text("stdout"), "hello pow\n");
  assert.equal(text("stderr"), "to stderr\n");
  assert.deepEqual({ ...output, chunks: undefined }, {
    offset: 0,
    skipped: 0,
    chunks: undefined,
    next: 20,
    complete: true,
  });
  const [, onlyErr] = await server.json(`sessions/${started.session}?offset=0&stream=stderr`);
  assert.deepEqual(
    (onlyErr as { output: { chunks: { stream: string }[] } }).output.chunks.map((c) => c.stream),
    ["stderr"],
  );
});

Deno.test("native REST refuses bad starts with the protocol's codes and fitting statuses", async () => {
  await using server = await serve();
  const cases: [unknown, number, string, string | RegExp][] = [
    ["{nope", 400, "bad_json", "Cannot parse the body: not JSON"],
    ["[1]", 400, "bad_message", "Cannot parse the body: not a JSON object"],
    [{ params: [] }, 400, "bad_message", /"name"/],
    [{ name: "count", params: [1] }, 400, "bad_message", /"params\[0\]"/],
    [{ name: "nope" }, 404, "unknown_process", 'Cannot start process "nope": no such process'],
    [{ name: "count", params: ["x"] }, 400, "bad_params", /^Cannot start process "count": /],
    [
      { name: "secret" },
      403,
      "not_allowed",
      'Cannot start process "secret": caller "anonymous" is not allowed to run it',
    ],
    [
      { name: "cat", pty: true },
      403,
      "not_allowed",
      'Cannot start process "cat": it does not allow a pseudo-terminal',
    ],
    [{ name: "shell", cols: 80, rows: 24 }, 400, "bad_message", /"pty": true/],
  ];
  for (const [body, status, code, message] of cases) {
    const [actualStatus, actual] = await server.json("sessions", post(body));
    const error = actual as { code: string; message: string };
    assert.equal(actualStatus, status, JSON.stringify(body));
    assert.deepEqual(Object.keys(error).sort(), ["code", "message"]);
    assert.equal(error.code, code);
    if (typeof message === "string") assert.equal(error.message, message);
    else assert.match(error.message, message);
  }
  assert.deepEqual((await server.json("sessions"))[1], { sessions: [] });
});

Deno.test("native REST answers 429 limit_reached when the session limit is reached", async () => {
  await using server = await serve((config) => config.sessions.max = 1);
  const id = await server.start("sleep", ["30"]);
  assert.deepEqual(await server.json("sessions", post({ name: "sleep", params: ["1"] })), [429, {
    code: "limit_reached",
    message: 'Cannot start process "sleep": 1 sessions are already alive',
  }]);
  assert.equal((await server.api(`sessions/${id}/signal`, post({ signal: "kill" }))).status, 204);
  assert.equal((await result(server, id)).state, "rejected");
});

Deno.test("native REST lists the processes the caller may run, with params", async () => {
  await using server = await serve();
  const [status, body] = await server.json("processes");
  assert.equal(status, 200);
  const processes = (body as { processes: { name: string; pty: boolean }[] }).processes;
  assert.deepEqual(processes.find((p) => p.name === "count"), {
    name: "count",
    description: "Print the numbers 1..N",
    params: [{ name: "n", description: "How far to count", pattern: "[0-9]{1,7}" }],
    pty: false,
  });
  assert.equal(processes.find((p) => p.name === "shell")?.pty, true);
  assert.equal(processes.find((p) => p.name === "secret"), undefined);
});

Deno.test("native REST sessions are listed with their state and visible only to their owner", async () => {
  await using server = await serve((config) => {
    config.auth.tokens = [
      { name: "alice", hash: hashToken("alice-token") },
      { name: "bob", hash: hashToken("bob-token") },
    ];
  });
  const as = (token: string, init: RequestInit = {}) => ({
    ...init,
    headers: { authorization: `Bearer ${token}` },
  });
  const anonymous = await server.api("sessions");
  assert.equal(anonymous.status, 401);
  await anonymous.body?.cancel();
  const [, started] = await server.json(
    "sessions",
    as("alice-token", post({ name: "sleep", params: ["30"] })),
  );
  const id = (started as { session: string }).session;
  const [, list] = await server.json("sessions", as("alice-token"));
  const sessions = (list as { sessions: Record<string, unknown>[] }).sessions;
  assert.deepEqual(sessions.map((s) => [s.session, s.name, s.state]), [[id, "sleep", "running"]]);
  assert.deepEqual((await server.json("sessions", as("bob-token")))[1], { sessions: [] });
  const unknown = { code: "unknown_session", message: `Unknown session "${id}"` };
  for (
    const [path, init] of [
      [`sessions/${id}`, {}],
      [`sessions/${id}/output`, {}],
      [`sessions/${id}/events`, {}],
      [`sessions/${id}/input`, post("x")],
      [`sessions/${id}/eof`, post()],
      [`sessions/${id}/signal`, post({ signal: "kill" })],
      [`sessions/${id}/resize`, post({ cols: 10, rows: 10 })],
    ] as [string, RequestInit][]
  ) {
    assert.deepEqual(await server.json(path, as("bob-token", init)), [404, unknown], path);
  }
  const [status] = await server.json(
    `sessions/${id}/signal`,
    as("alice-token", post({ signal: "kill" })),
  );
  assert.equal(status, 204);
  await server.running.server.manager.get(id)!.result;
  const [, ended] = await server.json(`sessions/${id}`, as("alice-token"));
  assert.deepEqual((ended as { result: unknown }).result, {
    status: "rejected",
    reason: "signal: SIGKILL",
    kind: "error",
    signal: "SIGKILL",
  });
});

Deno.test("native REST input goes to stdin, eof half-closes it, later input is stdin_closed", async () => {
  await using server = await serve();
  const id = await server.start("wc");
  assert.deepEqual(await server.json(`sessions/${id}/input`, post("hello")), [204, null]);
  assert.deepEqual(
    await server.json(`sessions/${id}/input`, { method: "POST", body: new Uint8Array([0, 255]) }),
    [204, null],
  );
  assert.deepEqual(await server.json(`sessions/${id}/eof`, post()), [204, null]);
  assert.deepEqual(await server.json(`sessions/${id}/input`, post("more")), [409, {
    code: "stdin_closed",
    message: `Cannot write to session "${id}": input is closed`,
  }]);
  const info = await result(server, id);
  assert.deepEqual(info.result, { status: "fulfilled", value: null, exitCode: 0 });
  const output = await server.api(`sessions/${id}/output`);
  assert.equal((await output.text()).trim(), "7");
  assert.deepEqual(await server.json(`sessions/${id}/eof`, post()), [204, null]);
});

Deno.test("native REST signals: interrupt, cancel, bad names and unsupported ones", async () => {
  await using server = await serve();
  const sleeper = await server.start("sleep", ["30"]);
  const [status, bogus] = await server.json(
    `sessions/${sleeper}/signal`,
    post({ signal: "bogus" }),
  );
  assert.equal(status, 400);
  assert.equal((bogus as { code: string }).code, "bad_message");
  assert.match((bogus as { message: string }).message, /"signal"/);
  assert.deepEqual(await server.json(`sessions/${sleeper}/signal`, post("{")), [400, {
    code: "bad_json",
    message: "Cannot parse the body: not JSON",
  }]);
  assert.deepEqual(
    await server.json(`sessions/${sleeper}/signal`, post({ signal: "interrupt" })),
    [204, null],
  );
  assert.deepEqual((await result(server, sleeper)).result, {
    status: "rejected",
    reason: "signal: SIGINT",
    kind: "error",
    signal: "SIGINT",
  });
  // Signalling an ended session is no error.
  assert.deepEqual(
    await server.json(`sessions/${sleeper}/signal`, post({ signal: "kill" })),
    [204, null],
  );

  const cancelled = await server.start("sleep", ["30"]);
  await server.json(`sessions/${cancelled}/signal`, post({ signal: "cancel" }));
  assert.deepEqual((await result(server, cancelled)).result, {
    status: "rejected",
    reason: "client requested cancellation",
    kind: "cancelled",
    signal: "SIGTERM",
  });

  const fn = await server.start("echo", ["x"]);
  assert.deepEqual(await server.json(`sessions/${fn}/signal`, post({ signal: "hangup" })), [409, {
    code: "unsupported",
    message: `Cannot send "hangup" to session "${fn}": its runner cannot deliver it`,
  }]);
  await server.json(`sessions/${fn}/eof`, post());
  assert.deepEqual((await result(server, fn)).result, { status: "fulfilled", value: ["x"] });
});

Deno.test("native REST runs a pty session that can be resized; others answer not_pty", async () => {
  await using server = await serve();
  const id = await server.start("shell", [], { pty: true, cols: 100, rows: 30 });
  const [, info] = await server.json(`sessions/${id}`);
  assert.equal((info as { pty: boolean }).pty, true);
  const waitFor = async (pattern: RegExp) => {
    for (let i = 0; i < 200; i++) {
      const text = await (await server.api(`sessions/${id}/output`)).text();
      if (pattern.test(text)) return;
      await delay(20);
    }
    throw new Error(`Output never matched ${pattern}`);
  };
  await server.api(`sessions/${id}/input`, post("stty size\n"));
  await waitFor(/30 100\r?\n/);
  assert.deepEqual(await server.json(`sessions/${id}/resize`, post({ cols: 120, rows: 40 })), [
    204,
    null,
  ]);
  await server.api(`sessions/${id}/input`, post("stty size\n"));
  await waitFor(/40 120\r?\n/);
  const [status, bad] = await server.json(`sessions/${id}/resize`, post({ cols: 0, rows: 40 }));
  assert.equal(status, 400);
  assert.equal((bad as { code: string }).code, "bad_message");
  await server.api(`sessions/${id}/input`, post("exit 0\n"));
  assert.equal((await result(server, id)).state, "fulfilled");

  const plain = await server.start("cat");
  assert.deepEqual(await server.json(`sessions/${plain}/resize`, post({ cols: 10, rows: 10 })), [
    409,
    { code: "not_pty", message: `Cannot resize session "${plain}": it has no terminal` },
  ]);
  await server.api(`sessions/${plain}/eof`, post());
  await result(server, plain);
});

Deno.test("native REST raw output from an offset carries offset headers", async () => {
  await using server = await serve();
  const id = await server.start("count", ["1000"]);
  await result(server, id);
  const expected = Array.from({ length: 1000 }, (_, i) => `${i + 1}\n`).join("");
  const all = await server.api(`sessions/${id}/output?offset=0`);
  assert.equal(all.headers.get("content-type"), "application/octet-stream");
  assert.equal(await all.text(), expected);
  assert.equal(all.headers.get("x-pow-offset"), "0");
  assert.equal(all.headers.get("x-pow-next-offset"), String(expected.length));
  assert.equal(all.headers.get("x-pow-skipped"), "0");
  assert.equal(all.headers.get("x-pow-state"), "fulfilled");
  assert.equal(all.headers.get("x-pow-complete"), "true");
  // In pieces: max bytes from an offset, following X-Pow-Next-Offset.
  let offset = 0;
  let text = "";
  while (true) {
    const part = await server.api(`sessions/${id}/output?offset=${offset}&max=1000`);
    text += await part.text();
    offset = Number(part.headers.get("x-pow-next-offset"));
    if (part.headers.get("x-pow-complete") === "true") break;
  }
  assert.equal(text, expected);
  const tail = await server.api(`sessions/${id}/output?offset=${expected.length - 5}`);
  assert.equal(await tail.text(), "1000\n");
  assert.deepEqual(await server.json(`sessions/${id}/output?offset=99999`), [400, {
    code: "bad_offset",
    message:
      `Invalid offset 99999: session "${id}" has only ${expected.length} bytes of output so far`,
  }]);
  assert.deepEqual(await server.json(`sessions/${id}?offset=-1`), [400, {
    code: "bad_offset",
    message: 'Invalid offset "-1": expected a byte offset',
  }]);
  assert.deepEqual(await server.json(`sessions/${id}/output?stream=stdin`), [400, {
    code: "bad_message",
    message: 'Invalid stream "stdin": expected stdout or stderr',
  }]);
});

Deno.test("native REST JSON output is text when UTF-8 and base64 when not", async () => {
  await using server = await serve();
  const id = await server.start("split");
  await result(server, id);
  const [, body] = await server.json(`sessions/${id}?offset=0`);
  assert.deepEqual((body as { output: unknown }).output, {
    offset: 0,
    skipped: 0,
    chunks: [
      { stream: "stdout", offset: 0, data: "café\n" },
      { stream: "stderr", offset: 6, data: "/wD+", encoding: "base64" },
    ],
    next: 9,
    complete: true,
  });
});

Deno.test("native REST server-sent events carry stdout, stderr and the exit, in order", async () => {
  await using server = await serve();
  const id = await server.start("drip");
  const response = await server.api(`sessions/${id}/events`);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "text/event-stream; charset=utf-8");
  const events = await readEvents(response);
  const exit = events.at(-1)!;
  assert.deepEqual(exit, {
    event: "exit",
    id: "exit",
    data: {
      offset: dripText("out").length + dripText("err").length,
      result: { status: "fulfilled", value: DRIP_LINES },
    },
  });
  let offset = 0;
  const text: Record<string, string> = { stdout: "", stderr: "" };
  for (const event of events.slice(0, -1)) {
    assert.ok(event.event === "stdout" || event.event === "stderr", event.event);
    assert.equal(event.data.offset, offset);
    offset += bytesOf(event).length;
    assert.equal(event.id, String(offset));
    text[event.event] += event.data.data;
  }
  assert.equal(text.stdout, dripText("out"));
  assert.equal(text.stderr, dripText("err"));
  // After the exit, Last-Event-ID "exit" tells an EventSource that nothing more will come.
  const again = await server.api(`sessions/${id}/events`, { headers: { "last-event-id": "exit" } });
  assert.equal(again.status, 204);
  await again.body?.cancel();
});

Deno.test("native REST server-sent events resume with Last-Event-ID, every byte exactly once", async () => {
  await using server = await serve();
  const id = await server.start("drip");
  const received: SseEvent[] = [];
  let lastId = "";
  // Read a few events at a time, dropping the connection each time, until the exit.
  for (let round = 0; round < 1000; round++) {
    const response = await server.api(
      `sessions/${id}/events`,
      lastId ? { headers: { "last-event-id": lastId } } : {},
    );
    const events = await readEvents(
      response,
      (events) => events.length >= 3 || events.at(-1)?.event === "exit",
    );
    received.push(...events);
    lastId = events.at(-1)?.id ?? lastId;
    if (lastId === "exit") break;
  }
  assert.equal(received.at(-1)?.event, "exit");
  let offset = 0;
  const bytes: Record<string, string> = { stdout: "", stderr: "" };
  for (const event of received.slice(0, -1)) {
    assert.equal(event.data.offset, offset, "no byte lost or doubled");
    offset += bytesOf(event).length;
    bytes[event.event] += event.data.data;
  }
  assert.equal(offset, received.at(-1)!.data.offset);
  assert.equal(bytes.stdout, dripText("out"));
  assert.equal(bytes.stderr, dripText("err"));
  assert.ok(received.length > 6, "the stream was resumed several times");
});

Deno.test("native REST events hold a cut character together and send other bytes as base64", async () => {
  await using server = await serve();
  const id = await server.start("split");
  // Read while it runs: the é is cut across two writes 10 ms apart, yet never sent cut.
  const live = await readEvents(await server.api(`sessions/${id}/events?offset=0`));
  const stdout = live.filter((e) => e.event === "stdout");
  assert.ok(stdout.every((e) => e.data.encoding === undefined), JSON.stringify(stdout));
  assert.equal(stdout.map((e) => e.data.data).join(""), "café\n");
  assert.deepEqual(live.filter((e) => e.event === "stderr"), [
    { event: "stderr", id: "9", data: { offset: 6, data: "/wD+", encoding: "base64" } },
  ]);
  // Once ended, the same output comes in one event per stream.
  const events = await readEvents(await server.api(`sessions/${id}/events?offset=0`));
  assert.deepEqual(events, [
    { event: "stdout", id: "6", data: { offset: 0, data: "café\n" } },
    { event: "stderr", id: "9", data: { offset: 6, data: "/wD+", encoding: "base64" } },
    {
      event: "exit",
      id: "exit",
      data: { offset: 9, result: { status: "fulfilled", value: null } },
    },
  ]);
  // From an offset, only one stream.
  const tail = await readEvents(await server.api(`sessions/${id}/events?offset=3&stream=stderr`));
  assert.deepEqual(tail.map((e) => [e.event, e.id]), [["stderr", "9"], ["exit", "exit"]]);
  assert.deepEqual(await server.json(`sessions/${id}/events?offset=10`), [400, {
    code: "bad_offset",
    message: `Invalid offset 10: session "${id}" has only 9 bytes of output so far`,
  }]);
});

Deno.test("native REST event stream that is not read holds the process back", async () => {
  await using server = await serve((config) => config.sessions.retention = 1024 * 1024);
  const id = await server.start("yes", ["y"]);
  const response = await server.api(`sessions/${id}/events`);
  await delay(500);
  const session = server.running.server.manager.get(id)!;
  const written = session.log.end;
  await delay(200);
  // yes writes gigabytes a second; paused, it has produced at most a few buffers' worth.
  assert.ok(written < 64 * 1024 * 1024, `${written} bytes written`);
  assert.ok(session.log.end - written < 8 * 1024 * 1024, `${session.log.end} bytes written`);
  // Reading resumes it; killed, it ends once the client has read what was left.
  let killed: Promise<Response> | undefined;
  const events = await readEvents(response, (events) => {
    if (events.length === 100) {
      killed = server.api(`sessions/${id}/signal`, post({ signal: "kill" }));
    }
    return events.at(-1)!.event === "exit";
  });
  assert.equal((await killed!).status, 204);
  assert.equal(events[0].data.offset, 0);
  assert.match(String(events[99].data.data), /^(y\n)+$/);
  assert.deepEqual(events.at(-1)!.data.result, {
    status: "rejected",
    reason: "signal: SIGKILL",
    kind: "error",
    signal: "SIGKILL",
  });
  await session.result;
});

Deno.test("native REST sessions linger after the last request; an event stream keeps them attached", async () => {
  // A fake clock: the reaper sees the linger time pass only when the test moves it.
  let now = Date.now();
  await using server = await serve((config) => config.sessions.linger = 300, () => now);
  const abandoned = await server.start("sleep", ["30"]);
  const watched = await server.start("sleep", ["30"]);
  const controller = new AbortController();
  const stream = await server.api(`sessions/${watched}/events`, { signal: controller.signal });
  assert.equal(stream.status, 200);
  const [, info] = await server.json(`sessions/${watched}`);
  assert.equal((info as { attached: number }).attached, 1);
  const manager = server.running.server.manager;
  now += 299;
  manager.reap();
  assert.equal(manager.get(abandoned)!.state, "running", "kept for its linger time");
  now += 1;
  manager.reap();
  assert.deepEqual(await manager.get(abandoned)!.result, {
    status: "rejected",
    reason: "session abandoned: no client attached for 300ms",
    kind: "cancelled",
    signal: "SIGTERM",
  });
  assert.equal(manager.get(watched)!.state, "running");
  controller.abort();
  await stream.body?.cancel().catch(() => {});
  const session = manager.get(watched)!;
  await waitUntil(() => session.attached === 0, 5000, "the stream to detach");
  now += 300;
  manager.reap();
  await session.result;
});

Deno.test("native REST routes are in the OpenAPI document", async () => {
  await using server = await serve();
  const doc = await (await fetch(new URL("openapi.json", server.running.url))).json();
  const routes = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
    .filter(([path]) => path.startsWith("/api/v2/"))
    .flatMap(([path, item]) => Object.keys(item).map((method) => `${method} ${path}`));
  assert.deepEqual(routes.sort(), [
    "get /api/v2/processes",
    "get /api/v2/sessions",
    "get /api/v2/sessions/{id}",
    "get /api/v2/sessions/{id}/events",
    "get /api/v2/sessions/{id}/output",
    "post /api/v2/sessions",
    "post /api/v2/sessions/{id}/eof",
    "post /api/v2/sessions/{id}/input",
    "post /api/v2/sessions/{id}/resize",
    "post /api/v2/sessions/{id}/signal",
  ]);
});
