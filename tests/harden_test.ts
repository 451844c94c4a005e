/**
 * End-to-end regression tests for the hardening of issue 10: malformed and mixed-case `Host`
 * headers, tickets, numeric users, orphans after `kill -9`, and escaped descendants.
 *
 * @module
 */

import assert from "node:assert/strict";
import process from "node:process";
import { defineCommand, hashToken } from "../mod.ts";
import { Authenticator } from "../server/auth.ts";
import { rawRequest, startServer, waitUntil, withTimeout } from "./_helpers.ts";
import { sessionMembers } from "./_proc.ts";
import { POW1_NO_SUBPROTOCOL_BODY } from "@pow/protocol/pow1";

const TOKEN = "harden-token-1";
const bearer = { authorization: `Bearer ${TOKEN}` };
const HANDSHAKE = {
  Upgrade: "websocket",
  Connection: "Upgrade",
  "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
  "Sec-WebSocket-Version": "13",
};

/** Sends one request with exactly the given request line and headers; returns status and body. */
async function rawHttp(
  url: URL,
  head: string,
): Promise<{ status: number; headers: string; body: string }> {
  const conn = await Deno.connect({ hostname: url.hostname, port: Number(url.port) });
  try {
    await conn.write(new TextEncoder().encode(`${head}\r\nConnection: close\r\n\r\n`));
    let text = "";
    const decoder = new TextDecoder();
    const buffer = new Uint8Array(65536);
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) break;
      text += decoder.decode(buffer.subarray(0, n), { stream: true });
    }
    const split = text.indexOf("\r\n\r\n");
    return {
      status: Number(text.slice(9, 12)),
      headers: text.slice(0, split),
      body: text.slice(split + 4),
    };
  } finally {
    conn.close();
  }
}

/** Runs `fn` while recording everything written to console.error and console.warn. */
async function capturingLogs<T>(fn: () => Promise<T>): Promise<[T, string[]]> {
  const logged: string[] = [];
  const { error, warn } = console;
  console.error = (...args: unknown[]) => logged.push(args.map(String).join(" "));
  console.warn = console.error;
  try {
    return [await fn(), logged];
  } finally {
    console.error = error;
    console.warn = warn;
  }
}

Deno.test("a malformed Host header gets 400 without a stack trace or a log line, on every route", async () => {
  await using server = await startServer({
    configure(config) {
      config.auth.tokens = [{ name: "alice", hash: hashToken(TOKEN) }];
    },
  });
  const [answers, logged] = await capturingLogs(() =>
    Promise.all(
      ["/api/v2/processes", "/openapi.json", "/new", "/nowhere"].map((path) =>
        rawHttp(server.url, `GET ${path} HTTP/1.1\r\nHost: a b\r\nAuthorization: Bearer ${TOKEN}`)
      ),
    )
  );
  for (const answer of answers) {
    assert.deepEqual([answer.status, answer.body], [400, "invalid Host header"]);
  }
  assert.deepEqual(logged, []);
  // A well-formed request still works afterwards.
  const ok = await rawHttp(
    server.url,
    `GET /api/v2/processes HTTP/1.1\r\nHost: ${server.url.host}\r\nAuthorization: Bearer ${TOKEN}`,
  );
  assert.equal(ok.status, 200);
});

