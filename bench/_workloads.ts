/**
 * The workloads of issue 7, each measured against the floor, websocketd and pow. Every
 * workload checks what the client received (byte totals, SHA-256, line counts, exit results);
 * a failed check marks its row failed. Every loop is bounded in count and in time.
 *
 * @module
 */

import { defineCommand, defineProcess } from "../server/process.ts";
import { SessionManager } from "../server/session_manager.ts";
import { PowClient } from "../client/mod.ts";
import { NativeConnection } from "./_native_client.ts";
import { type OpenSocket, openSocket, pow1Call, sendInput, websocketdSession } from "./_clients.ts";
import { pingsBeside } from "./_goals.ts";
import { num, type Row } from "./_report.ts";
import { type ServerProcess, startPow, startTaskV8Flags, startWebsocketd } from "./_servers.ts";
import { delay, Digest, fileLimit, hashFile, pool, quantile, rss, within } from "./_util.ts";

/** Workload sizes. */
export interface Sizes {
  /** Bytes of bulk output. */
  bulkBytes: number;
  /** Lines of line-heavy output. */
  lines: number;
  /** Calls per latency series. */
  calls: number;
  /** Bytes of input. */
  inputBytes: number;
  /** Live `cat` sessions in the scale workload. */
  live: number;
  /** Idle connections in the scale workload. */
  idle: number;
  /**
   * Seconds the scale workload holds its load without traffic after the readings right after it
   * (V8 shrinks its young generation once allocation stops); the settled row reports the
   * highest RSS of the second half.
   */
  quiet: number;
  /** Viewers in the fan-out workload. */
  viewers: number;
  /** Bytes every fan-out viewer receives. */
  fanoutBytes: number;
  /** MonoRail watchers of `sessions` in the watchers workload. */
  watchers: number;
  /** Sessions started and ended while they watch. */
  watchedSessions: number;
}

/** The full sizes of issue 7. */
export const FULL: Sizes = {
  bulkBytes: 200_000_000,
  lines: 1_000_000,
  calls: 300,
  inputBytes: 100_000_000,
  live: 1000,
  idle: 10_000,
  quiet: 60,
  viewers: 100,
  fanoutBytes: 20_000_000,
  watchers: 1000,
  watchedSessions: 200,
};

/** Tiny sizes for the smoke test. */
export const SMOKE: Sizes = {
  bulkBytes: 2_000_000,
  lines: 10_000,
  calls: 5,
  inputBytes: 1_000_000,
  live: 10,
  idle: 10,
  quiet: 2,
  viewers: 3,
  fanoutBytes: 300_000,
  watchers: 3,
  watchedSessions: 5,
};

/** What the workloads share. */
export interface BenchContext {
  /** The sizes. */
  sizes: Sizes;
  /** The pow server with `bench/pow.yaml`. */
  pow: ServerProcess;
  /** The pow server with the demo config, for its TypeScript-function process `ticker`. */
  powDemo: ServerProcess;
  /** The minimal Deno server that answers a pow-1 call of `echo hello` (the latency floor). */
  floorServer: ServerProcess;
  /** Why pow-1 rows are not measured, when they are not. */
  pow1Missing?: string;
  /** Why pow.v2 rows are not measured, when they are not. */
  nativeMissing?: string;
  /** The websocketd program, or why it is missing. */
  websocketd: { program: string } | { missing: string };
  /** The generated bulk file (ASCII), its size and hash. */
  data: { path: string; bytes: number; sha256: string };
  /** Limit for one workload step, in milliseconds. */
  stepTimeout: number;
  /** Progress messages (to stderr). */
  log(message: string): void;
}

const MB = 1_000_000;

type Figure = Pick<Row, "value" | "shown" | "check" | "ok">;

async function measure(
  base: Omit<Row, "ok" | "value" | "shown" | "check" | "skipped">,
  run: () => Promise<Figure>,
  log: (message: string) => void,
): Promise<Row> {
  const t0 = performance.now();
  try {
    const figure = await run();
    log(`  ${base.label}: ${figure.shown} (${figure.ok ? "ok" : `FAILED: ${figure.check}`})`);
    // A figure whose check failed means nothing: keep the failure, drop the figure.
    return figure.ok
      ? { ...base, ...figure }
      : { ...base, ...figure, value: undefined, shown: "—" };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    log(`  ${base.label}: FAILED after ${num(performance.now() - t0)} ms: ${message}`);
    return { ...base, ok: false, check: message };
  }
}

function skip(base: Omit<Row, "ok" | "skipped">, skipped: string): Row {
  return { ...base, ok: true, skipped };
}

function websocketdOr(ctx: BenchContext): string | undefined {
  return "missing" in ctx.websocketd ? ctx.websocketd.missing : undefined;
}

function program(ctx: BenchContext): string {
  return "program" in ctx.websocketd ? ctx.websocketd.program : "websocketd";
}

async function withWebsocketd<T>(
  ctx: BenchContext,
  command: string[],
  binary: boolean,
  run: (server: ServerProcess) => Promise<T>,
): Promise<T> {
  const server = await startWebsocketd(command, { binary, program: program(ctx) });
  try {
    return await run(server);
  } finally {
    await server.stop();
  }
}

function throughput(bytes: number, ms: number): Figure & { value: number } {
  const value = bytes / MB / (ms / 1000);
  return { value, shown: `${num(value)} MB/s (${num(ms / 1000)} s)`, ok: true };
}

/** Transfers per bulk-output row: one alone swings with the JIT, buffer pools and the machine. */
export const BULK_RUNS = 3;

/** The median of checked figures, with every one's value shown. */
function medianFigure(figures: Figure[]): Figure {
  const sorted = [...figures].sort((a, b) => (a.value ?? 0) - (b.value ?? 0));
  const median = sorted[sorted.length >> 1];
  const all = sorted.map((f) => num(f.value ?? 0)).join(", ");
  return {
    ...median,
    shown: `${median.shown}; median of ${sorted.length}: ${all} MB/s`,
    check: `each of ${sorted.length} runs: ${median.check}`,
  };
}

/** One transfer of the bulk file, fed to a digest; its end (`performance.now()`) and what went
 * wrong besides the bytes (`""` for nothing). */
type Transfer = (digest: Digest) => Promise<{ endAt: number; bad: string }>;

/** One checked transfer of the bulk file: MB/s, byte count and SHA-256. */
async function checkedTransfer(data: BenchContext["data"], transfer: Transfer): Promise<Figure> {
  const digest = new Digest();
  const t0 = performance.now();
  const { endAt, bad } = await transfer(digest);
  const figure = {
    ...throughput(data.bytes, endAt - t0),
    ...digestCheck(digest, data.bytes, data.sha256),
  };
  return bad ? { ...figure, ok: false, check: bad } : figure;
}

/** A bulk-output row: what it is, and one transfer (or why it is not measured). */
interface BulkSubject {
  base: Omit<Row, "ok" | "value" | "shown" | "check" | "skipped">;
  transfer?: Transfer;
  skipped?: string;
}

/**
 * Measures every subject {@linkcode BULK_RUNS} times, interleaved: round after round, one
 * checked transfer each, in an order rotated from round to round, so that the machine's slow and
 * fast moments fall on all of them; each row is the median of its transfers, and a row with a
 * failed transfer is a failed row.
 */
