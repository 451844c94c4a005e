// Copyright the pow authors. MIT license.
/** End-to-end tests of `main.ts call` and `main.ts list` against a real server. */

import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { defineCommand, hashToken } from "../mod.ts";
import { frontEnds } from "../server/front_ends.ts";
import { nativeWebSocket } from "../server/front_ends/v2/mod.ts";
import { PowClient, type SessionInfo } from "../client/mod.ts";
import { startServer, waitUntil } from "./_helpers.ts";
import { sessionMembers, waitSessionGone } from "./_proc.ts";

const FRONT_ENDS = frontEnds.includes(nativeWebSocket)
  ? frontEnds
  : [nativeWebSocket, ...frontEnds];
const MAIN = new URL("../main.ts", import.meta.url).pathname;

interface Run {
  code: number;
  stdout: Uint8Array;
  stderr: string;
}

async function pow(
  args: string[],
  stdin?: ReadableStream<Uint8Array>,
  env: Record<string, string> = {},
): Promise<Run> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { POW_TOKEN: "", ...env },
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

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** Runs a shell command line (bash, with pipefail) as a user would type it. */
async function shell(line: string): Promise<Run> {
  const output = await new Deno.Command("bash", {
    args: ["-o", "pipefail", "-c", line],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { POW_TOKEN: "" },
  }).output();
  return { code: output.code, stdout: output.stdout, stderr: text(output.stderr) };
}

