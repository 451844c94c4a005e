import assert from "node:assert/strict";
import { parseConfig } from "./config.ts";
import { permissionFlags } from "./permissions.ts";

Deno.test("permissions: an enabled further-link endpoint may read and write its work directory", () => {
  const yaml =
    "furtherLink: { enabled: ENABLED, workDir: /srv/further, runners: { shell: sh } }\n" +
    "processes:\n  sh: { command: [sh] }\n";
  assert.deepEqual(permissionFlags(parseConfig(yaml.replace("ENABLED", "true"))), [
    "--allow-net=127.0.0.1:8028",
    "--allow-read=node_modules,/srv/further",
    "--allow-env=PATH,HOME,LANG,LOG_TOKENS,LOG_STREAM",
    "--allow-write=/srv/further",
    "--allow-run=sh",
  ]);
  assert.deepEqual(permissionFlags(parseConfig(yaml.replace("ENABLED", "false"))), [
    "--allow-net=127.0.0.1:8028",
    "--allow-read=node_modules",
    "--allow-env=PATH,HOME,LANG,LOG_TOKENS,LOG_STREAM",
    "--allow-run=sh",
  ]);
});
