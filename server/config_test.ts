import assert from "node:assert/strict";
import { ConfigError, DEFAULTS, parseConfig } from "./config.ts";

function configError(yaml: string): string {
  try {
    parseConfig(yaml, { file: "pow.yaml" });
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.message;
  }
  throw new Error("expected a ConfigError");
}

Deno.test("config: an empty file gives the defaults and no processes", () => {
  const config = parseConfig("", { file: "pow.yaml" });
  assert.deepEqual(config.server, DEFAULTS.server);
  assert.deepEqual(config.processes, {});
});

Deno.test("config: the example from the docs parses with units converted", () => {
  const config = parseConfig(`
server:
  host: 0.0.0.0
  port: 0
  basePath: /pow
sessions:
  retention: 1MiB
  linger: 2m
processes:
  count:
    description: Print the numbers 1..N
    command: [seq, "1", "{1}"]
    params:
      - { name: n, pattern: "^[0-9]{1,7}$" }
    timeout: 30s
  greet:
    command: [sh, -c, 'echo "hello $1"', sh, "{1}"]
    params: [{ name: who }]
    cwd: /tmp
    env: { GREETING: hi, N: 3 }
  grep:
    command: [grep, -e, "{1}", "{*}"]
    params: [{ name: pattern }]
`);
  assert.deepEqual(config.server, {
    host: "0.0.0.0",
    port: 0,
    basePath: "/pow/",
    origins: [],
    hosts: [],
  });
  assert.equal(config.sessions.retention, 1024 * 1024);
  assert.equal(config.sessions.linger, 120_000);
  assert.deepEqual(config.processes.count, {
    kind: "command",
    command: ["seq", "1", "{1}"],
    params: [{ name: "n", pattern: "^[0-9]{1,7}$" }],
    description: "Print the numbers 1..N",
    timeout: 30_000,
  });
  assert.deepEqual(config.processes.greet.kind === "command" && config.processes.greet.env, {
    GREETING: "hi",
    N: "3",
  });
  assert.deepEqual(config.processes.grep.params, [
    { name: "pattern" },
    { name: "args", variadic: true },
  ], "{*} without a variadic param accepts any further params");
});

Deno.test("config errors name the file, key path, line and problem", () => {
  assert.equal(
    configError(
      "processes:\n  count:\n    command: [seq, '{1}']\n    params:\n      - { name: n, pattern: '[0-9' }\n",
    ),
    'Invalid config "pow.yaml" at processes.count.params[0].pattern (line 5): invalid regular expression: Invalid regular expression: /[0-9/u: Unterminated character class',
  );
  assert.equal(
    configError("server:\n  port: 99999\n"),
    'Invalid config "pow.yaml" at server.port (line 2): must be a whole number from 0 to 65535, got number 99999',
  );
  assert.equal(
    configError("processes:\n  count:\n    comand: [seq]\n"),
    'Invalid config "pow.yaml" at processes.count.comand (line 3): unknown key "comand"; expected one of description, command, params, timeout, killGrace, retention, cwd, env, pty, allow, user, group, warm',
  );
  assert.equal(
    configError("processes:\n  x:\n    command: [sh]\n    timeout: soon\n"),
    'Invalid config "pow.yaml" at processes.x.timeout (line 4): Invalid duration "soon": expected a number with a unit (ms, s, m or h), e.g. "30s"',
  );
  assert.equal(
    configError("processes:\n  x:\n    description: nothing to run\n"),
    'Invalid config "pow.yaml" at processes.x (line 3): missing key "command": a list of the program and its arguments',
  );
  assert.equal(
    configError("processes:\n  x:\n    command: [echo, '--name={1}']\n    params: [{ name: n }]\n"),
    'Invalid config "pow.yaml" at processes.x.command[1] (line 3): placeholder inside "--name={1}": params are substituted as whole arguments only, write the placeholder as its own list item',
  );
  assert.equal(
    configError("processes:\n  x:\n    command: [echo, '{2}']\n    params: [{ name: n }]\n"),
    'Invalid config "pow.yaml" at processes.x.command (line 3): uses {2} but only 1 params are declared',
  );
  assert.equal(
    configError("processes:\n  x:\n    command: [env]\n    env: { LD_PRELOAD: /evil.so }\n"),
    'Invalid config "pow.yaml" at processes.x.env.LD_PRELOAD (line 4): LD_* variables are never passed to processes',
  );
  assert.equal(
    configError(
      "processes:\n  x:\n    command: [a]\n    params: [{ name: a, variadic: true }, { name: b }]\n",
    ),
    'Invalid config "pow.yaml" at processes.x.params[0] (line 4): only the last param can be variadic',
  );
  assert.equal(
    configError("server: [1, 2]\n"),
    'Invalid config "pow.yaml" at server (line 1): must be a mapping, got a list',
  );
  assert.equal(
    configError("server:\n  basePath: api\n"),
    'Invalid config "pow.yaml" at server.basePath (line 2): must start with "/", got "api"',
  );
  assert.match(
    configError("processes: {\n"),
    /^Invalid config "pow.yaml" \(line \d\): not valid YAML: /,
  );
  assert.match(
    configError("a: 1\na: 2\n"),
    /^Invalid config "pow.yaml" \(line 2\): not valid YAML: Map keys must be unique/,
  );
});

