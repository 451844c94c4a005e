import assert from "node:assert/strict";
import { sessionMembers, waitSessionGone } from "../tests/_proc.ts";
import { CallError } from "./errors.ts";
import { defineCommand, defineProcess } from "./process.ts";
import type { Session, SessionState } from "./session.ts";
import { SessionManager } from "./session_manager.ts";
import { evalWithGc } from "../tests/_gc.ts";

const decoder = new TextDecoder();

function manager(
  processes: ConstructorParameters<typeof SessionManager>[0]["processes"],
  killGrace = 300,
) {
  return new SessionManager({ processes, killGrace });
}

async function output(session: Session): Promise<{ stdout: string; stderr: string; all: string }> {
  const reader = session.reader();
  const out = { stdout: "", stderr: "", all: "" };
  while (true) {
    const chunks = await reader.read();
    if (chunks === null) break;
    for (const c of chunks) {
      const text = decoder.decode(c.data);
      out[c.stream] += text;
      out.all += text;
    }
  }
  reader.close();
  return out;
}

function states(session: Session): SessionState[] {
  const seen: SessionState[] = [session.state];
  session.addEventListener("state", () => seen.push(session.state));
  return seen;
}

const caller = { id: "tester" };

Deno.test("session runs a command: starting, running, fulfilled with exit code 0", async () => {
  const m = manager({ count: defineCommand(["seq", "1", "{1}"], { params: [{ name: "n" }] }) });
  const session = m.start("count", ["3"], { caller });
  const seen = states(session);
  const out = await output(session);
  assert.equal(out.stdout, "1\n2\n3\n");
  assert.deepEqual(await session.result, { status: "fulfilled", value: null, exitCode: 0 });
  assert.deepEqual(seen, ["starting", "running", "fulfilled"]);
  await m.close();
});

Deno.test("session keeps stderr apart and rejects a non-zero exit with its code", async () => {
  const m = manager({
    greet: defineCommand(
      ["sh", "-c", 'echo "hello $1"; echo "to stderr" >&2; exit 3', "sh", "{1}"],
      {
        params: [{ name: "who" }],
      },
    ),
  });
  const session = m.start("greet", ["pow"], { caller });
  const out = await output(session);
  assert.equal(out.stdout, "hello pow\n");
  assert.equal(out.stderr, "to stderr\n");
  assert.deepEqual(await session.result, {
    status: "rejected",
    reason: "exit status 3",
    kind: "error",
    exitCode: 3,
  });
  await m.close();
});

Deno.test("session passes params as whole arguments, never through a shell", async () => {
  const m = manager({ echo: defineCommand(["echo", "{1}"], { params: [{ name: "x" }] }) });
  const session = m.start("echo", ["$(id) `id` ; *"], { caller });
  assert.equal((await output(session)).stdout, "$(id) `id` ; *\n");
  await m.close();
});

Deno.test("session environment is cleared but PATH, HOME, LANG and declared variables", async () => {
  Deno.env.set("POW_SECRET_TEST", "leak");
  const m = manager({
    env: defineCommand(["env"], { env: { GREETING: "hi" } }),
  });
  const session = m.start("env", [], { caller });
  const names = (await output(session)).stdout.trim().split("\n").map((l) => l.split("=")[0])
    .sort();
  assert.ok(names.includes("GREETING") && names.includes("PATH"), names.join(","));
  assert.ok(!names.includes("POW_SECRET_TEST"));
  assert.ok(names.every((n) => ["GREETING", "PATH", "HOME", "LANG"].includes(n)), names.join(","));
  Deno.env.delete("POW_SECRET_TEST");
  await m.close();
});

Deno.test("session stdin: writes arrive in order and closeInput gives a clean EOF", async () => {
  const m = manager({ wc: defineCommand(["wc", "-c"]) });
  const session = m.start("wc", [], { caller });
  await session.write("hello ");
  await session.write(new Uint8Array(1000).fill(65));
  await session.closeInput();
  assert.equal((await output(session)).stdout.trim(), "1006");
  assert.equal((await session.result).status, "fulfilled");
  await assert.rejects(() => session.write("late"), {
    name: "TypeError",
    message: `Cannot write to session "${session.id}": input is closed`,
  });
  await m.close();
});

