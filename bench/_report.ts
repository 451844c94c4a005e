/**
 * Results of the benchmark and their markdown rendering: one results table (every figure,
 * with its check and its ratios against websocketd and the floor) and one targets table.
 *
 * @module
 */

/** Who a row measures. */
export type Subject = "floor" | "websocketd" | "pow-1" | "pow.v2" | "core" | "wubsub";

/** One measured (or skipped) figure. */
export interface Row {
  /** The workload, e.g. `"1. bulk output"`. */
  workload: string;
  /** Who is measured. */
  subject: Subject;
  /** What exactly, e.g. `"pow-1, connection per call"`. */
  label: string;
  /** The figure ratios are computed from. */
  value?: number;
  /** Its unit. */
  unit: string;
  /** Whether more is better. */
  higherIsBetter: boolean;
  /** The figure as shown, e.g. `"p50 0.91 ms, p90 1.20 ms"`. */
  shown?: string;
  /** What was checked, e.g. `"200000000 B, sha256 ok"`. */
  check?: string;
  /** Whether the checks passed (a failed check is a harness failure). */
  ok: boolean;
  /** Why it was not measured. */
  skipped?: string;
  /** The label of the websocketd row to compare with. */
  versus?: string;
  /** The label of the floor row to compare with. */
  floor?: string;
}

/** One target of issue 7. */
export interface Target {
  /** The target as stated. */
  target: string;
  /** What was measured. */
  measured: string;
  /** `met`, `missed` or `not measured: …`. */
  verdict: string;
}

/**
 * How much better `row` is than `other`: above 1 means better (faster, more MB/s, less memory).
 *
 * @param row The row.
 * @param other The row to compare with.
 * @returns The ratio, or undefined when either has no figure.
 */
export function advantage(row: Row, other: Row | undefined): number | undefined {
  if (row.value === undefined || other?.value === undefined) return undefined;
  if (!(row.value > 0) || !(other.value > 0)) return undefined;
  return row.higherIsBetter ? row.value / other.value : other.value / row.value;
}

/**
 * Finds a row by its label.
 *
 * @param rows All rows.
 * @param label The label.
 * @returns The row.
 */
export function find(rows: readonly Row[], label: string | undefined): Row | undefined {
  return label === undefined ? undefined : rows.find((r) => r.label === label);
}

function ratio(x: number | undefined): string {
  if (x === undefined) return "";
  return `${x >= 10 ? x.toFixed(0) : x >= 1 ? x.toFixed(2) : x.toFixed(3)}×`;
}

function cell(text: string): string {
  return text.replaceAll("|", "\\|").replaceAll("\n", " ");
}

/**
 * Renders the results table.
 *
 * @param rows The rows.
 * @returns Markdown.
 */
export function resultsTable(rows: readonly Row[]): string {
  const lines = [
    "| workload | measured | result | vs websocketd (>1 = pow better) | vs floor (1 = floor) | checks |",
    "| --- | --- | --- | --- | --- | --- |",
  ];
  for (const row of rows) {
    const result = row.skipped ?? row.shown ?? "";
    const check = row.skipped ? "" : row.ok ? `ok: ${row.check ?? ""}` : `FAILED: ${row.check}`;
    lines.push(
      `| ${
        [
          row.workload,
          row.label,
          result,
          ratio(advantage(row, find(rows, row.versus))),
          ratio(advantage(row, find(rows, row.floor))),
          check,
        ].map(cell).join(" | ")
      } |`,
    );
  }
  return lines.join("\n");
}

/**
 * Renders the targets table.
 *
 * @param targets The targets.
 * @returns Markdown.
 */
export function targetsTable(targets: readonly Target[]): string {
  const lines = ["| target | measured | verdict |", "| --- | --- | --- |"];
  for (const t of targets) {
    lines.push(`| ${[t.target, t.measured, t.verdict].map(cell).join(" | ")} |`);
  }
  return lines.join("\n");
}

/**
 * Formats a number with a few significant digits.
 *
 * @param x The number.
 * @returns Its text.
 */
export function num(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  return a >= 100 ? x.toFixed(0) : a >= 10 ? x.toFixed(1) : a >= 1 ? x.toFixed(2) : x.toFixed(3);
}
