import assert from "node:assert/strict";
import { defineProcess, type PowConfig } from "../mod.ts";
import { pow1WebSocket } from "../server/front_ends/pow1/mod.ts";
import {
  processAlive,
  processTree,
  rawRequest,
  startServer as startAnyServer,
  TestSocket,
  waitUntil,
} from "./_helpers.ts";

/** Only the front end under test, so that other front ends' work in progress cannot interfere. */
const startServer = (options: { configure?: (config: PowConfig) => void } = {}) =>
  startAnyServer({ ...options, frontEnds: [pow1WebSocket] });

const CLEAN = { code: 1000, reason: "", wasClean: true };
const binary = (data: unknown) => ({ type: "binary", data: JSON.stringify(data) });
const text = (data: string) => ({ type: "text", data });
const rejected = (reason: string) => binary({ status: "rejected", reason });
const HANDSHAKE = {
  Upgrade: "websocket",
  Connection: "Upgrade",
  "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
  "Sec-WebSocket-Version": "13",
  Connection_: "close",
};
const handshake = (extra: Record<string, string> = {}) => {
  const { Connection_: _, ...headers } = HANDSHAKE;
  return { ...headers, ...extra };
};

Deno.test("pow-1 handshake without the pow-1 subprotocol is refused with 403", async () => {
  await using server = await startServer();
  const response = await rawRequest(new URL("any/path", server.url), handshake());
  assert.deepEqual(response.status, 403);
  assert.deepEqual(response.body, "client does not support required pow-1 subprotocol");
});

Deno.test("pow-1 handshake echoes the pow-1 subprotocol on any path", async () => {
  await using server = await startServer();
  const response = await rawRequest(
    new URL("some/where", server.url),
    handshake({ "Sec-WebSocket-Protocol": "pow-1" }),
  );
  assert.deepEqual(response.status, 101);
  assert.deepEqual(response.headers["sec-websocket-protocol"], "pow-1");
  const socket = new TestSocket(new URL("deep/path", server.wsUrl));
  await socket.opened;
  assert.deepEqual(socket.ws.protocol, "pow-1");
  socket.ws.close();
  await socket.close();
});

Deno.test("pow-1 echo example gives the texts, the result and a clean close", async () => {
  await using server = await startServer();
  const socket = new TestSocket(server.wsUrl);
  await socket.opened;
  socket.sendJson({ call: "echo", params: ["random", "params"] });
  socket.sendText("hello");
  socket.sendText("world");
  socket.sendJson({ signal: "close" });
  assert.deepEqual(await socket.close(), CLEAN);
  assert.deepEqual(socket.frames, [
    text("hello"),
    text("world"),
    { type: "binary", data: '{"status":"fulfilled","value":["random","params"]}' },
  ]);
});

Deno.test("pow-1 call of an unknown process is rejected", async () => {
  await using server = await startServer();
  const socket = new TestSocket(server.wsUrl);
  await socket.opened;
  socket.sendJson({ call: "no-such-process", params: [] });
  assert.deepEqual(await socket.close(), CLEAN);
  assert.deepEqual(socket.frames, [rejected("failed to get process: unknown process")]);
});

Deno.test("pow-1 call with invalid params is rejected as invalid args", async () => {
  await using server = await startServer();
  const socket = new TestSocket(server.wsUrl);
  await socket.opened;
  socket.sendJson({ call: "count", params: ["ten"] });
  assert.deepEqual(await socket.close(), CLEAN);
  assert.deepEqual(socket.frames, [rejected("failed to get process: invalid args")]);
});

Deno.test("pow-1 call of a process the caller may not run is rejected", async () => {
  await using server = await startServer({
    configure(config) {
      config.processes.secret = defineProcess({ allow: ["admin"], run: () => "no" });
    },
  });
  const socket = new TestSocket(server.wsUrl);
  await socket.opened;
  socket.sendJson({ call: "secret" });
  assert.deepEqual(await socket.close(), CLEAN);
  assert.deepEqual(socket.frames, [rejected("failed to get process: authorization denied")]);
});

Deno.test("pow-1 bad call JSON is a protocol error", async () => {
  await using server = await startServer();
  for (const bad of ["{not json", '{"call": 5}', '{"call":"echo","params":[1]}', "[]"]) {
    const socket = new TestSocket(server.wsUrl);
    await socket.opened;
    socket.ws.send(new TextEncoder().encode(bad));
    assert.deepEqual(await socket.close(), CLEAN, bad);
    assert.deepEqual(socket.frames, [rejected("protocol error occurred")], bad);
  }
});