Deno.test("session cancel kills the whole process tree, leaving no zombie", async () => {
  const m = manager({
    tree: defineCommand(["sh", "-c", "sleep 100 & sleep 100 & echo started; wait"]),
  });
  const session = m.start("tree", [], { caller });
  const reader = session.reader();
  assert.equal(decoder.decode((await reader.read())![0].data), "started\n");
  const pid = session.pid!;
  assert.equal(sessionMembers(pid).length, 3, "sh and two sleeps are running");
  session.cancel();
  const result = await session.result;
  assert.equal(result.status, "rejected");
  assert.equal(result.status === "rejected" && result.kind, "cancelled");
  assert.equal(result.status === "rejected" && result.reason, "client requested cancellation");
  await waitSessionGone(pid);
  reader.close();
  await m.close();
});

Deno.test("session cancel escalates to SIGKILL for a process that ignores SIGTERM", async () => {
  const m = manager({
    stubborn: defineCommand([
      "sh",
      "-c",
      "trap '' TERM; echo ready; while true; do sleep 0.05; done",
    ]),
  }, 200);
  const session = m.start("stubborn", [], { caller });
  const reader = session.reader();
  await reader.read();
  const pid = session.pid!;
  const started = Date.now();
  session.cancel();
  const result = await session.result;
  assert.ok(Date.now() - started >= 190, "SIGKILL comes only after the grace period");
  assert.equal(result.status === "rejected" && result.signal, "SIGKILL");
  await waitSessionGone(pid);
  reader.close();
  await m.close();
});

Deno.test("session timeout ends the process tree and says so", async () => {
  const m = manager({
    slow: defineCommand(["sh", "-c", "sleep 30 & sleep 30"], { timeout: 150 }),
  });
  const session = m.start("slow", [], { caller });
  const result = await session.result;
  assert.deepEqual(
    result.status === "rejected" && [result.kind, result.reason],
    ["timeout", "process timed out after 150ms"],
  );
  await waitSessionGone(session.pid!);
  await m.close();
});

Deno.test("session ends background children left by a finished command", async () => {
  const m = manager({ bg: defineCommand(["sh", "-c", "sleep 100 & echo done"]) });
  const session = m.start("bg", [], { caller });
  const out = await output(session);
  assert.equal(out.stdout, "done\n");
  assert.equal((await session.result).status, "fulfilled");
  await waitSessionGone(session.pid!);
  await m.close();
});

Deno.test("session backpressure: an unread session stops reading from the child", async () => {
  const retention = 64 * 1024;
  const m = new SessionManager({
    processes: { yes: defineCommand(["yes"], { retention }) },
    killGrace: 300,
  });
  const session = m.start("yes", [], { caller });
  // Wait until the log holds its retention and stops growing, however slow the machine.
  for (let last = -1; session.log.end < retention || session.log.end !== last;) {
    last = session.log.end;
    await new Promise((r) => setTimeout(r, 50));
  }
  const stalled = session.log.end;
  assert.ok(stalled >= retention && stalled <= retention + 128 * 1024, `log end ${stalled}`);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(session.log.end, stalled, "no more output was read while nobody reads");
  assert.equal(session.state, "running");
  // A reader drains it, and the child runs on.
  const reader = session.reader();
  let read = 0;
  while (read < 4 * retention) {
    for (const c of (await reader.read())!) read += c.data.length;
  }
  assert.ok(session.log.end > stalled);
  assert.ok(session.log.end - session.log.start <= retention + 128 * 1024, "memory stays bounded");
  session.cancel();
  reader.close();
  await session.result;
  await waitSessionGone(session.pid!);
  await m.close();
});

Deno.test("session output of a fast command arrives complete and in order", async () => {
  const m = manager({ count: defineCommand(["seq", "1", "{1}"], { params: [{ name: "n" }] }) });
  const session = m.start("count", ["200000"], { caller });
  const out = await output(session);
  const lines = out.stdout.split("\n");
  assert.equal(lines.length, 200001);
  assert.equal(lines[199999], "200000");
  assert.ok(lines.slice(0, -1).every((l, i) => l === String(i + 1)));
  await m.close();
});

