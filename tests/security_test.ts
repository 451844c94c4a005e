/**
 * End-to-end tests of access control across all five front ends (pow-1 WebSocket and REST,
 * pow.v2 WebSocket and REST, further-link): authentication before any upgrade or route,
 * `allow` lists, listings, session ownership, origins, tickets, the browser-style subprotocol
 * token, and what reaches a child (argv verbatim, scrubbed environment, `cwd`).
 *
 * @module
 */

import assert from "node:assert/strict";
import { defineCommand, hashToken, type PowConfig } from "../mod.ts";
import { rawRequest, startServer, type TestServer, waitUntil } from "./_helpers.ts";
import { V2Client } from "./_native.ts";

const ALICE = "alice-token-1"; // role "admins": may run "secret"
const BOB = "bob-token-2";
const HANDSHAKE = {
  Upgrade: "websocket",
  Connection: "Upgrade",
  "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
  "Sec-WebSocket-Version": "13",
};
/** The three WebSocket front ends: path and subprotocols offered. */
const SOCKETS: [string, string, string[]][] = [
  ["pow-1", "", ["pow-1"]],
  ["pow.v2", "", ["pow.v2"]],
  ["further-link", "run", []],
];
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const b64url = (text: string) =>
  btoa(String.fromCharCode(...new TextEncoder().encode(text)))
    .replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");

