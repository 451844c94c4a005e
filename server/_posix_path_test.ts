import assert from "node:assert/strict";
import * as node from "node:path";
import { dirname, isAbsolute, join, relative, resolve, SEP } from "./_posix_path.ts";

const PARTS = ["", ".", "..", "a", "b", "..a", "a..", ".b", "...", "a b", "é"];

/** Deterministic paths: 0 to 5 parts, with single, doubled and trailing slashes. */
function* paths(count: number): Generator<string> {
  let seed = 17;
  const next = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  yield* ["", "/", "//", "///", ".", "..", "./", "../", "/..", "/../..", "a/", "a//b/"];
  for (let i = 0; i < count; i++) {
    let path = next(3) === 0 ? "/" : "";
    const n = next(6);
    for (let j = 0; j < n; j++) path += PARTS[next(PARTS.length)] + "/".repeat(1 + next(3) % 2);
    if (next(2) === 0) path = path.replace(/\/+$/, "");
    yield path;
  }
}

Deno.test("posix path: resolve, dirname, isAbsolute and join give node:path's results", () => {
  assert.equal(SEP, node.sep);
  const all = [...paths(3000)];
  for (let i = 0; i < all.length; i++) {
    const path = all[i];
    const other = all[(i * 7 + 3) % all.length];
    assert.equal(resolve(path), node.resolve(path), `resolve(${JSON.stringify(path)})`);
    assert.equal(resolve("/srv", path), node.resolve("/srv", path), `resolve("/srv", ${path})`);
    assert.equal(resolve(path, other), node.resolve(path, other), `resolve(${path}, ${other})`);
    assert.equal(dirname(path), node.dirname(path), `dirname(${JSON.stringify(path)})`);
    assert.equal(isAbsolute(path), node.isAbsolute(path), `isAbsolute(${path})`);
    assert.equal(join(path, other), node.join(path, other), `join(${path}, ${other})`);
    assert.equal(join(path), node.join(path), `join(${JSON.stringify(path)})`);
  }
  assert.equal(resolve(), node.resolve());
  assert.equal(join(), node.join());
});

Deno.test("posix path: relative gives node:path's result, and stays inside or leaves as node:path says", () => {
  const all = [...paths(3000)];
  for (let i = 0; i < all.length; i++) {
    const from = all[i];
    const to = all[(i * 13 + 5) % all.length];
    assert.equal(relative(from, to), node.relative(from, to), `relative(${from}, ${to})`);
    assert.equal(
      relative("/srv/work", resolve("/srv/work", to)),
      node.relative("/srv/work", node.resolve("/srv/work", to)),
      `relative("/srv/work", ${to})`,
    );
  }
});