Deno.test("pow-1 call without params runs the process with none; echo answers null like the original", async () => {
  await using server = await startServer();
  for (const call of [{ call: "echo" }, { call: "echo", params: null }]) {
    const socket = new TestSocket(server.wsUrl);
    await socket.opened;
    socket.sendJson(call);
    socket.sendJson({ signal: "close" });
    assert.deepEqual(await socket.close(), CLEAN);
    assert.deepEqual(socket.frames, [binary({ status: "fulfilled", value: null })]);
  }
  const socket = new TestSocket(server.wsUrl);
  await socket.opened;
  socket.sendJson({ call: "echo", params: [] });
  socket.sendJson({ signal: "close" });
  assert.deepEqual(await socket.close(), CLEAN);
  assert.deepEqual(socket.frames, [binary({ status: "fulfilled", value: [] })]);
});

Deno.test("pow-1 call deadline rejects a silent client with timeout expired", async () => {
  await using server = await startServer({
    configure(config) {
      config.pow1.callDeadline = 200;
    },
  });
  const socket = new TestSocket(server.wsUrl);
  await socket.opened;
  const started = Date.now();
  assert.deepEqual(await socket.close(), CLEAN);
  assert.deepEqual(socket.frames, [rejected("timeout expired")]);
  assert(Date.now() - started >= 150, "the deadline was respected");
});

Deno.test("pow-1 cancel ends the process with client requested cancellation", async () => {
  await using server = await startServer();
  const socket = new TestSocket(server.wsUrl);
  await socket.opened;
  socket.sendJson({ call: "sleep", params: ["30"] });
  await waitUntil(() => server.running.server.manager.registry.size === 1);
  socket.sendJson({ signal: "cancel" });
  assert.deepEqual(await socket.close(), CLEAN);
  assert.deepEqual(socket.frames, [
    rejected("process returned error: client requested cancellation"),
  ]);
});

Deno.test("pow-1 a second cancel also closes input", async () => {
  await using server = await startServer({
    configure(config) {
      // Ignores its abort signal: only the end of input lets it finish.
      config.processes.stubborn = defineProcess({
        async run({ stdin }) {
          for await (const _ of stdin);
          return "done";
        },
      });
    },
  });
  const socket = new TestSocket(server.wsUrl);
  await socket.opened;
  socket.sendJson({ call: "stubborn" });
  socket.sendJson({ signal: "cancel" });
  socket.sendJson({ signal: "cancel" });
  assert.deepEqual(await socket.close(3000), CLEAN);
  assert.deepEqual(socket.frames, [
    rejected("process returned error: client requested cancellation"),
  ]);
});

Deno.test("pow-1 input sent before the call is delivered once the process starts", async () => {
  await using server = await startServer();
  const socket = new TestSocket(server.wsUrl);
  await socket.opened;
  socket.sendText("early ");
  socket.sendText("bird");
  socket.sendJson({ call: "echo", params: ["x"] });
  socket.sendText("!");
  socket.sendJson({ signal: "close" });
  assert.deepEqual(await socket.close(), CLEAN);
  assert.deepEqual(socket.texts.join(""), "early bird!");
  assert.deepEqual(socket.frames.at(-1), binary({ status: "fulfilled", value: ["x"] }));
});

Deno.test("pow-1 a second call is a protocol error that cancels the process", async () => {
  await using server = await startServer();
  const socket = new TestSocket(server.wsUrl);
  await socket.opened;
  socket.sendJson({ call: "sleep", params: ["30"] });
  socket.sendJson({ call: "echo", params: [] });
  assert.deepEqual(await socket.close(), CLEAN);
  assert.deepEqual(socket.frames, [rejected("process returned error: protocol error occurred")]);
});

Deno.test("pow-1 unknown signals and invalid control frames are protocol errors", async () => {
  await using server = await startServer();
  for (const bad of ['{"signal":"explode"}', "not json"]) {
    const socket = new TestSocket(server.wsUrl);
    await socket.opened;
    socket.sendJson({ call: "sleep", params: ["30"] });
    socket.ws.send(new TextEncoder().encode(bad));
    assert.deepEqual(await socket.close(), CLEAN, bad);
    assert.deepEqual(socket.frames, [rejected("process returned error: protocol error occurred")]);
  }
});

