/**
 * `deno task bench`: pow against websocketd and the raw floor, side by side, on 127.0.0.1.
 *
 * ```sh
 * deno task bench                      # the full sizes of issue 7 (a few minutes)
 * deno task bench:smoke                # tiny sizes; what tests/bench_smoke_test.ts runs
 * deno run -A bench/main.ts --only=bulk,latency --websocketd=/path/to/websocketd
 * ```
 *
 * Prints a markdown report (machine, load, results, targets) on stdout and progress on
 * stderr. Exits 1 when any check (byte totals, hashes, line counts, results) failed. It
 * installs nothing: without websocketd its rows say "websocketd not installed".
 *
 * @module
 */

import { parseArgs } from "node:util";
import { performanceGoals } from "./_goals.ts";
import { pow1Call } from "./_clients.ts";
import {
  advantage,
  find,
  num,
  resultsTable,
  type Row,
  type Target,
  targetsTable,
} from "./_report.ts";
import {
  type ServerProcess,
  setDefaultPowV8Flags,
  startPow,
  websocketdVersion,
} from "./_servers.ts";
import { capture, fileLimit, hashFile, raiseFileLimit } from "./_util.ts";
import { watchers } from "./_watchers.ts";
import {
  type BenchContext,
  bulk,
  fanOut,
  FULL,
  input,
  latency,
  lines,
  scale,
  type Sizes,
  SMOKE,
} from "./_workloads.ts";
import { wubsub } from "./_wubsub.ts";
import { cluster } from "./_cluster.ts";

/** The workloads, by the names `--only` takes. */
export const WORKLOADS = {
  bulk,
  lines,
  latency,
  input,
  scale,
  fanout: fanOut,
  wubsub,
  cluster,
  watchers,
} as const;

/** Options for {@linkcode runBench}. */
export interface BenchOptions {
  /** Sizes. @default {FULL} */
  sizes?: Sizes;
  /** The workloads to run. @default {all} */
  only?: (keyof typeof WORKLOADS)[];
  /** The websocketd program. @default {"websocketd"} */
  websocketd?: string;
  /** Progress messages. @default {to stderr} */
  log?: (message: string) => void;
}

/** What a run produced. */
export interface BenchReport {
  /** Every row. */
  rows: Row[];
  /** The targets of issue 7 and their verdicts. */
  targets: Target[];
  /** The goals of issue 17 (ratios within the run) and their verdicts. */
  goals: Target[];
  /** The machine and the run. */
  environment: Record<string, string>;
  /** Whether every check passed. */
  ok: boolean;
  /** The whole report in markdown. */
  markdown: string;
}

async function loadavg(): Promise<string> {
  return (await capture("uptime")) ?? Deno.readTextFileSync("/proc/loadavg").trim();
}

async function environment(websocketd: string | undefined): Promise<Record<string, string>> {
  const cpu = Deno.readTextFileSync("/proc/cpuinfo").match(/^model name\s*:\s*(.*)$/m)?.[1];
  const mem = Deno.readTextFileSync("/proc/meminfo").match(/^MemTotal:\s+(\d+) kB/m)?.[1];
  return {
    cpus: `${(await capture("nproc")) ?? navigator.hardwareConcurrency} × ${cpu ?? "unknown"}`,
    memory: mem ? `${num(Number(mem) / 1024 / 1024)} GiB` : "unknown",
    kernel: (await capture("uname", ["-sr"])) ?? "unknown",
    deno: `${Deno.version.deno} (V8 ${Deno.version.v8})`,
    websocketd: websocketd ?? "not installed",
    "open files": `${fileLimit("self").soft} (bench process, after raising to the hard limit)`,
  };
}

/** Where pow-1 rows cannot be measured, why. */
async function pow1Availability(server: ServerProcess): Promise<string | undefined> {
  try {
    const out = await pow1Call(server.url, { name: "hello" }, { timeout: 10_000 });
    if (out.result.status !== "fulfilled") {
      return `pow-1 call failed: ${JSON.stringify(out.result)}`;
    }
    return undefined;
  } catch (error) {
    return `not measured: pow-1 front end not available (${(error as Error).message})`;
  }
}

/** Whether the server accepts the native subprotocol. */
async function nativeAvailability(server: ServerProcess): Promise<string | undefined> {
  const accepted = await new Promise<boolean>((resolve) => {
    const ws = new WebSocket(server.url, ["pow.v2"]);
    const timer = setTimeout(() => (ws.close(), resolve(false)), 5000);
    ws.onopen = () => (clearTimeout(timer), ws.close(), resolve(ws.protocol === "pow.v2"));
    ws.onerror = () => (clearTimeout(timer), resolve(false));
  });
  return accepted ? undefined : "not measured: native front end not yet available";
}

