import assert from "node:assert/strict";
import { defineProcess } from "../mod.ts";
import { pow1Rest, pow1WebSocket } from "../server/front_ends/pow1/mod.ts";
import {
  startServer as startAnyServer,
  type StartServerOptions,
  type TestServer,
  waitUntil,
} from "./_helpers.ts";

const startServer = (options: Omit<StartServerOptions, "frontEnds"> = {}) =>
  startAnyServer({ ...options, frontEnds: [pow1WebSocket, pow1Rest] });

interface Answer {
  status: number;
  type: string;
  body: string;
}

async function request(
  server: TestServer,
  method: string,
  path: string,
  body?: string,
): Promise<Answer> {
  const response = await fetch(new URL(path, server.url), { method, body });
  return {
    status: response.status,
    type: response.headers.get("content-type") ?? "",
    body: await response.text(),
  };
}

async function newSession(server: TestServer, call: unknown): Promise<string> {
  const answer = await request(server, "POST", "new", JSON.stringify(call));
  assert.equal(answer.status, 200, answer.body);
  assert.match(answer.type, /^application\/json/);
  const id = JSON.parse(answer.body);
  assert.equal(typeof id, "string");
  return id;
}

async function status(server: TestServer, id: string): Promise<unknown> {
  const answer = await request(server, "GET", `status/${id}`);
  assert.equal(answer.status, 200, answer.body);
  return JSON.parse(answer.body);
}

async function finalStatus(server: TestServer, id: string): Promise<unknown> {
  let last: { result: { status: string } } | undefined;
  await waitUntil(async () => {
    last = await status(server, id) as { result: { status: string } };
    return last.result.status !== "pending";
  });
  return last;
}

Deno.test("pow-1 REST echo: new, input, closeInput and status give the original bodies", async () => {
  await using server = await startServer();
  const id = await newSession(server, { call: "echo", params: ["random", "params"] });
  assert.deepEqual(await status(server, id), { result: { status: "pending" } });
  assert.deepEqual(await request(server, "POST", `input/${id}`, "hello\n"), {
    status: 200,
    type: "text/plain; charset=utf-8",
    body: "input sent",
  });
  await request(server, "POST", `input/${id}`, "world\n");
  assert.deepEqual(await request(server, "POST", `closeInput/${id}`), {
    status: 200,
    type: "text/plain; charset=utf-8",
    body: "input closed",
  });
  assert.deepEqual(await finalStatus(server, id), {
    buffer: "hello\nworld",
    result: { status: "fulfilled", value: ["random", "params"] },
  });
});

Deno.test("pow-1 REST new with a bad body answers 400", async () => {
  await using server = await startServer();
  for (const body of ["{not json", '{"call":1}', '{"call":"echo","params":"x"}', ""]) {
    assert.deepEqual(await request(server, "POST", "new", body), {
      status: 400,
      type: "text/plain; charset=utf-8",
      body: "failed to decode call message",
    }, body);
  }
});

Deno.test("pow-1 REST new of an unknown process gets an id and ends rejected", async () => {
  await using server = await startServer();
  const id = await newSession(server, { call: "no-such-process" });
  assert.deepEqual(await finalStatus(server, id), {
    result: { status: "rejected", reason: "failed to get process: unknown process" },
  });
  const bad = await newSession(server, { call: "count", params: ["ten"] });
  assert.deepEqual(await finalStatus(server, bad), {
    result: { status: "rejected", reason: "failed to get process: invalid args" },
  });
});

Deno.test("pow-1 REST routes answer 404 process not found for unknown ids", async () => {
  await using server = await startServer();
  const notFound = { status: 404, type: "text/plain; charset=utf-8", body: "process not found" };
  assert.deepEqual(await request(server, "GET", "status/nope"), notFound);
  assert.deepEqual(await request(server, "POST", "input/nope", "x"), notFound);
  assert.deepEqual(await request(server, "POST", "closeInput/nope"), notFound);
  assert.deepEqual(await request(server, "POST", "cancel/nope"), notFound);
});

Deno.test("pow-1 REST input after closeInput or after the end answers 500", async () => {
  await using server = await startServer();
  const id = await newSession(server, { call: "cat" });
  await request(server, "POST", `closeInput/${id}`);
  const refused = {
    status: 500,
    type: "text/plain; charset=utf-8",
    body: "error copying data to process",
  };
  assert.deepEqual(await request(server, "POST", `input/${id}`, "late"), refused);
  await finalStatus(server, id);
  assert.deepEqual(await request(server, "POST", `input/${id}`, "later"), refused);
});