Deno.test("pow-1 text after the close signal is ignored", async () => {
  await using server = await startServer();
  const socket = new TestSocket(server.wsUrl);
  await socket.opened;
  socket.sendJson({ call: "echo", params: ["p"] });
  socket.sendText("kept");
  socket.sendJson({ signal: "close" });
  socket.sendText("ignored");
  assert.deepEqual(await socket.close(), CLEAN);
  assert.deepEqual(socket.frames, [text("kept"), binary({ status: "fulfilled", value: ["p"] })]);
});

Deno.test("pow-1 a process error and a crash give the original reason texts", async () => {
  await using server = await startServer({
    configure(config) {
      config.processes.fails = defineProcess({
        run() {
          throw new Error("it broke");
        },
      });
      config.processes.unsendable = defineProcess({ run: () => 10n });
    },
  });
  const run = async (call: string) => {
    const socket = new TestSocket(server.wsUrl);
    await socket.opened;
    socket.sendJson({ call });
    assert.deepEqual(await socket.close(), CLEAN);
    return socket.frames;
  };
  assert.deepEqual(await run("fails"), [rejected("process returned error: it broke")]);
  const [crash] = await run("unsendable");
  assert(crash.data.startsWith('{"status":"rejected","reason":"unknown error: '), crash.data);
});

Deno.test("pow-1 a command's exit status is reported as a process error", async () => {
  await using server = await startServer();
  const socket = new TestSocket(server.wsUrl);
  await socket.opened;
  socket.sendJson({ call: "exit", params: ["3"] });
  assert.deepEqual(await socket.close(), CLEAN);
  assert.deepEqual(socket.frames, [
    text("exiting with status 3\n"),
    rejected("process returned error: exit status 3"),
  ]);
});

Deno.test("pow-1 oversize input closes with 1009 and no result", async () => {
  await using server = await startServer({
    configure(config) {
      config.pow1.maxMessage = 1024;
    },
  });
  const socket = new TestSocket(server.wsUrl);
  await socket.opened;
  socket.sendJson({ call: "cat" });
  socket.sendText("fine\n");
  await socket.waitFor((frames) => frames.length === 1);
  socket.sendText("x".repeat(1025));
  const close = await socket.close();
  assert.deepEqual(close.code, 1009);
  assert.deepEqual(close.reason, "message too big: 1025 bytes, the limit is 1024");
  assert.deepEqual(socket.frames, [text("fine\n")]);
  await waitUntil(() => server.running.server.manager.list({ id: "anonymous" })[0].ended);
});

Deno.test("pow-1 client disconnect ends the process and its children", async () => {
  await using server = await startServer({
    configure(config) {
      config.processes.tree = {
        kind: "command",
        command: ["sh", "-c", "sleep 30 & sleep 30 & echo started; wait"],
        params: [],
      };
    },
  });
  const socket = new TestSocket(server.wsUrl);
  await socket.opened;
  socket.sendJson({ call: "tree" });
  await socket.waitFor((frames) => frames.length === 1);
  const [session] = server.running.server.manager.list({ id: "anonymous" });
  const pids = processTree(session.pid!);
  assert.deepEqual(pids.length, 3, `a shell and two sleeps: ${pids}`);
  assert(pids.every(processAlive));
  socket.ws.close();
  await socket.close();
  await waitUntil(() => !pids.some(processAlive), 5000, `processes ${pids} to end`);
  const result = await session.result;
  assert.deepEqual(result.status, "rejected");
  assert.deepEqual(socket.frames, [text("started\n")]);
});

Deno.test("pow-1 output of seq 1 100000 arrives complete and in order", async () => {
  await using server = await startServer();
  const socket = new TestSocket(server.wsUrl);
  await socket.opened;
  socket.sendJson({ call: "count", params: ["100000"] });
  assert.deepEqual(await socket.close(), CLEAN);
  const result = socket.frames.at(-1)!;
  assert.deepEqual(result, binary({ status: "fulfilled", value: null }));
  const output = socket.texts.join("");
  let expected = "";
  for (let i = 1; i <= 100000; i++) expected += `${i}\n`;
  assert.deepEqual(output.length, expected.length);
  assert(output === expected, "the output is complete and in order");
  const maxFrame = server.running.server.config.pow1.maxFrame;
  for (const frame of socket.texts) assert.ok(frame.length <= maxFrame);
});