function verdict(ok: boolean | undefined, why?: string): string {
  return ok === undefined ? why ?? "not measured" : ok ? "met" : "missed";
}

/**
 * Judges the targets of issue 7 from the rows.
 *
 * @param rows The rows of a run.
 * @param smoke Whether the sizes were the smoke sizes.
 * @returns The targets with verdicts.
 */
export function targets(rows: Row[], smoke: boolean): Target[] {
  const r = (label: string) => find(rows, label);
  const out: Target[] = [];
  const vs = (row: Row | undefined) => (row ? advantage(row, find(rows, row.versus)) : undefined);
  const notMeasured = (row: Row | undefined) =>
    row?.skipped ?? (row?.ok === false ? "check failed" : undefined);

  const bulkRow = rows.find((x) => x.workload.startsWith("1.") && x.subject === "pow-1");
  const bulkRatio = vs(bulkRow);
  out.push({
    target: "bulk output ≥ 2× websocketd's MB/s (pow-1)",
    measured: bulkRatio === undefined ? "" : `${num(bulkRatio)}× (${bulkRow!.shown})`,
    verdict: verdict(bulkRatio === undefined ? undefined : bulkRatio >= 2, notMeasured(bulkRow)),
  });
  const bulkV2 = rows.find((x) => x.workload.startsWith("1.") && x.subject === "pow.v2");
  const bulkV2Ratio = vs(bulkV2);
  out.push({
    target: "bulk output ≥ 2× websocketd's MB/s (pow.v2)",
    measured: bulkV2Ratio === undefined ? "" : `${num(bulkV2Ratio)}× (${bulkV2!.shown})`,
    verdict: verdict(bulkV2Ratio === undefined ? undefined : bulkV2Ratio >= 2, notMeasured(bulkV2)),
  });

  for (const subject of ["pow-1", "pow.v2"]) {
    const row = rows.find((x) => x.workload.startsWith("2.") && x.subject === subject);
    const ratio = vs(row);
    out.push({
      target: `line-heavy output ≥ 50× faster than websocketd (${subject})`,
      measured: ratio === undefined ? "" : `${num(ratio)}× (${row!.shown})`,
      verdict: verdict(ratio === undefined ? undefined : ratio >= 50, notMeasured(row)),
    });
  }

  for (
    const [prefix, what] of [
      ["pow-1 `echo", "pow-1, connection per call"],
      ["pow.v2 `echo", "pow.v2, on an open connection"],
    ]
  ) {
    const row = rows.find((x) => x.workload.startsWith("3.") && x.label.startsWith(prefix));
    const ratio = vs(row);
    out.push({
      target: `call latency p50 ≤ 1.2× websocketd's (${what})`,
      measured: ratio === undefined ? "" : `p50 = ${num(1 / ratio)}× websocketd's (${row!.shown})`,
      verdict: verdict(ratio === undefined ? undefined : 1 / ratio <= 1.2, notMeasured(row)),
    });
  }
  for (
    const label of [
      "pow-1 TypeScript function (`ticker 1`), connection per call",
      "pow.v2 TypeScript function (`ticker 1`) on an open connection",
      "pow.v2 TypeScript function (`ticker 1`) on an open connection, one-message answer " +
      "(`start` with `inline: true`)",
    ]
  ) {
    const row = r(label);
    const measured = row?.value !== undefined && row.ok;
    out.push({
      target: `TypeScript-function call p50 ≤ 0.15 ms (${label})`,
      measured: measured ? row.shown! : "",
      verdict: verdict(measured ? row.value! <= 0.15 : undefined, notMeasured(row)),
    });
  }

  // The server as `deno run -A main.ts` runs it, and with the V8 flags of `deno task start`.
  const scaleRows = rows.filter((x) =>
    x.workload.startsWith("5.") && x.subject === "pow-1" &&
    x.label.includes("idle connections (no call")
  );
  for (const [i, scaleRow] of (scaleRows.length ? scaleRows : [undefined]).entries()) {
    const peak = scaleRow?.value !== undefined && scaleRow.ok
      ? scaleRow.value * 1024 * 1024
      : undefined;
    out.push({
      target: "1,000 live processes and 10,000 idle connections with server RSS ≤ 300 MB" +
        (i > 0 ? " (V8 flags of `deno task start`)" : ""),
      measured: peak === undefined ? "" : `${num(peak / 1e6)} MB (${scaleRow!.label})`,
      verdict: verdict(peak === undefined ? undefined : peak <= 300e6, notMeasured(scaleRow)),
    });
  }
  // The same load once V8 has shrunk the young generation it grew while the connections came.
  const quietRows = rows.filter((x) =>
    x.workload.startsWith("5.") && x.subject === "pow-1" && x.label.includes("without traffic")
  );
  for (const quietRow of quietRows) {
    const settled = quietRow.value !== undefined && quietRow.ok
      ? quietRow.value * 1024 * 1024
      : undefined;
    out.push({
      target: "the same, held without traffic (highest RSS of the quiet period's second half)" +
        (quietRow.label.includes("--v8-flags") ? " (V8 flags of `deno task start`)" : ""),
      measured: settled === undefined ? "" : `${num(settled / 1e6)} MB (${quietRow.shown})`,
      verdict: verdict(settled === undefined ? undefined : settled <= 300e6, notMeasured(quietRow)),
    });
  }
  // Whether Deno itself allows it: the floor server doing the same, without V8 flags; and the
  // same floor with pow's code loaded (what pow's module graph alone costs).
  const modules = "floor with pow's modules";
  const references = [
    {
      target: "(the floor server, for reference: the same load within 300 MB?)",
      row: rows.find((x) =>
        x.workload.startsWith("5.") && x.subject === "floor" &&
        x.label.includes("idle connections") && !x.label.includes("--v8-flags") &&
        !x.label.startsWith(modules)
      ),
    },
    {
      target: "(the floor server with pow's modules loaded, for reference: within 300 MB?)",
      row: rows.find((x) =>
        x.workload.startsWith("5.") && x.label.startsWith(modules) &&
        x.label.includes("idle connections")
      ),
    },
  ];
  for (const { target, row } of references) {
    if (!row) continue;
    const peak = row.value !== undefined && row.ok ? row.value * 1024 * 1024 : undefined;
    out.push({
      target,
      measured: peak === undefined ? "" : `${num(peak / 1e6)} MB (${row.label})`,
      verdict: verdict(peak === undefined ? undefined : peak <= 300e6, notMeasured(row)),
    });
  }

  const fan = rows.find((x) => x.workload.startsWith("6.") && x.subject === "pow.v2");
  const fanMeasured = fan?.value !== undefined && fan.ok;
  out.push({
    target: "fan-out ≥ 200 MB/s aggregate to 100 viewers",
    measured: fanMeasured ? fan.shown! : "",
    verdict: verdict(fanMeasured ? fan.value! >= 200 : undefined, notMeasured(fan)),
  });

  const failed = rows.filter((x) => !x.ok).length;
  out.push({
    target: "no byte lost (totals, hashes, line counts and results checked)",
    measured: `${
      rows.filter((x) => x.ok && !x.skipped).length
    } measured rows passed, ${failed} failed`,
    verdict: failed === 0 ? "met" : "missed",
  });
  if (smoke) { for (const t of out) t.verdict += " (smoke sizes: not meaningful)"; }
  return out;
}

