/**
 * What the server tells its operator: where `GET /` leads, the log on stderr (text and JSON),
 * a port already in use, a public address without tokens, a configured program that does not
 * exist. Every test runs `main.ts` as documented (`deno run -A main.ts …`) or a real server.
 */
import assert from "node:assert/strict";
import { rawRequest, startServer, startServerProcess } from "./_helpers.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** A `main.ts` server started as a subprocess, its stdout's first line read. */
function serve(args: string[]) {
  return startServerProcess(Deno.execPath(), ["run", "-A", MAIN, ...args]);
}

/**
 * The warning of a server that ended processes a crashed server left (the state directory is
 * shared by every server of this user, so another test's crash can show up here).
 */
const SWEEP = /Ended \d+ processes in \d+ process groups that a stopped server left running/;

async function run(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

async function tempConfig(yaml: string): Promise<string> {
  const file = await Deno.makeTempFile({ suffix: ".yaml" });
  await Deno.writeTextFile(file, yaml);
  return file;
}

/** Runs `exit 3` over the native REST API and waits until the session has ended. */
async function runExit3(url: URL): Promise<string> {
  const started = await fetch(new URL("api/v2/sessions", url), {
    method: "POST",
    body: JSON.stringify({ name: "exit", params: ["3"] }),
  });
  assert.equal(started.status, 201);
  const { session } = await started.json();
  while (true) {
    const info = await (await fetch(new URL(`api/v2/sessions/${session}`, url))).json();
    if (info.state === "rejected") return session;
  }
}

Deno.test("GET / redirects a browser to the console at /console/ and points other clients there", async () => {
  await using server = await startServer({ configure: (c) => c.server.basePath = "/pow/" });
  const browser = await fetch(server.url, {
    headers: { accept: "text/html,application/xhtml+xml,*/*;q=0.8" },
    redirect: "manual",
  });
  assert.equal(browser.status, 302);
  assert.equal(browser.headers.get("location"), new URL("console/", server.url).href);
  await browser.body?.cancel();
  const page = await fetch(new URL("console/", server.url));
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<title>pow console<\/title>/);
  const docs = await fetch(new URL("docs/", server.url));
  assert.equal(docs.status, 200);
  assert.match(await docs.text(), /<title>pow API<\/title>/);

  const plain = await fetch(server.url);
  assert.equal(plain.status, 200);
  assert.equal(plain.headers.get("content-type"), "text/plain; charset=utf-8");
  assert.equal(
    await plain.text(),
    "pow (Process Over WebSocket): open a WebSocket here with subprotocol pow.v2 or pow-1.\n" +
      `Web console: ${server.url}console/\n` +
      `API documentation: ${server.url}docs/ (OpenAPI: ${server.url}openapi.json)\n`,
  );

  const json = await fetch(server.url, { headers: { accept: "application/json" } });
  assert.equal(json.status, 200);
  const body = await json.json();
  assert.deepEqual([body.name, body.subprotocols, body.console, body.docs, body.openapi], [
    "pow",
    ["pow.v2", "pow-1"],
    `${server.url}console/`,
    `${server.url}docs/`,
    `${server.url}openapi.json`,
  ]);

  // A WebSocket upgrade without a subprotocol is still refused as pow-1 refuses it.
  const upgrade = await rawRequest(server.url, {
    Upgrade: "websocket",
    Connection: "Upgrade",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
  });
  assert.deepEqual([upgrade.status, upgrade.body], [
    403,
    "client does not support required pow-1 subprotocol",
  ]);
});

Deno.test("GET / redirects a browser to /docs/ when the console is turned off", async () => {
  await using server = await startServer({ configure: (c) => c.console.enabled = false });
  const browser = await fetch(server.url, {
    headers: { accept: "text/html,application/xhtml+xml,*/*;q=0.8" },
    redirect: "manual",
  });
  assert.equal(browser.status, 302);
  assert.equal(browser.headers.get("location"), new URL("docs/", server.url).href);
  await browser.body?.cancel();
  const page = await fetch(new URL("console/", server.url));
  assert.equal(page.status, 404);
  await page.body?.cancel();

  const plain = await fetch(server.url);
  assert.equal(
    await plain.text(),
    "pow (Process Over WebSocket): open a WebSocket here with subprotocol pow.v2 or pow-1.\n" +
      `API documentation: ${server.url}docs/ (OpenAPI: ${server.url}openapi.json)\n`,
  );
  const json = await fetch(server.url, { headers: { accept: "application/json" } });
  const body = await json.json();
  assert.deepEqual([body.console, body.docs], [undefined, `${server.url}docs/`]);
});

