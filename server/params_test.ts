import assert from "node:assert/strict";
import { CallError } from "./errors.ts";
import { expandTemplate, validateParams } from "./params.ts";

const fails = (fn: () => unknown, message: string) =>
  assert.throws(
    fn,
    (e) => e instanceof CallError && e.code === "bad_params" && e.message === message,
  );

Deno.test("params: count is checked", () => {
  const specs = [{ name: "n" }];
  fails(
    () => validateParams("count", specs, []),
    'Cannot start process "count": expected 1 parameter, got 0',
  );
  fails(
    () => validateParams("count", specs, ["1", "2"]),
    'Cannot start process "count": expected 1 parameter, got 2',
  );
  fails(
    () => validateParams("x", [{ name: "a" }, { name: "b", optional: true }], []),
    'Cannot start process "x": expected 1 to 2 parameters, got 0',
  );
  fails(
    () => validateParams("x", [{ name: "a" }, { name: "r", variadic: true }], []),
    'Cannot start process "x": expected at least 1 parameter, got 0',
  );
});

Deno.test("params: pattern is anchored and names the param", () => {
  const specs = [{ name: "n", pattern: "[0-9]+" }];
  assert.deepEqual(validateParams("count", specs, ["42"]), ["42"]);
  fails(
    () => validateParams("count", specs, ["42; rm -rf /"]),
    'Cannot start process "count": parameter 1 ("n") does not match /^(?:[0-9]+)$/u',
  );
});

Deno.test("params: enum is checked", () => {
  fails(
    () => validateParams("date", [{ name: "zone", enum: ["-u", "-R"] }], ["-x"]),
    'Cannot start process "date": parameter 1 ("zone") must be one of "-u", "-R"',
  );
});

Deno.test("params: variadic params are each validated", () => {
  const specs = [{ name: "files", variadic: true, pattern: "[a-z]+" }];
  assert.deepEqual(validateParams("ls", specs, ["a", "b"]), ["a", "b"]);
  fails(
    () => validateParams("ls", specs, ["a", "B"]),
    'Cannot start process "ls": parameter 2 ("files") does not match /^(?:[a-z]+)$/u',
  );
});

Deno.test("params: wrong types and limits are refused", () => {
  fails(
    () => validateParams("x", [], "a"),
    'Cannot start process "x": params must be an array of strings',
  );
  fails(
    () => validateParams("x", [{ name: "a" }], [1]),
    'Cannot start process "x": parameter 1 ("a") must be a string, got number',
  );
  fails(
    () => validateParams("x", [{ name: "a", variadic: true }], ["a", "b", "c"], { maxCount: 2 }),
    'Cannot start process "x": too many parameters: 3 given, at most 2 allowed',
  );
  fails(
    () => validateParams("x", [{ name: "a" }], ["abcdef"], { maxLength: 5 }),
    'Cannot start process "x": parameter 1 ("a") is too long: 6 characters, at most 5 allowed',
  );
});

Deno.test("params: templates substitute whole arguments only", () => {
  assert.deepEqual(expandTemplate(["echo", "{1}"], ["$(reboot); `id` *"]), [
    "echo",
    "$(reboot); `id` *",
  ]);
  assert.deepEqual(expandTemplate(["x", "{2}", "{1}", "{*}"], ["a", "b", "c", "d"]), [
    "x",
    "b",
    "a",
    "c",
    "d",
  ]);
  assert.deepEqual(
    expandTemplate(["x", "{1}", "{2}"], ["a"]),
    ["x", "a"],
    "missing optional params vanish",
  );
});