async function interleavedTransfers(
  data: BenchContext["data"],
  subjects: BulkSubject[],
  log: (message: string) => void,
): Promise<Row[]> {
  const figures: Figure[][] = subjects.map(() => []);
  const failures: (Figure | undefined)[] = subjects.map(() => undefined);
  for (let round = 0; round < BULK_RUNS; round++) {
    for (let k = 0; k < subjects.length; k++) {
      const i = (k + round) % subjects.length;
      const { transfer } = subjects[i];
      if (!transfer || failures[i]) continue;
      const run = `run ${round + 1} of ${BULK_RUNS}`;
      try {
        const figure = await checkedTransfer(data, transfer);
        if (figure.ok) figures[i].push(figure);
        else failures[i] = { ...figure, check: `${run}: ${figure.check}` };
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        failures[i] = { ok: false, shown: "—", check: `${run}: ${message}` };
      }
    }
  }
  const rows: Row[] = [];
  for (const [i, { base, skipped }] of subjects.entries()) {
    if (skipped !== undefined) {
      rows.push(skip(base, skipped));
      continue;
    }
    const figure = failures[i] ?? medianFigure(figures[i]);
    rows.push(await measure(base, () => Promise.resolve(figure), log));
  }
  return rows;
}

function digestCheck(digest: Digest, bytes: number, sha256: string): Pick<Row, "check" | "ok"> {
  const got = digest.bytes;
  const hex = digest.hex();
  if (got !== bytes) return { ok: false, check: `received ${got} of ${bytes} bytes` };
  if (hex !== sha256) {
    return { ok: false, check: `${got} B but sha256 ${hex.slice(0, 12)}… differs` };
  }
  return { ok: true, check: `${got} B, sha256 ${hex.slice(0, 12)}… matches` };
}

function resultCheck(result: { status: string; value?: unknown; reason?: string }): string {
  return result.status === "fulfilled" ? "" : `rejected: ${result.reason}`;
}

// 1. Bulk output -------------------------------------------------------------------------------

/**
 * Bulk output: a process prints the generated file; MB/s at the client, total and SHA-256
 * checked.
 *
 * @param ctx The context.
 * @returns The rows.
 */
export async function bulk(ctx: BenchContext): Promise<Row[]> {
  const { data, log } = ctx;
  const workload = "1. bulk output";
  const common = { workload, unit: "MB/s", higherIsBetter: true };
  const floor = "floor: Deno reads `cat FILE` from a pipe";
  const wsd = "websocketd --binary";
  log(`${workload}: ${data.bytes} bytes of base64 text`);
  const rows: Row[] = [];
  rows.push(
    await measure(
      { ...common, subject: "floor", label: "floor: `cat FILE | cat > /dev/null`" },
      async () => {
        const t0 = performance.now();
        const out = await new Deno.Command("sh", {
          args: ["-c", 'cat "$1" | cat > /dev/null', "sh", data.path],
        }).output();
        return {
          ...throughput(data.bytes, performance.now() - t0),
          ok: out.success,
          check: "shell pipe",
        };
      },
      log,
    ),
  );
  const subjects: BulkSubject[] = [];
  subjects.push({
    base: { ...common, subject: "floor", label: floor },
    transfer: async (digest) => {
      const child = new Deno.Command("cat", { args: [data.path], stdout: "piped" }).spawn();
      for await (const chunk of child.stdout) digest.add(chunk);
      await child.status;
      return { endAt: performance.now(), bad: "" };
    },
  });
  const missing = websocketdOr(ctx);
  // A websocketd that fails to start fails its row, not the workload.
  const websocketd = missing
    ? undefined
    : await startWebsocketd(["cat", data.path], { binary: true, program: program(ctx) })
      .catch((error: unknown) => error instanceof Error ? error : new Error(String(error)));
  try {
    subjects.push({
      base: { ...common, subject: "websocketd", label: wsd, floor },
      skipped: missing,
      transfer: websocketd instanceof Error
        ? () => Promise.reject(websocketd)
        : websocketd && (async (digest) => {
          const end = await websocketdSession(websocketd.url, {
            onMessage: (m) => digest.add(typeof m === "string" ? m : new Uint8Array(m)),
            timeout: ctx.stepTimeout,
          });
          return { endAt: end.at, bad: "" };
        }),
    });
    // What a Deno server does at best: `cat FILE` into a WebSocket as it is read, no protocol.
    for (const [label, path] of [["binary", "cat"], ["text", "cat-text"]]) {
      subjects.push({
        base: {
          ...common,
          subject: "floor",
          label: `floor: minimal Deno server, \`cat FILE\` → ${label} frames`,
          versus: wsd,
          floor,
        },
        transfer: async (digest) => {
          const end = await websocketdSession(
            `${ctx.floorServer.url}${path}?file=${encodeURIComponent(data.path)}`,
            {
              onMessage: (m) => digest.add(typeof m === "string" ? m : new Uint8Array(m)),
              timeout: ctx.stepTimeout,
            },
          );
          return { endAt: end.at, bad: end.code === 1000 ? "" : `closed ${end.code}` };
        },
      });
    }
    subjects.push({
      base: { ...common, subject: "pow-1", label: "pow-1 (text frames)", versus: wsd, floor },
      skipped: ctx.pow1Missing,
      transfer: async (digest) => {
        const out = await pow1Call(ctx.pow.url, { name: "cat-file", params: [data.path] }, {
          onText: (t) => digest.add(t),
          timeout: ctx.stepTimeout,
        });
        return { endAt: out.resultAt, bad: resultCheck(out.result) };
      },
    });
    const v2 = "pow.v2 (binary frames)";
    subjects.push({
      base: { ...common, subject: "pow.v2", label: v2, versus: wsd, floor },
      skipped: ctx.nativeMissing,
      transfer: async (digest) => {
        const conn = await NativeConnection.open(ctx.pow.url);
        try {
          const channel = conn.start("cat-file", [data.path], { onData: (d) => digest.add(d) });
          const exit = await within(channel.exited, ctx.stepTimeout, "pow.v2 exit");
          const endAt = performance.now();
          const bad = resultCheck(exit.result) ||
            (exit.offset === data.bytes ? "" : `exit offset ${exit.offset}`);
          return { endAt, bad };
        } finally {
          conn.close();
        }
      },
    });
    // What an application gets from the official client: its `stdout` stream, 1 MiB credit.
    subjects.push({
      base: {
        ...common,
        subject: "pow.v2",
        label: `${v2}, read with @pow/client`,
        versus: wsd,
        floor,
      },
      skipped: ctx.nativeMissing,
      transfer: async (digest) => {
        const client = new PowClient(ctx.pow.url);
        try {
          const proc = client.start("cat-file", [data.path]);
          for await (const chunk of proc.stdout) digest.add(chunk);
          const result = await within(proc.result, ctx.stepTimeout, "@pow/client result");
          return { endAt: performance.now(), bad: resultCheck(result) };
        } finally {
          await client.close();
        }
      },
    });
    rows.push(...await interleavedTransfers(data, subjects, log));
  } finally {
    if (websocketd && !(websocketd instanceof Error)) await websocketd.stop();
  }
  return rows;
}

// 2. Line-heavy output -------------------------------------------------------------------------