interface Fixture extends AsyncDisposable {
  server: TestServer;
  workDir: string;
  /** `fetch` relative to the base URL. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
}

/** All built-in front ends, two tokens, further-link enabled, and a few test processes. */
async function serve(configure?: (config: PowConfig) => void): Promise<Fixture> {
  const workDir = await Deno.makeTempDir({ prefix: "pow-security-" });
  const server = await startServer({
    configure(config) {
      config.auth.tokens = [
        { name: "alice", hash: hashToken(ALICE), roles: ["admins"] },
        { name: "bob", hash: hashToken(BOB) },
      ];
      config.furtherLink = {
        enabled: true,
        path: "/run",
        workDir,
        runners: { shell: "shell", secret: "secret" },
      };
      Object.assign(config.processes, {
        secret: defineCommand(["echo", "the secret"], { allow: ["admins"] }),
        shell: defineCommand(["sh"]),
        argv: defineCommand(["printf", "[%s]\\n", "{*}"], {
          params: [{ name: "args", variadic: true }],
        }),
        env: defineCommand(["env"], { env: { DECLARED: "yes", LD_FOO: "never" } }),
        pwd: defineCommand(["pwd"], { cwd: workDir }),
      });
      configure?.(config);
    },
  });
  return {
    server,
    workDir,
    fetch: (path, init) => fetch(new URL(path, server.url), init),
    async [Symbol.asyncDispose]() {
      await server.shutdown();
      await Deno.remove(workDir, { recursive: true });
    },
  };
}

/** A WebSocket that records text and binary frames, for pow-1 and further-link. */
class Socket {
  readonly ws: WebSocket;
  readonly texts: string[] = [];
  readonly binaries: string[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;

  constructor(url: URL | string, protocols: string[], headers: Record<string, string> = {}) {
    this.ws = new WebSocket(url, { protocols, headers });
    this.ws.binaryType = "arraybuffer";
    const opened = Promise.withResolvers<void>();
    this.opened = opened.promise;
    this.opened.catch(() => {});
    this.closed = new Promise((resolve) => {
      this.ws.onclose = ({ code, reason }) => {
        opened.reject(new Error(`closed before opening: ${code}`));
        resolve({ code, reason });
      };
    });
    this.ws.onopen = () => opened.resolve();
    this.ws.onerror = () => {};
    this.ws.onmessage = ({ data }) => {
      if (typeof data === "string") this.texts.push(data);
      else this.binaries.push(new TextDecoder().decode(data as ArrayBuffer));
    };
  }

  /** Sends a JSON message: binary for pow-1, text for further-link. */
  send(message: unknown, binary = true): void {
    const text = JSON.stringify(message);
    this.ws.send(binary ? new TextEncoder().encode(text) : text);
  }

  /** Waits for a text frame matching `predicate`. */
  async text(predicate: (text: string) => boolean): Promise<string> {
    await waitUntil(() => this.texts.some(predicate), 10_000, "a text frame");
    return this.texts.find(predicate)!;
  }

  async close(): Promise<void> {
    if (this.ws.readyState < WebSocket.CLOSING) this.ws.close();
    await this.closed;
  }
}

/** Makes a pow-1 WebSocket call and returns its output texts and result (the first binary frame). */
async function pow1Call(
  url: URL,
  headers: Record<string, string>,
  call: string,
  params: string[] = [],
): Promise<{ output: string; result: unknown }> {
  const socket = new Socket(url, ["pow-1"], headers);
  await socket.opened;
  socket.send({ call, params });
  await waitUntil(() => socket.binaries.length > 0, 10_000, "a pow-1 result");
  await socket.closed;
  return { output: socket.texts.join(""), result: JSON.parse(socket.binaries[0]) };
}

/** Starts a pow-1 REST session and waits for its final status. */
async function pow1Rest(
  fx: Fixture,
  token: string,
  call: string,
  params: string[] = [],
): Promise<{ id: string; status: { buffer?: string; result: { status: string } } }> {
  const response = await fx.fetch("new", {
    method: "POST",
    headers: bearer(token),
    body: JSON.stringify({ call, params }),
  });
  assert.equal(response.status, 200);
  const id = await response.json() as string;
  let status!: { buffer?: string; result: { status: string } };
  await waitUntil(
    async () => {
      const answer = await fx.fetch(`status/${id}`, { headers: bearer(token) });
      status = await answer.json();
      return status.result.status !== "pending";
    },
    10_000,
    "a pow-1 REST result",
  );
  return { id, status };
}

Deno.test("a stranger gets 401 before any upgrade on every WebSocket front end", async () => {
  await using fx = await serve();
  const { server } = fx;
  const strangers: [string, Record<string, string>, string][] = [
    ["no token", {}, "authentication required"],
    ["a wrong bearer token", bearer("guess"), "invalid token"],
    [
      "a 5,000-character bearer token (refused unhashed)",
      bearer("x".repeat(5_000)),
      "invalid token: longer than 1024 characters",
    ],
    [
      "a wrong subprotocol token",
      { "Sec-WebSocket-Protocol": `pow.token.${b64url("guess")}` },
      "invalid token",
    ],
  ];
  for (
    const [frontEnd, path, protocols] of [...SOCKETS, ["unknown version", "", ["pow.v9"]]] as const
  ) {
    for (const [who, headers, reason] of strangers) {
      const offered = [...protocols, headers["Sec-WebSocket-Protocol"]].filter(Boolean).join(", ");
      const response = await rawRequest(new URL(path, server.url), {
        ...HANDSHAKE,
        ...headers,
        ...(offered ? { "Sec-WebSocket-Protocol": offered } : {}),
      });
      const what = `${frontEnd} with ${who}`;
      assert.equal(response.status, 401, what);
      assert.equal(response.headers["www-authenticate"], 'Bearer realm="pow"', what);
      assert.equal(response.headers["upgrade"], undefined, what);
      assert.ok(response.body.startsWith(reason), `${what}: ${response.body}`);
    }
    const ticket = await rawRequest(new URL(`${path}?ticket=forged`, server.url), {
      ...HANDSHAKE,
      ...(protocols.length ? { "Sec-WebSocket-Protocol": protocols.join(", ") } : {}),
    });
    assert.deepEqual([ticket.status, ticket.body], [401, "invalid or expired ticket"], frontEnd);
  }
  assert.equal(server.running.server.connections, 0);
  assert.equal(server.running.server.manager.registry.size, 0);
});

Deno.test("a stranger gets 401 on every REST route; only the API description stays public", async () => {
  await using fx = await serve();
  const doc = await (await fx.fetch("openapi.json")).json() as {
    paths: Record<string, Record<string, unknown>>;
  };
  const routes: [string, string][] = [
    ["POST", "tickets"],
    ["GET", "status"], // further-link
    ["POST", "upload"], // further-link
    ["GET", "no/such/route"],
  ];
  for (const [path, item] of Object.entries(doc.paths)) {
    // The root (without an upgrade), the document and Swagger UI are public.
    if (path === "/" || /^\/(openapi\.json|docs\/)/.test(path)) continue;
    for (const method of Object.keys(item)) {
      routes.push([method.toUpperCase(), path.slice(1).replace("{id}", "some-id")]);
    }
  }
  assert.ok(routes.length >= 20, `only ${routes.length} routes`);
  const body = JSON.stringify({ call: "count", name: "count", params: ["1"] });
  for (const [method, path] of routes) {
    for (const headers of [{}, bearer("guess")]) {
      const response = await fx.fetch(path, {
        method,
        headers,
        body: method === "POST" ? body : undefined,
      });
      const text = await response.text();
      assert.equal(response.status, 401, `${method} /${path}: ${text}`);
      assert.equal(response.headers.get("www-authenticate"), 'Bearer realm="pow"');
    }
  }
  assert.equal(fx.server.running.server.manager.registry.size, 0, "nothing was started");
  for (const path of ["", "openapi.json", "docs/"]) {
    const response = await fx.fetch(path);
    assert.equal(response.status, 200, path);
    await response.body?.cancel();
  }
});

Deno.test("a known caller refused a process gets authorization denied on every front end", async () => {
  await using fx = await serve();
  const ws = fx.server.wsUrl;
  const denied = { status: "rejected", reason: "failed to get process: authorization denied" };
  // pow-1 WebSocket
  assert.deepEqual((await pow1Call(ws, bearer(BOB), "secret")).result, denied);
  assert.deepEqual(await pow1Call(ws, bearer(ALICE), "secret"), {
    output: "the secret\n",
    result: { status: "fulfilled", value: null },
  });
  // pow-1 REST
  assert.deepEqual((await pow1Rest(fx, BOB, "secret")).status, { result: denied });
  assert.deepEqual((await pow1Rest(fx, ALICE, "secret")).status.result, {
    status: "fulfilled",
    value: null,
  });
  // pow.v2 WebSocket
  {
    await using bob = await V2Client.connect(ws.href, { token: BOB });
    const answer = await bob.request({ type: "start", id: 1, name: "secret", params: [] });
    assert.equal("code" in answer && answer.code, "not_allowed");
  }
  // pow.v2 REST
  const rest = await fx.fetch("api/v2/sessions", {
    method: "POST",
    headers: bearer(BOB),
    body: JSON.stringify({ name: "secret" }),
  });
  assert.equal(rest.status, 403);
  assert.equal((await rest.json()).code, "not_allowed");
  // further-link
  const further = new Socket(new URL("run", ws), [], bearer(BOB));
  await further.opened;
  further.send({ type: "start", process: "1", data: { runner: "secret" } }, false);
  const error = JSON.parse(await further.text((t) => JSON.parse(t).type === "error"));
  assert.match(error.data.message, /caller "bob" is not allowed to run it/);
  await further.close();
});

Deno.test("listings show only the processes the caller may call", async () => {
  await using fx = await serve();
  const viaRest = async (token: string) => {
    const response = await fx.fetch("api/v2/processes", { headers: bearer(token) });
    return ((await response.json()).processes as { name: string }[]).map((p) => p.name);
  };
  const viaSocket = async (token: string) => {
    await using client = await V2Client.connect(fx.server.wsUrl.href, { token });
    const answer = await client.request({ type: "processes" });
    assert(answer.type === "processes");
    return answer.processes.map((p) => p.name);
  };
  for (const list of [viaRest, viaSocket]) {
    const alice = await list(ALICE);
    const bob = await list(BOB);
    assert.ok(alice.includes("secret") && alice.includes("count"));
    assert.ok(!bob.includes("secret") && bob.includes("count"));
    assert.deepEqual(alice.filter((name) => !bob.includes(name)), ["secret"]);
  }
});

Deno.test("sessions are visible only to their owner on every front end that exposes ids", async () => {
  await using fx = await serve();
  const { server } = fx;
  const ws = server.wsUrl.href;
  // alice's pow-1 REST session
  const started = await fx.fetch("new", {
    method: "POST",
    headers: bearer(ALICE),
    body: JSON.stringify({ call: "sleep", params: ["30"] }),
  });
  const restId = await started.json() as string;
  for (
    const [method, path] of [
      ["GET", "status"],
      ["POST", "input"],
      ["POST", "closeInput"],
      ["POST", "cancel"],
    ]
  ) {
    const response = await fx.fetch(`${path}/${restId}`, {
      method,
      headers: bearer(BOB),
      body: method === "POST" ? "x" : undefined,
    });
    assert.deepEqual([response.status, await response.text()], [404, "process not found"], path);
  }
  const mine = await fx.fetch(`status/${restId}`, { headers: bearer(ALICE) });
  assert.deepEqual(await mine.json(), { result: { status: "pending" } });
  // alice's pow.v2 session, seen from bob's pow.v2 WebSocket, pow.v2 REST and pow-1 REST
  await using alice = await V2Client.connect(ws, { token: ALICE });
  const v2 = await alice.start(1, "sleep", ["30"]);
  await using bob = await V2Client.connect(ws, { token: BOB });
  const list = await bob.request({ type: "list" });
  assert.deepEqual(list.type === "sessions" && list.sessions, []);
  for (const session of [v2.session, restId]) {
    const attach = await bob.request({ type: "attach", id: 7, session });
    assert.equal("code" in attach && attach.code, "unknown_session");
    const rest = await fx.fetch(`api/v2/sessions/${session}`, { headers: bearer(BOB) });
    assert.deepEqual([rest.status, (await rest.json()).code], [404, "unknown_session"]);
  }
  const sideways = await fx.fetch(`status/${v2.session}`, { headers: bearer(BOB) });
  assert.deepEqual([sideways.status, await sideways.text()], [404, "process not found"]);
  // further-link process ids belong to their connection
  const owner = new Socket(new URL("run", ws), [], bearer(ALICE));
  const other = new Socket(new URL("run", ws), [], bearer(BOB));
  await Promise.all([owner.opened, other.opened]);
  owner.send({ type: "start", process: "1", data: { runner: "shell" } }, false);
  await owner.text((t) => JSON.parse(t).type === "started");
  other.send({ type: "stop", process: "1" }, false);
  await other.text((t) => JSON.parse(t).type === "error");
  other.send({ type: "stdin", process: "1", data: { input: "echo stolen\n" } }, false);
  await waitUntil(() => other.texts.length === 2, 5000, "a second error");
  assert.deepEqual(other.texts.map((t) => JSON.parse(t).type), ["error", "error"]);
  owner.send({ type: "stdin", process: "1", data: { input: "echo mine\nexit 0\n" } }, false);
  await owner.text((t) => JSON.parse(t).type === "stopped");
  assert.ok(owner.texts.some((t) => t.includes("mine")));
  assert.ok(!owner.texts.some((t) => t.includes("stolen")));
  await Promise.all([owner.close(), other.close()]);
  // alice's sessions were untouched by all of that
  assert.equal(server.running.server.manager.get(restId)!.state, "running");
  assert.equal(server.running.server.manager.get(v2.session)!.state, "running");
  alice.send({ type: "signal", id: 1, signal: "kill" });
  await alice.exit(1);
  await fx.fetch(`cancel/${restId}`, { method: "POST", headers: bearer(ALICE) }).then((r) =>
    r.text()
  );
});

Deno.test("WebSocket upgrades from another origin are refused with 403 on every front end", async () => {
  for (
    const [origins, allowed, refused] of [
      [[], ["SAME", undefined], ["http://evil.example", "null", "http://127.0.0.1.evil.example"]],
      [["https://app.example"], ["https://app.example", "SAME"], ["https://other.example"]],
      [["*"], ["https://anything.example", "null"], []],
    ] as [string[], (string | undefined)[], string[]][]
  ) {
    await using fx = await serve((config) => (config.server.origins = origins));
    const same = fx.server.url.origin;
    for (const [frontEnd, path, protocols] of SOCKETS) {
      const handshake = (origin: string | undefined) =>
        rawRequest(new URL(path, fx.server.url), {
          ...HANDSHAKE,
          ...bearer(ALICE),
          ...(protocols.length ? { "Sec-WebSocket-Protocol": protocols.join(", ") } : {}),
          ...(origin ? { Origin: origin === "SAME" ? same : origin } : {}),
        });
      for (const origin of allowed) {
        const response = await handshake(origin);
        assert.equal(response.status, 101, `${frontEnd} from ${origin} with ${origins}`);
      }
      for (const origin of refused) {
        const response = await handshake(origin);
        assert.deepEqual(
          [response.status, response.body],
          [403, `origin not allowed: ${origin}`],
          `${frontEnd} from ${origin} with ${origins}`,
        );
      }
    }
    await waitUntil(() => fx.server.running.server.connections === 0, 5000, "sockets closed");
  }
});

Deno.test("a cross-origin REST request cannot start a process, even with a token", async () => {
  await using fx = await serve();
  for (
    const [path, body] of [
      ["new", { call: "count", params: ["1"] }],
      ["api/v2/sessions", { name: "count", params: ["1"] }],
    ]
  ) {
    const refused = await fx.fetch(path as string, {
      method: "POST",
      headers: { ...bearer(ALICE), origin: "http://evil.example" },
      body: JSON.stringify(body),
    });
    assert.deepEqual(
      [refused.status, await refused.text()],
      [403, "origin not allowed: http://evil.example"],
    );
  }
  assert.equal(fx.server.running.server.manager.registry.size, 0);
  const same = await fx.fetch("api/v2/processes", {
    headers: { ...bearer(ALICE), origin: fx.server.url.origin },
  });
  assert.equal(same.status, 200);
  await same.body?.cancel();
});

Deno.test("tickets from POST /tickets open each WebSocket front end once, as their caller", async () => {
  await using fx = await serve();
  const ticket = async (token: string) => {
    const response = await fx.fetch("tickets", { method: "POST", headers: bearer(token) });
    assert.equal(response.status, 200);
    const body = await response.json();
    assert.equal(body.expiresIn, 30);
    assert.match(body.ticket, /^[A-Za-z0-9_-]{32}$/);
    return body.ticket as string;
  };
  // pow.v2: the ticket stands for bob, and works once
  const bobs = await ticket(BOB);
  const url = `${fx.server.wsUrl.href}?ticket=${bobs}`;
  {
    await using client = await V2Client.connect(url);
    const answer = await client.request({ type: "start", id: 1, name: "secret", params: [] });
    assert.equal("code" in answer && answer.code, "not_allowed");
  }
  const again = await rawRequest(new URL(`?ticket=${bobs}`, fx.server.url), {
    ...HANDSHAKE,
    "Sec-WebSocket-Protocol": "pow.v2",
  });
  assert.deepEqual([again.status, again.body], [401, "invalid or expired ticket"]);
  // pow-1: alice's ticket lets her run "secret"
  const pow1 = await pow1Call(
    new URL(`?ticket=${await ticket(ALICE)}`, fx.server.wsUrl),
    {},
    "secret",
  );
  assert.deepEqual(pow1.result, { status: "fulfilled", value: null });
  // further-link
  const further = new Socket(new URL(`run?ticket=${await ticket(ALICE)}`, fx.server.wsUrl), []);
  await further.opened;
  further.send({ type: "ping", process: "p" }, false);
  assert.deepEqual(JSON.parse(await further.text(() => true)), { type: "pong", process: "p" });
  await further.close();
});

Deno.test("tickets expire after auth.ticketTtl", async () => {
  await using fx = await serve((config) => (config.auth.ticketTtl = 200));
  const response = await fx.fetch("tickets", { method: "POST", headers: bearer(ALICE) });
  const { ticket, expiresIn } = await response.json();
  assert.equal(expiresIn, 0.2);
  await new Promise((resolve) => setTimeout(resolve, 400));
  const late = await rawRequest(new URL(`?ticket=${ticket}`, fx.server.url), {
    ...HANDSHAKE,
    "Sec-WebSocket-Protocol": "pow.v2",
  });
  assert.deepEqual([late.status, late.body], [401, "invalid or expired ticket"]);
});

Deno.test("pow.v2 accepts a browser-style pow.token.* subprotocol entry and never echoes it", async () => {
  await using fx = await serve();
  const token = "ÿ~?>token"; // base64url needs "-" and "_" for these bytes
  const config = fx.server.running.server.config;
  config.auth.tokens.push({ name: "browser", hash: hashToken(token), roles: ["admins"] });
  assert.match(b64url(token), /[-_]/);
  await using client = await V2Client.connect(fx.server.wsUrl.href, {
    protocols: ["pow.v2", `pow.token.${b64url(token)}`],
  });
  assert.equal(client.ws.protocol, "pow.v2");
  const started = await client.start(1, "secret");
  assert.ok(started.session);
  const exit = await client.exit(1);
  assert.deepEqual(exit.result, { status: "fulfilled", value: null, exitCode: 0 });
  assert.equal(client.channel(1).stdout, "the secret\n");
  assert.equal(fx.server.running.server.manager.get(started.session)!.caller.id, "browser");
});

Deno.test("a param with shell metacharacters reaches the process verbatim through pow-1 and pow.v2", async () => {
  await using fx = await serve();
  const marker = `${fx.workDir}/pwned`;
  const params = [
    `$(touch ${marker}) \`touch ${marker}\``,
    `; touch ${marker} && echo || true | cat > ${marker}`,
    `'"\\ * ? ~ $HOME \${PATH} %s`,
    "two\nlines",
  ];
  const expected = params.map((p) => `[${p}]\n`).join("");
  const viaPow1 = await pow1Call(fx.server.wsUrl, bearer(ALICE), "argv", params);
  assert.deepEqual(viaPow1, { output: expected, result: { status: "fulfilled", value: null } });
  await using client = await V2Client.connect(fx.server.wsUrl.href, { token: ALICE });
  await client.start(1, "argv", params);
  assert.equal((await client.exit(1)).result.status, "fulfilled");
  assert.equal(client.channel(1).stdout, expected);
  await assert.rejects(Deno.stat(marker), Deno.errors.NotFound);
});

Deno.test("a child gets only PATH, HOME, LANG and its declared variables, never LD_*, in its cwd", async () => {
  Deno.env.set("POW_SECURITY_SECRET", "leak");
  try {
    await using fx = await serve();
    const { output } = await pow1Call(fx.server.wsUrl, bearer(ALICE), "env");
    const names = output.trim().split("\n").map((line) => line.split("=")[0]);
    assert.ok(names.includes("DECLARED") && names.includes("PATH"), names.join(","));
    assert.deepEqual(names.filter((n) => !["PATH", "HOME", "LANG", "DECLARED"].includes(n)), []);
    const pwd = await pow1Call(fx.server.wsUrl, bearer(ALICE), "pwd");
    assert.equal(pwd.output, `${await Deno.realPath(fx.workDir)}\n`);
  } finally {
    Deno.env.delete("POW_SECURITY_SECRET");
  }
});

Deno.test("the server refuses to start when a process's cwd does not exist", async () => {
  const file = await Deno.makeTempFile({ suffix: ".yaml" });
  await Deno.writeTextFile(file, "processes:\n  ls: { command: [ls], cwd: /no/such/dir }\n");
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../main.ts", import.meta.url).pathname, "--config", file],
    stdout: "piped",
    stderr: "piped",
  }).output();
  await Deno.remove(file);
  assert.equal(output.code, 2);
  assert.equal(new TextDecoder().decode(output.stdout), "");
  assert.match(
    new TextDecoder().decode(output.stderr),
    /process "ls": working directory "\/no\/such\/dir" does not exist or is not a directory/,
  );
});