Deno.test("WebSocket upgrades at the base path pass the same checks with or without its final slash", async () => {
  await using server = await startServer({
    configure(config) {
      config.server.basePath = "/pow/";
    },
  });
  const host = server.url.host;
  const upgrade = (path: string, extra = "") =>
    `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==${extra}`;
  for (const path of ["/pow", "/pow/", "/pow/?x=1"]) {
    // A real client gets its pow-1 connection at each spelling.
    const ws = new WebSocket(new URL(path, server.url.origin.replace("http", "ws")), "pow-1");
    const opened = await withTimeout(
      new Promise<string>((resolve, reject) => {
        ws.onopen = () => resolve(ws.protocol);
        ws.onerror = () => reject(new Error(`upgrade at ${path} failed`));
      }),
      10_000,
      `upgrade at ${path}`,
    );
    assert.equal(opened, "pow-1");
    const closed = new Promise((resolve) => ws.onclose = resolve);
    ws.close();
    await closed;
    // Refused at each for the reasons it is refused anywhere.
    const pow1 = "\r\nSec-WebSocket-Protocol: pow-1";
    const badHost = await rawHttp(
      server.url,
      upgrade(path, pow1).replace(`Host: ${host}`, "Host: a b"),
    );
    assert.deepEqual([badHost.status, badHost.body], [400, "invalid Host header"], path);
    const foreign = await rawHttp(
      server.url,
      upgrade(path, `${pow1}\r\nOrigin: https://evil.example`),
    );
    assert.deepEqual(
      [foreign.status, foreign.body],
      [403, "origin not allowed: https://evil.example"],
      path,
    );
    const noKey = await rawHttp(
      server.url,
      upgrade(path, pow1).replace(/\r\nSec-WebSocket-Key: \S+/, ""),
    );
    assert.equal(noKey.status, 400, path);
    assert.match(noKey.body, /^invalid WebSocket upgrade: /, path);
    const other = await rawHttp(server.url, upgrade(path, "\r\nSec-WebSocket-Protocol: pow.v9"));
    assert.equal(other.status, 400, path);
    assert.match(other.body, /pow\.v9/, path);
    const none = await rawHttp(server.url, upgrade(path));
    assert.deepEqual([none.status, none.body], [403, POW1_NO_SUBPROTOCOL_BODY], path);
  }
});

Deno.test("host names are compared case-insensitively: server.hosts and same-origin checks", async () => {
  await using server = await startServer({
    configure(config) {
      config.server.hosts = ["Pow.Internal"];
    },
  });
  const port = server.url.port;
  const listed = await rawHttp(
    server.url,
    `GET /api/v2/processes HTTP/1.1\r\nHost: POW.internal:${port}`,
  );
  assert.equal(listed.status, 200);
  // An upper-case Host and the browser's lower-case Origin are the same origin.
  const same = await rawHttp(
    server.url,
    `GET /api/v2/processes HTTP/1.1\r\nHost: POW.INTERNAL:${port}\r\nOrigin: http://pow.internal:${port}`,
  );
  assert.equal(same.status, 200);
  const other = await rawHttp(
    server.url,
    `GET /api/v2/processes HTTP/1.1\r\nHost: evil.example:${port}`,
  );
  assert.equal(other.status, 403);
});

Deno.test("tickets open WebSocket upgrades and event streams only, and never mint tickets", async () => {
  await using server = await startServer({
    configure(config) {
      config.auth.tokens = [{ name: "alice", hash: hashToken(TOKEN) }];
    },
  });
  const ticket = async () => {
    const response = await fetch(new URL("tickets", server.url), {
      method: "POST",
      headers: bearer,
    });
    assert.equal(response.status, 200);
    return (await response.json()).ticket as string;
  };
  const refused = "tickets are accepted only for WebSocket upgrades and event streams";
  // A ticket cannot mint a ticket.
  const minted = await fetch(new URL(`tickets?ticket=${await ticket()}`, server.url), {
    method: "POST",
  });
  assert.deepEqual([minted.status, await minted.text()], [401, refused]);
  // Nor call REST routes, read or write.
  for (const [method, path] of [["GET", "api/v2/processes"], ["GET", "api/v2/sessions"]]) {
    const response = await fetch(new URL(`${path}?ticket=${await ticket()}`, server.url), {
      method,
    });
    assert.deepEqual([response.status, await response.text()], [401, refused]);
  }
  const started = await fetch(new URL(`api/v2/sessions?ticket=${await ticket()}`, server.url), {
    method: "POST",
    body: JSON.stringify({ name: "count", params: ["3"] }),
    headers: { "content-type": "application/json" },
  });
  assert.deepEqual([started.status, await started.text()], [401, refused]);
  // An event stream takes one.
  const session = await (await fetch(new URL("api/v2/sessions", server.url), {
    method: "POST",
    body: JSON.stringify({ name: "count", params: ["3"] }),
    headers: { "content-type": "application/json", ...bearer },
  })).json();
  const events = await fetch(
    new URL(`api/v2/sessions/${session.session}/events?ticket=${await ticket()}`, server.url),
  );
  assert.equal(events.status, 200);
  assert.match(await events.text(), /event: exit/);
  // A ticket shown where it is refused is used up: it cannot open a WebSocket afterwards.
  const shown = await ticket();
  const refusedUse = await fetch(new URL(`api/v2/processes?ticket=${shown}`, server.url));
  assert.deepEqual([refusedUse.status, await refusedUse.text()], [401, refused]);
  const later = await rawRequest(new URL(`?ticket=${shown}`, server.url), {
    ...HANDSHAKE,
    "Sec-WebSocket-Protocol": "pow.v2",
  });
  assert.deepEqual([later.status, later.body], [401, "invalid or expired ticket"]);
  // And a WebSocket upgrade.
  const upgrade = await rawRequest(new URL(`?ticket=${await ticket()}`, server.url), {
    ...HANDSHAKE,
    "Sec-WebSocket-Protocol": "pow.v2",
  });
  assert.equal(upgrade.status, 101);
});