/** `main.ts` serving the demo config as a subprocess (so that a test can kill it). */
async function serveSubprocess(port = 0): Promise<{ child: Deno.ChildProcess; url: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "--port", String(port)],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let line = "";
  while (!line.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the server stopped: ${line}`);
    line += value;
  }
  reader.releaseLock();
  const url = /^Listening on http(\S+)\n/.exec(line)![1];
  return { child, url: `ws${url}` };
}

async function runningSession(client: PowClient, name: string): Promise<SessionInfo> {
  let found: SessionInfo | undefined;
  await waitUntil(
    async () => {
      found = (await client.list()).find((s) => s.name === name && s.state === "running");
      return found !== undefined;
    },
    20_000,
    `a running "${name}" session`,
  );
  return found!;
}

function killGroup(pid: number) {
  try {
    Deno.kill(-pid, "SIGKILL");
  } catch { /* gone */ }
}

Deno.test("call passes everything after NAME as a param: call date -u", async () => {
  await using server = await startServer({ frontEnds: FRONT_ENDS });
  const run = await pow(["call", "--url", server.wsUrl.href, "date", "-u"]);
  deepStrictEqual([run.code, run.stderr], [0, ""]);
  match(text(run.stdout), /UTC/);
  // Options come before NAME: after it, even --help and --url are params.
  const echo = await pow(["call", "--url", server.wsUrl.href, "echo", "-x", "--help", "--url"]);
  deepStrictEqual([echo.code, text(echo.stdout), echo.stderr], [
    0,
    '["-x","--help","--url"]\n',
    "",
  ]);
});

Deno.test("call prints a TypeScript process's result value as a JSON line after its output", async () => {
  await using server = await startServer({ frontEnds: FRONT_ENDS });
  const url = server.wsUrl.href;
  const ticker = await pow(["call", "--url", url, "ticker", "2", "100"]); // as in README.md
  deepStrictEqual([ticker.code, text(ticker.stdout), ticker.stderr], [
    0,
    "tick 1\ntick 2\n2\n",
    "",
  ]);
  const quiet = await pow(["call", "--url", url, "--no-result", "ticker", "2", "1"]);
  deepStrictEqual([quiet.code, text(quiet.stdout)], [0, "tick 1\ntick 2\n"]);
  // Commands have no value (null): nothing is added.
  const count = await pow(["call", "--url", url, "count", "2"]);
  equal(text(count.stdout), "1\n2\n");
});

Deno.test("call exits 128+N for every signal: SIGSEGV 139, SIGABRT 134, SIGUSR1 138, SIGKILL 137", async () => {
  await using server = await startServer({
    frontEnds: FRONT_ENDS,
    configure(config) {
      config.processes.die = defineCommand(["sh", "-c", 'kill -s "$1" $$', "sh", "{1}"], {
        params: [{ name: "signal", pattern: "[A-Z0-9]{1,8}" }],
      });
      config.processes.slow = defineCommand(["sleep", "30"], { timeout: 300 });
    },
  });
  for (const [signal, code] of [["SEGV", 139], ["ABRT", 134], ["USR1", 138], ["KILL", 137]]) {
    const run = await pow(["call", "--url", server.wsUrl.href, "die", String(signal)]);
    deepStrictEqual([signal, run.code, run.stderr], [signal, code, ""]);
  }
  // A process the server ends (here: its timeout) exits by its signal, and stderr says why.
  const slow = await pow(["call", "--url", server.wsUrl.href, "slow"]);
  deepStrictEqual([slow.code, slow.stderr], [
    143,
    "pow call: slow: process timed out after 300ms\n",
  ]);
});

Deno.test("call … | head -3 cancels the remote process and exits 141 without a word", async () => {
  await using server = await startServer({ frontEnds: FRONT_ENDS });
  const run = await shell(`deno run -A ${MAIN} call --url ${server.wsUrl.href} yes y | head -3`);
  deepStrictEqual([run.code, text(run.stdout), run.stderr], [141, "y\ny\ny\n", ""]);
  await using client = new PowClient(server.wsUrl);
  const [session] = await client.list();
  equal(session.name, "yes");
  ok(session.pid !== undefined);
  // Cancelled at once, not after the linger time (60 s) nor the timeout (1 min).
  await waitUntil(
    async () => (await client.list())[0].state === "rejected",
    5000,
    "the remote yes to end",
  );
  const ended = (await client.list())[0].result;
  deepStrictEqual(ended?.status === "rejected" && ended.kind, "cancelled");
  await waitSessionGone(session.pid!);
});

Deno.test("call gives up after --reconnect-timeout when the server is killed, exit 69", async () => {
  const { child, url } = await serveSubprocess();
  const call = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "call", "--url", url, "--reconnect-timeout", "2", "sleep", "60"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let pid: number | undefined;
  try {
    {
      await using client = new PowClient(url);
      pid = (await runningSession(client, "sleep")).pid;
    }
    child.kill("SIGKILL");
    await child.status;
    const lost = Date.now();
    const output = await call.output();
    const waited = Date.now() - lost;
    deepStrictEqual([output.code, text(output.stderr)], [
      69,
      "pow call: lost the connection to the server; reconnecting for up to 2 s\n" +
      "pow call: cannot reach the server: gave up reconnecting after 2 s\n",
    ]);
    ok(waited >= 1500 && waited < 8000, `gave up after ${waited} ms`);
  } finally {
    // The killed server could not end its child: that is not the caller's to clean up.
    if (pid !== undefined) killGroup(pid);
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.stdout.cancel().catch(() => {});
  }
  if (pid !== undefined) await waitSessionGone(pid);
});

Deno.test("call says why when the server stops: its cancel (143) or its close, then 69 after --reconnect-timeout", async () => {
  const { child, url } = await serveSubprocess();
  const call = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "call", "--url", url, "--reconnect-timeout", "1", "sleep", "60"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let pid: number | undefined;
  {
    await using client = new PowClient(url);
    pid = (await runningSession(client, "sleep")).pid;
  }
  child.kill("SIGTERM");
  equal((await child.status).code, 0);
  await child.stdout.cancel().catch(() => {});
  const output = await call.output();
  // The server cancels its sessions and closes its connections at the same time: either the
  // cancelled result or the close arrives first.
  const stderr = text(output.stderr);
  if (output.code === 143) {
    equal(stderr, "pow call: sleep: server shutting down\n");
  } else {
    // (Under load the connection may drop before the server's close frame gets through: the
    // close is then reported without its code.)
    equal(output.code, 69);
    match(
      stderr,
      new RegExp(
        "^pow call: lost the connection to the server" +
          '( \\(it closed the connection with 1001 "Server shutting down"\\))?' +
          "; reconnecting for up to 1 s\n" +
          "pow call: cannot reach the server: gave up reconnecting after 1 s\n$",
      ),
    );
  }
  // The stopped server ended the remote process.
  await waitSessionGone(pid!);
});

Deno.test("call says the remote session is gone when the server restarted meanwhile, exit 69", async () => {
  const first = await serveSubprocess();
  const port = new URL(first.url).port;
  const call = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "call", "--url", first.url, "sleep", "60"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let pid: number | undefined;
  let second: Awaited<ReturnType<typeof serveSubprocess>> | undefined;
  try {
    let session: string;
    {
      await using client = new PowClient(first.url);
      const info = await runningSession(client, "sleep");
      pid = info.pid;
      session = info.session;
    }
    first.child.kill("SIGKILL");
    await first.child.status;
    second = await serveSubprocess(Number(port));
    const output = await call.output();
    deepStrictEqual([output.code, text(output.stderr)], [
      69,
      "pow call: lost the connection to the server; reconnecting for up to 10 s\n" +
      "pow call: reconnected\n" +
      `pow call: Cannot reattach session "${session}": it no longer exists on the server; its outcome is unknown\n`,
    ]);
  } finally {
    if (pid !== undefined) killGroup(pid);
    for (const s of [first, second]) {
      try {
        s?.child.kill("SIGKILL");
      } catch { /* already gone */ }
      await s?.child.stdout.cancel().catch(() => {});
    }
  }
  if (pid !== undefined) await waitSessionGone(pid);
});

Deno.test("call without a token on a server that wants one says so and exits 77", async () => {
  const token = "a-long-enough-test-token";
  await using server = await startServer({
    frontEnds: FRONT_ENDS,
    configure(config) {
      config.auth.tokens = [{ name: "alice", hash: hashToken(token) }];
    },
  });
  const url = server.wsUrl.href;
  const missing = await pow(["call", "--url", url, "date", "-u"]);
  deepStrictEqual([missing.code, missing.stderr], [
    77,
    "pow call: authentication required: use --token or POW_TOKEN\n",
  ]);
  const wrong = await pow(["call", "--url", url, "--token", "not-the-right-token", "date", "-u"]);
  deepStrictEqual([wrong.code, wrong.stderr], [
    77,
    "pow call: authentication failed: the server refused the token (--token or POW_TOKEN)\n",
  ]);
  const right = await pow(["call", "--url", url, "date", "-u"], undefined, { POW_TOKEN: token });
  deepStrictEqual([right.code, right.stderr], [0, ""]);
  for (const command of ["list", "sessions"]) {
    const run = await pow([command, "--url", url]);
    deepStrictEqual([run.code, run.stderr], [
      77,
      `pow ${command}: authentication required: use --token or POW_TOKEN\n`,
    ]);
  }
});

Deno.test("call: a bad --url is a usage error (2), a non-pow server is named as such (69)", async () => {
  const bad = await pow(["call", "--url", "localhost:8028", "date", "-u"]);
  deepStrictEqual([bad.code, bad.stderr], [
    2,
    'pow call: invalid --url "localhost:8028": expected a ws:, wss:, http: or https: URL\n' +
    'Run "call --help" for usage.\n',
  ]);
  const junk = await pow(["call", "--url", "127.0.0.1:8028", "date", "-u"]);
  deepStrictEqual([junk.code, junk.stderr], [
    2,
    'pow call: invalid --url "127.0.0.1:8028": expected a URL such as ws://127.0.0.1:8028/\n' +
    'Run "call --help" for usage.\n',
  ]);
  const unknown = await pow(["call", "--url", "ws://127.0.0.1:1/", "-u", "date"]);
  deepStrictEqual([unknown.code, unknown.stderr], [
    2,
    'pow call: unknown option "-u"\nRun "call --help" for usage.\n',
  ]);
  // A web server that is not pow, and a WebSocket server that does not speak pow.v2.
  await using web = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request) => {
      if (new URL(request.url).pathname === "/ws") return Deno.upgradeWebSocket(request).response;
      return new Response("<h1>hello</h1>", { headers: { "content-type": "text/html" } });
    },
  );
  const base = `ws://127.0.0.1:${web.addr.port}/`;
  const html = await pow(["call", "--url", base, "date", "-u"]);
  deepStrictEqual([html.code, html.stderr], [
    69,
    `pow call: ${base} is not a pow server: it answered the WebSocket handshake with HTTP 200\n`,
  ]);
  const ws = await pow(["call", "--url", `${base}ws`, "date", "-u"]);
  deepStrictEqual([ws.code, ws.stderr], [
    69,
    `pow call: ${base}ws is not a pow server: it does not speak the pow.v2 protocol\n`,
  ]);
});

