import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { sessionMembers, waitSessionGone } from "./_proc.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const decoder = new TextDecoder();

async function run(args: string[], flags = ["-A"]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

async function tempConfig(yaml: string): Promise<string> {
  const file = await Deno.makeTempFile({ suffix: ".yaml" });
  await Deno.writeTextFile(file, yaml);
  return file;
}

Deno.test("cli --help prints usage and exits 0", async () => {
  const { code, stdout } = await run(["--help"]);
  assert.equal(code, 0);
  assert.ok(stdout.includes("Usage:\n  deno run -A main.ts [serve] [options]"), stdout);
});

Deno.test("cli help and version are commands, and --help and --version options", async () => {
  const help = await run(["help"]);
  assert.equal(help.code, 0);
  assert.equal(help.stdout, (await run(["--help"])).stdout);
  for (const command of ["call", "list", "sessions", "attach", "cancel", "version", "help"]) {
    assert.match(help.stdout, new RegExp(`main\\.ts ${command} `), command);
  }
  const version = await run(["version"]);
  assert.deepEqual([version.code, version.stderr], [0, ""]);
  assert.match(version.stdout, /^pow \d+\.\d+\.\d+ \(deno \d+\.\d+\.\d+\)\n$/);
  assert.equal((await run(["--version"])).stdout, version.stdout);
});

Deno.test("cli rejects an unknown command and a bad port with exit 2", async () => {
  const a = await run(["frobnicate"]);
  assert.deepEqual([a.code, a.stderr], [
    2,
    'pow: unknown command "frobnicate"\nRun with --help for usage.\n',
  ]);
  const option = await run(["--frob", "x"]);
  assert.deepEqual([option.code, option.stderr], [
    2,
    'pow: unknown option "--frob"\nRun with --help for usage.\n',
  ]);
  const b = await run(["--port", "http"]);
  assert.deepEqual([b.code, b.stderr], [
    2,
    'pow: invalid --port "http": expected a number from 0 to 65535\n',
  ]);
});

Deno.test("cli exits 2 naming file, key path and problem for a bad config", async () => {
  const file = await tempConfig(
    "processes:\n  count:\n    command: [seq, '{1}']\n    params: [{ name: n, pattern: '(' }]\n",
  );
  const { code, stderr } = await run(["--config", file]);
  assert.equal(code, 2);
  assert.match(
    stderr,
    new RegExp(
      `^pow: Invalid config "${file}" at processes\\.count\\.params\\[0\\]\\.pattern \\(line 4\\): invalid regular expression`,
    ),
  );
  const missing = await run(["--config", "/no/such/pow.yaml"]);
  assert.equal(missing.code, 2);
  assert.match(
    missing.stderr,
    /^pow: Invalid config "\/no\/such\/pow.yaml": cannot read the file: /,
  );
  await Deno.remove(file);
});

Deno.test("cli permissions prints the flags a config needs", async () => {
  const file = await tempConfig(
    "server: { port: 9000 }\nprocesses:\n  a: { command: [seq, '1'] }\n  b: { command: [cat] }\n",
  );
  const { code, stdout } = await run(["permissions", "--config", file]);
  assert.equal(code, 0);
  assert.equal(
    stdout,
    `--allow-net=127.0.0.1:9000 --allow-read=${file},node_modules,/proc,/tmp/pow-${Deno.uid()} --allow-env=PATH,HOME,LANG,LOG_TOKENS,LOG_STREAM --allow-write=/tmp/pow-${Deno.uid()} --allow-sys=uid --allow-run=cat,kill,ps,seq\n`,
  );
  await Deno.remove(file);
});

Deno.test("cli exits 2 naming the missing --allow-run when it may not run a program", async () => {
  const file = await tempConfig(
    "processes:\n  a: { command: [seq, '1'] }\n  b: { command: [cat] }\n",
  );
  const { code, stderr } = await run(["--config", file, "--port", "0"], [
    "--allow-net",
    "--allow-read",
    "--allow-env",
    "--allow-run=cat",
  ]);
  assert.equal(code, 2);
  assert.equal(
    stderr,
    'pow: missing permission to run "seq": start Deno with --allow-run=seq (see "main.ts permissions")\n',
  );
  await Deno.remove(file);
});

Deno.test("cli serve prints one Listening line with the real port and stops on SIGTERM with exit 0", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "--port", "0"],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  const match = /^Listening on http:\/\/127\.0\.0\.1:(\d+)\/\n$/.exec(text);
  assert.ok(match, `unexpected first output ${JSON.stringify(text)}`);
  assert.notEqual(match[1], "0");
  const response = await fetch(`http://127.0.0.1:${match[1]}/no-such-route`);
  assert.equal(response.status, 404);
  await response.body?.cancel();
  child.kill("SIGTERM");
  const status = await child.status;
  assert.equal(status.code, 0);
  while (true) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  assert.equal(text.split("\n").filter(Boolean).length, 1, "exactly one line on stdout");
  await child.stderr.cancel();
});