Deno.test("a caller holds at most auth.ticketsPerCaller unused tickets; using one frees a place", async () => {
  await using server = await startServer({
    configure(config) {
      config.auth.tokens = [
        { name: "alice", hash: hashToken(TOKEN) },
        { name: "bob", hash: hashToken("bob-token") },
      ];
      config.auth.ticketsPerCaller = 3;
    },
  });
  const issue = (token: string) =>
    fetch(new URL("tickets", server.url), {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
    });
  const tickets: string[] = [];
  for (let i = 0; i < 3; i++) tickets.push((await (await issue(TOKEN)).json()).ticket);
  const fourth = await issue(TOKEN);
  assert.deepEqual(
    [fourth.status, await fourth.text()],
    [429, 'Cannot issue a ticket to "alice": 3 unused tickets are outstanding'],
  );
  // Another caller is not affected.
  const bobs = await issue("bob-token");
  assert.equal(bobs.status, 200);
  await bobs.body?.cancel();
  // Using a ticket frees its place.
  const upgrade = await rawRequest(new URL(`?ticket=${tickets[0]}`, server.url), {
    ...HANDSHAKE,
    "Sec-WebSocket-Protocol": "pow.v2",
  });
  assert.equal(upgrade.status, 101);
  const again = await issue(TOKEN);
  assert.equal(again.status, 200);
  await again.body?.cancel();
});

Deno.test("expired tickets are swept from the front: issuing stays O(1) with 60,000 outstanding", () => {
  let now = 1_000_000;
  const auth = new Authenticator({ tokens: [], anonymous: false, ticketTtl: 30_000 });
  // 60,000 outstanding tickets of 60,000 callers, none expired.
  for (let i = 0; i < 60_000; i++) auth.issueTicket({ id: `caller-${i}` }, { now: now + i / 10 });
  assert.equal(auth.outstandingTickets, 60_000);
  // Issuing more scans nothing that has not expired: the CPU time per issue against the empty
  // map. CPU time (not wall time) and the best of four rounds, so that a loaded machine's
  // preemption and GC pauses do not count.
  const time = (fn: () => void) => {
    const start = process.cpuUsage();
    fn();
    const used = process.cpuUsage(start);
    return (used.user + used.system) / 1000;
  };
  const best = (round: (r: number) => void) =>
    Math.min(...[0, 1, 2, 3].map((r) => time(() => round(r))));
  const alone = best((r) => {
    const empty = new Authenticator({ tokens: [], anonymous: false, ticketTtl: 30_000 });
    for (let i = 0; i < 500; i++) empty.issueTicket({ id: `x-${r}-${i}` }, { now });
  });
  const crowded = best((r) => {
    for (let i = 0; i < 500; i++) auth.issueTicket({ id: `y-${r}-${i}` }, { now: now + 6000 });
  });
  // A full scan per issue is 60,000 entries × 500 issues: hundreds of times slower.
  assert.ok(crowded < Math.max(alone, 1.25) * 20, `crowded ${crowded} ms, alone ${alone} ms`);
  // Once their time is up they are gone, oldest first, without a full scan per issue.
  now += 30_000 + 3000; // half of the first 60,000 have expired
  auth.issueTicket({ id: "late" }, { now });
  assert.equal(auth.outstandingTickets, 60_000 + 2000 + 1 - 30_001);
  now += 60_000;
  auth.issueTicket({ id: "later" }, { now });
  assert.equal(auth.outstandingTickets, 1);
});

