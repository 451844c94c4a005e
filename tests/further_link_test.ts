/**
 * End-to-end tests of the further-link compatibility endpoint: a real server on a free port,
 * real WebSocket and fetch clients.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createServer, defaultConfig, listen, parseConfig, type PowConfig } from "../mod.ts";
import { furtherLink } from "../server/front_ends/further_link/mod.ts";
import type { ListeningServer } from "../server/server.ts";

const hasPython = await new Deno.Command("python3", { args: ["--version"], stdout: "null" })
  .output().then((o) => o.success, () => false);
if (!hasPython) console.warn("python3 not found: skipping the further-link python3 cases");

interface Message {
  type: string;
  process?: string | number;
  data?: Record<string, unknown>;
}

/** A further-link client that records every message. */
class Client {
  readonly ws: WebSocket;
  readonly messages: Message[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<void>;
  #wake: (() => void)[] = [];

  constructor(url: URL) {
    this.ws = new WebSocket(url);
    this.opened = new Promise((resolve, reject) => {
      this.ws.onopen = () => resolve();
      this.ws.onerror = () => reject(new Error("WebSocket failed"));
    });
    this.closed = new Promise((resolve) => this.ws.addEventListener("close", () => resolve()));
    this.ws.onmessage = (event) => {
      this.messages.push(JSON.parse(event.data));
      for (const wake of this.#wake.splice(0)) wake();
    };
  }

  send(type: string, process?: string, data?: Record<string, unknown>): void {
    this.ws.send(JSON.stringify({ type, process, data }));
  }

  /** Waits for a message matching `predicate` (looking at every message so far). */
  async next(predicate: (m: Message) => boolean, timeout = 10_000): Promise<Message> {
    const deadline = Date.now() + timeout;
    while (true) {
      const found = this.messages.find(predicate);
      if (found) return found;
      if (Date.now() > deadline) {
        throw new Error(`Timed out; messages: ${JSON.stringify(this.messages).slice(-2000)}`);
      }
      let timer: ReturnType<typeof setTimeout>;
      await new Promise<void>((resolve) => {
        this.#wake.push(resolve);
        timer = setTimeout(resolve, 100);
      });
      clearTimeout(timer!);
    }
  }

  stopped(process: string): Promise<Message> {
    return this.next((m) => m.type === "stopped" && m.process === process);
  }

  /** The concatenated output of one stream of a process. */
  output(process: string, stream = "stdout"): string {
    return this.messages.filter((m) => m.type === stream && m.process === process)
      .map((m) => m.data!.output).join("");
  }

  async close(): Promise<void> {
    this.ws.close();
    await this.closed;
  }
}

interface Fixture extends AsyncDisposable {
  running: ListeningServer;
  http: URL;
  ws: URL;
  workDir: string;
}

async function start(configure?: (config: PowConfig) => void): Promise<Fixture> {
  const workDir = await Deno.makeTempDir({ prefix: "pow-further-" });
  await Deno.mkdir(`${workDir}/project`);
  await Deno.writeTextFile(`${workDir}/project/file.txt`, "x");
  const config = parseConfig(`
furtherLink:
  enabled: true
  workDir: ${JSON.stringify(workDir)}
  runners: { python3: python, shell: shell, bad: missing-program }
processes:
  python:
    command: [python3, "-u", "{1}"]
    params: [{ name: file }]
  shell:
    command: [sh, "{*}"]
    cwd: ${JSON.stringify(`${workDir}/project`)}
    pty: true
  missing-program:
    command: [/nonexistent/program]
`);
  config.server.port = 0;
  configure?.(config);
  const running = await listen(createServer(config, { frontEnds: [furtherLink] }), {
    onListen() {},
  });
  const http = running.url;
  const ws = new URL("run", http.href.replace(/^http/, "ws"));
  return {
    running,
    http,
    ws,
    workDir,
    async [Symbol.asyncDispose]() {
      await running.shutdown();
      await Deno.remove(workDir, { recursive: true });
    },
  };
}

async function connect(url: URL): Promise<Client> {
  const client = new Client(url);
  await client.opened;
  return client;
}

Deno.test("further-link is off unless the config enables it", async () => {
  const config = defaultConfig();
  config.server.port = 0;
  const running = await listen(createServer(config, { frontEnds: [furtherLink] }), {
    onListen() {},
  });
  try {
    for (const [method, path] of [["GET", "status"], ["POST", "upload"], ["GET", "run"]]) {
      const response = await fetch(new URL(path, running.url), {
        method,
        body: method === "POST" ? "{}" : undefined,
      });
      assert.equal(response.status, 404, `${method} /${path}`);
      await response.body?.cancel();
    }
    const ws = new WebSocket(new URL("run", running.url.href.replace(/^http/, "ws")));
    const outcome = await new Promise<string>((resolve) => {
      ws.onopen = () => resolve("open");
      ws.onerror = () => resolve("refused");
    });
    assert.equal(outcome, "refused");
  } finally {
    await running.shutdown();
  }
});

Deno.test("further-link GET /status answers OK and a plain GET of /run asks for an upgrade", async () => {
  await using server = await start();
  const status = await fetch(new URL("status", server.http));
  assert.equal(status.status, 200);
  assert.equal(await status.text(), "OK");
  const run = await fetch(new URL("run", server.http));
  assert.equal(run.status, 426);
  assert.equal(
    await run.text(),
    "Upgrade required: this endpoint speaks further-link over WebSocket",
  );
});

Deno.test({
  name: "further-link seed example: python3 prints hi while a shell lists the directory",
  ignore: !hasPython,
  async fn() {
    await using server = await start();
    const client = await connect(server.ws);
    client.send("ping");
    assert.deepEqual(await client.next((m) => m.type === "pong"), { type: "pong" });
    client.send("start", "1", { runner: "python3", code: "print('hi')" });
    assert.deepEqual(await client.next((m) => m.type === "started" && m.process === "1"), {
      type: "started",
      process: "1",
    });
    client.send("start", "2", { runner: "shell" });
    await client.next((m) => m.type === "started" && m.process === "2");
    client.send("stdin", "2", { input: "ls\n" });
    assert.deepEqual(await client.stopped("1"), {
      type: "stopped",
      process: "1",
      data: { exitCode: 0 },
    });
    assert.equal(client.output("1"), "hi\n");
    await client.next((m) => m.type === "stdout" && m.process === "2");
    client.send("stdin", "2", { input: "exit 3\n" });
    assert.deepEqual((await client.stopped("2")).data, { exitCode: 3 });
    assert.equal(client.output("2"), "file.txt\n");
    assert.deepEqual(client.messages.filter((m) => m.type === "error"), []);
    await client.close();
    // The code file written for process 1 is removed once it stopped (right after `stopped`
    // is sent, so wait for it rather than race it).
    const left = () => [...Deno.readDirSync(`${server.workDir}/.pow-run`)].map((e) => e.name);
    for (let i = 0; i < 250 && left().length > 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.deepEqual(left(), []);
  },
});

Deno.test("further-link runs concurrent processes on one socket, each with its own ordered output", async () => {
  await using server = await start();
  const client = await connect(server.ws);
  const seq = (from: number, to: number) =>
    Array.from({ length: to - from + 1 }, (_, i) => `${from + i}\n`).join("");
  client.send("start", "a", { runner: "shell", code: "seq 1 40000" });
  client.send("start", "b", { runner: "shell", code: "seq 40001 80000; echo oops >&2; exit 4" });
  client.send("start", "c", { runner: "shell", code: "head -c 3000000 /dev/zero | tr '\\0' z" });
  assert.deepEqual((await client.stopped("a")).data, { exitCode: 0 });
  assert.deepEqual((await client.stopped("b")).data, { exitCode: 4 });
  assert.deepEqual((await client.stopped("c")).data, { exitCode: 0 });
  assert.equal(client.output("a"), seq(1, 40000));
  assert.equal(client.output("b"), seq(40001, 80000));
  assert.equal(client.output("b", "stderr"), "oops\n");
  assert.equal(client.output("c"), "z".repeat(3_000_000));
  // Messages of a process come in order: started, output, stopped.
  for (const id of ["a", "b", "c"]) {
    const types = client.messages.filter((m) => m.process === id).map((m) => m.type);
    assert.equal(types[0], "started");
    assert.equal(types.at(-1), "stopped");
    assert.equal(types.filter((t) => t === "started" || t === "stopped").length, 2);
  }
  await client.close();
});

Deno.test("further-link answers out-of-order and bad messages with error, leaving other processes alone", async () => {
  await using server = await start();
  const client = await connect(server.ws);
  client.send("start", "s", { runner: "shell" });
  await client.next((m) => m.type === "started" && m.process === "s");
  const errors: [() => void, Message][] = [
    [() => client.send("stdin", "nope", { input: "x" }), {
      type: "error",
      process: "nope",
      data: { message: 'Cannot stdin process "nope": no such process' },
    }],
    [() => client.send("stop", "nope"), {
      type: "error",
      process: "nope",
      data: { message: 'Cannot stop process "nope": no such process' },
    }],
    [() => client.send("start", "s", { runner: "shell" }), {
      type: "error",
      process: "s",
      data: { message: 'Cannot start process "s": the id is already in use' },
    }],
    [() => client.send("start", "r", { runner: "ruby", code: "puts 1" }), {
      type: "error",
      process: "r",
      data: {
        message:
          'Cannot start process "r": unknown runner "ruby"; this server has "python3", "shell", "bad"',
      },
    }],
    [() => client.send("start", "m", { runner: "bad" }), {
      type: "error",
      process: "m",
      data: {
        message: 'Cannot start process "m": Cannot run "/nonexistent/program": program not found',
      },
    }],
    [() => client.send("start", "p", { runner: "shell", path: "../../etc/passwd" }), {
      type: "error",
      process: "p",
      data: {
        message: 'Cannot start process "p": Path "../../etc/passwd" is outside the work directory',
      },
    }],
    [() => client.send("resize", "s", { rows: 10, cols: 20 }), {
      type: "error",
      process: "s",
      data: {
        message: `Cannot resize process "s": Cannot resize session "${"?"}": it has no terminal`,
      },
    }],
    [() => client.send("keyevent", "s", { key: "a", event: "keydown" }), {
      type: "error",
      process: "s",
      data: { message: 'Unsupported message type "keyevent"' },
    }],
    [() => client.ws.send("{not json"), {
      type: "error",
      data: { message: "Cannot parse message: not JSON" },
    }],
    [() => client.ws.send('{"data":{}}'), {
      type: "error",
      data: { message: 'Cannot parse message: "type" is missing' },
    }],
    [() => client.send("stdin", undefined, { input: "x" }), {
      type: "error",
      data: { message: 'Cannot stdin: "process" is missing' },
    }],
  ];
  for (const [send, expected] of errors) {
    const before = client.messages.length;
    send();
    const error = await client.next((m) =>
      client.messages.indexOf(m) >= before && m.type === "error"
    );
    if (String(expected.data!.message).includes('"?"')) {
      assert.match(
        String(error.data!.message),
        /^Cannot resize process "s": Cannot resize session "[\w-]+": it has no terminal$/,
      );
    } else {
      assert.deepEqual(error, expected);
    }
  }
  // The shell is untouched by all of that.
  client.send("stdin", "s", { input: "echo still here\nexit\n" });
  assert.deepEqual((await client.stopped("s")).data, { exitCode: 0 });
  assert.equal(client.output("s"), "still here\n");
  await client.close();
});

Deno.test("further-link stop gives the negative signal number and the id is reusable after stopped", async () => {
  await using server = await start();
  const client = await connect(server.ws);
  client.send("start", "1", { runner: "shell" });
  await client.next((m) => m.type === "started" && m.process === "1");
  client.send("stop", "1");
  assert.deepEqual(await client.stopped("1"), {
    type: "stopped",
    process: "1",
    data: { exitCode: -15 },
  });
  const before = client.messages.length;
  client.send("start", "1", { runner: "shell" });
  await client.next((m) =>
    client.messages.indexOf(m) >= before && m.type === "started" && m.process === "1"
  );
  client.send("stdin", "1", { input: "echo again; exit 7\n" });
  const stopped = await client.next((m) =>
    client.messages.indexOf(m) >= before && m.type === "stopped"
  );
  assert.deepEqual(stopped.data, { exitCode: 7 });
  assert.equal(client.output("1"), "again\n");
  await client.close();
});

Deno.test("further-link ?pty=1 runs in a terminal that can be resized", async () => {
  await using server = await start();
  const client = await connect(new URL("?pty=1", server.ws));
  client.send("start", "t", { runner: "shell" });
  await client.next((m) => m.type === "started");
  client.send("stdin", "t", { input: "stty size; tty\n" });
  await client.next(() =>
    /24 80\r?\n/.test(client.output("t")) && /\/dev\/pts\//.test(client.output("t"))
  );
  client.send("resize", "t", { rows: 40, cols: 100 });
  client.send("stdin", "t", { input: "stty size\n" });
  await client.next(() => /40 100\r?\n/.test(client.output("t")));
  client.send("stdin", "t", { input: "exit 0\n" });
  assert.deepEqual((await client.stopped("t")).data, { exitCode: 0 });
  assert.deepEqual(client.messages.filter((m) => m.type === "error"), []);
  await client.close();
});

Deno.test({
  name: "further-link POST /upload writes text files that a start by path runs",
  ignore: !hasPython,
  async fn() {
    await using server = await start();
    const upload = (body: unknown) =>
      fetch(new URL("upload", server.http), { method: "POST", body: JSON.stringify(body) });
    const ok = await upload({
      name: "demo",
      files: {
        "main.py": { type: "text", content: "import lib\nprint(lib.greeting)\n" },
        "lib.py": { type: "text", content: "greeting = 'hello from lib'\n" },
      },
    });
    assert.equal(ok.status, 200);
    assert.equal(await ok.text(), "OK");
    assert.equal(
      await Deno.readTextFile(`${server.workDir}/demo/lib.py`),
      "greeting = 'hello from lib'\n",
    );
    const client = await connect(server.ws);
    client.send("start", "1", { runner: "python3", path: "demo/main.py" });
    assert.deepEqual((await client.stopped("1")).data, { exitCode: 0 });
    assert.equal(client.output("1"), "hello from lib\n");
    await client.close();
  },
});

Deno.test("further-link POST /upload refuses url files, path escapes and bad bodies", async () => {
  await using server = await start();
  const upload = async (body: string) => {
    const response = await fetch(new URL("upload", server.http), { method: "POST", body });
    return [response.status, await response.text()];
  };
  assert.deepEqual(
    await upload(JSON.stringify({
      name: "demo",
      files: { "a.py": { type: "url", content: "https://example.com/a.py" } },
    })),
    [400, 'Cannot upload "a.py": url files are not supported'],
  );
  assert.deepEqual(
    await upload(JSON.stringify({
      name: "demo",
      files: { "../../escape.txt": { type: "text", content: "x" } },
    })),
    [400, 'Cannot upload "demo": Path "../../escape.txt" is outside the work directory'],
  );
  assert.deepEqual(
    await upload(JSON.stringify({ name: "../out", files: {} })),
    [400, 'Cannot upload "../out": Path "../out" is outside the work directory'],
  );
  assert.deepEqual(
    await upload(JSON.stringify({ name: "/etc", files: {} })),
    [400, 'Cannot upload "/etc": Path "/etc" is outside the work directory'],
  );
  assert.deepEqual(await upload("{"), [400, "Cannot upload: the body is not JSON"]);
  assert.deepEqual(
    await upload(JSON.stringify({ files: {} })),
    [400, 'Cannot upload: "name" is missing'],
  );
  // A symlink out of the work directory is not followed.
  await Deno.symlink("/tmp", `${server.workDir}/link`);
  assert.deepEqual(
    await upload(JSON.stringify({
      name: "link",
      files: { "x.txt": { type: "text", content: "x" } },
    })),
    [400, 'Cannot upload "link": Path "link" is a symbolic link'],
  );
  assert.deepEqual(
    [...Deno.readDirSync(server.workDir)].map((e) => e.name).sort(),
    ["link", "project"],
  );
});

Deno.test("further-link limits: processes per connection and message size", async () => {
  await using fixture = await start((config) => {
    config.limits.sessionsPerConnection = 2;
    config.limits.maxMessage = 4096;
  });
  const client = await connect(fixture.ws);
  for (const id of ["1", "2", "3"]) {
    client.send("start", id, { runner: "shell" });
  }
  const error = await client.next((m) => m.type === "error" && m.process === "3");
  assert.equal(
    error.data!.message,
    'Cannot start process "3": this connection already runs 2 processes (the limit is 2)',
  );
  const closed = new Promise<CloseEvent>((resolve) =>
    client.ws.addEventListener("close", resolve, { once: true })
  );
  client.send("stdin", "1", { input: "x".repeat(5000) });
  const event = await closed;
  assert.deepEqual([event.code, event.reason], [1009, "message too big"]);
});