/** Counts lines in text that arrives in arbitrary pieces, remembering the last one. */
class Lines {
  count = 0;
  bytes = 0;
  last = "";
  #tail = "";
  #doneAt = 0;
  constructor(readonly expected: number) {}
  /** When the expected count was reached (`performance.now()`), or 0. */
  get doneAt(): number {
    return this.#doneAt;
  }
  add(text: string): void {
    this.bytes += text.length;
    let nl = text.indexOf("\n");
    if (nl < 0) {
      this.#tail += text;
      return;
    }
    let lastNl = nl;
    while (nl >= 0) {
      this.count++;
      lastNl = nl;
      nl = text.indexOf("\n", nl + 1);
    }
    const before = text.lastIndexOf("\n", lastNl - 1);
    this.last = before < 0 ? this.#tail + text.slice(0, lastNl) : text.slice(before + 1, lastNl);
    this.#tail = text.slice(lastNl + 1);
    if (this.count >= this.expected && !this.#doneAt) this.#doneAt = performance.now();
  }
  /** One whole line without its newline (websocketd line mode). */
  line(line: string): void {
    this.bytes += line.length + 1;
    this.count++;
    this.last = line;
    if (this.count >= this.expected && !this.#doneAt) this.#doneAt = performance.now();
  }
  check(expectedBytes: number): Pick<Row, "check" | "ok"> {
    const ok = this.count === this.expected && this.last === String(this.expected) &&
      this.bytes === expectedBytes && this.#tail === "";
    return {
      ok,
      check: `${this.count} lines (last "${this.last.slice(0, 20)}"), ${this.bytes} B` +
        (ok ? "" : `; expected ${this.expected} lines, ${expectedBytes} B`),
    };
  }
}

function seqBytes(n: number): number {
  let total = 0;
  for (let digits = 1, lo = 1; lo <= n; digits++, lo *= 10) {
    total += (Math.min(n, lo * 10 - 1) - lo + 1) * (digits + 1);
  }
  return total;
}

function seconds(ms: number): Figure & { value: number } {
  return { value: ms / 1000, shown: `${num(ms / 1000)} s`, ok: true };
}

/**
 * Line-heavy output: `seq 1 N`; seconds until the client has every line.
 *
 * @param ctx The context.
 * @returns The rows.
 */
export async function lines(ctx: BenchContext): Promise<Row[]> {
  const { log } = ctx;
  const n = ctx.sizes.lines;
  const expectedBytes = seqBytes(n);
  const workload = "2. line-heavy output";
  const common = { workload, unit: "s", higherIsBetter: false };
  const floor = "floor: Deno reads `seq` from a pipe";
  const wsd = "websocketd (a message per line)";
  log(`${workload}: seq 1 ${n}`);
  const rows: Row[] = [];
  rows.push(
    await measure({ ...common, subject: "floor", label: floor }, async () => {
      const counter = new Lines(n);
      const t0 = performance.now();
      const child = new Deno.Command("seq", { args: ["1", String(n)], stdout: "piped" }).spawn();
      for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) counter.add(text);
      await child.status;
      return { ...seconds(counter.doneAt - t0), ...counter.check(expectedBytes) };
    }, log),
  );
  const missing = websocketdOr(ctx);
  if (missing) rows.push(skip({ ...common, subject: "websocketd", label: wsd }, missing));
  else {
    rows.push(
      await measure(
        { ...common, subject: "websocketd", label: wsd, floor },
        () =>
          withWebsocketd(ctx, ["seq", "1", String(n)], false, async (server) => {
            const counter = new Lines(n);
            const t0 = performance.now();
            await websocketdSession(server.url, {
              onMessage: (m) =>
                counter.line(typeof m === "string" ? m : new TextDecoder().decode(m)),
              timeout: ctx.stepTimeout,
            });
            return { ...seconds(counter.doneAt - t0), ...counter.check(expectedBytes) };
          }),
        log,
      ),
    );
  }
  const pow1 = "pow-1 (coalesced text frames)";
  if (ctx.pow1Missing) {
    rows.push(skip({ ...common, subject: "pow-1", label: pow1 }, ctx.pow1Missing));
  } else {
    rows.push(
      await measure({ ...common, subject: "pow-1", label: pow1, versus: wsd, floor }, async () => {
        const counter = new Lines(n);
        const t0 = performance.now();
        const out = await pow1Call(ctx.pow.url, { name: "seq", params: [String(n)] }, {
          onText: (t) => counter.add(t),
          timeout: ctx.stepTimeout,
        });
        const figure = { ...seconds(counter.doneAt - t0), ...counter.check(expectedBytes) };
        const rejected = resultCheck(out.result);
        return rejected ? { ...figure, ok: false, check: rejected } : figure;
      }, log),
    );
  }
  const v2 = "pow.v2 (coalesced binary frames)";
  if (ctx.nativeMissing) {
    rows.push(skip({ ...common, subject: "pow.v2", label: v2 }, ctx.nativeMissing));
  } else {
    rows.push(
      await measure({ ...common, subject: "pow.v2", label: v2, versus: wsd, floor }, async () => {
        const counter = new Lines(n);
        const decoder = new TextDecoder();
        const t0 = performance.now();
        const conn = await NativeConnection.open(ctx.pow.url);
        try {
          const channel = conn.start("seq", [String(n)], {
            onData: (d) => counter.add(decoder.decode(d, { stream: true })),
          });
          const exit = await within(channel.exited, ctx.stepTimeout, "pow.v2 exit");
          const figure = { ...seconds(counter.doneAt - t0), ...counter.check(expectedBytes) };
          const bad = resultCheck(exit.result);
          return bad ? { ...figure, ok: false, check: bad } : figure;
        } finally {
          conn.close();
        }
      }, log),
    );
  }
  return rows;
}

// 3. Call latency ------------------------------------------------------------------------------

async function series(
  ctx: BenchContext,
  call: (sample: boolean) => Promise<{ ms: number; error?: string }>,
): Promise<Figure & { value: number }> {
  const { calls } = ctx.sizes;
  // Long enough for V8 to optimize the path: a TypeScript function call on a fresh demo server
  // took 0.63 ms (p50) over its first 300 calls and 0.19–0.25 ms over the next ones here.
  const warmup = Math.min(100, Math.max(2, calls >> 1));
  const samples: number[] = [];
  const deadline = Date.now() + ctx.stepTimeout;
  let error: string | undefined;
  for (let i = 0; i < warmup + calls && Date.now() < deadline; i++) {
    const { ms, error: e } = await call(i >= warmup);
    if (e) {
      error ??= `call ${i + 1}: ${e}`;
      continue;
    }
    if (i >= warmup) samples.push(ms);
  }
  const p50 = quantile(samples, 0.5);
  const p90 = quantile(samples, 0.9);
  const complete = samples.length === calls && !error;
  return {
    value: p50,
    shown: `p50 ${num(p50)} ms, p90 ${num(p90)} ms`,
    ok: complete,
    check: complete
      ? `${samples.length} calls (after ${warmup} warm-up), each output and exit checked`
      : `${samples.length} of ${calls} calls succeeded${
        error ? `; first failure: ${error}` : " in time"
      }`,
  };
}

/**
 * The figure of samples taken beside another row's calls (one before or after each of them):
 * their median, ok when there is one for every call and none failed.
 */
function besideFigure(
  ctx: BenchContext,
  samples: number[],
  failure: string | undefined,
  words: { done: string; failed: string },
): Figure {
  const p50 = quantile(samples, 0.5);
  const ok = samples.length === ctx.sizes.calls && !failure;
  return {
    value: p50,
    shown: `p50 ${num(p50)} ms, p90 ${num(quantile(samples, 0.9))} ms`,
    ok,
    check: ok
      ? `${samples.length} ${words.done}`
      : `${samples.length} of ${ctx.sizes.calls} ${words.failed}${failure ? `; ${failure}` : ""}`,
  };
}

/**
 * Call latency: connect, start a process that prints one line, receive it, see the exit.
 *
 * @param ctx The context.
 * @returns The rows.
 */
export async function latency(ctx: BenchContext): Promise<Row[]> {
  const { log } = ctx;
  const workload = "3. call latency";
  const common = { workload, unit: "ms", higherIsBetter: false };
  const spawnFloor = "floor: Deno.Command(`echo hello`).output()";
  const wsd = "websocketd `echo hello`, connection per call";
  log(`${workload}: ${ctx.sizes.calls} calls each`);
  const rows: Row[] = [];
  rows.push(
    await measure(
      { ...common, subject: "floor", label: "floor: Deno.Command(`true`).output()" },
      () =>
        series(ctx, async () => {
          const t0 = performance.now();
          const out = await new Deno.Command("true").output();
          return { ms: performance.now() - t0, error: out.success ? undefined : "true failed" };
        }),
      log,
    ),
  );
  rows.push(
    await measure(
      { ...common, subject: "floor", label: spawnFloor },
      () =>
        series(ctx, async () => {
          const t0 = performance.now();
          const out = await new Deno.Command("echo", { args: ["hello"] }).output();
          const text = new TextDecoder().decode(out.stdout);
          return {
            ms: performance.now() - t0,
            error: text === "hello\n" ? undefined : `got ${JSON.stringify(text)}`,
          };
        }),
      log,
    ),
  );
  const missing = websocketdOr(ctx);
  if (missing) rows.push(skip({ ...common, subject: "websocketd", label: wsd }, missing));
  else {
    rows.push(
      await measure(
        { ...common, subject: "websocketd", label: wsd, floor: spawnFloor },
        () =>
          withWebsocketd(ctx, ["echo", "hello"], false, (server) =>
            series(ctx, async () => {
              const got: string[] = [];
              const t0 = performance.now();
              const end = await websocketdSession(server.url, {
                onMessage: (m) => got.push(String(m)),
                timeout: 10_000,
              });
              const ok = got.length === 1 && got[0] === "hello";
              return { ms: end.at - t0, error: ok ? undefined : `got ${JSON.stringify(got)}` };
            })),
        log,
      ),
    );
  }
  // The least a Deno server does for the same call: upgrade, spawn, send output and a result.
  const floorServer = "floor: minimal Deno server, upgrade + spawn `echo hello` + result frame";
  const floorSetsid =
    "floor: minimal Deno server as above, spawned through `setsid` (a process group)";
  const floorQuiet = "floor: minimal Deno server as above, `setsid`, and the close frame after " +
    "100 ms of client quiet (as pow-1 sends it)";
  for (
    const [label, path] of [[floorServer, ""], [floorSetsid, "setsid"], [
      floorQuiet,
      "setsid-quiet",
    ]]
  ) {
    rows.push(
      await measure(
        { ...common, subject: "floor", label, versus: wsd },
        () =>
          series(ctx, async () => {
            let text = "";
            const t0 = performance.now();
            const out = await pow1Call(ctx.floorServer.url + path, { name: "hello" }, {
              onText: (t) => (text += t),
              timeout: 10_000,
            });
            const bad = resultCheck(out.result) ||
              (text === "hello\n" ? "" : `got ${JSON.stringify(text)}`);
            return { ms: out.resultAt - t0, error: bad || undefined };
          }),
        log,
      ),
    );
  }
  const pow1Command = "pow-1 `echo hello`, connection per call";
  const pow1Warm = "pow-1 `echo hello`, connection per call, warm start (`warm: 2`)";
  const pow1Function = "pow-1 TypeScript function (`ticker 1`), connection per call";
  if (ctx.pow1Missing) {
    for (const label of [pow1Command, pow1Warm, pow1Function]) {
      rows.push(skip({ ...common, subject: "pow-1", label }, ctx.pow1Missing));
    }
  } else {
    for (const [label, name] of [[pow1Command, "hello"], [pow1Warm, "hello-warm"]]) {
      rows.push(
        await measure({
          ...common,
          subject: "pow-1",
          label,
          versus: wsd,
          floor: floorServer,
        }, () =>
          series(ctx, async () => {
            let text = "";
            const t0 = performance.now();
            const out = await pow1Call(ctx.pow.url, { name }, {
              onText: (t) => (text += t),
              timeout: 10_000,
            });
            const bad = resultCheck(out.result) ||
              (text === "hello\n" ? "" : `got ${JSON.stringify(text)}`);
            return { ms: out.resultAt - t0, error: bad || undefined };
          }), log),
      );
    }
    // The goal against the quiet floor, timed in the same moments: one call of each in every
    // round, their order swapped from round to round, so that the machine's slow and fast
    // moments fall on both (the rows above, measured one after the other, moved with them).
    const floorPaired = `${floorQuiet}: interleaved call by call with the row below`;
    const pow1Paired = `${pow1Command}, interleaved call by call with the quiet floor`;
    const floorSamples: number[] = [];
    let floorFailure: string | undefined;
    const call = async (url: string) => {
      let text = "";
      const t0 = performance.now();
      const out = await pow1Call(url, { name: "hello" }, {
        onText: (t) => (text += t),
        timeout: 10_000,
      });
      const bad = resultCheck(out.result) ||
        (text === "hello\n" ? "" : `got ${JSON.stringify(text)}`);
      return { ms: out.resultAt - t0, error: bad || undefined };
    };
    let round = 0;
    const powRow = await measure({
      ...common,
      subject: "pow-1",
      label: pow1Paired,
      floor: floorPaired,
    }, () =>
      series(ctx, async (sample) => {
        const floorFirst = round++ % 2 === 0;
        const floorCall = async () => {
          const floor = await call(ctx.floorServer.url + "setsid-quiet");
          if (floor.error) floorFailure ??= floor.error;
          else if (sample) floorSamples.push(floor.ms);
        };
        if (floorFirst) await floorCall();
        const pow = await call(ctx.pow.url);
        if (!floorFirst) await floorCall();
        return pow;
      }), log);
    rows.push(
      await measure(
        { ...common, subject: "floor", label: floorPaired, versus: wsd },
        () =>
          Promise.resolve(
            besideFigure(ctx, floorSamples, floorFailure && `first failure: ${floorFailure}`, {
              done: "calls, each next to one of the row below, output and exit checked",
              failed: "calls succeeded",
            }),
          ),
        log,
      ),
      powRow,
    );
    rows.push(
      await measure(
        { ...common, subject: "pow-1", label: pow1Function, versus: wsd },
        () =>
          series(ctx, async () => {
            let text = "";
            const t0 = performance.now();
            const out = await pow1Call(ctx.powDemo.url, { name: "ticker", params: ["1"] }, {
              onText: (t) => (text += t),
              timeout: 10_000,
            });
            const value = out.result.status === "fulfilled" ? out.result.value : undefined;
            const bad = resultCheck(out.result) ||
              (text === "tick 1\n" && value === 1 ? "" : `got ${JSON.stringify(text)} → ${value}`);
            return { ms: out.resultAt - t0, error: bad || undefined };
          }),
        log,
      ),
    );
  }
  const encoder = new TextEncoder();
  const cores = [
    {
      label: "session core in-process: TypeScript function, no network",
      definition: defineProcess({
        async run({ stdout }) {
          const writer = stdout.getWriter();
          await writer.write(encoder.encode("hello\n"));
          writer.releaseLock();
          return 1;
        },
      }),
      value: 1,
    },
    {
      label: "session core in-process: command `echo hello`, no network",
      definition: defineCommand(["echo", "hello"]),
      value: null,
    },
  ];
  for (const core of cores) {
    rows.push(
      await measure({ ...common, subject: "core", label: core.label }, async () => {
        const manager = new SessionManager({
          processes: { hello: core.definition },
          maxSessions: 100_000,
        });
        try {
          return await series(ctx, async () => {
            const t0 = performance.now();
            const session = manager.start("hello", [], { caller: { id: "bench" } });
            const reader = session.reader();
            let bytes = 0;
            for (let chunks; (chunks = await reader.read()) !== null;) {
              for (const chunk of chunks) bytes += chunk.data.length;
            }
            const result = await session.result;
            const ms = performance.now() - t0;
            reader.close();
            manager.registry.delete(session.id);
            const ok = bytes === 6 && result.status === "fulfilled" && result.value === core.value;
            return { ms, error: ok ? undefined : `${bytes} B, ${JSON.stringify(result)}` };
          });
        } finally {
          await manager.close();
        }
      }, log),
    );
  }
  const v2Calls = [
    {
      label: "pow.v2 `echo hello` on an open connection",
      server: ctx.pow,
      name: "hello",
      params: [],
      expect: "hello\n",
      value: null,
      inline: false,
    },
    {
      label: "pow.v2 `echo hello` on an open connection, warm start (`warm: 2`)",
      server: ctx.pow,
      name: "hello-warm",
      params: [],
      expect: "hello\n",
      value: null,
      inline: false,
    },
    {
      label: "pow.v2 TypeScript function (`ticker 1`) on an open connection",
      server: ctx.powDemo,
      name: "ticker",
      params: ["1"],
      expect: "tick 1\n",
      value: 1,
      inline: false,
    },
    {
      // The same call, answered by one inline `exit` instead of `started`, a data frame and
      // `exit` (docs/protocol.md, "Inline answers to quick calls"); the row above is unchanged.
      label: "pow.v2 TypeScript function (`ticker 1`) on an open connection, one-message answer " +
        "(`start` with `inline: true`)",
      server: ctx.powDemo,
      name: "ticker",
      params: ["1"],
      expect: "tick 1\n",
      value: 1,
      inline: true,
    },
  ];
  // The least a Deno server does on an open connection: for a call (spawn, output, result), and
  // for an answer of one or three frames without a process (a pong; pow.v2's three messages).
  const floorOpen = "floor: minimal Deno server on an open connection, `setsid echo hello` + " +
    "output frame + result frame";
  const floorFrames = (n: number) =>
    `floor: minimal Deno server on an open connection, a frame answered by ${n} frame${
      n === 1 ? "" : "s"
    }, no process`;
  const openFloors: [string, string, string, Row["versus"]][] = [
    [floorOpen, "open-setsid", "hello\n", wsd],
    [floorFrames(1), "open-frames?n=1", "", undefined],
    [floorFrames(3), "open-frames?n=3", '{"type":"started","id":1}'.repeat(2), undefined],
  ];
  for (const [label, path, expect, versus] of openFloors) {
    rows.push(
      await measure({ ...common, subject: "floor", label, versus }, async () => {
        let text = "";
        let result = Promise.withResolvers<unknown>();
        const { ws, closed } = await openSocket(
          ctx.floorServer.url + path,
          "pow-1",
          (data) => {
            if (typeof data === "string") text += data;
            else result.resolve(JSON.parse(new TextDecoder().decode(data)));
          },
          10_000,
        );
        closed.then((c) => result.reject(new Error(`closed (${c.code}) early`)));
        try {
          return await series(ctx, async () => {
            text = "";
            result = Promise.withResolvers<unknown>();
            const t0 = performance.now();
            ws.send(encoder.encode('{"call":"hello","params":[]}'));
            const got = await within(result.promise, 10_000, "floor result");
            const ms = performance.now() - t0;
            const ok = text === expect &&
              JSON.stringify(got) === '{"status":"fulfilled","value":null}';
            return { ms, error: ok ? undefined : `got ${JSON.stringify(text)} → ${got}` };
          });
        } finally {
          ws.close();
        }
      }, log),
    );
  }
  const pingLabel = "pow.v2 `ping` → `pong` round trip on an open connection (demo server)";
  if (ctx.nativeMissing) {
    rows.push(skip({ ...common, subject: "floor", label: pingLabel }, ctx.nativeMissing));
  } else {
    rows.push(
      await measure({ ...common, subject: "floor", label: pingLabel }, async () => {
        const conn = await NativeConnection.open(ctx.powDemo.url);
        try {
          const figure = await series(ctx, async () => {
            const t0 = performance.now();
            await within(conn.ping(), 10_000, "pow.v2 pong");
            return { ms: performance.now() - t0 };
          });
          return {
            ...figure,
            check: figure.ok ? `${ctx.sizes.calls} pongs, one per ping, in order` : figure.check,
          };
        } finally {
          conn.close();
        }
      }, log),
    );
  }
  for (const c of v2Calls) {
    if (ctx.nativeMissing) {
      rows.push(skip({ ...common, subject: "pow.v2", label: c.label }, ctx.nativeMissing));
      continue;
    }
    // A TypeScript function is held against a ping round trip on its own connection, timed in
    // the same moment: the ping row above alone moved between 0.055 and 0.147 ms from one
    // series to the next here. Before each call, two pings: the first takes whatever the
    // server still does after the previous call (it would flatter the ratio), the second is
    // the one timed.
    const paired = c.value !== null;
    const pairedLabel = pingsBeside(c.label);
    const pings: number[] = [];
    let pingFailure: string | undefined;
    rows.push(
      await measure({
        ...common,
        subject: "pow.v2",
        label: c.label,
        versus: c.value === null ? wsd : undefined,
        floor: c.value === null ? floorOpen : pairedLabel,
      }, async () => {
        const conn = await NativeConnection.open(c.server.url);
        const decoder = new TextDecoder();
        try {
          return await series(ctx, async (sample) => {
            if (paired) {
              const pong = () =>
                within(conn.ping(), 10_000, "pow.v2 pong").catch((e) => {
                  pingFailure ??= String(e);
                });
              await pong();
              const t0 = performance.now();
              await pong();
              if (sample) pings.push(performance.now() - t0);
            }
            let text = "";
            const t0 = performance.now();
            const channel = conn.start(c.name, c.params, {
              onData: (d) => (text += decoder.decode(d)),
              inline: c.inline,
            });
            const exit = await within(channel.exited, 10_000, "pow.v2 exit");
            const ms = performance.now() - t0;
            const value = exit.result.status === "fulfilled" ? exit.result.value : undefined;
            const bad = resultCheck(exit.result) ||
              (text === c.expect && value === c.value
                ? ""
                : `got ${JSON.stringify(text)} → ${value}`) ||
              (c.inline && !("output" in exit) ? "answered by three messages, not inline" : "");
            return { ms, error: bad || undefined };
          });
        } finally {
          conn.close();
        }
      }, log),
    );
    if (!paired) continue;
    rows.push(
      await measure(
        { ...common, subject: "floor", label: pairedLabel },
        () =>
          Promise.resolve(besideFigure(ctx, pings, pingFailure, {
            done: "pongs, each the second of two right before a call of the row above",
            failed: "pings answered",
          })),
        log,
      ),
    );
  }
  return rows;
}

// 4. Input -------------------------------------------------------------------------------------

function countCheck(text: string, bytes: number): Pick<Row, "check" | "ok"> {
  const got = text.trim();
  return got === String(bytes)
    ? { ok: true, check: `wc -c printed ${got}` }
    : { ok: false, check: `wc -c printed ${JSON.stringify(got.slice(0, 40))}, expected ${bytes}` };
}

/**
 * Input: bytes through stdin to `wc -c`; MB/s until the count arrives.
 *
 * @param ctx The context.
 * @returns The rows.
 */
export async function input(ctx: BenchContext): Promise<Row[]> {
  const { log } = ctx;
  const bytes = ctx.sizes.inputBytes;
  const workload = "4. input";
  const common = { workload, unit: "MB/s", higherIsBetter: true };
  const floor = "floor: Deno writes to `wc -c` through a pipe";
  const wsd = "websocketd --binary `sh -c 'head -c N | wc -c'`";
  log(`${workload}: ${bytes} bytes in 64 KiB messages`);
  const rows: Row[] = [];
  rows.push(
    await measure({ ...common, subject: "floor", label: floor }, async () => {
      const t0 = performance.now();
      const child = new Deno.Command("wc", { args: ["-c"], stdin: "piped", stdout: "piped" })
        .spawn();
      const writer = child.stdin.getWriter();
      const chunk = new Uint8Array(64 * 1024).fill(0x61);
      for (let sent = 0; sent < bytes; sent += chunk.length) {
        await writer.write(chunk.subarray(0, Math.min(chunk.length, bytes - sent)));
      }
      await writer.close();
      const out = await child.output();
      return {
        ...throughput(bytes, performance.now() - t0),
        ...countCheck(new TextDecoder().decode(out.stdout), bytes),
      };
    }, log),
  );
  const missing = websocketdOr(ctx);
  if (missing) rows.push(skip({ ...common, subject: "websocketd", label: wsd }, missing));
  else {
    rows.push(
      await measure(
        { ...common, subject: "websocketd", label: wsd, floor },
        () =>
          withWebsocketd(ctx, ["sh", "-c", `head -c ${bytes} | wc -c`], true, async (server) => {
            let text = "";
            let at = 0;
            const t0 = performance.now();
            await websocketdSession(server.url, {
              onMessage: (m) => {
                text += typeof m === "string" ? m : new TextDecoder().decode(m);
                at = performance.now();
              },
              input: (ws) => sendInput(ws, bytes, { binary: true }),
              timeout: ctx.stepTimeout,
            });
            return { ...throughput(bytes, at - t0), ...countCheck(text, bytes) };
          }),
        log,
      ),
    );
  }
  const pow1 = "pow-1 `wc -c` (text frames, then close signal)";
  if (ctx.pow1Missing) {
    rows.push(skip({ ...common, subject: "pow-1", label: pow1 }, ctx.pow1Missing));
  } else {
    rows.push(
      await measure({ ...common, subject: "pow-1", label: pow1, versus: wsd, floor }, async () => {
        let text = "";
        let at = 0;
        const t0 = performance.now();
        const out = await pow1Call(ctx.pow.url, { name: "wc" }, {
          onText: (t) => {
            text += t;
            at = performance.now();
          },
          input: (ws) => sendInput(ws, bytes, { binary: false }),
          timeout: ctx.stepTimeout,
        });
        const figure = { ...throughput(bytes, at - t0), ...countCheck(text, bytes) };
        const rejected = resultCheck(out.result);
        return rejected ? { ...figure, ok: false, check: rejected } : figure;
      }, log),
    );
  }
  const v2 = "pow.v2 `wc -c` (binary frames with stdin credit, then eof)";
  if (ctx.nativeMissing) {
    rows.push(skip({ ...common, subject: "pow.v2", label: v2 }, ctx.nativeMissing));
  } else {
    rows.push(
      await measure({ ...common, subject: "pow.v2", label: v2, versus: wsd, floor }, async () => {
        let text = "";
        let at = 0;
        const t0 = performance.now();
        const conn = await NativeConnection.open(ctx.pow.url);
        try {
          const channel = conn.start("wc", [], {
            onData: (d) => {
              text += new TextDecoder().decode(d);
              at = performance.now();
            },
          });
          await within(channel.bound, 10_000, "pow.v2 started");
          await within(channel.sendStdin(bytes), ctx.stepTimeout, "pow.v2 stdin");
          conn.send({ type: "eof", id: channel.id });
          const exit = await within(channel.exited, ctx.stepTimeout, "pow.v2 exit");
          const figure = { ...throughput(bytes, at - t0), ...countCheck(text, bytes) };
          const bad = resultCheck(exit.result);
          return bad ? { ...figure, ok: false, check: bad } : figure;
        } finally {
          conn.close();
        }
      }, log),
    );
  }
  return rows;
}

// 5. Scale -------------------------------------------------------------------------------------

interface Live {
  socket: OpenSocket;
  received: string;
  result: Promise<unknown>;
}

async function openLive(
  url: string,
  pow1: boolean,
  i: number,
  timeout: number,
): Promise<Live> {
  const got = Promise.withResolvers<unknown>();
  got.promise.catch(() => {});
  const live = { received: "", result: got.promise } as Live;
  const expect = `ping ${i}`;
  const echoed = Promise.withResolvers<void>();
  live.socket = await openSocket(url, pow1 ? "pow-1" : undefined, (m) => {
    if (typeof m !== "string") return got.resolve(JSON.parse(new TextDecoder().decode(m)));
    live.received += m;
    if (live.received.includes(expect)) echoed.resolve();
  }, timeout);
  live.socket.closed.then((c) => echoed.reject(new Error(`closed (${c.code}) before the echo`)));
  live.socket.closed.then((c) => got.reject(new Error(`closed (${c.code}) before the result`)));
  const encoder = new TextEncoder();
  if (pow1) live.socket.ws.send(encoder.encode('{"call":"cat","params":[]}'));
  live.socket.ws.send(pow1 ? `${expect}\n` : expect);
  await within(echoed.promise, timeout, `echo from live session ${i}`);
  return live;
}

async function settle(pid: number): Promise<number> {
  await delay(500);
  return rss(pid);
}

function mb(bytes: number): string {
  return `${num(bytes / 1024 / 1024)} MiB`;
}

/**
 * Scale: live `cat` sessions (each echoing a line) and idle connections; server RSS without
 * children, per session and per connection.
 *
 * @param ctx The context.
 * @returns The rows.
 */
export async function scale(ctx: BenchContext): Promise<Row[]> {
  const { log, sizes } = ctx;
  const workload = "5. scale";
  const common = { workload, unit: "MiB", higherIsBetter: false };
  const own = fileLimit("self").soft;
  const needed = sizes.live + sizes.idle + 200;
  let { live, idle } = sizes;
  let limited = "";
  if (own < needed) {
    idle = Math.max(0, Math.min(idle, own - live - 200));
    limited = `; open-files limit ${own} allowed only ${idle} idle connections`;
  }
  log(`${workload}: ${live} live cat sessions, ${idle} idle connections`);
  const wsdLive = `websocketd \`cat\`: ${live} live processes`;
  const pow1Live = `pow-1 \`cat\`: ${live} live sessions, a connection each`;
  const pow1Idle = `pow-1: + ${idle} idle connections (no call yet)`;
  const rows: Row[] = [];
  const missing = websocketdOr(ctx);
  if (missing) rows.push(skip({ ...common, subject: "websocketd", label: wsdLive }, missing));
  else {
    rows.push(
      await measure(
        { ...common, subject: "websocketd", label: wsdLive },
        () =>
          withWebsocketd(ctx, ["cat"], false, async (server) => {
            const before = await settle(server.pid);
            const lives: Live[] = [];
            try {
              await pool(Array.from({ length: live }, (_, i) => i), 50, async (i) => {
                lives.push(await openLive(server.url, false, i, ctx.stepTimeout));
              });
              const after = await settle(server.pid);
              const per = (after - before) / live;
              return {
                value: after / 1024 / 1024,
                shown: `RSS ${mb(after)} (${mb(before)} idle server; +${
                  num(per / 1024)
                } KiB per process)`,
                ok: lives.length === live,
                check: `${lives.length} processes echoed a line`,
              };
            } finally {
              for (const l of lives) l.socket.ws.close();
              await within(
                Promise.all(lives.map((l) => l.socket.closed)),
                30_000,
                "websocketd closes",
              ).catch(() => {});
            }
          }),
        log,
      ),
    );
  }
  rows.push(skip({
    ...common,
    subject: "websocketd",
    label: `websocketd: ${idle} idle connections`,
  }, "not applicable: websocketd starts a process for every connection"));
  if (ctx.pow1Missing) {
    rows.push(skip({ ...common, subject: "pow-1", label: pow1Live }, ctx.pow1Missing));
    rows.push(skip({ ...common, subject: "pow-1", label: pow1Idle }, ctx.pow1Missing));
    return rows;
  }
  // As `deno run -A main.ts` runs it, then with the V8 flags `deno task start` gives it; each
  // time next to the floor server doing the same with as little as Deno allows (`/live`).
  const startFlags = await startTaskV8Flags();
  const passes: { v8Flags?: string; suffix: string }[] = [{ suffix: "" }];
  if (startFlags) {
    passes.push({ v8Flags: startFlags, suffix: ` (\`--v8-flags=${startFlags}\`)` });
  }
  const floorLive = `floor: minimal Deno server, \`setsid cat\` with pow-1 framing: ${live} live ` +
    "sessions, a connection each";
  const floorIdle = `floor: minimal Deno server: + ${idle} idle connections`;
  const quietly = `the same load held ${ctx.sizes.quiet} s without traffic, highest RSS of the ` +
    "second half";
  const pow1Quiet = `pow-1: ${quietly}`;
  const floorQuiet = `floor: minimal Deno server: ${quietly}`;
  for (const pass of passes) {
    for (const subject of ["floor", "pow-1"] as const) {
      const isPow = subject === "pow-1";
      if (isPow && !pass.v8Flags) {
        // The same floor with pow's code loaded (not run): what the module graph alone costs,
        // so the rest of pow's figure is what its sessions and connections cost.
        const withModules = "floor with pow's modules loaded (`main.ts`'s imports, not run)";
        rows.push(
          ...await scalePass(ctx, {
            subject: "floor",
            live,
            idle,
            limited,
            common,
            start: () =>
              startPow({
                script: "bench/floor_server.ts",
                scriptArgs: ["--with-pow-modules"],
                v8Flags: "",
              }),
            path: "live",
            liveLabel: `${withModules}: ${live} live sessions, a connection each`,
            idleLabel: `${withModules}: + ${idle} idle connections`,
            quietLabel: "",
            versus: wsdLive,
            quiet: false,
          }),
        );
      }
      rows.push(
        ...await scalePass(ctx, {
          subject,
          live,
          idle,
          limited,
          common,
          // A fresh server, so its RSS is not inflated by the earlier workloads.
          start: () =>
            isPow
              ? startPow({ config: "bench/pow.yaml", v8Flags: pass.v8Flags })
              : startPow({ script: "bench/floor_server.ts", v8Flags: pass.v8Flags ?? "" }),
          path: isPow ? "" : "live",
          liveLabel: (isPow ? pow1Live : floorLive) + pass.suffix,
          idleLabel: (isPow ? pow1Idle : floorIdle) + pass.suffix,
          quietLabel: (isPow ? pow1Quiet : floorQuiet) + pass.suffix,
          versus: wsdLive,
          floors: isPow
            ? {
              live: floorLive + pass.suffix,
              idle: floorIdle + pass.suffix,
              quiet: floorQuiet + pass.suffix,
            }
            : undefined,
        }),
      );
    }
  }
  return rows;
}

/** One server's pass of the scale workload: its live sessions, then its idle connections. */
async function scalePass(ctx: BenchContext, pass: {
  subject: "pow-1" | "floor";
  live: number;
  idle: number;
  limited: string;
  common: { workload: string; unit: string; higherIsBetter: boolean };
  start: () => Promise<ServerProcess>;
  path: string;
  liveLabel: string;
  idleLabel: string;
  quietLabel: string;
  versus: string;
  floors?: { live: string; idle: string; quiet: string };
  /** Whether to hold the load without traffic and report it too. @default {true} */
  quiet?: boolean;
}): Promise<Row[]> {
  const { log } = ctx;
  const { subject, live, idle, common } = pass;
  let { limited } = pass;
  const rows: Row[] = [];
  const server = await pass.start();
  const url = server.url + pass.path;
  const lives: Live[] = [];
  const idles: OpenSocket[] = [];
  try {
    const serverLimit = fileLimit(server.pid).soft;
    const serverNeeds = live * 5 + idle + 200;
    if (serverLimit < serverNeeds) {
      limited += `; server open-files limit ${serverLimit} (needs ~${serverNeeds})`;
    }
    // Warm up: a few calls so the baseline includes loaded code.
    for (let i = 0; i < 3; i++) {
      if (subject === "pow-1") {
        await pow1Call(server.url, { name: "hello" }, { timeout: 10_000 });
        continue;
      }
      const warm = await openLive(url, true, i, 10_000);
      warm.socket.ws.send(new TextEncoder().encode('{"signal":"close"}'));
      await within(warm.result, 10_000, "floor cat result");
      await warm.socket.closed;
    }
    const before = await settle(server.pid);
    let withLive = NaN;
    rows.push(
      await measure(
        {
          ...common,
          subject,
          label: pass.liveLabel,
          versus: pass.versus,
          floor: pass.floors?.live,
        },
        async () => {
          await pool(Array.from({ length: live }, (_, i) => i), 50, async (i) => {
            lives.push(await openLive(url, true, i, ctx.stepTimeout));
          });
          withLive = await settle(server.pid);
          return {
            value: withLive / 1024 / 1024,
            shown: `RSS ${mb(withLive)} (${mb(before)} idle server; +${
              num((withLive - before) / live / 1024)
            } KiB per session)`,
            ok: lives.length === live,
            check: `${lives.length} sessions echoed a line${limited}`,
          };
        },
        log,
      ),
    );
    rows.push(
      await measure(
        { ...common, subject, label: pass.idleLabel, floor: pass.floors?.idle },
        async () => {
          await pool(Array.from({ length: idle }, (_, i) => i), 100, async () => {
            idles.push(await openSocket(url, "pow-1", () => {}, ctx.stepTimeout));
          });
          const after = await settle(server.pid);
          const stillOpen = idles.filter((s) => s.ws.readyState === WebSocket.OPEN).length;
          // The live sessions still answer.
          let answered = 0;
          await pool(lives, 50, async (l, i) => {
            l.received = "";
            const echoed = Promise.withResolvers<void>();
            const poll = setInterval(
              () => l.received.includes(`again ${i}`) && echoed.resolve(),
              5,
            );
            try {
              l.socket.ws.send(`again ${i}\n`);
              await within(echoed.promise, 10_000, `second echo ${i}`);
              answered++;
            } finally {
              clearInterval(poll);
            }
          }).catch(() => {});
          const base = Number.isNaN(withLive) ? before : withLive;
          return {
            value: after / 1024 / 1024,
            shown: `RSS ${mb(after)} in all; +${
              num((after - base) / Math.max(1, idle) / 1024)
            } KiB per connection`,
            ok: stillOpen === idle && answered === lives.length && lives.length === live,
            check:
              `${stillOpen} idle connections open, ${answered} live sessions echoed again${limited}`,
          };
        },
        log,
      ),
    );
    // The same load held without traffic: the readings above come half a second after the last
    // connection, with the young generation V8 grew while the connections arrived; V8 shrinks
    // it once allocation stops. The highest reading of the second half of the quiet period.
    const { quiet } = ctx.sizes;
    const right = rss(server.pid);
    if (pass.quiet !== false) {
      rows.push(
        await measure(
          { ...common, subject, label: pass.quietLabel, floor: pass.floors?.quiet },
          async () => {
            const readings: number[] = [];
            const t0 = performance.now();
            for (let i = 1; i <= quiet; i++) {
              await delay(Math.max(0, t0 + i * 1000 - performance.now()));
              readings.push(rss(server.pid));
            }
            const late = readings.slice(Math.floor(readings.length / 2));
            const high = Math.max(...late);
            const stillOpen = [...idles, ...lives.map((l) => l.socket)]
              .filter((s) => s.ws.readyState === WebSocket.OPEN).length;
            return {
              value: high / 1024 / 1024,
              shown: `RSS ${mb(Math.min(...late))} to ${mb(high)} from ${
                quiet - late.length
              } to ${quiet} s (${mb(right)} when the quiet began)`,
              ok: late.length > 0 && stillOpen === idle + live && lives.length === live,
              check: `${stillOpen} connections still open after ${quiet} s${limited}`,
            };
          },
          log,
        ),
      );
    }
  } finally {
    for (const s of idles) s.ws.close();
    await pool(lives, 100, async (l) => {
      if (l.socket.ws.readyState === WebSocket.OPEN) {
        l.socket.ws.send(new TextEncoder().encode('{"signal":"close"}'));
        await within(l.result, 10_000, "cat result").catch(() => {});
        l.socket.ws.close();
      }
    });
    await within(
      Promise.all([...idles, ...lives.map((l) => l.socket)].map((s) => s.closed)),
      30_000,
      "closes",
    )
      .catch(() => {});
    await server.stop();
  }
  return rows;
}

// 6. Fan-out -----------------------------------------------------------------------------------

/**
 * Fan-out: one process (`head -c N FILE`), many viewers attached to it through the native
 * protocol, one connection each; aggregate MB/s from before the viewers connect until the last
 * one has every byte (SHA-256 checked per viewer). The starting channel asks for no output
 * (credit 0), so the process waits at the retention limit until the viewers are attached, then
 * it detaches.
 *
 * @param ctx The context.
 * @returns The rows.
 */
export async function fanOut(ctx: BenchContext): Promise<Row[]> {
  const { log, data } = ctx;
  const { viewers, fanoutBytes } = ctx.sizes;
  const workload = "6. fan-out";
  const common = { workload, unit: "MB/s", higherIsBetter: true };
  const label = `pow.v2: one process, ${viewers} viewers (a connection each), aggregate`;
  const rows: Row[] = [];
  log(`${workload}: ${viewers} viewers × ${fanoutBytes} bytes`);
  if (ctx.nativeMissing) {
    rows.push(skip({ ...common, subject: "pow.v2", label }, ctx.nativeMissing));
  } else {
    rows.push(
      await measure({ ...common, subject: "pow.v2", label }, async () => {
        const bytes = Math.min(fanoutBytes, data.bytes);
        const expected = await hashFile(data.path, bytes);
        const starter = await NativeConnection.open(ctx.pow.url);
        const conns: NativeConnection[] = [];
        try {
          const first = starter.start("head-file", [String(bytes), data.path], { credit: 0 });
          const started = await within(first.bound, 10_000, "pow.v2 started");
          const session = String(started.session);
          const t0 = performance.now();
          const digests: Digest[] = [];
          const exits = await pool(Array.from({ length: viewers }, (_, i) => i), 25, async (i) => {
            const conn = await NativeConnection.open(ctx.pow.url);
            conns.push(conn);
            const digest = digests[i] = new Digest();
            const channel = conn.attach(session, { onData: (d) => digest.add(d) });
            await within(channel.bound, 10_000, `viewer ${i} attached`);
            return { exited: channel.exited };
          });
          starter.send({ type: "detach", id: first.id });
          const results = await within(
            Promise.all(exits.map((e) => e.exited)),
            ctx.stepTimeout,
            "viewers exit",
          );
          const ms = performance.now() - t0;
          const bad = digests.map((d, i) => {
            const check = digestCheck(d, bytes, expected.sha256);
            return check.ok ? resultCheck(results[i].result) : `viewer ${i}: ${check.check}`;
          }).find(Boolean);
          const aggregate = throughput(bytes * viewers, ms);
          return {
            ...aggregate,
            shown: `${aggregate.shown}; ${num(aggregate.value / viewers)} MB/s per viewer`,
            ok: !bad,
            check: bad ?? `${viewers} viewers × ${bytes} B, every sha256 matches`,
          };
        } finally {
          for (const conn of [starter, ...conns]) conn.close();
        }
      }, log),
    );
  }
  rows.push(
    skip(
      { ...common, subject: "websocketd", label: "websocketd" },
      "not applicable: websocketd cannot attach a second client to a process",
    ),
  );
  return rows;
}
