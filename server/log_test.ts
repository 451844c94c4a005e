import assert from "node:assert/strict";
import { createLogger, isLoopback, logSessions, startupSummary, startupWarnings } from "./log.ts";
import { defaultConfig } from "./default_config.ts";
import { defineProcess } from "./process.ts";
import { SessionManager } from "./session_manager.ts";

function capture(options: Parameters<typeof createLogger>[0] = {}) {
  const lines: string[] = [];
  const logger = createLogger({ now: () => new Date(0), write: (l) => lines.push(l), ...options });
  return { lines, logger };
}

Deno.test("text log lines quote values with spaces, quotes or equals signs and skip undefined", () => {
  const { lines, logger } = capture();
  logger.info("session ended", {
    process: "greet",
    reason: "exit status 3",
    empty: "",
    list: ["a", "b"],
    nothing: undefined,
    code: 3,
  });
  assert.deepEqual(lines, [
    '1970-01-01T00:00:00.000Z INFO session ended process=greet reason="exit status 3" empty="" list=a,b code=3',
  ]);
});

Deno.test("log levels: warn drops info and debug, off drops everything", () => {
  const warn = capture({ level: "warn" });
  warn.logger.debug("d");
  warn.logger.info("i");
  warn.logger.warn("w");
  warn.logger.error("e");
  assert.deepEqual(warn.lines.map((l) => l.split(" ").slice(1).join(" ")), ["WARN w", "ERROR e"]);
  const off = capture({ level: "off" });
  off.logger.error("e");
  assert.deepEqual(off.lines, []);
  assert.throws(
    () => createLogger({ level: "loud" as never }),
    new TypeError('Invalid log level "loud": expected one of debug, info, warn, error, off'),
  );
});

Deno.test("logSessions logs a function process's start and end with caller and duration", async () => {
  const { lines, logger } = capture({ format: "json" });
  const manager = new SessionManager({
    processes: { hello: defineProcess({ run: () => "hi" }) },
  });
  const stop = logSessions(manager.registry, logger);
  const session = manager.start("hello", [], { caller: { id: "alice", via: "test" } });
  await session.result;
  stop();
  manager.start("hello", [], { caller: { id: "bob" } });
  await manager.close();
  const records = lines.map((l) => JSON.parse(l));
  assert.deepEqual(records.map((r) => [r.msg, r.caller, r.status]), [
    ["session started", "alice", undefined],
    ["session ended", "alice", "fulfilled"],
  ]);
  assert.match(records[1].duration, /^\d+\.\d{3}s$/);
});

Deno.test("startup summary and warnings: auth mode, public address without tokens", () => {
  const config = defaultConfig();
  assert.equal(startupSummary(config, { url: new URL("http://x/"), frontEnds: [] }).auth, "none");
  assert.deepEqual(startupWarnings(config), []);
  config.server.host = "0.0.0.0";
  assert.match(startupWarnings(config)[0], /^listening on 0\.0\.0\.0 without authentication/);
  config.auth.tokens = [{ name: "ops", hash: `sha256:${"0".repeat(64)}` }];
  assert.deepEqual(startupWarnings(config), []);
  assert.equal(
    startupSummary(config, { url: new URL("http://x/"), frontEnds: [] }).auth,
    "1 token",
  );
  assert.deepEqual(
    ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "0.0.0.0", "::", "10.0.0.1"].map(
      isLoopback,
    ),
    [true, true, true, true, true, false, false, false],
  );
});

Deno.test("logSessions: a spawn failure is a warning, a refused call recorded by id is not", async () => {
  const { lines, logger } = capture({ format: "json" });
  const manager = new SessionManager({
    processes: { gone: { kind: "command", command: ["/no/such/program"], params: [] } },
  });
  logSessions(manager.registry, logger);
  await manager.start("gone", [], { caller: { id: "alice" } }).result;
  manager.rejected("nope", [], { caller: { id: "bob" } }, 'Cannot start process "nope"');
  await manager.close();
  assert.deepEqual(lines.map((l) => JSON.parse(l)).map((r) => [r.level, r.msg, r.kind]), [
    ["warn", "session ended", "spawn"],
    ["info", "session refused", undefined],
  ]);
});

Deno.test("stderr lines are batched and still all written when the process ends, exits or crashes", async () => {
  const logModule = new URL("./log.ts", import.meta.url).href;
  for (
    const end of [
      "",
      "Deno.exit(3);",
      "throw new Error('boom');",
      // Keeps running: the interval holds the event loop (a bare unresolved top-level await
      // would let Deno end the process, and the lines would come from the exit's flush).
      "setInterval(() => {}, 1000);",
    ]
  ) {
    const running = end.startsWith("setInterval");
    const script = `
      import { createLogger, flushLog } from "${logModule}";
      const log = createLogger();
      log.info("first", { n: 1 });
      log.info("second", { n: 2 });
      ${running ? "log.warn('third'); console.log('ready');" : ""}
      ${end}`;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", "--ext=ts", script],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let stderr: string;
    if (running) {
      // Still running: info lines come within the batch delay; a warning is written at once.
      const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      while (!/INFO second n=2/.test(text) || !/WARN third/.test(text)) {
        const { value, done } = await reader.read();
        if (done) break;
        text += value;
      }
      child.kill("SIGKILL");
      await child.status;
      await reader.cancel();
      await child.stdout.cancel();
      stderr = text;
    } else {
      const out = await child.output();
      stderr = new TextDecoder().decode(out.stderr);
    }
    assert.match(stderr, /INFO first n=1\n.*INFO second n=2\n/s, `${end}: ${stderr}`);
    // Written together, in order, once each.
    assert.equal(stderr.match(/INFO first/g)?.length, 1);
  }
});