Deno.test("GET / is public when tokens are required, WebSocket upgrades are not", async () => {
  await using server = await startServer({
    configure: (c) => c.auth.tokens = [{ name: "ops", hash: "sha256:" + "0".repeat(64) }],
  });
  const plain = await fetch(server.url);
  assert.equal(plain.status, 200);
  await plain.body?.cancel();
  const upgrade = await rawRequest(server.url, {
    Upgrade: "websocket",
    Connection: "Upgrade",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Protocol": "pow.v2",
  });
  assert.equal(upgrade.status, 401);
});

Deno.test("serve logs a startup summary and each session's start and end as text on stderr", async () => {
  const server = await serve(["--port", "0"]);
  const session = await runExit3(server.url);
  const { code, stdout, stderr } = await server.stop();
  assert.equal(code, 0);
  assert.equal(stdout, `Listening on ${server.url}\n`, "only the Listening line on stdout");
  const lines = stderr.trimEnd().split("\n").filter((line) => !SWEEP.test(line));
  const time = String.raw`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z`;
  assert.match(
    lines[0],
    new RegExp(
      `^${time} INFO listening url=${server.url} config="embedded demo config" ` +
        "processes=echo,ticker,count,greet,cat,wc,yes,sleep,exit,terminal,date " +
        "frontEnds=pow-1,pow-1-rest,openapi,pow.v2,pow.v2-rest,further-link,monorail,console,wubsub " +
        "auth=none$",
    ),
  );
  assert.match(
    lines[1],
    new RegExp(
      `^${time} INFO session started session=${session} process=exit caller=anonymous ` +
        "via=pow.v2-rest address=127.0.0.1 pid=\\d+$",
    ),
  );
  assert.match(
    lines[2],
    new RegExp(
      `^${time} INFO session ended session=${session} process=exit caller=anonymous ` +
        'via=pow.v2-rest address=127.0.0.1 status=rejected exitCode=3 kind=error reason="exit status 3" duration=\\d+\\.\\d{3}s$',
    ),
  );
  assert.match(lines[3], new RegExp(`^${time} INFO stopping$`));
  assert.match(lines[4], new RegExp(`^${time} INFO stopped$`));
  assert.equal(lines.length, 5, stderr);
});

Deno.test("serve --log-format json writes one JSON object per line; --log-level warn only warnings", async () => {
  const server = await serve(["--port", "0", "--log-format", "json"]);
  const session = await runExit3(server.url);
  const { code, stdout, stderr } = await server.stop();
  assert.equal(code, 0);
  assert.equal(stdout, `Listening on ${server.url}\n`);
  const records = stderr.trimEnd().split("\n").map((line) => JSON.parse(line))
    .filter((record) => !SWEEP.test(record.msg));
  for (const record of records) {
    assert.ok(!Number.isNaN(Date.parse(record.time)), record.time);
    delete record.time;
  }
  const { pid } = records[1];
  assert.ok(Number.isInteger(pid) && pid > 0, String(pid));
  assert.match(records[2].duration, /^\d+\.\d{3}s$/);
  delete records[2].duration;
  const who = {
    session,
    process: "exit",
    caller: "anonymous",
    via: "pow.v2-rest",
    address: "127.0.0.1",
  };
  assert.deepEqual(records, [
    {
      level: "info",
      msg: "listening",
      url: server.url.href,
      config: "embedded demo config",
      processes: [
        "echo",
        "ticker",
        "count",
        "greet",
        "cat",
        "wc",
        "yes",
        "sleep",
        "exit",
        "terminal",
        "date",
      ],
      frontEnds: [
        "pow-1",
        "pow-1-rest",
        "openapi",
        "pow.v2",
        "pow.v2-rest",
        "further-link",
        "monorail",
        "console",
        "wubsub",
      ],
      auth: "none",
    },
    { level: "info", msg: "session started", ...who, pid },
    {
      level: "info",
      msg: "session ended",
      ...who,
      status: "rejected",
      exitCode: 3,
      kind: "error",
      reason: "exit status 3",
    },
    { level: "info", msg: "stopping" },
    { level: "info", msg: "stopped" },
  ]);

  const quiet = await serve(["--port", "0", "--log-level", "warn"]);
  await runExit3(quiet.url);
  const stopped = await quiet.stop();
  assert.equal(stopped.code, 0);
  // Nothing but warnings (e.g. about processes a crashed server left, should there be any).
  const warnings = stopped.stderr.split("\n").filter(Boolean);
  assert.deepEqual(warnings.filter((line) => !/^\S+Z WARN /.test(line)), [], stopped.stderr);

  const bad = await run(["--log-level", "loud"]);
  assert.deepEqual([bad.code, bad.stderr], [
    2,
    'pow: invalid --log-level "loud": expected debug, info, warn, error, off\n',
  ]);
});

