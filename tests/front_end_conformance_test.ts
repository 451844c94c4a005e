/**
 * Front-end conformance: the same scenarios, run against every front end that can express them,
 * through real clients (raw WebSocket and fetch; see `tests/_drivers/`). Every assertion is on
 * what a client or `/proc` can observe: frames, bytes, statuses, the processes of a group.
 *
 * | scenario                      | pow-1 WS | pow-1 REST | pow.v2 WS | pow.v2 REST | further-link | wubsub |
 * | ----------------------------- | -------- | ---------- | --------- | ----------- | ------------ | ------ |
 * | stdin, exact output back      | yes      | yes (1)    | yes       | yes         | yes          | no (6) |
 * | end of input (half-close)     | yes      | yes (1)    | yes       | yes         | no (4)       | no (6) |
 * | exact output, `seq 1 100000`  | yes      | yes (1)    | yes       | yes         | yes          | no (6) |
 * | exact binary output           | no (2)   | no (2)     | yes       | yes         | no (2)       | no (6) |
 * | cancel ends the whole group   | yes      | yes        | yes       | yes         | yes          | no (6) |
 * | disconnect                    | cleanup  | expiry (3) | linger(3) | linger (3)  | cleanup      | no (6) |
 * | error: unknown process        | yes      | yes        | yes       | yes         | yes (5)      | yes    |
 * | error: bad params             | yes      | yes        | yes       | yes         | yes (5)      | no (6) |
 *
 * 1. pow-1 REST shows output only through `GET /status`: the last `pow1.statusLines` lines,
 *    without the final newline. The scenarios assert exactly that view of the expected bytes.
 * 2. pow-1 (both) and further-link carry output as text (UTF-8 decoded), so arbitrary bytes
 *    cannot pass through unchanged by design.
 * 3. "Disconnect" on REST is to stop making requests. pow-1 REST sessions expire
 *    `pow1.restExpiry` after the last request; pow.v2 sessions (WS and REST) linger
 *    `sessions.linger` once no client is attached. The server runs on a fake clock that the
 *    test moves, so the session is shown alive one millisecond before and gone at the limit,
 *    without sleeping. pow-1 WS and further-link end a connection's processes at disconnect.
 * 4. further-link has no end-of-input message (only `stdin` text, `stop`, `resize`).
 * 5. A further-link runner takes no params from the client (its one param is the path of the
 *    code sent): the bad-params case is a runner whose process needs a param it cannot get, and
 *    an unknown process is an unknown runner.
 * 6. wubsub starts no configured process: a client calls methods other clients provide. An
 *    unknown method (`pie-do` to an unknown channel) is its "unknown process".
 *
 * @module
 */

import assert from "node:assert/strict";
import { defineCommand } from "../mod.ts";
import { startServer, type TestServer } from "./_helpers.ts";
import { sessionMembers, waitSessionGone } from "./_proc.ts";
import { type Driver, utf8 } from "./_drivers/driver.ts";
import { pow1WsDriver } from "./_drivers/pow1_ws.ts";
import { pow1RestDriver } from "./_drivers/pow1_rest.ts";
import { v2WsDriver } from "./_drivers/v2_ws.ts";
import { v2RestDriver } from "./_drivers/v2_rest.ts";
import { furtherLinkDriver } from "./_drivers/further_link.ts";
import { wubsubDriver } from "./_drivers/wubsub.ts";

const LINGER = 120_000;
const REST_EXPIRY = 90_000;
const STATUS_LINES = 1000;

/** What happens to a process when its client goes away. */
type Disconnect = { policy: "cleanup" } | { policy: "linger"; after: number };

/** One column of the table. */
interface FrontEnd {
  driver: Driver;
  /** The client's view of the expected stdout bytes. */
  view: (expected: Uint8Array) => Uint8Array;
  halfClose: boolean;
  binary: boolean;
  processes: boolean;
  disconnect?: Disconnect;
  /** Params are not sent (further-link): a process that needs one is the bad-params case. */
  noParams?: boolean;
  /** What the client sees for an unknown process. */
  unknownProcess: unknown;
  /** What the client sees for bad params (or `undefined`: not expressible). */
  badParams?: unknown;
}

/** pow-1 REST's status view: the last lines, without the final newline. */
function statusView(expected: Uint8Array): Uint8Array {
  const text = new TextDecoder().decode(expected).replace(/\n$/, "");
  return utf8(text.split("\n").slice(-STATUS_LINES).join("\n"));
}

const same = (expected: Uint8Array) => expected;
const COUNT_PARAM =
  'Cannot start process "count": parameter 1 ("n") does not match /^(?:[0-9]{1,7})$/u';