Deno.test("session of a missing program is rejected with a clear reason", async () => {
  const m = manager({ nope: defineCommand(["/no/such/program"]) });
  const session = m.start("nope", [], { caller });
  assert.deepEqual(await session.result, {
    status: "rejected",
    reason: 'Cannot run "/no/such/program": program not found',
    kind: "spawn",
  });
  await m.close();
});

Deno.test("session runs a function process with stdin, stdout, stderr and a result", async () => {
  const m = manager({
    upper: defineProcess({
      async run({ stdin, stdout, stderr, params }) {
        const err = stderr.getWriter();
        await err.write(new TextEncoder().encode("note\n"));
        err.releaseLock();
        await stdin.pipeThrough(new TextDecoderStream())
          .pipeThrough(new TransformStream({ transform: (t, c) => c.enqueue(t.toUpperCase()) }))
          .pipeThrough(new TextEncoderStream()).pipeTo(stdout);
        return { params };
      },
      params: [{ name: "p" }],
    }),
  });
  const session = m.start("upper", ["x"], { caller });
  await session.write("abc");
  await session.closeInput();
  const out = await output(session);
  assert.deepEqual([out.stdout, out.stderr], ["ABC", "note\n"]);
  assert.deepEqual(await session.result, { status: "fulfilled", value: { params: ["x"] } });
  await m.close();
});

Deno.test("session of a throwing function is rejected with the error message", async () => {
  const m = manager({ boom: defineProcess({ run: () => Promise.reject(new Error("disk full")) }) });
  assert.deepEqual(await m.start("boom", [], { caller }).result, {
    status: "rejected",
    reason: "disk full",
    kind: "error",
  });
  await m.close();
});

Deno.test("session cancel aborts a function process's signal", async () => {
  const m = manager({
    wait: defineProcess({
      run: ({ signal }) =>
        new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason))),
    }),
  });
  const session = m.start("wait", [], { caller });
  await new Promise((r) => setTimeout(r, 10));
  session.cancel();
  const result = await session.result;
  assert.deepEqual([result.status, result.status === "rejected" && result.kind], [
    "rejected",
    "cancelled",
  ]);
  await m.close();
});

Deno.test("manager refuses unknown processes, bad params and disallowed callers", async () => {
  const m = manager({
    count: defineCommand(["seq", "{1}"], { params: [{ name: "n", pattern: "[0-9]+" }] }),
    admin: defineCommand(["true"], { allow: ["root-token", "admins"] }),
  });
  const code = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      return e instanceof CallError ? `${e.code}: ${e.message}` : String(e);
    }
    return "no error";
  };
  assert.equal(
    code(() => m.start("nope", [], { caller })),
    'unknown_process: Cannot start process "nope": no such process',
  );
  assert.equal(
    code(() => m.start("count", ["x"], { caller })),
    'bad_params: Cannot start process "count": parameter 1 ("n") does not match /^(?:[0-9]+)$/u',
  );
  assert.equal(
    code(() => m.start("admin", [], { caller })),
    'not_allowed: Cannot start process "admin": caller "tester" is not allowed to run it',
  );
  const session = m.start("admin", [], { caller: { id: "ops", roles: ["admins"] } });
  assert.equal((await session.result).status, "fulfilled");
  assert.equal(m.registry.size, 1, "refused calls leave nothing behind");
  assert.equal(m.get(session.id, caller), undefined, "sessions are visible only to their owner");
  assert.equal(m.get(session.id, { id: "ops" }), session);
  await m.close();
});

Deno.test("manager reaps abandoned sessions after their linger time", async () => {
  // A fake clock: only the test moves time, so the reaper cannot act early or late.
  let now = Date.now();
  const m = new SessionManager({
    processes: { sleep: defineCommand(["sleep", "30"]) },
    killGrace: 200,
    linger: 50,
    now: () => now,
  });
  const session = m.start("sleep", [], { caller });
  const detach = session.attach();
  while (session.state === "starting") {
    await new Promise((resolve) => session.addEventListener("state", resolve, { once: true }));
  }
  now += 100;
  m.reap();
  assert.equal(session.state, "running", "an attached session is kept");
  detach();
  now += 49;
  m.reap();
  assert.equal(session.state, "running", "a detached session is kept for its linger time");
  now += 1;
  m.reap();
  const result = await session.result;
  assert.equal(
    result.status === "rejected" && result.reason,
    "session abandoned: no client attached for 50ms",
  );
  await waitSessionGone(session.pid!);
  now += 100;
  m.reap();
  assert.equal(m.registry.get(session.id), undefined, "ended sessions are removed after linger");
  await m.close();
});

