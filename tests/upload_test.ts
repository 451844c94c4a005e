/**
 * End-to-end tests of further-link `POST /upload` against paths that try to leave the work
 * directory: symlinks (dangling, to a directory, inside), `..`, absolute paths, and a full
 * disk. After each refusal the whole tree around the work directory is compared with what it
 * was before: nothing created, nothing left behind.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createServer, listen, parseConfig } from "../mod.ts";
import { furtherLink } from "../server/front_ends/further_link/mod.ts";

/** Every path below `root` with its kind, sorted. */
function tree(root: string, prefix = ""): string[] {
  const out: string[] = [];
  for (const entry of Deno.readDirSync(`${root}/${prefix}`)) {
    const path = `${prefix}${entry.name}`;
    out.push(`${path}${entry.isSymlink ? "@" : entry.isDirectory ? "/" : ""}`);
    if (entry.isDirectory && !entry.isSymlink) out.push(...tree(root, `${path}/`));
  }
  return out.sort();
}

/** A server whose work directory is `<top>/work`, beside `<top>/outside`. */
async function serve(workDir?: string) {
  const top = await Deno.makeTempDir({ prefix: "pow-upload-" });
  const work = workDir ?? `${top}/work`;
  await Deno.mkdir(`${top}/outside`);
  await Deno.mkdir(`${work}/demo`, { recursive: true });
  const config = parseConfig(`
furtherLink: { enabled: true, workDir: ${JSON.stringify(work)} }
`);
  config.server.port = 0;
  const running = await listen(createServer(config, { frontEnds: [furtherLink] }), {
    onListen() {},
  });
  const upload = async (name: string, files: Record<string, string>) => {
    const response = await fetch(new URL("upload", running.url), {
      method: "POST",
      body: JSON.stringify({
        name,
        files: Object.fromEntries(
          Object.entries(files).map(([path, content]) => [path, { type: "text", content }]),
        ),
      }),
    });
    return [response.status, await response.text()];
  };
  return {
    top,
    work,
    upload,
    async [Symbol.asyncDispose]() {
      await running.shutdown();
      await Deno.remove(top, { recursive: true });
    },
  };
}

Deno.test("upload refuses a dangling symlink instead of creating its target outside", async () => {
  await using fx = await serve();
  await Deno.symlink(`${fx.top}/outside/created.txt`, `${fx.work}/demo/link`);
  const before = tree(fx.top);
  assert.deepEqual(
    await fx.upload("demo", { link: "pwned" }),
    [400, 'Cannot upload "demo": Path "demo/link" is a symbolic link'],
  );
  assert.deepEqual(tree(fx.top), before);
  assert.deepEqual(tree(`${fx.top}/outside`), []);
});

Deno.test("upload never makes directories through a symlinked directory", async () => {
  await using fx = await serve();
  await Deno.symlink(`${fx.top}/outside`, `${fx.work}/demo/sub`);
  const before = tree(fx.top);
  assert.deepEqual(
    await fx.upload("demo", { "sub/deep/er/x.txt": "pwned" }),
    [400, 'Cannot upload "demo": Path "demo/sub" is a symbolic link'],
  );
  // A symlink to a directory inside the work directory is refused as well.
  await Deno.mkdir(`${fx.work}/real`);
  await Deno.symlink(`${fx.work}/real`, `${fx.work}/inside`);
  assert.deepEqual(
    await fx.upload("inside", { "x.txt": "x" }),
    [400, 'Cannot upload "inside": Path "inside" is a symbolic link'],
  );
  assert.deepEqual(tree(`${fx.top}/outside`), []);
  assert.deepEqual(tree(fx.top), [...before, "work/inside@", "work/real/"].sort());
});

Deno.test("upload refuses .. and absolute paths, and a refusal of one file writes none", async () => {
  await using fx = await serve();
  await Deno.symlink(`${fx.top}/outside`, `${fx.work}/demo/sub`);
  const before = tree(fx.top);
  const refusals: [string, Record<string, string>, string][] = [
    ["demo", { "../../outside/x": "x" }, 'Path "../../outside/x" is outside the work directory'],
    [
      "demo",
      { [`${fx.top}/outside/x`]: "x" },
      `Path "${fx.top}/outside/x" is outside the work directory`,
    ],
    ["../outside", { x: "x" }, 'Path "../outside" is outside the work directory'],
    [`${fx.top}/outside`, { x: "x" }, `Path "${fx.top}/outside" is outside the work directory`],
    // The first file is fine, the second goes through a symlink: neither is written.
    ["demo", { "fine/a.txt": "a", "sub/b.txt": "b" }, 'Path "demo/sub" is a symbolic link'],
    // A file where a directory is needed.
    [
      "demo",
      { "sub2/a.txt": "a", "sub2/a.txt/b": "b" },
      'Path "demo/sub2/a.txt" is not a directory',
    ],
  ];
  for (const [name, files, problem] of refusals) {
    const [status, text] = await fx.upload(name, files);
    assert.deepEqual([status, text], [400, `Cannot upload "${name}": ${problem}`]);
    assert.deepEqual(tree(fx.top), before, `after ${JSON.stringify(files)}`);
  }
  // An error text never names the server's own directories.
  for (const [, , problem] of refusals.slice(4)) assert.ok(!problem.includes(fx.top));
  // What is allowed still works, and replaces a file whole.
  assert.deepEqual(await fx.upload("demo", { "a/b.txt": "one" }), [200, "OK"]);
  assert.deepEqual(await fx.upload("demo", { "a/b.txt": "two" }), [200, "OK"]);
  assert.equal(Deno.readTextFileSync(`${fx.work}/demo/a/b.txt`), "two");
  assert.deepEqual(tree(`${fx.work}/demo`), ["a/", "a/b.txt", "sub@"]);
});

const canMount = Deno.uid() === 0 &&
  await new Deno.Command("mount", { args: ["--version"], stdout: "null", stderr: "null" })
    .output().then((o) => o.success, () => false);

Deno.test({
  name: "upload on a full disk leaves no partial file and no directory behind",
  ignore: !canMount,
  async fn() {
    const disk = await Deno.makeTempDir({ prefix: "pow-full-" });
    const mount = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", "size=64k", "tmpfs", disk],
      stderr: "piped",
    }).output();
    if (!mount.success) {
      console.warn(`cannot mount a tmpfs: ${new TextDecoder().decode(mount.stderr)}`);
      await Deno.remove(disk);
      return;
    }
    try {
      await using fx = await serve(`${disk}/work`);
      const before = tree(disk);
      const [status, text] = await fx.upload("demo", {
        "small.txt": "fits",
        "new/dir/big.txt": "x".repeat(256 * 1024),
      });
      assert.deepEqual(
        [status, text],
        [500, 'Cannot upload "demo": no space left on device (ENOSPC)'],
      );
      assert.deepEqual(tree(disk), before);
    } finally {
      await new Deno.Command("umount", { args: [disk] }).output();
      await Deno.remove(disk, { recursive: true });
    }
  },
});
