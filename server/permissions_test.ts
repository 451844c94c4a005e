import assert from "node:assert/strict";
import { parseConfig } from "./config.ts";
import { runtimeProblems } from "./permissions.ts";

Deno.test("startup check names a missing working directory", () => {
  const config = parseConfig("processes:\n  a: { command: [ls], cwd: /no/such/dir }\n");
  assert.deepEqual(runtimeProblems(config), [
    'process "a": working directory "/no/such/dir" does not exist or is not a directory',
  ]);
});

Deno.test({
  name: "startup check names a user switch the server has no rights for",
  ignore: Deno.uid() === 0,
  fn() {
    const config = parseConfig("processes:\n  a: { command: [ls], user: 0 }\n");
    assert.match(
      runtimeProblems(config)[0],
      /^process "a": running as uid 0 needs the server to run as root/,
    );
  },
});