Deno.test("a numeric user runs with that user's primary group from /etc/passwd, never gid 0", {
  ignore: Deno.uid() !== 0,
}, async () => {
  const passwd = Deno.readTextFileSync("/etc/passwd").split("\n").map((l) => l.split(":"));
  const nobody = passwd.find((f) => f[2] === "65534")!;
  const { parseConfig } = await import("../server/config.ts");
  const config = parseConfig(`
processes:
  numeric: { command: [sh, -c, 'id -u; id -g'], user: 65534, cwd: / }
  quoted: { command: [sh, -c, 'id -u; id -g'], user: "65534", cwd: / }
  grouped: { command: [sh, -c, 'id -u; id -g'], user: 65534, group: 100, cwd: / }
`);
  assert.equal(config.processes.numeric.kind === "command" && config.processes.numeric.gid, 65534);
  await using server = await startServer({
    configure(c) {
      Object.assign(c.processes, config.processes);
    },
  });
  for (
    const [name, expected] of [
      ["numeric", `65534\n${nobody[3]}\n`],
      ["quoted", `65534\n${nobody[3]}\n`],
      ["grouped", "65534\n100\n"],
    ]
  ) {
    const created = await (await fetch(new URL("api/v2/sessions", server.url), {
      method: "POST",
      body: JSON.stringify({ name, params: [] }),
    })).json();
    await waitUntil(async () => {
      const info = await (await fetch(new URL(`api/v2/sessions/${created.session}`, server.url)))
        .json();
      return info.state !== "running" && info.state !== "starting";
    });
    const output = await (await fetch(
      new URL(`api/v2/sessions/${created.session}/output?offset=0`, server.url),
    )).text();
    assert.equal(output, expected, name);
  }
});

Deno.test("a numeric user missing from /etc/passwd without a group is a config error", async () => {
  const { parseConfig } = await import("../server/config.ts");
  assert.throws(
    () => parseConfig("processes:\n  p: { command: [id], user: 4000123 }\n"),
    {
      message:
        'Invalid config "<config>" at processes.p.user (line 2): user 4000123 is not in /etc/passwd, so its primary group is unknown: set "group" as well',
    },
  );
  const config = parseConfig("processes:\n  p: { command: [id], user: 4000123, group: 65534 }\n");
  const p = config.processes.p;
  assert.deepEqual(p.kind === "command" && [p.uid, p.gid], [4000123, 65534]);
});

Deno.test("a session ends when its process exits even if a descendant that called setsid holds the pipe", async () => {
  const marker = `${3000 + Math.floor(Math.random() * 1000)}.${Date.now() % 1000}`;
  await using server = await startServer({
    configure(config) {
      config.sessions.killGrace = 300;
      config.processes.escape = defineCommand([
        "sh",
        "-c",
        // The escaped sleep tells through a fifo that it has left the group, so the shell
        // exits only after that (no race with the group signal).
        `d=$(mktemp -d); mkfifo "$d/f"; setsid sh -c "echo > '$d/f'; exec sleep ${marker}" & ` +
        `read _ < "$d/f"; rm -r "$d"; echo started`,
      ]);
    },
  });
  try {
    const created = await (await fetch(new URL("api/v2/sessions", server.url), {
      method: "POST",
      body: JSON.stringify({ name: "escape", params: [] }),
    })).json();
    const events = await withTimeout(
      (await fetch(new URL(`api/v2/sessions/${created.session}/events`, server.url))).text(),
      10_000,
      "the session's end",
    );
    assert.match(events, /event: exit\n/);
    assert.match(events, /"status":"fulfilled"/);
    assert.match(events, /started/);
    // The descendant did escape: it is still running (and is ended here).
    assert.equal(killByArg(marker), 1);
  } finally {
    killByArg(marker);
  }
});

/** Kills (SIGKILL) every process whose command line contains `arg`; returns how many. */
function killByArg(arg: string): number {
  let killed = 0;
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).split("\0");
      if (cmdline.includes(arg)) {
        Deno.kill(Number(entry.name), "SIGKILL");
        killed++;
      }
    } catch {
      // gone
    }
  }
  return killed;
}