Deno.test("pow-1 output backlog is coalesced into fewer frames, losslessly", async () => {
  await using server = await startServer({
    configure(config) {
      config.pow1.maxFrame = 4096;
      config.processes.chatty = defineProcess({
        async run({ stdout }) {
          const writer = stdout.getWriter();
          for (let i = 0; i < 20000; i++) {
            await writer.write(new TextEncoder().encode(`line ${i}\n`));
          }
          return 20000;
        },
      });
    },
  });
  const socket = new TestSocket(server.wsUrl);
  await socket.opened;
  socket.sendJson({ call: "chatty" });
  assert.deepEqual(await socket.close(), CLEAN);
  const texts = socket.texts;
  let expected = "";
  for (let i = 0; i < 20000; i++) expected += `line ${i}\n`;
  assert(texts.join("") === expected, "complete and in order");
  assert(texts.length < 20000, `coalesced: ${texts.length} frames for 20000 writes`);
  for (const frame of texts) assert.ok(new TextEncoder().encode(frame).length <= 4096);
});

Deno.test("pow-1 multi-byte UTF-8 split across writes is never split across frames", async () => {
  const pieces = [
    [0x68, 0xc3], // "h" and the first byte of "é"
    [0xa9, 0xe2, 0x82], // the rest of "é", two bytes of "€"
    [0xac], // the end of "€"
    [0xf0, 0x9f], // half of "🦕"
    [0xa6, 0x95, 0x21], // the rest, and "!"
  ];
  await using server = await startServer({
    configure(config) {
      config.processes.utf8 = defineProcess({
        async run({ stdout }) {
          const writer = stdout.getWriter();
          for (const piece of pieces) {
            await writer.write(new Uint8Array(piece));
            await new Promise((r) => setTimeout(r, 20));
          }
          await writer.write(new Uint8Array([0xff, 0x41, 0xc3])); // invalid, "A", truncated
          return null;
        },
      });
    },
  });
  const socket = new TestSocket(server.wsUrl);
  await socket.opened;
  socket.sendJson({ call: "utf8" });
  assert.deepEqual(await socket.close(), CLEAN);
  const texts = socket.texts;
  assert.deepEqual(texts.join(""), "hé€🦕!\uFFFDA\uFFFD");
  // Each frame holds whole characters only: "h", "é€", "🦕!" arrive as they complete.
  assert.deepEqual(texts.slice(0, 3), ["h", "é", "€"]);
  assert.deepEqual(texts[3], "🦕!");
});

// The close race: a client frame still in flight when the server would send its close frame
// makes a Deno.serve WebSocket drop the connection (the client sees 1006 and may lose the
// result). The later frames are sent after a varying delay so that they arrive while the
// server is sending the result.
const DELAYS = [0, 1, 2, 3, 5, 8, 13, 21];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("pow-1 close signal then more text: result and clean close, 100 times", async () => {
  await using server = await startServer();
  for (let i = 0; i < 100; i++) {
    const socket = new TestSocket(server.wsUrl);
    await socket.opened;
    socket.sendJson({ call: "echo", params: [`${i}`] });
    socket.sendText("a");
    socket.sendJson({ signal: "close" });
    await sleep(DELAYS[i % DELAYS.length]);
    socket.sendText("more");
    socket.sendText("and more");
    assert.deepEqual(await socket.close(), CLEAN, `run ${i}`);
    assert.deepEqual(
      socket.frames,
      [text("a"), binary({ status: "fulfilled", value: [`${i}`] })],
      `run ${i}`,
    );
  }
});

Deno.test("pow-1 cancel then close: result and clean close, 100 times", async () => {
  await using server = await startServer();
  for (let i = 0; i < 100; i++) {
    const socket = new TestSocket(server.wsUrl);
    await socket.opened;
    // A command ends on the cancel itself; the close signal then races the result.
    const call = i % 2 ? { call: "sleep", params: ["30"] } : { call: "echo", params: [] };
    socket.sendJson(call);
    socket.sendJson({ signal: "cancel" });
    await sleep(DELAYS[i % DELAYS.length]);
    socket.sendJson({ signal: "close" });
    assert.deepEqual(await socket.close(), CLEAN, `run ${i}`);
    assert.deepEqual(
      socket.frames,
      [rejected("process returned error: client requested cancellation")],
      `run ${i}`,
    );
  }
});

