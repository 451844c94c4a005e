import assert from "node:assert/strict";
import { missingPrograms } from "./programs.ts";
import { parseConfig } from "./config.ts";

Deno.test("missingPrograms looks bare names up in the PATH the process gets", () => {
  const config = parseConfig(
    "processes:\n" +
      "  ok: { command: [sh, -c, 'true'] }\n" +
      "  custom: { command: [sh], env: { PATH: /nonexistent } }\n" +
      "  relative: { command: [./bin/tool] }\n",
  );
  assert.deepEqual(missingPrograms(config), [{
    process: "custom",
    path: "processes.custom.command[0]",
    problem: 'program "sh" was not found in PATH (/nonexistent)',
  }]);
});
