import assert from "node:assert/strict";
import { LineCounter, parseDocument, yamlBuild } from "./_yaml.ts";

Deno.test("yaml: the ES module build is the one loaded, so parsing the config does not boot Node compatibility", () => {
  assert.equal(yamlBuild, "esm");
  const lineCounter = new LineCounter();
  const doc = parseDocument("a:\n  b: [1, 2]\n", { lineCounter, uniqueKeys: true });
  assert.deepEqual(doc.toJS(), { a: { b: [1, 2] } });
  const node = doc.getIn(["a", "b"], true) as { range: [number, number, number] };
  assert.deepEqual(lineCounter.linePos(node.range[0]), { line: 2, col: 6 });
});