Deno.test("call --pty with stdin not a terminal warns and runs without a pty", async () => {
  await using server = await startServer({ frontEnds: FRONT_ENDS });
  const run = await pow(["call", "--url", server.wsUrl.href, "--pty", "date", "-u"]);
  deepStrictEqual([run.code, run.stderr], [
    0,
    "pow call: warning: --pty ignored: stdin is not a terminal\n",
  ]);
  match(text(run.stdout), /UTC/);
});

Deno.test("call --pty in a 0x0 terminal gives the process an 80x24 one", async () => {
  await using server = await startServer({
    frontEnds: FRONT_ENDS,
    configure(config) {
      config.processes.size = defineCommand(["stty", "size"], { pty: true });
    },
  });
  const run = await shell(
    `script -qec "stty rows 0 cols 0; deno run -A ${MAIN} call --url ${server.wsUrl.href} --pty size" /dev/null`,
  );
  equal(run.code, 0, run.stderr);
  // The remote pty and the local one both turn "\n" into "\r\n"; script's terminal may echo a
  // "^@" for its stdin (/dev/null) before the size.
  const out = text(run.stdout);
  ok(/^(\^@)?24 80\r*\n/.test(out), JSON.stringify(out));
});

Deno.test("sessions lists my sessions, attach replays one from offset 0, cancel ends one", async () => {
  await using server = await startServer({ frontEnds: FRONT_ENDS });
  const url = server.wsUrl.href;
  await using client = new PowClient(server.wsUrl);
  // Ticks far enough apart that the ticker still runs when `pow sessions` (a new Deno process,
  // slow to start on a loaded machine) lists it.
  const ticker = client.start("ticker", ["3", "3000"], { stdin: "null" });
  const sleep = client.start("sleep", ["60"], { stdin: "null" });
  const { session: tickerId } = await ticker.started;
  const { session: sleepId, pid } = await sleep.started;
  ticker.stdout.cancel();
  sleep.stdout.cancel();

  const list = await pow(["sessions", "--url", url]);
  equal(list.code, 0, list.stderr);
  const lines = text(list.stdout).split("\n");
  match(lines[0], /^SESSION +STATE +EXIT +AGE +ATTACHED +COMMAND$/);
  ok(lines.some((l) => l.startsWith(tickerId) && /running +- +\d+s +1 +ticker 3 3000$/.test(l)));
  ok(lines.some((l) => l.startsWith(sleepId) && / sleep 60$/.test(l)));

  // All output from the start (tick 1 was written before the attach), then live, the result.
  const attach = await pow(["attach", "--url", url, tickerId]);
  deepStrictEqual([attach.code, text(attach.stdout), attach.stderr], [
    0,
    "tick 1\ntick 2\ntick 3\n3\n",
    "",
  ]);

  const cancel = await pow(["cancel", "--url", url, sleepId]);
  deepStrictEqual([cancel.code, cancel.stdout.byteLength, cancel.stderr], [0, 0, ""]);
  const result = await sleep.result;
  deepStrictEqual(
    [result.status, result.status === "rejected" && result.kind, result.signal],
    ["rejected", "cancelled", "SIGTERM"],
  );
  deepStrictEqual(sessionMembers(pid!).filter((p) => p.state !== "Z"), []);
  await waitSessionGone(pid!);

  const json = await pow(["sessions", "--url", url, "--json"]);
  deepStrictEqual(
    JSON.parse(text(json.stdout)).map((s: SessionInfo) => [s.session, s.state]),
    [[tickerId, "fulfilled"], [sleepId, "rejected"]],
  );
  const none = await pow(["cancel", "--url", url, "nosuch"]);
  deepStrictEqual([none.code, none.stderr], [1, 'pow cancel: no session "nosuch"\n']);
  const lost = await pow(["attach", "--url", url, "nosuch"]);
  deepStrictEqual([lost.code, lost.stderr], [
    1,
    'pow attach: no session "nosuch": it does not exist, has expired or is not yours\n',
  ]);
});