Deno.test("an anonymous server refuses requests for other host names (DNS rebinding)", async () => {
  await using server = await startServer({
    configure(config) {
      config.server.hosts = ["pow.internal"];
    },
  });
  const port = server.url.port;
  const get = async (host: string) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(port) });
    await conn.write(
      new TextEncoder().encode(
        `GET /status/x HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
      ),
    );
    return await new Response(conn.readable).text();
  };
  const evil = await get(`rebind.evil.example:${port}`);
  assert.match(evil, /^HTTP\/1\.1 403 /);
  assert.ok(evil.includes("host not allowed: rebind.evil.example"), evil);
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `pow.internal:${port}`]) {
    assert.match(await get(host), /^HTTP\/1\.1 404 /, host);
  }
  // Host names are remembered once parsed: a stranger's flood of names changes no answer.
  for (let i = 0; i < 300; i++) await get(`flood${i}.evil.example`);
  assert.match(await get(`REBIND.evil.example:${port}`), /^HTTP\/1\.1 403 /);
  assert.match(await get(`POW.internal:${port}`), /^HTTP\/1\.1 404 /);
  assert.match(await get(`pow.internal:${port}`), /^HTTP\/1\.1 404 /);
});

Deno.test("a ticket is read from the query wherever it is, percent-encoded name included", async () => {
  await using server = await startServer({
    configure(config) {
      config.auth.tokens = [{ name: "alice", hash: hashToken("secret") }];
    },
  });
  const issued = await (await fetch(new URL("tickets", server.url), {
    method: "POST",
    headers: { authorization: "Bearer secret" },
  })).json();
  // `%74icket` is `ticket`: the query is parsed as a URL parser does, not searched as text.
  const ws = new WebSocket(`${server.wsUrl.href}?x=1&%74icket=${issued.ticket}`, ["pow.v2"]);
  const opened = await new Promise<boolean>((resolve) => {
    ws.onopen = () => resolve(true);
    ws.onerror = () => resolve(false);
  });
  ws.close();
  assert.equal(opened, true);
  // Used up: the same ticket again is refused.
  const again = await rawRequest(new URL(`?%74icket=${issued.ticket}`, server.url), {
    ...HANDSHAKE,
    "Sec-WebSocket-Protocol": "pow.v2",
  });
  assert.deepEqual([again.status, again.body], [401, "invalid or expired ticket"]);
});

Deno.test("a malformed WebSocket upgrade gets 400 on every WebSocket front end", async () => {
  await using server = await startServer({
    configure(config) {
      config.furtherLink = { ...config.furtherLink, enabled: true, workDir: Deno.cwd() };
    },
  });
  for (const [path, protocol] of [["", "pow-1"], ["", "pow.v2"], ["run", undefined]] as const) {
    const response = await rawRequest(new URL(path, server.url), {
      Upgrade: "websocket",
      Connection: "Upgrade",
      ...(protocol ? { "Sec-WebSocket-Protocol": protocol } : {}),
      // No Sec-WebSocket-Key and no version: not a valid upgrade.
    });
    assert.equal(response.status, 400, `${path} ${protocol}: ${response.body}`);
    assert.match(response.body, /^invalid WebSocket upgrade: /);
  }
});

Deno.test("sessions.viewers: a configured role sees and attaches every caller's sessions", async () => {
  await using fx = await serve((config) => {
    config.sessions.viewers = ["admins"];
  });
  const ws = fx.server.wsUrl.href;
  // bob's session is visible to alice (role admins), alice's is still not visible to bob.
  await using bob = await V2Client.connect(ws, { token: BOB });
  const bobs = await bob.start(1, "count", ["3"]);
  await bob.exit(1);
  await using alice = await V2Client.connect(ws, { token: ALICE });
  const alices = await alice.start(1, "sleep", ["30"]);
  const seen = await alice.request({ type: "list" });
  assert.deepEqual(
    seen.type === "sessions" && seen.sessions.map((s) => s.session).sort(),
    [bobs.session, alices.session].sort(),
  );
  const attached = await alice.request({ type: "attach", id: 2, session: bobs.session });
  assert.equal(attached.type, "attached");
  const rest = await fx.fetch(`api/v2/sessions/${bobs.session}`, { headers: bearer(ALICE) });
  assert.equal(rest.status, 200);
  await rest.body?.cancel();
  const bobList = await bob.request({ type: "list" });
  assert.deepEqual(bobList.type === "sessions" && bobList.sessions.map((s) => s.session), [
    bobs.session,
  ]);
  const denied = await bob.request({ type: "attach", id: 3, session: alices.session });
  assert.equal("code" in denied && denied.code, "unknown_session");
  alice.send({ type: "signal", id: 1, signal: "kill" });
  await alice.exit(1);
});
