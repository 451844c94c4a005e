import assert from "node:assert/strict";
import { launchersOf, waitSessionGone } from "../tests/_proc.ts";
import { defineCommand } from "./process.ts";
import { SessionManager } from "./session_manager.ts";
import {
  LAUNCHER_SCRIPT,
  LAUNCHER_SHELL,
  launchScript,
  shellQuote,
  WarmPool,
} from "./warm_pool.ts";
import { parseConfig } from "./config.ts";
import { untilStarted } from "./session.ts";

const decoder = new TextDecoder();
const encoder = new TextEncoder();
const PRINTF = "/usr/bin/printf";

/** This process's warm launchers. */
const launchers = () => launchersOf(Deno.pid);

/** Waits until `n` launchers not in `before` are shells (a new one is `setsid` for a moment). */
async function newLaunchers(before: Set<number>, n: number): Promise<number[]> {
  const deadline = Date.now() + 5000;
  while (true) {
    const found = launchers().filter((pid) => !before.has(pid));
    if (found.length === n) return found;
    if (Date.now() > deadline) throw new Error(`${found.length} launchers, expected ${n}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Runs one launcher by hand: the script, then `input`, then end of input. */
async function launch(
  script: string,
  input: Uint8Array[] = [],
): Promise<{ code: number; stdout: Uint8Array; stderr: Uint8Array }> {
  const child = new Deno.Command("/usr/bin/setsid", {
    args: [LAUNCHER_SHELL, "-c", LAUNCHER_SCRIPT],
    clearEnv: true,
    env: { PATH: "/usr/bin:/bin" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Read while writing: a program that echoes its input would otherwise fill its pipe.
  const stdout = new Response(child.stdout).bytes();
  const stderr = new Response(child.stderr).bytes();
  const writer = child.stdin.getWriter();
  await writer.write(encoder.encode(script));
  for (const chunk of input) await writer.write(chunk);
  await writer.close();
  return { code: (await child.status).code, stdout: await stdout, stderr: await stderr };
}

Deno.test("launchScript: hostile words reach the program exactly as given, never run", async () => {
  const marker = `/tmp/pow-warm-${crypto.randomUUID()}`;
  const words = [
    "'",
    "'\\''",
    "$(touch " + marker + ")",
    "`touch " + marker + "`",
    "; touch " + marker,
    "a\nb",
    "\n",
    "x\n",
    "",
    "\\",
    "\\n",
    "-n",
    "*",
    "$HOME",
    "a  b",
    '"',
    "é ✓",
    "#",
  ];
  const out = await launch(launchScript(PRINTF, ["%s\\0", ...words])!);
  assert.equal(decoder.decode(out.stderr), "");
  assert.equal(out.code, 0);
  assert.deepEqual(decoder.decode(out.stdout).split("\0").slice(0, -1), words);
  assert.throws(() => Deno.statSync(marker), Deno.errors.NotFound);
  // A NUL cannot reach any program: no script, the call starts cold (and fails there).
  assert.equal(launchScript(PRINTF, ["a\0b"]), undefined);
  assert.equal(launchScript(PRINTF, [], { A: "\0" }), undefined);
  assert.equal(launchScript(PRINTF, [], { "A B": "1" }), undefined);
  assert.equal(shellQuote("it's"), `'it'\\''s'`);
});

Deno.test("launchScript: the program reads the input written after it, byte for byte", async () => {
  const big = new Uint8Array(1 << 20).map((_, i) => (i * 7) & 0xff);
  const out = await launch(launchScript("/usr/bin/cat", [])!, [encoder.encode("abc\n"), big]);
  assert.equal(out.code, 0);
  assert.equal(out.stdout.length, 4 + big.length);
  assert.equal(decoder.decode(out.stdout.subarray(0, 4)), "abc\n");
  assert.deepEqual(out.stdout.subarray(4), big);
});

Deno.test("launchScript: the environment is the cold start's plus the call's, no PWD", async () => {
  const out = await launch(launchScript("/usr/bin/env", [], { TRACEPARENT: "00-a'b" })!);
  assert.deepEqual(
    decoder.decode(out.stdout).trim().split("\n").sort(),
    ["PATH=/usr/bin:/bin", "TRACEPARENT=00-a'b"],
  );
});

function warmManager(warm = 2) {
  return new SessionManager({
    processes: {
      echo: defineCommand(["echo", "{1}"], { params: [{ name: "word" }], warm }),
      cat: defineCommand(["cat"], { warm }),
      sleep: defineCommand(["sh", "-c", "sleep 30 & sleep 30"], { warm, killGrace: 500 }),
    },
  });
}

async function output(manager: SessionManager, name: string, params: string[], input?: string) {
  const session = manager.start(name, params, { caller: { id: "t" } });
  if (input !== undefined) {
    await session.write(input);
    await session.closeInput();
  }
  const result = await session.result;
  const text = session.log.retained().map((c) => decoder.decode(c.data)).join("");
  return { session, result, text };
}

Deno.test("warm: a call becomes a ready launcher (same pid, own session), output and input intact", async () => {
  const before = new Set(launchers());
  const manager = warmManager();
  try {
    const first = await output(manager, "echo", ["it's $(id)"]);
    assert.equal(first.text, "it's $(id)\n");
    // The first call started cold and filled the pool: two shells, each its own session.
    const ready = await newLaunchers(before, 2);
    const second = await output(manager, "echo", ["two"]);
    assert.deepEqual(second.result, { status: "fulfilled", value: null, exitCode: 0 });
    assert.equal(second.text, "two\n");
    assert.ok(
      ready.includes(second.session.pid!),
      `pid ${second.session.pid} is not one of the launchers ${ready}`,
    );
    // A call with long params starts cold (the shell would read them a byte at a time), and
    // leaves the launchers ready.
    const long = "x".repeat(4096);
    const cold = await output(manager, "echo", [long]);
    assert.equal(cold.text, `${long}\n`);
    assert.ok(!ready.includes(cold.session.pid!));
    // A NUL, which no program can receive, is refused as on a cold start, and takes no launcher.
    const nul = await output(manager, "echo", ["a\0b"]);
    assert.equal(nul.result.status, "rejected");
    assert.match((nul.result as { reason: string }).reason, /nul byte/);
    assert.equal(launchers().filter((pid) => ready.includes(pid)).length, 1);
    // Input written by the client follows the launcher's command in the same pipe.
    await output(manager, "cat", [], "warm up");
    const cat = await output(manager, "cat", [], "hello\nworld");
    assert.equal(cat.text, "hello\nworld");
  } finally {
    await manager.close();
  }
  // Closing the manager ends every idle launcher.
  const left = launchers().filter((pid) => !before.has(pid));
  for (const pid of left) await waitSessionGone(pid);
});

Deno.test("warm: cancel ends a warm-started group; a launcher killed while idle is skipped", async () => {
  const before = new Set(launchers());
  const manager = warmManager(1);
  try {
    // The first call starts cold and fills the pool.
    const cold = manager.start("sleep", [], { caller: { id: "t" } });
    await untilStarted(cold);
    cold.cancel("test");
    await cold.result;
    await waitSessionGone(cold.pid!);
    const ready = await newLaunchers(before, 1);
    const session = manager.start("sleep", [], { caller: { id: "t" } });
    await untilStarted(session);
    assert.equal(session.pid, ready[0]);
    await new Promise((r) => setTimeout(r, 100));
    session.cancel("enough");
    const result = await session.result;
    assert.equal(result.status, "rejected");
    await waitSessionGone(session.pid!);
    // A launcher that dies while idle is never handed out: the call still runs.
    const refilled = await newLaunchers(before, 1);
    Deno.kill(refilled[0], "SIGKILL");
    await waitSessionGone(refilled[0]);
    const after = await output(manager, "echo", ["still"]);
    assert.equal(after.text, "still\n");
  } finally {
    await manager.close();
  }
});

Deno.test("config: warm is a whole number up to 16, and not for another user", () => {
  const parse = (yaml: string) => parseConfig(yaml, { file: "pow.yaml" });
  const ok = parse("processes:\n  e:\n    command: [echo]\n    warm: 2\n");
  assert.equal((ok.processes.e as { warm?: number }).warm, 2);
  assert.throws(
    () => parse("processes:\n  e:\n    command: [echo]\n    warm: 17\n"),
    /processes\.e\.warm/,
  );
  assert.throws(
    () => parse("processes:\n  e:\n    command: [echo]\n    warm: -1\n"),
    /processes\.e\.warm/,
  );
  assert.throws(
    () => parse("processes:\n  e:\n    command: [echo]\n    warm: 2\n    user: root\n"),
    /cannot be kept warm/,
  );
});

Deno.test("WarmPool: launchers not taken within idleMs end; a closed pool hands out none", async () => {
  const before = new Set(launchers());
  const pool = new WarmPool({
    size: 2,
    idleMs: 200,
    spawn: () =>
      new Deno.Command("/usr/bin/setsid", {
        args: [LAUNCHER_SHELL, "-c", LAUNCHER_SCRIPT],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn(),
  });
  try {
    pool.fill();
    assert.equal(pool.ready, 2);
    const mine = await newLaunchers(before, 2);
    for (const pid of mine) await waitSessionGone(pid);
    assert.equal(pool.ready, 0);
  } finally {
    await pool.close();
  }
  assert.equal(pool.take(), undefined);
});

Deno.test("warm: replacing or removing a command ends its launchers", async () => {
  const before = new Set(launchers());
  const manager = warmManager(1);
  try {
    await output(manager, "echo", ["fill"]);
    const [first] = await newLaunchers(before, 1);
    // A reload that changes the definition: the old launcher goes, the new one warms on use.
    manager.setProcess(
      "echo",
      defineCommand(["echo", "{1}"], { params: [{ name: "w" }], warm: 1 }),
    );
    await waitSessionGone(first);
    assert.equal((await output(manager, "echo", ["new"])).text, "new\n");
    const [second] = await newLaunchers(before, 1);
    manager.removeProcess("echo");
    await waitSessionGone(second);
    assert.deepEqual(launchers().filter((pid) => !before.has(pid)), []);
  } finally {
    await manager.close();
  }
});

Deno.test("warm: a warm-started program gets the caller's trace context, and the env of a cold start", async () => {
  const manager = new SessionManager({
    processes: { env: defineCommand(["env"], { warm: 1, env: { GREETING: "hi" } }) },
  });
  const trace = { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" };
  let pid: number | undefined;
  const run = async () => {
    const session = manager.start("env", [], { caller: { id: "t" }, trace });
    await session.result;
    pid = session.pid;
    return session.log.retained().map((c) => decoder.decode(c.data)).join("").trim().split("\n")
      .sort();
  };
  const before = new Set(launchers());
  try {
    const cold = await run(); // fills the pool
    const [launcher] = await newLaunchers(before, 1);
    const warm = await run();
    assert.equal(pid, launcher);
    assert.deepEqual(warm, cold);
    assert.ok(warm.includes(`TRACEPARENT=${trace.traceparent}`), warm.join(" "));
    assert.ok(warm.includes("GREETING=hi"));
    assert.ok(!warm.some((line) => line.startsWith("PWD=")));
  } finally {
    await manager.close();
  }
});
