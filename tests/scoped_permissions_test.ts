/**
 * A server started with a list of programs (`--allow-run=sh,kill`, what `main.ts permissions`
 * prints and `deno task start` uses) may not call `Deno.kill`: it still ends what it started
 * (server/signals.ts); a pty process runs under the flags `main.ts permissions` prints. Real
 * server subprocesses, real process trees, checked in `/proc`.
 */

import assert from "node:assert/strict";
import { startServerProcess } from "./_helpers.ts";
import { V2Client } from "./_native.ts";
import { launchersOf, sessionMembers, waitSessionGone } from "./_proc.ts";
import { hasRedis, startRedis } from "./_redis.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const ROOT = new URL("..", import.meta.url).pathname;

/** The flags `main.ts permissions` prints for a config file. */
async function printedFlags(file: string): Promise<string[]> {
  const printed = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "permissions", "--config", file, "--port", "0"],
  }).output();
  return new TextDecoder().decode(printed.stdout).trim().split(" ");
}

/** Starts `main.ts` with these flags, from the repository (where `node_modules` is). */
function serveWith(flags: string[], file: string) {
  return startServerProcess(
    Deno.execPath(),
    ["run", ...flags, MAIN, "--config", file, "--port", "0"],
    { cwd: ROOT },
  );
}

const CONFIG = `
processes:
  tree:
    description: A shell with two background sleeps, all waiting
    command: [sh, -c, "sleep 300 & sleep 301 & wait"]
  leave:
    description: Leaves a sleep behind with its output elsewhere, and exits
    command: [sh, -c, "sleep 302 > /dev/null 2>&1 < /dev/null & echo left"]
  nap:
    command: [sh, -c, "exec sleep 303"]
`;

async function scopedServer(run: string) {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/pow.yaml`;
  await Deno.writeTextFile(file, `server: { stateDir: ${dir}/state }\n${CONFIG}`);
  const server = await serveWith([
    "--allow-net=127.0.0.1",
    "--allow-read",
    "--allow-write",
    "--allow-env",
    "--allow-sys",
    `--allow-run=${run}`,
  ], file);
  return {
    wsUrl: `ws://${server.url.host}/`,
    async [Symbol.asyncDispose]() {
      const { stderr } = await server.stop();
      await Deno.remove(dir, { recursive: true });
      this.stderr = stderr;
    },
    stderr: "",
    stop: server.stop,
  };
}

Deno.test("scoped --allow-run with kill: cancel ends the whole process group", async () => {
  let pid = 0;
  {
    await using server = await scopedServer("sh,sleep,kill");
    await using client = await V2Client.connect(server.wsUrl);
    const started = await client.start(1, "tree");
    pid = started.pid!;
    // The shell and both sleeps are there before the cancel.
    await client.until(() => sessionMembers(pid).length === 3 || undefined);
    client.send({ type: "signal", id: 1, signal: "cancel" });
    const exit = await client.exit(1);
    assert.equal(exit.result.status, "rejected");
    await waitSessionGone(pid);
  }
  assert.deepEqual(sessionMembers(pid), []);
});

Deno.test("scoped --allow-run with kill: what a command leaves behind is ended after its exit", async () => {
  await using server = await scopedServer("sh,sleep,kill");
  await using client = await V2Client.connect(server.wsUrl);
  const started = await client.start(1, "leave");
  const exit = await client.exit(1);
  assert.deepEqual(exit.result, { status: "fulfilled", value: null, exitCode: 0 });
  assert.equal(client.channel(1).stdout, "left\n");
  // The background sleep kept no pipe open: only the group signal after the exit ends it.
  await waitSessionGone(started.pid!);
});

Deno.test("scoped --allow-run without kill: a warning at startup, and cancel still ends the command", async () => {
  const server = await scopedServer("sh,sleep");
  let pid = 0;
  try {
    await using client = await V2Client.connect(server.wsUrl);
    pid = (await client.start(1, "nap")).pid!;
    await client.until(() => sessionMembers(pid).some((p) => p.comm === "sleep") || undefined);
    client.send({ type: "signal", id: 1, signal: "cancel" });
    const exit = await client.exit(1);
    assert.equal(exit.result.status, "rejected");
    await waitSessionGone(pid);
  } finally {
    await server[Symbol.asyncDispose]();
  }
  assert.match(
    server.stderr,
    /WARN no permission to signal process groups: .*add kill to --allow-run/,
  );
});