const FRONT_ENDS: FrontEnd[] = [
  {
    driver: pow1WsDriver,
    view: same,
    halfClose: true,
    binary: false,
    processes: true,
    disconnect: { policy: "cleanup" },
    unknownProcess: {
      texts: 0,
      binaries: [{ status: "rejected", reason: "failed to get process: unknown process" }],
    },
    badParams: {
      texts: 0,
      binaries: [{ status: "rejected", reason: "failed to get process: invalid args" }],
    },
  },
  {
    driver: pow1RestDriver,
    view: statusView,
    halfClose: true,
    binary: false,
    processes: true,
    disconnect: { policy: "linger", after: REST_EXPIRY },
    unknownProcess: {
      result: { status: "rejected", reason: "failed to get process: unknown process" },
    },
    badParams: { result: { status: "rejected", reason: "failed to get process: invalid args" } },
  },
  {
    driver: v2WsDriver,
    view: same,
    halfClose: true,
    binary: true,
    processes: true,
    disconnect: { policy: "linger", after: LINGER },
    unknownProcess: {
      type: "error",
      id: 1,
      ref: "r1",
      code: "unknown_process",
      message: 'Cannot start process "no-such-process": no such process',
    },
    badParams: { type: "error", id: 1, ref: "r1", code: "bad_params", message: COUNT_PARAM },
  },
  {
    driver: v2RestDriver,
    view: same,
    halfClose: true,
    binary: true,
    processes: true,
    disconnect: { policy: "linger", after: LINGER },
    unknownProcess: {
      status: 404,
      body: {
        code: "unknown_process",
        message: 'Cannot start process "no-such-process": no such process',
      },
    },
    badParams: { status: 400, body: { code: "bad_params", message: COUNT_PARAM } },
  },
  {
    driver: furtherLinkDriver,
    view: same,
    halfClose: false,
    binary: false,
    processes: true,
    disconnect: { policy: "cleanup" },
    noParams: true,
    unknownProcess: {
      type: "error",
      process: "1",
      data: {
        message: 'Cannot start process "1": unknown runner "no-such-process"; this server has ' +
          '"lines", "wc", "seq", "bytes", "tree", "count"',
      },
    },
    badParams: {
      type: "error",
      process: "1",
      data: { message: 'Cannot start process "1": expected 1 parameter, got 0' },
    },
  },
  {
    driver: wubsubDriver,
    view: same,
    halfClose: false,
    binary: false,
    processes: false,
    unknownProcess: {
      type: "error",
      channel: "no-such-process",
      data: 'Unknown channel "no-such-process"',
    },
  },
];

/** Every byte value, 1024 times: 256 KiB that are not UTF-8. */
const BYTES_SCRIPT = (() => {
  let escapes = "";
  for (let i = 0; i < 256; i++) escapes += `\\${i.toString(8).padStart(3, "0")}`;
  return `s='${escapes}'; j=0; while [ $j -lt 1024 ]; do printf "$s"; j=$((j+1)); done`;
})();

function expectedBytes(): Uint8Array {
  const out = new Uint8Array(256 * 1024);
  for (let i = 0; i < out.length; i++) out[i] = i & 0xff;
  return out;
}

function seqText(n: number): string {
  let text = "";
  for (let i = 1; i <= n; i++) text += `${i}\n`;
  return text;
}

/** A server with every front end (further-link enabled) on a clock the test moves. */
async function serve(): Promise<TestServer & { advance(ms: number): void; reap(): void }> {
  let now = Date.now();
  const workDir = await Deno.makeTempDir({ prefix: "pow-conformance-" });
  const server = await startServer({
    now: () => now,
    configure(config) {
      config.sessions.linger = LINGER;
      config.pow1.restExpiry = REST_EXPIRY;
      config.pow1.statusLines = STATUS_LINES;
      config.furtherLink.enabled = true;
      config.furtherLink.workDir = workDir;
      const names = ["lines", "wc", "seq", "bytes", "tree", "count"];
      config.furtherLink.runners = Object.fromEntries(names.map((n) => [n, n]));
      config.processes.lines = defineCommand(["head", "-n", "2"]);
      config.processes.seq = defineCommand(["seq", "1", "100000"]);
      config.processes.bytes = defineCommand(["sh", "-c", BYTES_SCRIPT]);
      config.processes.tree = defineCommand(["sh", "-c", "echo $$; sleep 30 & sleep 30 & wait"]);
    },
  });
  const shutdown = async () => {
    await server.shutdown();
    await Deno.remove(workDir, { recursive: true });
  };
  return {
    ...server,
    shutdown,
    [Symbol.asyncDispose]: shutdown,
    advance(ms: number) {
      now += ms;
    },
    reap() {
      // The manager's sweep, run now instead of on its timer: the test's hand on the clock.
      server.running.server.manager.reap();
    },
  };
}

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** Asserts equal bytes with a readable message (no 600 KB diff). */
function assertBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  let at = 0;
  while (at < actual.length && at < expected.length && actual[at] === expected[at]) at++;
  assert.ok(
    at === actual.length && at === expected.length,
    `${what}: ${actual.length} bytes, expected ${expected.length}; first difference at ${at}`,
  );
}

