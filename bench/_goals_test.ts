import assert from "node:assert/strict";
import { GOAL_ROWS, performanceGoals, pingsBeside } from "./_goals.ts";
import type { Row } from "./_report.ts";

const ms = (label: string, value: number, extra: Partial<Row> = {}): Row => ({
  workload: "3. call latency",
  subject: "pow.v2",
  label,
  unit: "ms",
  value,
  higherIsBetter: false,
  ok: true,
  ...extra,
});
const mbs = (label: string, value: number): Row => ({
  workload: "1. bulk output",
  subject: "pow.v2",
  label,
  unit: "MB/s",
  value,
  higherIsBetter: true,
  ok: true,
});

Deno.test("issue 17 goals: each ratio is read from its two rows, against its bound", () => {
  const R = GOAL_ROWS;
  const goals = performanceGoals([
    ms(R.wsdCall, 2),
    ms(R.pow1Call, 3), // 1.5×: exactly the bound
    ms(R.quietFloor, 4),
    ms(R.quietFloorInterleaved, 4),
    ms(R.pow1Interleaved, 4.8), // 1.2×
    ms(R.v2Call, 1.9),
    ms(R.openFloor, 2.2),
    ms(R.tsInline, 0.19),
    ms(pingsBeside(R.tsInline), 0.1),
    ms(R.tsThree, 0.3),
    ms(pingsBeside(R.tsThree), 0.1),
    mbs(R.wsdBulk, 500),
    mbs(R.pipeFloor, 600),
    mbs(R.binaryFloor, 450),
    mbs(R.textFloor, 520),
    mbs(R.v2Bulk, 510),
    mbs(R.pow1Bulk, 490),
  ], false);
  assert.deepEqual(goals.map((g) => g.verdict), [
    "met", // 3 / 2 = 1.5: at the bound
    "missed", // 4.8 / 4 = 1.2 > 1.1
    "met", // 1.9 / 2 = 0.95
    "met", // 0.19 / 0.1 = 1.9
    "missed", // 0.3 / 0.1 = 3
    "met", // 510 / 500 = 1.02
    "met", // 510 / 600 = 0.85: at the bound
    "missed", // 490 / 500 = 0.98, while its floor row meets the bound (520 / 500)
    "see Targets",
  ]);
  assert.equal(
    goals[0].measured,
    "1.50× (3.00 against 2.00 ms); the quiet floor against websocketd: 2.00×, " +
      "pow against that floor row: 0.750×",
  );
  assert.equal(
    goals[5].measured,
    "1.02× (510 against 500 MB/s); its floor row (binary frames) against websocketd: 0.900×, " +
      "pow against that floor row: 1.13×",
  );
});

Deno.test("issue 17 goals: a goal its floor row misses as well says so", () => {
  const R = GOAL_ROWS;
  const goals = performanceGoals([
    ms(R.wsdCall, 1),
    ms(R.pow1Call, 3.8), // 3.8×
    ms(R.quietFloor, 3), // the floor alone: 3×, over the 1.5× bound
    ms(R.v2Call, 2.2), // 2.2×
    ms(R.openFloor, 0.9), // the floor meets 1.0×: pow's own miss
    mbs(R.wsdBulk, 570),
    mbs(R.binaryFloor, 556), // 0.975×
    mbs(R.v2Bulk, 523),
  ], false);
  assert.equal(goals[0].verdict, "missed: its floor row misses it too");
  assert.equal(
    goals[0].measured,
    "3.80× (3.80 against 1.00 ms); the quiet floor against websocketd: 3.00×, " +
      "pow against that floor row: 1.27×",
  );
  assert.equal(goals[2].verdict, "missed");
  assert.equal(goals[5].verdict, "missed: its floor row misses it too");
  assert.match(goals[5].measured, /: 0\.975×, pow against that floor row: 0\.941×$/);
});

Deno.test("issue 17 goals: a missing, skipped or failed row is not measured, and says which", () => {
  const R = GOAL_ROWS;
  const goals = performanceGoals([
    ms(R.wsdCall, 2),
    ms(R.pow1Call, 3, { ok: false, check: "3 of 300 calls succeeded" }),
    ms(R.v2Call, 0, {
      skipped: "not measured: native front end not yet available",
      value: undefined,
    }),
  ], true);
  assert.equal(
    goals[0].verdict,
    `not measured: "${R.pow1Call}" failed its check (smoke sizes: not meaningful)`,
  );
  assert.equal(
    goals[1].verdict,
    `not measured: no row "${R.pow1Interleaved}" (smoke sizes: not meaningful)`,
  );
  assert.equal(
    goals[2].verdict,
    "not measured: native front end not yet available (smoke sizes: not meaningful)",
  );
  assert.equal(goals[0].measured, "");
});
