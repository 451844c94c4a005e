/**
 * Packaging: `@pow/protocol` and `@pow/client` stay browser compatible (type-checked against
 * DOM libraries only, no `Deno.*`), their docs lint clean, and every workspace package
 * publishes (dry run).
 */
import assert from "node:assert/strict";

const root = new URL("..", import.meta.url).pathname;

async function deno(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { code: out.code, text };
}

Deno.test("protocol and client type-check against DOM libraries only", async () => {
  const { code, text } = await deno([
    "check",
    "--config",
    "tools/dom_check.json",
    "client/protocol/mod.ts",
    "client/mod.ts",
  ]);
  assert.equal(code, 0, text);
});

Deno.test("protocol and client have no Deno.* or node: imports", async () => {
  for (const dir of ["protocol", "client", "client/protocol"]) {
    for await (const entry of Deno.readDir(`${root}${dir}`)) {
      if (!entry.name.endsWith(".ts") || entry.name.endsWith("_test.ts")) continue;
      // Code only: doc comments may show Deno examples.
      const code = (await Deno.readTextFile(`${root}${dir}/${entry.name}`)).split("\n")
        .filter((line) => !/^\s*(\*|\/\/|\/\*\*)/.test(line)).join("\n");
      assert.doesNotMatch(code, /\bDeno\.\w|from "node:/, `${dir}/${entry.name}`);
    }
  }
});

Deno.test("deno doc --lint is clean for protocol and client", async () => {
  const { code, text } = await deno(["doc", "--lint", "protocol/mod.ts", "client/mod.ts"]);
  assert.equal(code, 0, text);
});

Deno.test("every workspace package passes deno publish --dry-run", async () => {
  const { code, text } = await deno(["publish", "--dry-run", "--allow-dirty"]);
  assert.equal(code, 0, text);
  for (const name of ["@pow/protocol", "@pow/client", "@pow/server"]) {
    assert.match(text, new RegExp(`Simulating publish.*${name}`));
  }
});

/** The modules `main.ts` loads at startup: its static imports, dynamic imports left out. */
async function startupModules(): Promise<Set<string>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "main.ts"],
    cwd: root,
    stdout: "piped",
    stderr: "null",
  }).output();
  assert.ok(out.success);
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    roots: string[];
    modules: {
      specifier: string;
      dependencies?: { code?: { specifier: string }; isDynamic?: boolean }[];
    }[];
  };
  const bySpecifier = new Map(info.modules.map((m) => [m.specifier, m]));
  const loaded = new Set<string>();
  const pending = [...info.roots];
  while (pending.length > 0) {
    const specifier = pending.pop()!;
    if (loaded.has(specifier)) continue;
    loaded.add(specifier);
    for (const dependency of bySpecifier.get(specifier)?.dependencies ?? []) {
      if (dependency.code && !dependency.isDynamic) pending.push(dependency.code.specifier);
    }
  }
  return loaded;
}

Deno.test("the server's startup imports boot no Node compatibility: no node: module but node:timers, no npm package but hono", async () => {
  // Each of these costs the server resident memory for its whole life (docs/benchmarks.md,
  // "Round eleven"): node:crypto, node:process and node:path 1 to 3 MiB each, the first
  // CommonJS npm package (yaml's Node build) about 7 MiB. Dynamic imports load on first use.
  const loaded = await startupModules();
  const node = [...loaded].filter((s) => s.startsWith("node:")).sort();
  const npm = [
    ...new Set(
      [...loaded].filter((s) => s.startsWith("npm:")).map(
        (s) => s.replace(/^npm:\/?/, "").replace(/@[^@/]*$|@[^@/]*\/.*$/, ""),
      ),
    ),
  ].sort();
  assert.deepEqual(node, ["node:timers"]);
  assert.deepEqual(npm, ["hono"]);
  // A static graph this small is what the check walks: make sure it walked the whole server.
  assert.ok([...loaded].some((s) => s.endsWith("/server/session_manager.ts")));
  // Nor does it load the client (about 2 MiB, "Round twelve"): only the protocol it speaks, and
  // of the commands only serve's.
  const ours = [...loaded].filter((s) => s.startsWith("file:")).map((s) =>
    s.slice(new URL("../", import.meta.url).href.length)
  );
  assert.deepEqual(
    ours.filter((s) => s.startsWith("client/") && !s.startsWith("client/protocol/")),
    [],
  );
  assert.deepEqual(
    ours.filter((s) => s.startsWith("cli/")).sort(),
    ["cli/_common.ts", "cli/hash_token.ts", "cli/help.ts", "cli/serve.ts"],
  );
});

Deno.test("the server's startup modules are Latin-1 text: V8 holds them one byte a character", async () => {
  // One character outside Latin-1 (an ellipsis in a comment) makes V8 hold the module's whole
  // source, comments and inline source map included, two bytes a character: about 0.5 MiB for
  // the 20 modules that had one ("Round twelve"). Write \u2026 in strings, ... in comments.
  const wide: string[] = [];
  for (const specifier of await startupModules()) {
    if (!specifier.startsWith("file:")) continue;
    const text = await Deno.readTextFile(new URL(specifier));
    const at = [...text].findIndex((c) => c.codePointAt(0)! > 0xff);
    if (at >= 0) wide.push(`${specifier.slice(root.length + 7)}: ${[...text][at]}`);
  }
  assert.deepEqual(wide, []);
});
