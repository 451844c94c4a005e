import assert from "node:assert/strict";
import { LineCounter, loadYaml, parseDocument, yamlBuild } from "./_yaml.ts";

Deno.test("yaml: the ES module build is the one loaded, so parsing the config does not boot Node compatibility", () => {
  assert.equal(yamlBuild, "esm");
  const lineCounter = new LineCounter();
  const doc = parseDocument("a:\n  b: [1, 2]\n", { lineCounter, uniqueKeys: true });
  assert.deepEqual(doc.toJS(), { a: { b: [1, 2] } });
  const node = doc.getIn(["a", "b"], true) as { range: [number, number, number] };
  assert.deepEqual(lineCounter.linePos(node.range[0]), { line: 2, col: 6 });
});

Deno.test("yaml: where the ES module build cannot be reached, the package's entry point is loaded and parses the same", async () => {
  for (
    const where of [
      () => "npm:yaml@2.9.1/package.json", // not a folder of files (as in a compiled binary)
      () => new URL("./no-such-dir/package.json", import.meta.url).href, // no such file
      () => {
        throw new TypeError("cannot resolve"); // not mapped
      },
    ]
  ) {
    const { module, build } = await loadYaml(where);
    assert.equal(build, "commonjs");
    assert.deepEqual(module.parseDocument("a: [1, 2]").toJS(), { a: [1, 2] });
  }
});
