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