Deno.test("serve on a port already in use exits 1 with one line and no stack trace", async () => {
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = taken.addr;
  const { code, stdout, stderr } = await run(["--port", String(port)]);
  assert.deepEqual([code, stdout, stderr], [
    1,
    "",
    `pow: cannot listen on 127.0.0.1:${port}: the address is already in use\n`,
  ]);
  // Without permission for the address (scoped flags): the same one line, no stack trace.
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-ffi",
      "--allow-env",
      "--allow-run",
      "--allow-net=127.0.0.1:1",
      MAIN,
      "--port",
      "0",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.deepEqual([out.code, new TextDecoder().decode(out.stderr)], [
    1,
    'pow: cannot listen on 127.0.0.1:0: Requires net access to "127.0.0.1:0", run again with the --allow-net flag\n',
  ]);
});

Deno.test("serve --host 0.0.0.0 without tokens warns loudly; with tokens it does not", async () => {
  const open = await serve(["--host", "0.0.0.0", "--port", "0", "--log-level", "warn"]);
  assert.equal(open.url.hostname, "0.0.0.0");
  const { code, stderr } = await open.stop();
  assert.equal(code, 0);
  assert.match(
    stderr,
    /^\S+Z WARN listening on 0\.0\.0\.0 without authentication: anyone who can reach this port can run every configured process; configure auth\.tokens \(see docs\/security\.md\) or listen on 127\.0\.0\.1\n$/,
  );
  const file = await tempConfig(
    `auth:\n  tokens: [{ name: ops, hash: "sha256:${"0".repeat(64)}" }]\n` +
      "processes:\n  date: { command: [date] }\n",
  );
  const closed = await serve(["--config", file, "--host", "0.0.0.0", "--port", "0"]);
  const stopped = await closed.stop();
  assert.equal(stopped.code, 0);
  assert.doesNotMatch(stopped.stderr, /WARN/);
  await Deno.remove(file);
});

Deno.test("serve -A exits 2 at startup naming the key path of a program that does not exist", async () => {
  const file = await tempConfig(
    "processes:\n  date: { command: [date] }\n  backup: { command: [bakup-not-installed, -v] }\n" +
      "  tool: { command: [/opt/no/such/tool] }\n",
  );
  const { code, stdout, stderr } = await run(["--config", file, "--port", "0"]);
  assert.equal(code, 2);
  assert.equal(stdout, "");
  const lines = stderr.trimEnd().split("\n").filter((line) => !SWEEP.test(line));
  assert.match(
    lines[0],
    new RegExp(
      `^pow: Invalid config "${file}" at processes\\.backup\\.command\\[0\\]: program "bakup-not-installed" was not found in PATH \\(.+\\)$`,
    ),
  );
  assert.equal(
    lines[1],
    `pow: Invalid config "${file}" at processes.tool.command[0]: program "/opt/no/such/tool" does not exist or is not executable`,
  );
  assert.equal(lines.length, 2, stderr);
  await Deno.remove(file);
});