Deno.test("cli serves with exactly the flags that permissions prints (no -A)", async () => {
  const flags = (await run(["permissions", "--port", "0"])).stdout.trim().split(" ");
  assert.ok(flags.includes("--allow-net=127.0.0.1"), flags.join(" "));
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, MAIN, "--port", "0"],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const { value } = await reader.read();
  assert.match(value ?? "", /^Listening on http:\/\/127\.0\.0\.1:\d+\/\n$/);
  child.kill("SIGTERM");
  assert.equal((await child.status).code, 0);
  await reader.cancel();
  await child.stderr.cancel();
});

Deno.test({
  name: "cli serves a config with user: and group: with exactly the flags that permissions prints",
  ignore: Deno.uid() !== 0,
  async fn() {
    const file = await tempConfig(
      "processes:\n  ids: { command: [sh, -c, 'id -u; id -g'], user: 65534 }\n" +
        "  named: { command: [sh, -c, 'id -u; id -g'], user: nobody, group: 100, cwd: / }\n",
    );
    const flags = (await run(["permissions", "--config", file, "--port", "0"])).stdout.trim()
      .split(" ");
    assert.ok(flags.includes("--allow-sys=uid"), flags.join(" "));
    assert.ok(flags.some((f) => f.startsWith("--allow-read=") && f.includes("/etc/passwd")));
    const child = new Deno.Command(Deno.execPath(), {
      // Warnings and errors only: the log would list every session.
      args: ["run", ...flags, MAIN, "--config", file, "--port", "0", "--log-level", "warn"],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const stderr = new Response(child.stderr).text();
    const { value } = await reader.read();
    const url = /^Listening on (\S+)\n$/.exec(value ?? "");
    if (!url) {
      child.kill("SIGKILL");
      await child.status;
      assert.fail(`the server did not start: ${value ?? ""}${await stderr}`);
    }
    for (const [name, expected] of [["ids", "65534\n65534\n"], ["named", "65534\n100\n"]]) {
      const created = await (await fetch(new URL("api/v2/sessions", url[1]), {
        method: "POST",
        body: JSON.stringify({ name, params: [] }),
      })).json();
      const events = await (await fetch(
        new URL(`api/v2/sessions/${created.session}/events`, url[1]),
      )).text();
      const output = [...events.matchAll(/^data: (\{"offset".*"data".*)$/gm)]
        .map((m) => JSON.parse(m[1]).data).join("");
      assert.equal(output, expected, events);
    }
    child.kill("SIGTERM");
    assert.equal((await child.status).code, 0);
    await reader.cancel();
    assert.equal(await stderr, "");
    await Deno.remove(file);
  },
});

Deno.test("cli hash-token prints the config hash of a token, or of a new random one", async () => {
  const given = await run(["hash-token", "correct-horse-battery"]);
  const expected = createHash("sha256").update("correct-horse-battery").digest("hex");
  assert.deepEqual([given.code, given.stdout], [0, `hash:  sha256:${expected}\n`]);
  const fresh = await run(["hash-token"]);
  const match = /^token: (\S{32})\nhash: {2}(sha256:[0-9a-f]{64})\n$/.exec(fresh.stdout);
  assert.ok(match, fresh.stdout);
  const again = await run(["hash-token", match[1]]);
  assert.equal(again.stdout, `hash:  ${match[2]}\n`, "the printed hash is the token's");
  const short = await run(["hash-token", "abc"]);
  assert.deepEqual([short.code, short.stderr], [
    2,
    "pow: a token must be at least 16 characters long\n",
  ]);
  const long = await run(["hash-token", "x".repeat(1025)]);
  assert.deepEqual([long.code, long.stderr], [
    2,
    "pow: a token must be at most 1024 characters long\n",
  ]);
  const longest = await run(["hash-token", "é".repeat(1024)]);
  const hash = createHash("sha256").update("é".repeat(1024)).digest("hex");
  assert.deepEqual([longest.code, longest.stdout], [0, `hash:  sha256:${hash}\n`]);
});

Deno.test("cli SIGTERM cancels running sessions and exits 0 once their processes are gone", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "--port", "0"],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const { value } = await reader.read();
  const url = /^Listening on (\S+)\n$/.exec(value ?? "")![1];
  const started = await fetch(new URL("api/v2/sessions", url), {
    method: "POST",
    body: JSON.stringify({ name: "sleep", params: ["60"] }),
  });
  const { session, pid } = await started.json();
  assert.equal(started.status, 201, session);
  assert.ok(pid > 0 && sessionMembers(pid).length > 0, "the process runs");
  child.kill("SIGTERM");
  assert.equal((await child.status).code, 0);
  assert.deepEqual(sessionMembers(pid).filter((p) => p.state !== "Z"), [], "nothing left running");
  await waitSessionGone(pid);
  await reader.cancel();
  await child.stderr.cancel();
});
