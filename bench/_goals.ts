/**
 * The goals of issue 17 (performance, round two), judged from one run's rows: each is a ratio
 * within the run (pow against websocketd, against a ping, against a floor row), printed next to
 * the floor rows that bound it (docs/benchmarks.md, "Where each goal stands").
 *
 * @module
 */

import { find, num, type Row, type Target } from "./_report.ts";

/** The labels of the rows the goals are read from. */
export const GOAL_ROWS = {
  wsdCall: "websocketd `echo hello`, connection per call",
  pow1Call: "pow-1 `echo hello`, connection per call",
  quietFloor: "floor: minimal Deno server as above, `setsid`, and the close frame after 100 ms " +
    "of client quiet (as pow-1 sends it)",
  quietFloorInterleaved: "floor: minimal Deno server as above, `setsid`, and the close frame " +
    "after 100 ms of client quiet (as pow-1 sends it): interleaved call by call with the row below",
  pow1Interleaved: "pow-1 `echo hello`, connection per call, interleaved call by call with the " +
    "quiet floor",
  v2Call: "pow.v2 `echo hello` on an open connection",
  openFloor: "floor: minimal Deno server on an open connection, `setsid echo hello` + output " +
    "frame + result frame",
  tsThree: "pow.v2 TypeScript function (`ticker 1`) on an open connection",
  tsInline: "pow.v2 TypeScript function (`ticker 1`) on an open connection, one-message answer " +
    "(`start` with `inline: true`)",
  wsdBulk: "websocketd --binary",
  pipeFloor: "floor: Deno reads `cat FILE` from a pipe",
  binaryFloor: "floor: minimal Deno server, `cat FILE` → binary frames",
  textFloor: "floor: minimal Deno server, `cat FILE` → text frames",
  v2Bulk: "pow.v2 (binary frames)",
  pow1Bulk: "pow-1 (text frames)",
} as const;

/** The label of the ping row timed beside a TypeScript-function row (the latency workload). */
export function pingsBeside(label: string): string {
  return `${label}: a \`ping\` → \`pong\` before each call, same connection`;
}

/**
 * Judges the goals of issue 17 from the rows of a run.
 *
 * @example
 * ```ts
 * import { GOAL_ROWS, performanceGoals } from "./_goals.ts";
 * import type { Row } from "./_report.ts";
 * import assert from "node:assert/strict";
 *
 * const row = (label: string, value: number): Row => ({
 *   workload: "3. call latency", subject: "pow-1", label, unit: "ms", value,
 *   higherIsBetter: false, ok: true, check: "ok",
 * });
 * const goals = performanceGoals([
 *   row(GOAL_ROWS.wsdCall, 1.5),
 *   row(GOAL_ROWS.pow1Call, 4.5),
 *   row(GOAL_ROWS.quietFloor, 4.2),
 *   row(GOAL_ROWS.quietFloorInterleaved, 4.0),
 *   row(GOAL_ROWS.pow1Interleaved, 4.3),
 * ], false);
 * // 3× websocketd, where the floor row alone is 2.8×:
 * assert.equal(goals[0].verdict, "missed: its floor row misses it too");
 * assert.match(goals[0].measured, /^3\.00×.*: 2\.80×, pow against that floor row: 1\.07×$/);
 * assert.equal(goals[1].verdict, "met"); // 1.075× the quiet floor
 * assert.match(goals[2].verdict, /^not measured/);
 * ```
 *
 * @param rows The rows of a run.
 * @param smoke Whether the sizes were the smoke sizes (verdicts then say they mean nothing).
 * @returns One target per goal, in the order.
 */
