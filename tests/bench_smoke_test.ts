/**
 * The benchmark harness at tiny sizes, so it cannot rot: it must run every workload, pass
 * every check (byte totals, hashes, line counts, results) and print the expected rows, with
 * or without websocketd installed. No timing is asserted.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Row, Target } from "../bench/_report.ts";

interface Report {
  rows: Row[];
  targets: Target[];
  goals: Target[];
  ok: boolean;
}

async function runHarness(
  args: string[],
): Promise<{ code: number; stdout: string; report: Report }> {
  const json = await Deno.makeTempFile({ prefix: "pow-bench-smoke-", suffix: ".json" });
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "bench/main.ts", "--smoke", `--json=${json}`, ...args],
      cwd: new URL("../", import.meta.url),
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    if (out.code !== 0) console.error(new TextDecoder().decode(out.stderr));
    return { code: out.code, stdout, report: JSON.parse(await Deno.readTextFile(json)) };
  } finally {
    await Deno.remove(json).catch(() => {});
  }
}

const WORKLOADS = [
  "1. bulk output",
  "2. line-heavy output",
  "3. call latency",
  "4. input",
  "5. scale",
  "6. fan-out",
  "7. wubsub",
  "9. watchers",
];

Deno.test("bench harness at smoke sizes passes every check and prints every workload", async () => {
  const { code, stdout, report } = await runHarness([]);
  assert.equal(code, 0, stdout);
  assert.ok(report.ok);
  for (const workload of WORKLOADS) {
    assert.ok(stdout.includes(`| ${workload} |`), `missing rows of ${workload}`);
  }
  assert.ok(stdout.includes("### Results") && stdout.includes("### Targets"));
  // The goals of issue 17, each judged from this run's rows (every row it needs is measured).
  assert.ok(stdout.includes("### Goals of issue 17 (ratios within this run)"));
  assert.equal(report.goals.length, 9);
  for (const goal of report.goals.slice(0, 8)) {
    assert.match(
      goal.verdict,
      /^(met|missed|missed: its floor row misses it too) \(smoke sizes/,
      `${goal.target}: ${goal.verdict}`,
    );
    assert.match(goal.measured, /^\d[\d.]*× \(/, goal.target);
  }
  for (const row of report.rows) {
    assert.ok(row.ok, `${row.label}: ${row.check}`);
    // Every row is either a checked figure or says why it was not measured.
    if (row.skipped === undefined) {
      assert.ok(typeof row.value === "number" && row.value > 0, `${row.label} has no figure`);
      assert.ok(row.check, `${row.label} has no check`);
    }
  }
  const measured = (label: string) => report.rows.find((r) => r.label === label);
  // The floors are always measured, and bulk output is verified by hash.
  const floor = measured("floor: Deno reads `cat FILE` from a pipe");
  assert.match(floor?.check ?? "", /^each of 3 runs: 2000000 B, sha256 [0-9a-f]{12}… matches$/);
  assert.match(floor?.shown ?? "", /; median of 3: [0-9.]+, [0-9.]+, [0-9.]+ MB\/s$/);
  assert.match(measured("floor: Deno reads `seq` from a pipe")?.check ?? "", /^10000 lines/);
  assert.match(
    measured("floor: Deno writes to `wc -c` through a pipe")?.check ?? "",
    /printed 1000000$/,
  );
  // The scale workload's floor: live sessions that echoed, idle connections still open.
  const scaleFloors = report.rows.filter((r) => r.workload === "5. scale" && r.subject === "floor");
  assert.ok(scaleFloors.length >= 2, "no scale floor rows");
  for (const row of scaleFloors) {
    assert.match(row.check ?? "", /(echoed a line|echoed again|\d+ connections still open after)/);
  }
  assert.ok(report.targets.some((t) => t.target.startsWith("(the floor server")));
  // The floor with pow's modules loaded: its live and idle rows, checked like the floor's.
  assert.deepEqual(
    scaleFloors.filter((r) => r.label.startsWith("floor with pow's modules")).map((r) => r.ok),
    [true, true],
  );
  assert.ok(report.targets.some((t) => t.target.startsWith("(the floor server with pow's")));
  // The same load held without traffic, for pow and the floor: every connection still open.
  const quiet = report.rows.filter((r) =>
    r.workload === "5. scale" && r.label.includes("without traffic") && !r.label.includes("--v8")
  );
  assert.deepEqual(quiet.map((r) => r.subject).sort(), ["floor", "pow-1"]);
  for (const row of quiet) assert.match(row.check ?? "", /^20 connections still open after 2 s$/);
  assert.ok(report.targets.some((t) => t.target.startsWith("the same, held without traffic")));
  // websocketd rows are measured and checked, or say it is not installed.
  const wsd = measured("websocketd --binary");
  assert.ok(
    wsd?.skipped === "websocketd not installed" || /matches$/.test(wsd?.check ?? ""),
    JSON.stringify(wsd),
  );
  // Both pow front ends are served: their rows are measured, and bulk output matches by hash.
  for (const label of ["pow-1 (text frames)", "pow.v2 (binary frames)"]) {
    const row = measured(label);
    assert.equal(row?.skipped, undefined, `${label}: ${row?.skipped}`);
    assert.match(row?.check ?? "", /matches$/, label);
  }
  for (const row of report.rows.filter((r) => r.subject === "pow-1" || r.subject === "pow.v2")) {
    assert.equal(row.skipped, undefined, `${row.label} was not measured: ${row.skipped}`);
  }
  assert.ok(
    report.targets.some((t) => t.target.startsWith("no byte lost") && /^met/.test(t.verdict)),
  );
  // Each TypeScript-function row on an open connection is held against the pings timed on its
  // own connection, one before each of its calls.
  const functionRows = report.rows.filter((r) =>
    r.workload === "3. call latency" && r.subject === "pow.v2" && r.label.includes("TypeScript")
  );
  assert.equal(functionRows.length, 2);
  for (const row of functionRows) {
    const pings = measured(row.floor!);
    assert.match(row.floor!, /: a `ping` → `pong` before each call, same connection$/);
    assert.match(pings?.check ?? "", /^5 pongs, each the second of two right before a call/);
  }
  // pow-1 is also held against the quiet floor called in the same rounds.
  const interleaved = measured(
    "pow-1 `echo hello`, connection per call, interleaved call by call with the quiet floor",
  );
  assert.ok(interleaved?.ok && interleaved.value! > 0, interleaved?.check);
  const quietFloor = measured(interleaved.floor!);
  assert.ok(quietFloor?.ok && quietFloor.value! > 0, quietFloor?.check);
  assert.match(quietFloor.check ?? "", /^5 calls, each next to one of the row below/);
});

Deno.test("bench harness without websocketd says so and still measures the rest", async () => {
  const { code, stdout, report } = await runHarness([
    "--only=latency",
    "--websocketd=/nonexistent/websocketd",
  ]);
  assert.equal(code, 0, stdout);
  const wsd = report.rows.filter((r) => r.subject === "websocketd");
  assert.ok(wsd.length > 0);
  for (const row of wsd) assert.equal(row.skipped, "websocketd not installed");
  assert.ok(stdout.includes("- websocketd: not installed"));
  const floor = report.rows.find((r) => r.label === "floor: Deno.Command(`true`).output()");
  assert.ok(floor && floor.value! > 0 && floor.ok);
});