/**
 * Runs the benchmark.
 *
 * @param options Sizes, workloads and the websocketd program.
 * @returns The report.
 */
export async function runBench(options: BenchOptions = {}): Promise<BenchReport> {
  const sizes = options.sizes ?? FULL;
  const smoke = sizes !== FULL;
  const log = options.log ?? ((m: string) => console.error(m));
  const only = options.only ?? (Object.keys(WORKLOADS) as (keyof typeof WORKLOADS)[]);
  const loadBefore = await loadavg();
  await raiseFileLimit(Deno.pid);
  const program = options.websocketd ?? "websocketd";
  const wsdVersion = await websocketdVersion(program);
  const env = await environment(wsdVersion);
  const dir = await Deno.makeTempDir({ prefix: "pow-bench-" });
  const servers: ServerProcess[] = [];
  const rows: Row[] = [];
  try {
    const path = `${dir}/bulk.txt`;
    // The generated file: printed by the bulk and fan-out workloads, and by the cluster's.
    const needsData = ["bulk", "fanout", "cluster"].some((w) => only.includes(w));
    if (needsData) {
      const n = sizes.bulkBytes;
      log(`generating ${n} bytes of base64 text in ${path}`);
      const made = await new Deno.Command("sh", {
        args: [
          "-c",
          'head -c "$1" /dev/urandom | base64 -w 76 | head -c "$2" > "$3"',
          "sh",
          String(Math.ceil(n * 0.75) + 4),
          String(n),
          path,
        ],
      }).output();
      if (!made.success) throw new Error(`Cannot generate ${path}`);
    }
    const data = needsData ? { path, ...(await hashFile(path)) } : { path, bytes: 0, sha256: "" };
    log("starting pow servers (bench/pow.yaml, and the demo config for `ticker`)");
    const [pow, powDemo, floorServer] = await Promise.all([
      startPow({ config: "bench/pow.yaml" }),
      startPow({ script: "bench/demo_server.ts" }),
      startPow({ script: "bench/floor_server.ts" }),
    ]);
    servers.push(pow, powDemo, floorServer);
    const ctx: BenchContext = {
      sizes,
      pow,
      powDemo,
      floorServer,
      pow1Missing: await pow1Availability(pow),
      nativeMissing: await nativeAvailability(pow),
      websocketd: wsdVersion ? { program } : { missing: "websocketd not installed" },
      data,
      stepTimeout: smoke ? 30_000 : 180_000,
      log,
    };
    for (const name of only) rows.push(...(await WORKLOADS[name](ctx)));
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  env["load before"] = loadBefore;
  env["load after"] = await loadavg();
  const goals = targets(rows, smoke);
  const ok = rows.every((r) => r.ok);
  return {
    rows,
    targets: goals,
    goals: performanceGoals(rows, smoke),
    environment: env,
    ok,
    markdown: render(env, sizes, rows, goals, smoke),
  };
}

/**
 * Renders a report as markdown.
 *
 * @param env The machine and the run.
 * @param sizes The sizes.
 * @param rows The rows.
 * @param goals The targets of issue 7 (the goals of issue 17 are judged from the rows).
 * @param smoke Whether the sizes were the smoke sizes.
 * @returns Markdown.
 */
export function render(
  env: Record<string, string>,
  sizes: Sizes,
  rows: Row[],
  goals: Target[],
  smoke: boolean,
): string {
  return [
    `## pow benchmark${smoke ? " (smoke sizes)" : ""}`,
    "",
    ...Object.entries(env).map(([k, v]) => `- ${k}: ${v}`),
    `- sizes: ${Object.entries(sizes).map(([k, v]) => `${k} ${v}`).join(", ")}`,
    "",
    "### Results",
    "",
    resultsTable(rows),
    "",
    "### Targets",
    "",
    targetsTable(goals),
    "",
    "### Goals of issue 17 (ratios within this run)",
    "",
    targetsTable(performanceGoals(rows, smoke)),
    "",
  ].join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      smoke: { type: "boolean" },
      only: { type: "string" },
      websocketd: { type: "string" },
      json: { type: "string" },
      render: { type: "string" },
      "pow-v8-flags": { type: "string" },
    },
  });
  // For A/B runs: every pow server (and the floor servers) with these V8 flags.
  if (values["pow-v8-flags"] !== undefined) setDefaultPowV8Flags(values["pow-v8-flags"]);
  if (values.render) {
    // Re-render a report saved with --json (e.g. after a change to the tables).
    const saved = JSON.parse(await Deno.readTextFile(values.render));
    const smoke = saved.sizes.bulkBytes !== FULL.bulkBytes;
    console.log(
      render(saved.environment, saved.sizes, saved.rows, targets(saved.rows, smoke), smoke),
    );
    Deno.exit(0);
  }
  const only = values.only?.split(",").map((s) => s.trim()) as
    | (keyof typeof WORKLOADS)[]
    | undefined;
  for (const name of only ?? []) {
    if (!(name in WORKLOADS)) {
      console.error(
        `bench: unknown workload "${name}": expected ${Object.keys(WORKLOADS).join(", ")}`,
      );
      Deno.exit(2);
    }
  }
  const sizes = values.smoke ? SMOKE : FULL;
  const report = await runBench({
    sizes,
    only,
    websocketd: values.websocketd,
  });
  console.log(report.markdown);
  if (values.json) {
    await Deno.writeTextFile(
      values.json,
      JSON.stringify({ ...report, sizes, markdown: undefined }, null, 2),
    );
  }
  if (!report.ok) console.error("bench: some checks FAILED (see the checks column)");
  Deno.exit(report.ok ? 0 : 1);
}