const TREE = ["sh", "sleep", "sleep"];

/** Starts `tree`, reads the pid it prints and checks its group has its three members. */
async function startTree(fe: FrontEnd, server: TestServer) {
  const run = await fe.driver.start(server, "tree");
  const out = await run.output((stdout) => /^\d+\n?$/.test(text(stdout)));
  const pid = Number(text(out).trim());
  const members = () =>
    sessionMembers(pid).filter((p) => p.state !== "Z").map((p) => p.comm).sort();
  // The shell forks its two children: wait until both have become `sleep`.
  for (let i = 0; i < 500 && members().join() !== TREE.join(); i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.deepEqual(members(), TREE, `the group of ${pid}`);
  return { run, pid, members };
}

for (const fe of FRONT_ENDS.filter((fe) => fe.processes)) {
  const name = fe.driver.name;

  Deno.test(`${name}: stdin reaches the process and its output comes back exactly`, async () => {
    await using server = await serve();
    const run = await fe.driver.start(server, "lines");
    await run.write("hello\n");
    await run.write("world\n");
    const { stdout, ending } = await run.end();
    assertBytes(stdout, fe.view(utf8("hello\nworld\n")), "stdout");
    assert.equal(ending.kind, "fulfilled", JSON.stringify(ending.raw));
  });

  if (fe.halfClose) {
    Deno.test(`${name}: end of input half-closes stdin while output continues`, async () => {
      await using server = await serve();
      const run = await fe.driver.start(server, "wc");
      await run.write("hello ");
      await run.write("world\n");
      await run.closeInput!();
      const { stdout, ending } = await run.end();
      assertBytes(stdout, fe.view(utf8("12\n")), "stdout");
      assert.equal(ending.kind, "fulfilled", JSON.stringify(ending.raw));
    });
  }

  Deno.test(`${name}: the output of seq 1 100000 arrives exactly`, async () => {
    await using server = await serve();
    const run = await fe.driver.start(server, "seq");
    const { stdout, ending } = await run.end();
    assertBytes(stdout, fe.view(utf8(seqText(100_000))), "stdout");
    assert.equal(ending.kind, "fulfilled", JSON.stringify(ending.raw));
  });

  if (fe.binary) {
    Deno.test(`${name}: binary output (every byte value) arrives exactly`, async () => {
      await using server = await serve();
      const run = await fe.driver.start(server, "bytes");
      const { stdout, ending } = await run.end();
      assertBytes(stdout, expectedBytes(), "stdout");
      assert.equal(ending.kind, "fulfilled", JSON.stringify(ending.raw));
    });
  }

  Deno.test(`${name}: cancel ends every process of the group`, async () => {
    await using server = await serve();
    const { run, pid } = await startTree(fe, server);
    await run.cancel();
    const { ending } = await run.end();
    assert.equal(ending.kind, "cancelled", JSON.stringify(ending.raw));
    await waitSessionGone(pid, 10_000);
  });

  const disconnect = fe.disconnect!;
  Deno.test(
    `${name}: disconnect ${
      disconnect.policy === "cleanup"
        ? "ends every process of the group"
        : `keeps the group for ${disconnect.after} ms, then ends it`
    }`,
    async () => {
      await using server = await serve();
      const { run, pid, members } = await startTree(fe, server);
      await run.disconnect();
      if (disconnect.policy === "cleanup") {
        await waitSessionGone(pid, 10_000);
        return;
      }
      // The server has let go of the session once no client is attached (pow.v2 REST view;
      // a request there counts as activity, so none is made while the clock moves).
      const info = async () => {
        const response = await fetch(new URL(`api/v2/sessions/${run.session}`, server.url));
        return await response.json();
      };
      for (let i = 0; i < 250 && (await info()).attached !== 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const before = await info();
      assert.deepEqual([before.attached, before.state], [0, "running"]);
      server.advance(disconnect.after - 1);
      server.reap();
      assert.deepEqual(members(), TREE, "kept until the limit");
      server.advance(1);
      server.reap();
      await waitSessionGone(pid, 10_000);
      const { result } = await info();
      assert.equal(result.status, "rejected");
      assert.match(result.reason, /^session abandoned: no client attached for /);
    },
  );

  Deno.test(`${name}: a start with bad params is refused`, async () => {
    await using server = await serve();
    const answer = fe.noParams
      ? await fe.driver.startError(server, "count")
      : await fe.driver.startError(server, "count", ["ten"]);
    assert.deepEqual(answer, fe.badParams);
  });
}

for (const fe of FRONT_ENDS) {
  Deno.test(`${fe.driver.name}: a start of an unknown process is refused`, async () => {
    await using server = await serve();
    assert.deepEqual(
      await fe.driver.startError(server, "no-such-process"),
      fe.unknownProcess,
    );
  });
}