Deno.test("config: tokens are stored as hashes, never as tokens", () => {
  const hash = "sha256:" + "a".repeat(64);
  const config = parseConfig(
    `auth:\n  tokens:\n    - { name: alice, hash: "${hash}", roles: [ops] }\n`,
  );
  assert.deepEqual(config.auth.tokens, [{ name: "alice", hash, roles: ["ops"] }]);
  assert.equal(
    configError("auth:\n  tokens:\n    - { name: bob, hash: hunter2 }\n"),
    'Invalid config "pow.yaml" at auth.tokens[0].hash (line 3): must be "sha256:" and 64 lowercase hex digits (run "main.ts hash-token"); never put a token itself in the config',
  );
  assert.equal(
    configError(
      `auth:\n  tokens:\n    - { name: a, hash: "${hash}" }\n    - { name: a, hash: "${hash}" }\n`,
    ),
    'Invalid config "pow.yaml" at auth.tokens[1].name (line 4): duplicate token name "a"',
  );
});

Deno.test("config: user and group are resolved by name, with the user's primary group", () => {
  const config = parseConfig(
    "processes:\n  a: { command: [id], user: nobody }\n  b: { command: [id], user: 0, group: nogroup }\n",
  );
  const a = config.processes.a, b = config.processes.b;
  const passwd = Deno.readTextFileSync("/etc/passwd").split("\n").find((l) =>
    l.startsWith("nobody:")
  )!.split(":");
  const nogroup = Deno.readTextFileSync("/etc/group").split("\n").find((l) =>
    l.startsWith("nogroup:")
  )!.split(":");
  assert.deepEqual(a.kind === "command" && [a.uid, a.gid], [Number(passwd[2]), Number(passwd[3])]);
  assert.deepEqual(b.kind === "command" && [b.uid, b.gid], [0, Number(nogroup[2])]);
  assert.equal(
    configError("processes:\n  a: { command: [id], user: no-such-user-here }\n"),
    'Invalid config "pow.yaml" at processes.a.user (line 2): unknown user "no-such-user-here" (not in /etc/passwd)',
  );
});

Deno.test("config: the further-link endpoint is off by default and maps runners to processes", () => {
  assert.deepEqual(parseConfig("").furtherLink, { enabled: false, path: "/run", runners: {} });
  const config = parseConfig(
    "furtherLink:\n  enabled: true\n  path: /compat/run/\n  workDir: /srv/further\n" +
      "  runners: { python3: py, shell: sh }\n" +
      "processes:\n  py: { command: [python3, '{1}'], params: [{ name: file }] }\n" +
      "  sh: { command: [sh] }\n",
  );
  assert.deepEqual(config.furtherLink, {
    enabled: true,
    path: "/compat/run",
    workDir: "/srv/further",
    runners: { python3: "py", shell: "sh" },
  });
  assert.equal(
    configError("furtherLink:\n  enabled: true\n"),
    'Invalid config "pow.yaml" at furtherLink (line 2): missing key "workDir": the directory for uploads and code files',
  );
  assert.equal(
    configError("furtherLink:\n  workDir: /tmp/f\n  runners:\n    python3: python\n"),
    'Invalid config "pow.yaml" at furtherLink.runners.python3 (line 4): names process "python", which is not configured',
  );
  assert.equal(
    configError("furtherLink:\n  path: run\n"),
    'Invalid config "pow.yaml" at furtherLink.path (line 2): must start with "/", got "run"',
  );
  assert.equal(
    configError("furtherLink:\n  enable: true\n"),
    'Invalid config "pow.yaml" at furtherLink.enable (line 2): unknown key "enable"; expected one of enabled, path, workDir, runners',
  );
});

