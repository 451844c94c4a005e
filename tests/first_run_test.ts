/**
 * The first `deno run -A main.ts` in a fresh clone: every npm package `deno run` installs (all of
 * the lockfile, with `nodeModulesDir: "auto"`) is one the server loads, so nothing test-only is
 * installed, and no package's build script needs approving (no warning box).
 */
import assert from "node:assert/strict";
import { startServerProcess } from "./_helpers.ts";

const root = new URL("..", import.meta.url).pathname;

async function deno(args: string[], cwd = root) {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

Deno.test("every npm package in the lockfile is one main.ts loads: no test-only packages", async () => {
  const info = await deno(["info", "--json", "main.ts"]);
  assert.equal(info.code, 0, info.stderr);
  const loaded = Object.keys(JSON.parse(info.stdout).npmPackages).sort();
  const lock = JSON.parse(await Deno.readTextFile(`${root}deno.lock`));
  assert.deepEqual(Object.keys(lock.npm).sort(), loaded);
  assert.ok(!loaded.some((p) => p.startsWith("playwright")), loaded.join(", "));
  const config = JSON.parse(await Deno.readTextFile(`${root}deno.json`));
  const imported = Object.values(config.imports as Record<string, string>)
    .map((specifier) => /^npm:\/?((?:@[^/]+\/)?[^@/]+)/.exec(specifier)?.[1]);
  for (const name of imported) {
    assert.ok(loaded.some((p) => p.startsWith(`${name}@`)), `${name} is not loaded by main.ts`);
  }
});

Deno.test("the first deno run -A main.ts in a fresh copy prints no warning and installs only what it loads", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pow-first-run-" });
  try {
    // What a clone holds that main.ts needs (no node_modules).
    for (const path of ["main.ts", "mod.ts", "deno.json", "deno.lock"]) {
      await Deno.copyFile(`${root}${path}`, `${dir}/${path}`);
    }
    for (const folder of ["server", "protocol", "client", "cli"]) {
      await copyDir(`${root}${folder}`, `${dir}/${folder}`);
    }
    const server = await startServerProcess(
      Deno.execPath(),
      ["run", "-A", "main.ts", "--port", "0", "--log-level", "warn"],
      { cwd: dir, env: { NO_COLOR: "1" } },
    );
    assert.match(server.url.href, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const { code, stderr: text } = await server.stop();
    assert.equal(code, 0, text);
    assert.doesNotMatch(text, /Warning|build script|approve-scripts/i);
    // A fresh clone sets node_modules up once ("Initialize …"; "Download …" with a cold cache):
    // only for packages main.ts loads.
    const lock = JSON.parse(await Deno.readTextFile(`${root}deno.lock`));
    for (const line of text.split("\n").filter(Boolean)) {
      const match = /^(?:Initialize|Download) (?:https:\/\/\S+\/)?(\S+)/.exec(line);
      assert.ok(match, `unexpected line on stderr: ${line}`);
      const name = match[1].replace(/\.tgz$/, "").replace(/-(\d[^-]*)$/, "@$1");
      assert.ok(
        Object.keys(lock.npm).some((p) => name.startsWith(p.split("@").slice(0, -1).join("@"))),
        `installed something main.ts does not load: ${line}`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function copyDir(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) {
    if (entry.isDirectory) await copyDir(`${from}/${entry.name}`, `${to}/${entry.name}`);
    else if (entry.isFile) await Deno.copyFile(`${from}/${entry.name}`, `${to}/${entry.name}`);
  }
}
