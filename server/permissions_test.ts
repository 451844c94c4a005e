import assert from "node:assert/strict";
import { parseConfig } from "./config.ts";
import { needsPty, permissionFlags, ptyAllowed, runtimeProblems } from "./permissions.ts";

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

Deno.test("permissions: an enabled further-link endpoint may start pseudo-terminals (whole read and write, ffi)", () => {
  const yaml = "server: { stateDir: false }\n" +
    "furtherLink: { enabled: ENABLED, workDir: /srv/further, runners: { shell: sh } }\n" +
    "processes:\n  sh: { command: [sh] }\n";
  assert.deepEqual(permissionFlags(parseConfig(yaml.replace("ENABLED", "true"))), [
    "--allow-net=127.0.0.1:8028",
    "--allow-read",
    "--allow-env=PATH,HOME,LANG,LOG_TOKENS,LOG_STREAM",
    "--allow-write",
    "--allow-ffi=node_modules",
    "--allow-run=kill,sh",
  ]);
  assert.deepEqual(permissionFlags(parseConfig(yaml.replace("ENABLED", "false"))), [
    "--allow-net=127.0.0.1:8028",
    "--allow-read=node_modules",
    "--allow-env=PATH,HOME,LANG,LOG_TOKENS,LOG_STREAM",
    "--allow-run=kill,sh",
  ]);
});

Deno.test("permissions: a config with user: may read the account database and its uid; the ledger its directory", () => {
  const config = parseConfig(
    "server: { stateDir: /run/pow }\nprocesses:\n  a: { command: [id], user: 0, group: 0 }\n",
  );
  assert.deepEqual(permissionFlags(config), [
    "--allow-net=127.0.0.1:8028",
    "--allow-read=node_modules,/etc/passwd,/etc/group,/proc,/run/pow",
    "--allow-env=PATH,HOME,LANG,LOG_TOKENS,LOG_STREAM",
    "--allow-write=/run/pow",
    "--allow-sys=uid",
    "--allow-run=id,kill,ps",
  ]);
});

Deno.test("permissions: a pty process needs node-pty's ffi and, in Deno 2.9, the whole read and write", () => {
  const config = parseConfig(
    "server: { stateDir: false }\nprocesses:\n  t: { command: [sh], pty: true }\n  s: { command: [seq, '3'] }\n",
  );
  assert.equal(needsPty(config), true);
  assert.deepEqual(permissionFlags(config), [
    "--allow-net=127.0.0.1:8028",
    "--allow-read",
    "--allow-env=PATH,HOME,LANG,LOG_TOKENS,LOG_STREAM",
    "--allow-write",
    "--allow-ffi=node_modules",
    "--allow-run=kill,seq,sh",
  ]);
  assert.equal(needsPty(parseConfig("processes:\n  s: { command: [seq, '3'] }\n")), false);
  assert.equal(ptyAllowed(), true); // deno test -A
});

Deno.test("permissions: a cluster may reach its Redis and read the whole environment (ioredis)", () => {
  const config = parseConfig(
    'server: { stateDir: false, port: 9000 }\ncluster: { redis: "redis://redis.internal:7000" }\n' +
      "processes:\n  s: { command: [seq, '3'] }\n",
  );
  assert.deepEqual(permissionFlags(config), [
    "--allow-net=127.0.0.1:9000,redis.internal:7000",
    "--allow-read=node_modules",
    "--allow-env",
    "--allow-run=kill,seq",
  ]);
  const plain = parseConfig(
    'server: { stateDir: false }\ncluster: { redis: "redis://10.0.0.5" }\nprocesses: {}\n',
  );
  assert.equal(permissionFlags(plain)[0], "--allow-net=127.0.0.1:8028,10.0.0.5:6379");
});

Deno.test("permissions: warm launchers need setsid and sh besides the programs", () => {
  const config = parseConfig(
    "server: { stateDir: false }\nprocesses:\n  e: { command: [echo], warm: 2 }\n  f: { command: [cat] }\n",
  );
  const flags = permissionFlags(config);
  assert.ok(flags.includes("--allow-run=cat,echo,kill,setsid,sh"), flags.join(" "));
  // setsid(1) and the PATH directories are read: the spawn through setsid, the program's path.
  const reads = flags.find((f) => f.startsWith("--allow-read="))!.slice(13).split(",");
  assert.ok(reads.includes("/usr/bin/setsid"), reads.join(","));
  for (const dir of Deno.env.get("PATH")!.split(":").filter((d) => d.startsWith("/"))) {
    assert.ok(reads.includes(dir), `${dir} not in ${reads}`);
  }
  const cold = parseConfig(
    "server: { stateDir: false }\nprocesses:\n  e: { command: [echo], warm: 0 }\n",
  );
  assert.ok(permissionFlags(cold).includes("--allow-run=echo,kill"));
});