/** Permissions like those `main.ts permissions` prints, without `--allow-run`. */
const SCOPED = [
  "--allow-net=127.0.0.1",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-sys",
];

/** Starts `main.ts` as a separate Deno process and waits for its `Listening on` line. */
async function serverProcess(configFile: string, permissions: string[] = ["-A"]) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...permissions, "main.ts", "--config", configFile, "--port", "0"],
    cwd: new URL("..", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/Listening on (\S+)/.test(text)) {
    const { value, done } = await withTimeout(lines.read(), 30_000, "Listening on");
    if (done) throw new Error(`the server stopped: ${text}`);
    text += value;
  }
  const url = new URL(/Listening on (\S+)/.exec(text)![1]);
  const stderr = new Response(child.stderr).text();
  return { child, url, lines, stderr };
}

/**
 * Three sessions of a shell with two sleeps, the server killed with SIGKILL: the next server,
 * started with the same permissions, ends all nine processes.
 */
async function crashRecovery(permissions?: string[]): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "pow-orphans-" });
  const marker = `${4000 + Math.floor(Math.random() * 1000)}.${Date.now() % 1000}`;
  const configFile = `${dir}/pow.yaml`;
  Deno.writeTextFileSync(
    configFile,
    `server: { stateDir: ${dir}/state }
processes:
  tree: { command: [sh, -c, 'sleep ${marker} & sleep ${marker}; echo unreachable'] }
`,
  );
  try {
    const first = await serverProcess(configFile, permissions);
    const pgids: number[] = [];
    for (let i = 0; i < 3; i++) {
      const created = await (await fetch(new URL("api/v2/sessions", first.url), {
        method: "POST",
        body: JSON.stringify({ name: "tree", params: [] }),
      })).json();
      pgids.push(created.pid);
    }
    // Each session is a shell with two sleeps: wait until all nine processes run.
    await waitUntil(() => pgids.every((pgid) => sessionMembers(pgid).length === 3));
    // And until the ledger lists the three groups (it is written in batches after a spawn).
    await waitUntil(() => {
      const ledger = [...Deno.readDirSync(`${dir}/state`)].find((e) => e.name.endsWith(".ledger"));
      const text = ledger ? Deno.readTextFileSync(`${dir}/state/${ledger.name}`) : "";
      return pgids.every((pgid) => text.includes(`\n+${pgid} `));
    });
    first.child.kill("SIGKILL");
    await first.child.status;
    await first.lines.cancel();
    await first.stderr;
    // The kernel does not end them: they are orphans now.
    assert.deepEqual(pgids.map((pgid) => sessionMembers(pgid).length), [3, 3, 3]);
    const second = await serverProcess(configFile, permissions);
    // Once the new server listens, nothing of the old sessions is left (zombies reaped by init
    // are gone quickly; only live members count).
    await waitUntil(() =>
      pgids.every((pgid) => sessionMembers(pgid).every((p) => p.state === "Z"))
    );
    assert.deepEqual(
      pgids.flatMap((pgid) => sessionMembers(pgid).filter((p) => p.state !== "Z")),
      [],
    );
    second.child.kill("SIGTERM");
    await second.child.status;
    await second.lines.cancel();
    assert.match(
      await second.stderr,
      /Ended 9 processes in 3 process groups that a stopped server left running/,
    );
  } finally {
    killByArg(marker);
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test(
  "after kill -9 of the server, the next start ends every process its sessions left",
  () => crashRecovery(),
);

Deno.test(
  "the same with scoped permissions: the ledger reads processes with ps, kill signals them",
  () => crashRecovery(SCOPED.concat("--allow-run=sh,sleep,kill,ps")),
);

Deno.test("without --allow-all (no /proc) and without ps: the server says the ledger is off and leaves other ledgers alone", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pow-scoped-ledger-" });
  const configFile = `${dir}/pow.yaml`;
  Deno.writeTextFileSync(
    configFile,
    `server: { stateDir: ${dir}/state }\nprocesses:\n  hi: { command: [sh, -c, 'echo hi'] }\n`,
  );
  // The ledger of another server (pid 1 is never a pow server) that a scoped server cannot check.
  Deno.mkdirSync(`${dir}/state`, { mode: 0o700 });
  const other = `${dir}/state/1.ledger`;
  Deno.writeTextFileSync(other, "pow-ledger 1 0 x\n+2147483000 5\n");
  const scoped = async (file: string) => {
    const server = await serverProcess(file, SCOPED.concat("--allow-run=sh,kill"));
    server.child.kill("SIGTERM");
    await server.child.status;
    await server.lines.cancel();
    return await server.stderr;
  };
  try {
    assert.match(
      await scoped(configFile),
      /WARN Cannot use state directory "[^"]+": cannot read \/proc \(Deno allows it only with --allow-all\) and may not run ps \(add it to --allow-run, or turn the ledger off with `server.stateDir: false`\); processes left by a crash will not be ended at the next start/,
    );
    assert.equal(Deno.readTextFileSync(other), "pow-ledger 1 0 x\n+2147483000 5\n");
    assert.deepEqual([...Deno.readDirSync(`${dir}/state`)].map((e) => e.name), ["1.ledger"]);
    // What the warning offers: with the ledger off, no warning.
    Deno.writeTextFileSync(
      configFile,
      `server: { stateDir: false }\nprocesses:\n  hi: { command: [sh, -c, 'echo hi'] }\n`,
    );
    assert.doesNotMatch(await scoped(configFile), /WARN/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "a run-as-user process runs in / when the server's directory is closed to it, and says why when its cwd is",
  ignore: Deno.uid() !== 0,
  async fn() {
    // The server runs in a directory only root may enter, as a clone under a 0700 home would.
    const closed = await Deno.makeTempDir({ prefix: "pow-closed-" });
    await Deno.chmod(closed, 0o700);
    const root = new URL("..", import.meta.url).pathname;
    const script = `
      import { defineCommand, SessionManager } from "${root}mod.ts";
      const manager = new SessionManager({
        processes: {
          here: defineCommand(["sh", "-c", "pwd; id -u; id -g"], { uid: 65534, gid: 65534 }),
          there: defineCommand(["pwd"], { uid: 65534, gid: 65534, cwd: ${JSON.stringify(closed)} }),
        },
      });
      const caller = { id: "test" };
      const here = manager.start("here", [], { caller });
      const reader = here.reader();
      let output = "";
      for (let chunks; (chunks = await reader.read()) !== null;) {
        for (const chunk of chunks) output += new TextDecoder().decode(chunk.data);
      }
      reader.close();
      console.log(JSON.stringify({ output, result: await here.result }));
      const there = manager.start("there", [], { caller });
      console.log(JSON.stringify({ result: await there.result }));
      await manager.close();
    `;
    try {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["eval", "--config", `${root}deno.json`, script],
        cwd: closed,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stdout = new TextDecoder().decode(out.stdout);
      assert.equal(out.code, 0, `${stdout}${new TextDecoder().decode(out.stderr)}`);
      const [here, there] = stdout.trim().split("\n").map((line) => JSON.parse(line));
      assert.deepEqual(here, {
        output: "/\n65534\n65534\n",
        result: { status: "fulfilled", value: null, exitCode: 0 },
      }, new TextDecoder().decode(out.stderr));
      assert.deepEqual(there.result, {
        status: "rejected",
        reason: `Cannot run "pwd": user 65534 cannot enter the working directory "${closed}"`,
        kind: "spawn",
      });
    } finally {
      await Deno.remove(closed, { recursive: true });
    }
  },
});

Deno.test("openapi.json never echoes the request's Host in servers", async () => {
  await using server = await startServer({
    configure(config) {
      config.server.basePath = "/pow/";
    },
  });
  for (const host of ["evil.example", "127.0.0.1:1", "attacker.test:8028"]) {
    const answer = await rawHttp(server.url, `GET /pow/openapi.json HTTP/1.1\r\nHost: ${host}`);
    assert.equal(answer.status, 200);
    assert.deepEqual(JSON.parse(answer.body).servers, [{ url: "/pow/" }]);
  }
});

Deno.test("a token named anonymous with auth.anonymous and {0} in a command are config errors", async () => {
  const { parseConfig } = await import("../server/config.ts");
  const hash = hashToken("x");
  assert.throws(
    () =>
      parseConfig(
        `auth:\n  anonymous: true\n  tokens:\n    - { name: ops, hash: "${hash}" }\n    - { name: anonymous, hash: "${hash}" }\n`,
      ),
    {
      message:
        'Invalid config "<config>" at auth.tokens[1].name (line 5): token name "anonymous" is what callers without a token are called (auth.anonymous is true): choose another name',
    },
  );
  // Without anonymous callers the name is just a name.
  parseConfig(`auth:\n  tokens:\n    - { name: anonymous, hash: "${hash}" }\n`);
  assert.throws(
    () =>
      parseConfig(
        "processes:\n  p:\n    command: [echo, '{0}', '{1}']\n    params: [{ name: a }]\n",
      ),
    {
      message:
        'Invalid config "<config>" at processes.p.command[1] (line 3): placeholder "{0}" names no param: params are numbered from {1}',
    },
  );
});

Deno.test("X-Pow-Offset of GET output with stream=stderr is the offset of the first stderr byte", async () => {
  await using server = await startServer({
    configure(config) {
      // stderr is written only once the test has seen stdout: the order is fixed.
      config.processes.both = defineCommand([
        "sh",
        "-c",
        "printf 0123456789; read line; printf err >&2",
      ]);
    },
  });
  const created = await (await fetch(new URL("api/v2/sessions", server.url), {
    method: "POST",
    body: JSON.stringify({ name: "both", params: [] }),
  })).json();
  const base = new URL(`api/v2/sessions/${created.session}/`, server.url);
  await waitUntil(async () =>
    (await (await fetch(new URL("output?offset=0", base))).text()) === "0123456789"
  );
  const input = await fetch(new URL("input", base), { method: "POST", body: "go\n" });
  assert.equal(input.status, 204);
  // Wait for the end, so that both streams are in the log.
  await (await fetch(new URL(`api/v2/sessions/${created.session}/events`, server.url))).text();
  const read = async (query: string) => {
    const response = await fetch(
      new URL(`api/v2/sessions/${created.session}/output?${query}`, server.url),
    );
    return [
      await response.text(),
      response.headers.get("x-pow-offset"),
      response.headers.get("x-pow-next-offset"),
    ];
  };
  assert.deepEqual(await read("offset=0&stream=stderr"), ["err", "10", "13"]);
  assert.deepEqual(await read("offset=0&stream=stdout"), ["0123456789", "0", "13"]);
  assert.deepEqual(await read("offset=0"), ["0123456789err", "0", "13"]);
  assert.deepEqual(await read("offset=4&stream=stderr"), ["err", "10", "13"]);
  // No byte of that stream: the offset where the read ended.
  assert.deepEqual(await read("offset=10&stream=stdout"), ["", "13", "13"]);
});

Deno.test("a plain GET of the base path under a base path points to the docs, as documented", async () => {
  await using server = await startServer({
    configure(config) {
      config.server.basePath = "/pow/";
    },
  });
  const response = await fetch(server.url);
  assert.equal(response.status, 200);
  assert.match(await response.text(), /^pow \(Process Over WebSocket\): open a WebSocket here/);
  const elsewhere = await fetch(new URL("nothing-here", server.url));
  assert.equal(elsewhere.status, 404);
  await elsewhere.body?.cancel();
});

Deno.test({
  name: "a command defined in code with a uid and no gid runs with that user's primary group",
  ignore: Deno.uid() !== 0,
  async fn() {
    const { SessionManager } = await import("../mod.ts");
    const manager = new SessionManager({
      processes: {
        ids: defineCommand(["sh", "-c", "id -u; id -g"], { uid: 65534, cwd: "/" }),
        unknown: defineCommand(["id"], { uid: 4000123, cwd: "/" }),
      },
    });
    try {
      const session = manager.start("ids", [], { caller: { id: "test" } });
      const reader = session.reader();
      let output = "";
      for (let chunks; (chunks = await reader.read()) !== null;) {
        for (const chunk of chunks) output += new TextDecoder().decode(chunk.data);
      }
      reader.close();
      assert.equal(output, "65534\n65534\n");
      assert.deepEqual(await manager.start("unknown", [], { caller: { id: "test" } }).result, {
        status: "rejected",
        reason:
          'Cannot run "id": user 4000123 has no primary group in /etc/passwd: give the process a gid',
        kind: "spawn",
      });
    } finally {
      await manager.close();
    }
  },
});