Deno.test("manager close cancels running sessions and waits for their processes", async () => {
  const m = manager({ sleep: defineCommand(["sh", "-c", "sleep 30 & sleep 30"]) });
  const sessions = [m.start("sleep", [], { caller }), m.start("sleep", [], { caller })];
  // Both shells and their background sleeps exist before the close, however slow the machine.
  for (const s of sessions) {
    while (s.state === "starting") {
      await new Promise((resolve) => s.addEventListener("state", resolve, { once: true }));
    }
    while (sessionMembers(s.pid!).filter((p) => p.comm === "sleep").length < 2) {
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  await m.close();
  for (const s of sessions) {
    assert.equal(s.state, "rejected");
    await waitSessionGone(s.pid!);
  }
  assert.throws(() => m.start("sleep", [], { caller }), {
    message: 'Cannot start process "sleep": the server is shutting down',
  });
});

Deno.test("session in a pseudo-terminal: tty, size, resize, input and exit code", async () => {
  const m = manager({
    term: defineCommand([
      "sh",
      "-c",
      'tty; stty size; read line; stty size; echo "got $line"; exit 4',
    ], { pty: true }),
  });
  const session = m.start("term", [], { caller, pty: { cols: 100, rows: 30 } });
  const reader = session.reader();
  let text = "";
  while (!text.includes("30 100")) text += decoder.decode((await reader.read())![0].data);
  assert.match(text, /^\/dev\/pts\/\d+\r\n30 100\r\n$/);
  session.resize(120, 40);
  await session.write("hello\r");
  while (true) {
    const chunks = await reader.read();
    if (!chunks) break;
    for (const c of chunks) text += decoder.decode(c.data);
  }
  assert.match(text, /40 120\r\ngot hello\r\n$/);
  const result = await session.result;
  assert.deepEqual(result.status === "rejected" && [result.reason, result.exitCode], [
    "exit status 4",
    4,
  ]);
  await waitSessionGone(session.pid!);
  reader.close();
  await m.close();
});

Deno.test("session refuses a pseudo-terminal where the process does not allow one", () => {
  const m = manager({ plain: defineCommand(["true"]) });
  assert.throws(() => m.start("plain", [], { caller, pty: { cols: 80, rows: 24 } }), {
    message: 'Cannot start process "plain": it does not allow a pseudo-terminal',
  });
  return m.close();
});

Deno.test({
  name: "session runs a command as the configured user and group, without root's groups",
  ignore: Deno.uid() !== 0,
  async fn() {
    const m = manager({ id: defineCommand(["id"], { uid: 65534, gid: 65534 }) });
    const out = await output(m.start("id", [], { caller }));
    assert.match(out.stdout, /^uid=65534\(\w+\) gid=65534\(\w+\) groups=65534\(\w+\)\n$/);
    await m.close();
  },
});

Deno.test("session write after the end says why: input closed by the client, or the session ended", async () => {
  const m = manager({ quick: defineCommand(["true"]), wc: defineCommand(["wc", "-c"]) });
  const ended = m.start("quick", [], { caller });
  await ended.result;
  await assert.rejects(() => ended.write("x"), {
    message: `Cannot write to session "${ended.id}": it has ended`,
  });
  const closed = m.start("wc", [], { caller });
  await closed.closeInput();
  await closed.result;
  await assert.rejects(() => closed.write("x"), {
    message: `Cannot write to session "${closed.id}": input is closed`,
  });
  await m.close();
});

Deno.test("session ids are 22 URL-safe characters and never start with a dash", async () => {
  const { newSessionId } = await import("./session_manager.ts");
  // 1 in 64 raw ids would start with "-": 4,000 ids would hold ~60 of them.
  const ids = new Set<string>();
  for (let i = 0; i < 4000; i++) {
    const id = newSessionId();
    if (!/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/.test(id)) throw new Error(`bad session id ${id}`);
    // Exactly 16 bytes in base64url: the last character carries 2 bits.
    const bytes = Uint8Array.fromBase64(id, { alphabet: "base64url" });
    assert.equal(bytes.length, 16);
    assert.equal(bytes.toBase64({ alphabet: "base64url", omitPadding: true }), id);
    ids.add(id);
  }
  assert.equal(ids.size, 4000);
});

Deno.test("an ended session keeps its output and result, not what observed it while it ran", async () => {
  // 2,000 function sessions that print a line, registered and ended (each with a reader that
  // read the line and closed): after a full collection, the heap per lingering session. It was
  // 2,092 bytes with the observers, the resolver and an empty reader set kept, 1,348 without
  // them ("Round twelve" in docs/benchmarks.md). Run in a subprocess for `gc()`.
  const script = `
    import { Session } from ${JSON.stringify(new URL("./session.ts", import.meta.url).href)};
    import { MemorySessionRegistry } from ${
    JSON.stringify(new URL("./registry.ts", import.meta.url).href)
  };
    import { defineProcess } from ${JSON.stringify(new URL("./process.ts", import.meta.url).href)};
    const encoder = new TextEncoder();
    const definition = defineProcess({
      async run({ stdout }) {
        const writer = stdout.getWriter();
        await writer.write(encoder.encode("a line\\n"));
        return 1;
      },
    });
    const registry = new MemorySessionRegistry();
    const run = async (i) => {
      const session = new Session({ id: "s" + i, name: "line", params: [], caller: { id: "me" }, definition });
      registry.add(session);
      const reader = session.reader();
      session.start();
      await session.result;
      while ((await reader.read()) !== null);
      reader.close();
    };
    for (let i = 0; i < 100; i++) await run(-1 - i);
    gc();
    const before = Deno.memoryUsage().heapUsed;
    const n = 2000;
    for (let i = 0; i < n; i++) await run(i);
    await new Promise((resolve) => setTimeout(resolve, 0));
    gc();
    gc();
    console.log(JSON.stringify({ perSession: (Deno.memoryUsage().heapUsed - before) / n, size: registry.size }));
  `;
  const { perSession, size } = await evalWithGc(script) as { perSession: number; size: number };
  assert.equal(size, 2100);
  assert.ok(perSession < 1800, `${perSession} bytes of heap per ended session`);
  assert.ok(perSession > 500, `${perSession} bytes per ended session: the measurement saw nothing`);
});

Deno.test("session result: what a function returns, as the JSON a client receives, frozen", async () => {
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  const returns: [unknown, unknown][] = [
    [1, 1],
    [-0, 0],
    [NaN, null],
    [-Infinity, null],
    [undefined, null],
    [null, null],
    ["text \ud800", "text \ud800"],
    [false, false],
    [Symbol("s"), null],
    [() => 1, null],
    [{ a: undefined, b: NaN, d: new Date(0), list: [1, undefined] }, {
      b: null,
      d: "1970-01-01T00:00:00.000Z",
      list: [1, null],
    }],
  ];
  const m = manager({
    give: defineProcess({ params: [{ name: "i" }], run: ({ params }) => returns[+params[0]][0] }),
    big: defineProcess({ run: () => 1n }),
    cycle: defineProcess({ run: () => cycle }),
  });
  for (const [i, [, expected]] of returns.entries()) {
    const result = await m.start("give", [String(i)], { caller }).result;
    assert.equal(result.status, "fulfilled");
    const { value } = result as { value: unknown };
    assert.deepEqual(value, expected, `returned ${String(returns[i][0])}`);
    if (typeof expected === "number") assert.ok(Object.is(value, expected), `${i}: ${value}`);
    if (typeof value === "object" && value !== null) {
      assert.ok(Object.isFrozen(value) && Object.isFrozen((value as { list: unknown }).list));
    }
  }
  for (const name of ["big", "cycle"]) {
    const result = await m.start(name, [], { caller }).result;
    assert.equal(result.status, "rejected");
    const { reason, kind } = result as { reason: string; kind: string };
    assert.equal(kind, "crash");
    assert.match(reason, /^result cannot be serialized as JSON: /);
  }
  await m.close();
});