Deno.test("config monorail section has defaults and refuses bad values with the key path", () => {
  assert.deepEqual(parseConfig("").monorail, {
    enabled: true,
    prefix: "/events",
    queue: 1024,
    resume: 60_000,
    admins: ["admin"],
  });
  const config = parseConfig(
    "monorail:\n  enabled: false\n  prefix: /watch/\n  queue: 8\n  resume: 5s\n  admins: [ops]\n",
  );
  assert.deepEqual(config.monorail, {
    enabled: false,
    prefix: "/watch",
    queue: 8,
    resume: 5000,
    admins: ["ops"],
  });
  assert.equal(
    configError("monorail:\n  queue: 0\n"),
    'Invalid config "pow.yaml" at monorail.queue (line 2): must be a whole number from 1 to 1000000, got number 0',
  );
  assert.equal(
    configError("monorail:\n  prefix: /\n"),
    'Invalid config "pow.yaml" at monorail.prefix (line 2): must not be "/"',
  );
  assert.equal(
    configError("monorail:\n  admin: [ops]\n"),
    'Invalid config "pow.yaml" at monorail.admin (line 2): unknown key "admin"; expected one of enabled, prefix, queue, resume, admins',
  );
});

Deno.test("config: the console is on by default and can be turned off", () => {
  assert.deepEqual(parseConfig("").console, { enabled: true });
  assert.deepEqual(parseConfig("console:\n  enabled: false\n").console, { enabled: false });
  assert.equal(
    configError("console:\n  enabled: yes please\n"),
    'Invalid config "pow.yaml" at console.enabled (line 2): must be true or false, got "yes please"',
  );
  assert.equal(
    configError("console:\n  path: /ui\n"),
    'Invalid config "pow.yaml" at console.path (line 2): unknown key "path"; expected one of enabled',
  );
});

Deno.test("config: the older pow1 keys still set keep-alive and message limits for every front end", () => {
  const older = parseConfig("pow1:\n  keepAlive: 10s\n  maxMessage: 4KiB\n  maxFrame: 1KiB\n");
  assert.deepEqual(
    [older.server.keepAlive, older.limits.maxMessage, older.v2, older.pow1.maxMessage],
    [10_000, 4096, { maxMessage: 4096, maxFrame: 1024 }, 4096],
  );
  const own = parseConfig(
    "server: { keepAlive: 20s }\nlimits: { maxMessage: 8KiB }\nv2: { maxMessage: 2KiB }\n" +
      "pow1: { keepAlive: 10s, maxMessage: 4KiB }\n",
  );
  assert.deepEqual(
    [own.server.keepAlive, own.limits.maxMessage, own.v2.maxMessage, own.pow1.maxMessage],
    [20_000, 8192, 2048, 4096],
  );
  assert.deepEqual(parseConfig("").v2, { maxMessage: 1024 * 1024, maxFrame: 64 * 1024 });
});

Deno.test("config: the wubsub section has defaults, units and key-path errors", () => {
  assert.deepEqual(parseConfig("").wubsub, DEFAULTS.wubsub);
  const config = parseConfig(
    "wubsub:\n  path: /pubsub/\n  requestTimeout: 5s\n  maxPendingPerCaller: 8\n" +
      "  maxMessage: 64KiB\n  register: [providers]\n  allow: [alice, ops]\n",
  );
  assert.deepEqual(config.wubsub, {
    ...DEFAULTS.wubsub,
    path: "/pubsub",
    requestTimeout: 5000,
    maxPendingPerCaller: 8,
    maxMessage: 65536,
    register: ["providers"],
    allow: ["alice", "ops"],
  });
  assert.equal(
    configError("wubsub:\n  maxPendingPerOwner: 0\n"),
    'Invalid config "pow.yaml" at wubsub.maxPendingPerOwner (line 2): must be a whole number from 1 to 9007199254740991, got number 0',
  );
  assert.equal(
    configError("wubsub:\n  path: /\n"),
    'Invalid config "pow.yaml" at wubsub.path (line 2): must not be "/"',
  );
  assert.equal(
    configError("wubsub:\n  register: admins\n"),
    'Invalid config "pow.yaml" at wubsub.register (line 2): must be a list of strings, got "admins"',
  );
  assert.equal(
    configError("wubsub:\n  requestTimeout: 0\n"),
    'Invalid config "pow.yaml" at wubsub.requestTimeout (line 2): must be longer than 0',
  );
  assert.match(
    configError("wubsub:\n  timeout: 1s\n"),
    /^Invalid config "pow\.yaml" at wubsub\.timeout \(line 2\): unknown key "timeout"; expected one of enabled, path/,
  );
});