export function performanceGoals(rows: readonly Row[], smoke: boolean): Target[] {
  const value = (label: string): number | undefined => {
    const row = find(rows, label);
    return row?.ok && row.value !== undefined && row.value > 0 ? row.value : undefined;
  };
  const why = (...labels: string[]): string => {
    for (const label of labels) {
      const row = find(rows, label);
      if (!row) return `not measured: no row "${label}"`;
      if (row.skipped) return row.skipped;
      if (!row.ok || row.value === undefined) return `not measured: "${label}" failed its check`;
    }
    return "not measured";
  };
  const out: Target[] = [];
  /** `of / against` (both from rows), held to `bound` (`max`: at most; `min`: at least). */
  const goal = (
    target: string,
    of: string,
    against: string,
    bound: { max: number } | { min: number },
    floor?: { label: string; against: string; name: string },
  ) => {
    const a = value(of);
    const b = value(against);
    if (a === undefined || b === undefined) {
      out.push({ target, measured: "", verdict: why(of, against) });
      return;
    }
    const meets = (ratio: number) => "max" in bound ? ratio <= bound.max : ratio >= bound.min;
    const ratio = a / b;
    let measured = `${num(ratio)}× (${num(a)} against ${num(b)} ${find(rows, of)!.unit})`;
    let verdict = meets(ratio) ? "met" : "missed";
    const f = floor && value(floor.label);
    const fa = floor && value(floor.against);
    if (floor && f !== undefined && fa !== undefined) {
      // The floor row is measured against the same row as pow (`floor.against === against`).
      measured += `; ${floor.name}: ${num(f / fa)}×, pow against that floor row: ${num(a / f)}×`;
      if (verdict === "missed" && !meets(f / fa)) verdict = "missed: its floor row misses it too";
    }
    out.push({ target, measured, verdict });
  };
  const R = GOAL_ROWS;
  goal("pow-1 `echo`, connection per call: ≤ 1.5× websocketd", R.pow1Call, R.wsdCall, {
    max: 1.5,
  }, { label: R.quietFloor, against: R.wsdCall, name: "the quiet floor against websocketd" });
  goal(
    "pow-1 `echo`, connection per call: ≤ 1.1× the minimal Deno upgrade-and-spawn server " +
      "(the quiet floor, interleaved call by call)",
    R.pow1Interleaved,
    R.quietFloorInterleaved,
    { max: 1.1 },
  );
  goal(
    "pow.v2 `echo` on an open connection: ≤ 1.0× websocketd's connect-and-call",
    R.v2Call,
    R.wsdCall,
    {
      max: 1.0,
    },
    { label: R.openFloor, against: R.wsdCall, name: "its floor row against websocketd" },
  );
  goal(
    "TypeScript function on an open connection, one-message answer: ≤ 2× a ping on the same " +
      "connection",
    R.tsInline,
    pingsBeside(R.tsInline),
    { max: 2 },
  );
  goal(
    "TypeScript function on an open connection, three messages: ≤ 2× a ping on the same " +
      "connection",
    R.tsThree,
    pingsBeside(R.tsThree),
    { max: 2 },
  );
  goal("bulk output, pow.v2: ≥ 1.0× websocketd", R.v2Bulk, R.wsdBulk, { min: 1.0 }, {
    label: R.binaryFloor,
    against: R.wsdBulk,
    name: "its floor row (binary frames) against websocketd",
  });
  goal("bulk output, pow.v2: ≥ 0.85 of Deno reading the pipe", R.v2Bulk, R.pipeFloor, {
    min: 0.85,
  }, { label: R.binaryFloor, against: R.pipeFloor, name: "its floor row against the pipe" });
  goal("bulk output, pow-1 (text frames): ≥ 1.0× websocketd", R.pow1Bulk, R.wsdBulk, {
    min: 1.0,
  }, {
    label: R.textFloor,
    against: R.wsdBulk,
    name: "its floor row (text frames) against websocketd",
  });
  out.push({
    target: "1,000 live sessions + 10,000 idle connections: ≤ 300 MB server RSS",
    measured: "the same target as issue 7's, judged under Targets",
    verdict: "see Targets",
  });
  if (smoke) { for (const t of out) t.verdict += " (smoke sizes: not meaningful)"; }
  return out;
}