Deno.test("pow-1 a rejected call followed by more frames: result and clean close, 100 times", async () => {
  await using server = await startServer();
  for (let i = 0; i < 100; i++) {
    const socket = new TestSocket(server.wsUrl);
    await socket.opened;
    socket.sendText("input before the call");
    socket.sendJson({ call: "no-such-process", params: [] });
    socket.sendText("input");
    socket.sendJson({ signal: "close" });
    await sleep(DELAYS[i % DELAYS.length]);
    socket.sendText("more");
    assert.deepEqual(await socket.close(), CLEAN, `run ${i}`);
    assert.deepEqual(
      socket.frames,
      [rejected("failed to get process: unknown process")],
      `run ${i}`,
    );
  }
});

Deno.test("pow-1 input far beyond sessions.maxPendingInput, sent at once, reaches wc complete", async () => {
  await using server = await startServer({
    configure(config) {
      config.sessions.maxPendingInput = 256 * 1024;
    },
  });
  const socket = new TestSocket(server.wsUrl);
  await socket.opened;
  socket.sendJson({ call: "wc", params: [] });
  const chunk = "x".repeat(64 * 1024 - 1) + "\n";
  for (let i = 0; i < 160; i++) socket.sendText(chunk); // 10 MiB without waiting
  socket.sendJson({ signal: "close" });
  assert.deepEqual(await socket.close(10_000), CLEAN);
  assert.deepEqual(socket.texts.join("").trim(), String(160 * 64 * 1024));
  assert.deepEqual(socket.frames.at(-1), binary({ status: "fulfilled", value: null }));
});

Deno.test("pow-1 input beyond pow1.maxPendingInput ends the call with input overflow", async () => {
  await using server = await startServer({
    configure(config) {
      config.pow1.maxPendingInput = 1024 * 1024;
    },
  });
  const socket = new TestSocket(server.wsUrl);
  await socket.opened;
  socket.sendJson({ call: "sleep", params: ["30"] }); // never reads its input
  const chunk = "x".repeat(64 * 1024);
  for (let i = 0; i < 40; i++) socket.sendText(chunk);
  assert.deepEqual(await socket.close(10_000), CLEAN);
  assert.deepEqual(socket.frames, [
    rejected(
      "process returned error: input overflow: more than 1048576 bytes of input waiting for the process (pow1.maxPendingInput)",
    ),
  ]);
});

Deno.test("pow-1 a client that breaks the WebSocket protocol mid-call: the process is cancelled", async () => {
  await using server = await startServer();
  const conn = await Deno.connect({ hostname: server.url.hostname, port: Number(server.url.port) });
  try {
    const { Connection_: _, ...headers } = HANDSHAKE;
    const request = [
      `GET ${server.wsUrl.pathname} HTTP/1.1`,
      `Host: ${server.url.host}`,
      ...Object.entries({ ...headers, "Sec-WebSocket-Protocol": "pow-1" }).map(([k, v]) =>
        `${k}: ${v}`
      ),
      "",
      "",
    ].join("\r\n");
    await conn.write(new TextEncoder().encode(request));
    const buffer = new Uint8Array(4096);
    const n = (await conn.read(buffer)) ?? 0;
    assert.match(new TextDecoder().decode(buffer.subarray(0, n)), /^HTTP\/1\.1 101/);
    // A masked binary frame with the call, as a browser would send it.
    const call = new TextEncoder().encode(JSON.stringify({ call: "cat", params: [] }));
    const mask = [1, 2, 3, 4];
    const frame = [0x82, 0x80 | call.length, ...mask, ...call.map((b, i) => b ^ mask[i % 4])];
    await conn.write(new Uint8Array(frame));
    await waitUntil(
      () => server.running.server.manager.list({ id: "anonymous" }).length === 1,
      5000,
      "the cat session",
    );
    const [session] = server.running.server.manager.list({ id: "anonymous" });
    // A frame with a reserved opcode: the server's socket errors, then closes.
    await conn.write(new Uint8Array([0x83, 0x80, 0, 0, 0, 0]));
    const result = await session.result;
    assert.equal(result.status, "rejected");
  } finally {
    conn.close();
  }
});