Deno.test("config: the provide section has defaults and key-path errors", () => {
  assert.deepEqual(parseConfig("").provide, DEFAULTS.provide);
  assert.deepEqual(
    parseConfig(
      "provide:\n  providers: [providers]\n  allow: [alice]\n  maxPendingCalls: 2\n" +
        "  maxProcesses: 3\n",
    ).provide,
    {
      enabled: true,
      providers: ["providers"],
      allow: ["alice"],
      maxPendingCalls: 2,
      maxProcesses: 3,
    },
  );
  assert.equal(
    configError("provide:\n  maxPendingCalls: 0\n"),
    'Invalid config "pow.yaml" at provide.maxPendingCalls (line 2): must be a whole number from 1 to 9007199254740991, got number 0',
  );
  assert.equal(
    configError("provide:\n  providers: admins\n"),
    'Invalid config "pow.yaml" at provide.providers (line 2): must be a list of strings, got "admins"',
  );
  assert.match(
    configError("provide:\n  register: [x]\n"),
    /^Invalid config "pow\.yaml" at provide\.register \(line 2\): unknown key "register"; expected one of enabled, providers/,
  );
});

Deno.test("config: the cluster section is validated with key paths", () => {
  const ok = parseConfig(
    'cluster:\n  redis: "redis://127.0.0.1:6379"\n  node: a1\n  lostAfter: 3s\n',
  );
  assert.deepEqual(ok.cluster, {
    redis: "redis://127.0.0.1:6379",
    node: "a1",
    prefix: "pow",
    heartbeat: 1000,
    lostAfter: 3000,
  });
  assert.equal(parseConfig("").cluster, undefined);
  const bad = (text: string) => {
    try {
      parseConfig(text, { file: "pow.yaml" });
    } catch (error) {
      return (error as Error).message;
    }
    return "accepted";
  };
  assert.match(bad("cluster:\n  node: a\n"), /cluster.*missing key "redis"/);
  assert.match(bad('cluster:\n  redis: "http://x"\n'), /cluster\.redis.*must be a redis:\/\//);
  assert.match(bad('cluster:\n  redis: "redis://x"\n  node: "a b"\n'), /cluster\.node/);
  assert.match(
    bad('cluster:\n  redis: "redis://x"\n  heartbeat: 5s\n  lostAfter: 2s\n'),
    /cluster\.lostAfter.*longer than cluster\.heartbeat/,
  );
});

Deno.test("config: the bounds of issue 10 parse with units and name their key path when wrong", () => {
  const config = parseConfig(`
sessions: { maxPerCaller: 20, maxHeld: 2MiB }
limits: { maxBody: 256KiB, bodyTimeout: 5s, outputBudget: 2GiB }
`);
  assert.deepEqual(
    [config.sessions.maxPerCaller, config.sessions.maxHeld],
    [20, 2 * 1024 * 1024],
  );
  assert.deepEqual(
    [config.limits.maxBody, config.limits.bodyTimeout, config.limits.outputBudget],
    [256 * 1024, 5000, 2 * 1024 * 1024 * 1024],
  );
  const defaults = parseConfig("");
  assert.deepEqual(
    [defaults.sessions.maxPerCaller, defaults.sessions.maxHeld, defaults.limits.maxBody],
    [500, 4 * 1024 * 1024, 1024 * 1024],
  );
  assert.deepEqual(
    [defaults.limits.bodyTimeout, defaults.limits.outputBudget],
    [30_000, 1024 * 1024 * 1024],
  );
  assert.equal(
    configError("sessions:\n  maxPerCaller: 0\n"),
    'Invalid config "pow.yaml" at sessions.maxPerCaller (line 2): must be a whole number from 1 to 9007199254740991, got number 0',
  );
  assert.match(
    configError("sessions:\n  maxHeld: lots\n"),
    /^Invalid config "pow\.yaml" at sessions\.maxHeld \(line 2\): Invalid size "lots"/,
  );
  assert.match(
    configError("limits:\n  maxBody: 1MB and more\n"),
    /^Invalid config "pow\.yaml" at limits\.maxBody \(line 2\): Invalid size/,
  );
  assert.match(
    configError("limits:\n  bodyTimeout: later\n"),
    /^Invalid config "pow\.yaml" at limits\.bodyTimeout \(line 2\): Invalid duration "later"/,
  );
  assert.equal(
    configError("limits:\n  outputBudget: 0\n"),
    'Invalid config "pow.yaml" at limits.outputBudget (line 2): must be at least 1 bytes',
  );
});