Deno.test("a warm command starts from a launcher under exactly the flags main.ts permissions prints", async () => {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/pow.yaml`;
  await Deno.writeTextFile(
    file,
    `server: { stateDir: ${dir}/state }\n` +
      "processes:\n  hi: { command: [echo, '{1}'], params: [{ name: w }], warm: 1 }\n",
  );
  try {
    const flags = await printedFlags(file);
    assert.ok(flags.includes("--allow-run=echo,kill,ps,setsid,sh"), flags.join(" "));
    const server = await serveWith(flags, file);
    try {
      await using client = await V2Client.connect(`ws://${server.url.host}/`);
      // The first call starts cold and fills the pool: one shell, a session of its own.
      await client.start(1, "hi", ["one"]);
      assert.equal((await client.exit(1)).result.status, "fulfilled");
      const launcher = await client.until(() => {
        const mine = launchersOf(server.pid);
        return mine.length === 1 ? mine[0] : undefined;
      });
      const started = await client.start(2, "hi", ["it's $(id)"]);
      assert.equal(started.pid, launcher);
      assert.equal((await client.exit(2)).result.status, "fulfilled");
      assert.equal(client.channel(2).stdout, "it's $(id)\n");
    } finally {
      const { stderr } = await server.stop();
      assert.doesNotMatch(stderr, /WARN/);
    }
    // The server's shutdown ended its idle launcher.
    for (const pid of launchersOf(server.pid)) await waitSessionGone(pid);
    // Without setsid in the list: a warning at start, and calls start cold.
    const cold = await serveWith(
      flags.map((f) => f.startsWith("--allow-run=") ? f.replace(",setsid", "") : f),
      file,
    );
    try {
      await using client = await V2Client.connect(`ws://${cold.url.host}/`);
      for (const id of [1, 2]) {
        await client.start(id, "hi", ["cold"]);
        assert.equal((await client.exit(id)).result.status, "fulfilled");
      }
      assert.deepEqual(launchersOf(cold.pid), []);
    } finally {
      assert.match((await cold.stop()).stderr, /WARN warm starts are off/);
    }
    // A server that dies leaves none behind: the launcher's input closes and its shell exits.
    const dying = await serveWith(flags, file);
    try {
      await using client = await V2Client.connect(`ws://${dying.url.host}/`);
      await client.start(1, "hi", ["one"]);
      await client.exit(1);
      const launcher = await client.until(() => launchersOf(dying.pid)[0]);
      Deno.kill(dying.pid, "SIGKILL");
      await waitSessionGone(launcher);
    } finally {
      await dying.stop().catch(() => {});
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a pty process runs under exactly the flags main.ts permissions prints; without them the server warns", async () => {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/pow.yaml`;
  await Deno.writeTextFile(
    file,
    "server: { stateDir: false }\nprocesses:\n  term: { command: [sh, -c, 'tty; exec sleep 304'], pty: true }\n",
  );
  try {
    const flags = await printedFlags(file);
    assert.ok(flags.includes("--allow-ffi=node_modules"), flags.join(" "));
    const server = await serveWith(flags, file);
    let stderr = "";
    try {
      await using client = await V2Client.connect(`ws://${server.url.host}/`);
      const started = await client.start(1, "term", [], { pty: true });
      assert.equal(started.pty, true);
      await client.until(() => /\/dev\/pts\/\d+/.test(client.channel(1).stdout) || undefined);
      client.send({ type: "signal", id: 1, signal: "cancel" });
      assert.equal((await client.exit(1)).result.status, "rejected");
      await waitSessionGone(started.pid!);
    } finally {
      stderr = (await server.stop()).stderr;
    }
    assert.doesNotMatch(stderr, /WARN/);
    // Scoped read and write, no ffi: the server says at startup that terminals will not start.
    const narrow = await serveWith([
      ...flags.filter((f) => !/^--allow-(read|write|ffi)/.test(f)),
      `--allow-read=${file},node_modules`,
    ], file);
    assert.match(
      (await narrow.stop()).stderr,
      /WARN pseudo-terminals need --allow-ffi=node_modules and, in Deno 2\.9, the whole --allow-read and --allow-write/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "a cluster node runs under exactly the flags main.ts permissions prints",
  ignore: !hasRedis,
  async fn() {
    const redis = await startRedis();
    const dir = await Deno.makeTempDir();
    const file = `${dir}/pow.yaml`;
    await Deno.writeTextFile(
      file,
      `server: { stateDir: false }\ncluster: { redis: "${redis.url}" }\n` +
        "processes:\n  count: { command: [seq, '3'] }\n",
    );
    try {
      const server = await serveWith(await printedFlags(file), file);
      let stderr = "";
      try {
        await using client = await V2Client.connect(`ws://${server.url.host}/`);
        await client.start(1, "count");
        const exit = await client.exit(1);
        assert.deepEqual(exit.result, { status: "fulfilled", value: null, exitCode: 0 });
        assert.equal(client.channel(1).stdout, "1\n2\n3\n");
        // The node registered itself in Redis.
        assert.notEqual(await redis.cli("--scan"), "");
      } finally {
        stderr = (await server.stop()).stderr;
      }
      assert.doesNotMatch(stderr, /WARN|ERROR|NotCapable/);
    } finally {
      await redis.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