Deno.test("pow-1 REST cancel answers once the process has ended", async () => {
  await using server = await startServer();
  const id = await newSession(server, { call: "sleep", params: ["30"] });
  assert.deepEqual(await request(server, "POST", `cancel/${id}`), {
    status: 200,
    type: "text/plain; charset=utf-8",
    body: "process cancelled",
  });
  assert.deepEqual(await status(server, id), {
    result: { status: "rejected", reason: "process returned error: client requested cancellation" },
  });
});

Deno.test("pow-1 REST closeInput is a clean end of file", async () => {
  await using server = await startServer();
  const id = await newSession(server, { call: "wc" });
  await request(server, "POST", `input/${id}`, "12345");
  await request(server, "POST", `closeInput/${id}`);
  assert.deepEqual(await finalStatus(server, id), {
    buffer: "5",
    result: { status: "fulfilled", value: null },
  });
});

Deno.test("pow-1 REST status keeps the last lines and shows a final partial line at the end", async () => {
  await using server = await startServer({
    configure(config) {
      config.pow1.statusLines = 3;
      config.processes.lines = defineProcess({
        async run({ stdout }) {
          const writer = stdout.getWriter();
          await writer.write(new TextEncoder().encode("one\ntwo\nthr"));
          await writer.write(new TextEncoder().encode("ee\nfour\nfive\r\nno newline"));
          return "ok";
        },
      });
    },
  });
  const id = await newSession(server, { call: "lines" });
  assert.deepEqual(await finalStatus(server, id), {
    buffer: "four\nfive\nno newline",
    result: { status: "fulfilled", value: "ok" },
  });
});

Deno.test("pow-1 REST status reports a command's failure and its output", async () => {
  await using server = await startServer();
  const id = await newSession(server, { call: "greet", params: ["you"] });
  const final = await finalStatus(server, id) as { buffer: string; result: unknown };
  assert.deepEqual(final.result, {
    status: "rejected",
    reason: "process returned error: exit status 3",
  });
  assert.deepEqual(final.buffer.split("\n").sort(), ["hello you", "to stderr"]);
});

Deno.test("pow-1 REST sessions expire after restExpiry, extended by each request", async () => {
  // A fake clock: the reaper sees time pass only when the test moves it, so a slow machine
  // cannot expire a session early nor keep one alive late.
  let now = Date.now();
  await using server = await startServer({
    now: () => now,
    configure(config) {
      config.pow1.restExpiry = 600;
    },
  });
  const manager = server.running.server.manager;
  const id = await newSession(server, { call: "echo" });
  await request(server, "POST", `closeInput/${id}`);
  for (let i = 0; i < 8; i++) {
    now += 150;
    manager.reap();
    assert.equal((await request(server, "GET", `status/${id}`)).status, 200, `request ${i}`);
  }
  // 1200 ms have passed since the start, but each request extended the expiry.
  now += 400;
  manager.reap();
  assert.equal((await request(server, "GET", `status/${id}`)).status, 200, "still there");
  now += 599;
  manager.reap();
  assert.equal((await request(server, "GET", `status/${id}`)).status, 200, "not yet expired");
  now += 600;
  manager.reap();
  assert.deepEqual(await request(server, "GET", `status/${id}`), {
    status: 404,
    type: "text/plain; charset=utf-8",
    body: "process not found",
  });
  const running = await newSession(server, { call: "sleep", params: ["30"] });
  const session = manager.get(running)!;
  now += 600;
  manager.reap();
  await waitUntil(() => session.ended, 5000, "the abandoned process to be cancelled");
});

Deno.test("pow-1 REST and WebSocket share the registry, and a REST session's output is never held back", async () => {
  await using server = await startServer();
  const id = await newSession(server, { call: "count", params: ["200000"] });
  const final = await finalStatus(server, id) as { buffer: string; result: unknown };
  assert.deepEqual(final.result, { status: "fulfilled", value: null });
  const lines = final.buffer.split("\n");
  assert.equal(lines.length, 1000);
  assert.equal(lines[0], "199001");
  assert.equal(lines.at(-1), "200000");
  assert.ok(server.running.server.manager.get(id));
});
