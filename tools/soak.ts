/**
 * The pow soak: randomized sessions against a server subprocess (config `tools/soak.yaml`) for
 * a given time. Sessions run deterministic processes (`count`, `cat` fed seeded input, `both`
 * writing stdout and stderr), so every output byte is known. Over `pow.v2` the soak drops
 * connections abruptly mid-output (the TCP connection is cut, no close frame), reattaches from
 * another connection at the offset after the last byte it received, adds viewers that attach
 * from offset 0, cancels, and half-closes stdin; some sessions run over pow-1. It checks that no
 * output byte is lost, doubled or reordered, that the server's memory (RSS, sampled every few
 * seconds) is flat after a warm-up, and that no process is left in `/proc` at the end.
 *
 * ```sh
 * deno task soak --duration 10m --seed 1
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import {
  decodeDataFrame,
  encodeDataFrame,
  type ExitMessage,
  parseServerMessage,
  type ServerMessage,
} from "@pow/protocol";
import { RawWebSocket } from "./_raw_ws.ts";
import { Rng } from "./_rng.ts";
import { startServerProcess } from "./_server_process.ts";
import { sessionMembers } from "../tests/_proc.ts";

/** Options for {@linkcode soak}. */
export interface SoakOptions {
  /** How long to run, in milliseconds. @default {600000} */
  duration?: number;
  /** The seed. @default {1} */
  seed?: number;
  /** Sessions running at once. @default {8} */
  concurrency?: number;
  /** Milliseconds between RSS samples. @default {5000} */
  sampleEvery?: number;
  /** Called with each RSS sample. */
  onSample?: (sample: SoakProgress) => void;
}

/** Progress at an RSS sample. */
export interface SoakProgress {
  /** Seconds since the start. */
  seconds: number;
  /** The server's RSS in bytes. */
  rss: number;
  /** Sessions finished so far. */
  sessions: number;
  /** Violations so far. */
  violations: number;
}

/** The outcome of a soak. */
export interface SoakReport {
  /** The seed. */
  seed: number;
  /** Seconds it ran. */
  seconds: number;
  /** Sessions run to the end, by kind. */
  sessions: Record<string, number>;
  /** Output bytes checked against the expected bytes. */
  bytesChecked: number;
  /** Abrupt disconnects followed by a reattach from another connection. */
  reattaches: number;
  /** Viewers (second channels from offset 0). */
  viewers: number;
  /** Cancelled sessions. */
  cancels: number;
  /**
   * Reattaches answered with `skipped > 0`: bytes that were in flight when the connection was
   * cut and that left the retention window while the process ran on. Reported, never silent.
   */
  gaps: { count: number; bytes: number; messages: number };
  /** RSS in bytes: samples, first and last after warm-up, highest, and the trend. */
  rss: {
    samples: number[];
    first: number;
    last: number;
    max: number;
    /** The least-squares slope after warm-up, in MiB per minute. */
    slopeMiBPerMinute: number;
    /** Growth of the last quarter's median over the first quarter's after warm-up, in bytes. */
    growth: number;
  };
  /** Processes of the server's sessions still present at the end. */
  leftovers: string[];
  /** What went wrong. */
  violations: string[];
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const CONFIG = fileURLToPath(new URL("./soak.yaml", import.meta.url));

function countOutput(n: number): Uint8Array {
  let text = "";
  for (let i = 1; i <= n; i++) text += `${i}\n`;
  return encoder.encode(text);
}

function bothOutput(n: number): { stdout: Uint8Array; stderr: Uint8Array } {
  let out = "";
  let err = "";
  for (let i = 1; i <= n; i++) {
    out += `${i}\n`;
    if (i % 10 === 0) err += `e${i}\n`;
  }
  return { stdout: encoder.encode(out), stderr: encoder.encode(err) };
}

/** One `pow.v2` connection over a raw socket, so that it can be cut without a close frame. */
class Conn {
  readonly messages: ServerMessage[] = [];
  readonly problems: string[] = [];
  /** Stdin bytes the server still accepts (per channel; one stdin writer per connection). */
  stdinCredit = 0;
  alive = true;
  onData: ((id: number, kind: string, offset: number, data: Uint8Array) => void) | undefined;
  #waiters: (() => void)[] = [];

  private constructor(readonly socket: RawWebSocket) {
    socket.listen((frame) => {
      if (frame.opcode === 1) {
        const parsed = parseServerMessage(decoder.decode(frame.payload));
        if (!parsed.ok) this.problems.push(`bad server message: ${parsed.error.message}`);
        else if (parsed.value.type === "credit") this.stdinCredit += parsed.value.bytes;
        else this.messages.push(parsed.value);
      } else {
        const decoded = decodeDataFrame(frame.payload, { from: "server" });
        if (!decoded.ok) this.problems.push(decoded.error.message);
        else {
          const { id, kind, offset, data } = decoded.value;
          this.onData?.(id, kind, offset, data);
        }
      }
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const wake of waiters) wake();
    });
    socket.closed.then(() => {
      this.alive = false;
      for (const wake of this.#waiters.splice(0)) wake();
    });
  }

  static async open(url: URL): Promise<Conn> {
    const socket = await RawWebSocket.connect(url, { protocols: ["pow.v2"] });
    if (socket.status !== 101) throw new Error(`pow.v2 upgrade refused: ${socket.status}`);
    const conn = new Conn(socket);
    const hello = await conn.next((m) => m.type === "hello", 10_000);
    if (hello?.type !== "hello") throw new Error("pow.v2: no hello");
    conn.stdinCredit = hello.stdinCredit;
    return conn;
  }

  send(message: Record<string, unknown>): Promise<void> {
    return this.socket.send(1, encoder.encode(JSON.stringify(message)));
  }

  stdin(id: number, offset: number, data: Uint8Array): Promise<void> {
    this.stdinCredit -= data.byteLength;
    return this.socket.send(2, encodeDataFrame({ kind: "stdin", id, offset, data }));
  }

  /** Waits for a message (removing it), or `undefined` after `timeout` or the connection's end. */
  async next(
    predicate: (m: ServerMessage) => boolean,
    timeout = 30_000,
  ): Promise<ServerMessage | undefined> {
    const deadline = Date.now() + timeout;
    let ended = false;
    this.socket.closed.then(() => ended = true);
    while (true) {
      const index = this.messages.findIndex(predicate);
      if (index >= 0) return this.messages.splice(index, 1)[0];
      if (ended || Date.now() >= deadline) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(100, deadline - Date.now()));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Cuts the TCP connection: no close frame. */
  async cut(): Promise<void> {
    this.socket.abort();
    await this.socket.closed;
  }
}

/** Checks a channel's output against the expected bytes, per stream, as it arrives. */
class Checker {
  next = 0;
  readonly at = { stdout: 0, stderr: 0 };
  problem: string | undefined;
  bytes = 0;
  constructor(readonly expected: { stdout: Uint8Array; stderr: Uint8Array }) {}

  take(kind: string, offset: number, data: Uint8Array): void {
    if (this.problem) return;
    if (offset !== this.next) {
      this.problem = `frame at ${offset}, expected ${this.next} (lost or doubled bytes)`;
      return;
    }
    this.next += data.byteLength;
    const stream = kind === "stderr" ? "stderr" : "stdout";
    const want = this.expected[stream];
    for (let i = 0; i < data.byteLength; i++) {
      if (want[this.at[stream] + i] !== data[i]) {
        this.problem = `${stream} byte ${this.at[stream] + i} differs (reordered or corrupted)`;
        return;
      }
    }
    this.at[stream] += data.byteLength;
    this.bytes += data.byteLength;
  }

  /** Jumps over `skipped` bytes of the one stream (a reported gap). */
  skip(skipped: number): void {
    this.next += skipped;
    this.at.stdout += skipped;
  }

  get complete(): boolean {
    return this.at.stdout === this.expected.stdout.byteLength &&
      this.at.stderr === this.expected.stderr.byteLength;
  }
}

/**
 * Runs a soak.
 *
 * @example
 * ```ts ignore
 * import { soak } from "./soak.ts";
 *
 * const report = await soak({ duration: 15_000, seed: 3 });
 * if (report.violations.length > 0) throw new Error(report.violations[0]);
 * ```
 *
 * @param options Duration, seed, concurrency.
 * @returns The report.
 */
export async function soak(options: SoakOptions = {}): Promise<SoakReport> {
  const duration = options.duration ?? 600_000;
  const seed = options.seed ?? 1;
  const concurrency = options.concurrency ?? 8;
  const sampleEvery = options.sampleEvery ?? 5000;
  const root = new Rng(seed);
  const server = await startServerProcess(CONFIG);
  const violations: string[] = [];
  const sessions: Record<string, number> = {};
  const pids = new Set<number>();
  const stats = {
    bytes: 0,
    reattaches: 0,
    viewers: 0,
    cancels: 0,
    gaps: 0,
    gapBytes: 0,
    gapMessages: 0,
  };
  const samples: number[] = [server.rss()];
  const started = Date.now();
  let done = 0;
  const sampler = setInterval(() => {
    const rss = server.rss();
    samples.push(rss);
    options.onSample?.({
      seconds: (Date.now() - started) / 1000,
      rss,
      sessions: done,
      violations: violations.length,
    });
  }, sampleEvery);

  /** One randomized `pow.v2` session, with drops, reattaches, viewers, cancels. */
  async function v2Session(rng: Rng, no: number): Promise<string> {
    const kind = rng.pick(["count", "count", "both", "cat"]);
    const n = rng.pick([10, 1000, 50_000, 200_000, 1_000_000]);
    const input = kind === "cat" ? rng.bytes(rng.pick([1, 1000, 100_000, 2_000_000])) : undefined;
    const expected = kind === "count"
      ? { stdout: countOutput(n), stderr: new Uint8Array(0) }
      : kind === "both"
      ? bothOutput(Math.min(n, 200_000))
      : { stdout: input!, stderr: new Uint8Array(0) };
    const params = kind === "cat" ? [] : [String(kind === "both" ? Math.min(n, 200_000) : n)];
    const credit = rng.pick([4096, 65536, 1 << 20]);
    const checker = new Checker(expected);
    const events: string[] = [`credit ${credit}`];
    const label = `session ${no} (${kind} ${params.join(" ")}, seed ${seed}; ${events.join(", ")})`;
    let conn = await Conn.open(server.wsUrl);
    let id = rng.range(1, 1000);
    let window = credit;
    // An `attached` whose skipped bytes were applied (frames that follow it may be handled
    // before the loop below takes the message).
    const applied = new WeakSet<ServerMessage>();
    const applySkipped = (attached: Extract<ServerMessage, { type: "attached" }>) => {
      if (applied.has(attached)) return;
      applied.add(attached);
      if (attached.skipped > 0) {
        // Lost to retention while detached, and reported: never silent (docs/protocol.md).
        stats.gaps++;
        stats.gapBytes += attached.skipped;
        checker.skip(attached.skipped);
      }
    };
    const wire = (c: Conn, channel: () => number) => {
      c.onData = (frameId, frameKind, offset, data) => {
        if (frameId !== channel()) return;
        const pending = c.messages.find((m) => m.type === "attached" && m.id === frameId);
        if (pending?.type === "attached") applySkipped(pending);
        const gap = c.messages.findIndex((m) => m.type === "gap" && m.id === frameId);
        if (gap >= 0) {
          const message = c.messages.splice(gap, 1)[0] as Extract<ServerMessage, { type: "gap" }>;
          stats.gapMessages++;
          stats.gapBytes += message.skipped;
          if (message.offset - message.skipped === checker.next) checker.skip(message.skipped);
          else checker.problem ??= `gap ${JSON.stringify(message)} at ${checker.next}`;
        }
        checker.take(frameKind, offset, data);
        window -= data.byteLength;
        if (window < credit / 2) {
          c.send({ type: "credit", id: frameId, bytes: credit - window });
          window = credit;
        }
      };
    };
    wire(conn, () => id);
    await conn.send({ type: "start", id, ref: "s", name: kind, params, credit });
    const answer = await conn.next((m) => "ref" in m && m.ref === "s");
    if (answer?.type !== "started") return `${label}: start answered ${JSON.stringify(answer)}`;
    const session = answer.session;
    if (answer.pid) pids.add(answer.pid);

    // Abrupt drops followed by reattaches, or a viewer on another connection from offset 0 to
    // the end. Not both: a viewer that runs ahead sets the pace alone while the other channel
    // is detached, and may let bytes the detached client never got leave the retention window
    // (reported as `skipped`, as docs/protocol.md says), which would make the check inexact.
    // `both` interleaves two streams: a gap could not be realigned, so it is never dropped.
    let drops = kind === "both" ? 0 : rng.pick([0, 1, 1, 2, 3]);
    let viewer: Promise<string | undefined> | undefined;
    if (drops === 0 && kind !== "both" && rng.chance(0.5)) {
      stats.viewers++;
      events.push("viewer");
      viewer = (async (): Promise<string | undefined> => {
        const c = await Conn.open(server.wsUrl);
        const v = new Checker(expected);
        // The `attached` answer, once its skipped bytes are applied: data frames that follow it
        // may arrive before `next` below takes the message, and must see the skip first.
        let viewAttached: Extract<ServerMessage, { type: "attached" }> | undefined;
        const applyViewSkip = (attached: Extract<ServerMessage, { type: "attached" }>) => {
          if (viewAttached) return;
          viewAttached = attached;
          if (attached.skipped > 0) {
            // The main channel consumed these and the process ran ahead: reported, not silent.
            stats.gaps++;
            stats.gapBytes += attached.skipped;
            v.skip(attached.skipped);
          }
        };
        c.onData = (_id, k, offset, data) => {
          if (!viewAttached) {
            const pending = c.messages.find((m) => m.type === "attached" && m.ref === "v");
            if (pending?.type === "attached") applyViewSkip(pending);
            else v.problem ??= `data frame at ${offset} before the attach was answered`;
          }
          const gap = c.messages.findIndex((m) => m.type === "gap");
          if (gap >= 0) {
            const message = c.messages.splice(gap, 1)[0] as Extract<ServerMessage, { type: "gap" }>;
            stats.gapMessages++;
            stats.gapBytes += message.skipped;
            v.skip(message.skipped);
          }
          v.take(k, offset, data);
          void c.send({ type: "credit", id: 1, bytes: data.byteLength });
        };
        await c.send({ type: "attach", id: 1, ref: "v", session, offset: 0, credit: 1 << 20 });
        const attached = await c.next((m) => "ref" in m && m.ref === "v");
        if (attached?.type !== "attached" || attached.offset !== attached.skipped) {
          await c.cut();
          return `viewer: attach answered ${JSON.stringify(attached)}`;
        }
        applyViewSkip(attached);
        const exit = await c.next((m) => m.type === "exit", 120_000);
        await c.cut();
        stats.bytes += v.bytes;
        if (v.problem) return `viewer: ${v.problem}`;
        if (!exit) return "viewer: no exit";
        if (exit.type === "exit" && exit.result.status === "fulfilled" && !v.complete) {
          return `viewer: incomplete output (${v.next} of ${exit.offset} bytes)`;
        }
        return undefined;
      })().catch((error) => `viewer: ${error}`);
    }

    // Feed cat its input, resending from the stdin offset after a reattach.
    let stdinSent = 0;
    const cancel = rng.chance(0.1);
    const feed = async (c: Conn, channel: number) => {
      if (!input) return;
      while (stdinSent < input.byteLength && c.alive) {
        const chunk = input.subarray(stdinSent, stdinSent + 32768);
        // Stay within the stdin credit the server grants.
        if (c.stdinCredit < chunk.byteLength) {
          await new Promise((r) => setTimeout(r, 5));
          continue;
        }
        await c.stdin(channel, stdinSent, chunk);
        stdinSent += chunk.byteLength;
      }
      if (c.alive && stdinSent >= input.byteLength) await c.send({ type: "eof", id: channel });
    };
    void feed(conn, id);

    let exit: ServerMessage | undefined;
    let cancelled = false;
    while (!exit) {
      if (drops > 0 && !checker.problem) {
        // Cut the connection mid-output, then reattach from another one at `next`.
        await new Promise((r) => setTimeout(r, rng.range(0, 150)));
        const early = conn.messages.find((m) => m.type === "exit");
        if (early) {
          exit = early;
          break;
        }
        drops--;
        await conn.cut();
        events.push(`cut at ${checker.next}`);
        stats.reattaches++;
        conn = await Conn.open(server.wsUrl);
        id = rng.range(1, 1000);
        window = credit;
        wire(conn, () => id);
        const requested = checker.next;
        await conn.send({ type: "attach", id, ref: "a", session, offset: requested, credit });
        const attached = await conn.next((m) => "ref" in m && m.ref === "a");
        if (attached?.type !== "attached") {
          return `${label}: attach answered ${JSON.stringify(attached)}`;
        }
        if (attached.offset - attached.skipped !== requested) {
          return `${label}: reattached at ${attached.offset} (skipped ${attached.skipped}), wanted ${requested}`;
        }
        applySkipped(attached);
        if (input) {
          stdinSent = attached.stdinClosed ? input.byteLength : attached.stdinOffset;
          void feed(conn, id);
        }
        continue;
      }
      if (cancel && !cancelled) {
        await new Promise((r) => setTimeout(r, rng.range(0, 100)));
        cancelled = true;
        stats.cancels++;
        events.push(`cancel at ${checker.next}`);
        await conn.send({ type: "signal", id, signal: "cancel" });
      }
      exit = await conn.next((m) => m.type === "exit" && m.id === id, 120_000);
      if (!exit) return `${label}: no exit within 120 s (${checker.next} bytes received)`;
    }
    await conn.cut();
    stats.bytes += checker.bytes;
    const problems = [...conn.problems];
    if (checker.problem) problems.push(checker.problem);
    const result = (exit as ExitMessage).result;
    if (exit.type === "exit" && exit.offset !== checker.next) {
      problems.push(`exit at offset ${exit.offset}, received up to ${checker.next}`);
    }
    if (result.status === "fulfilled" && !checker.complete) {
      problems.push("fulfilled, output incomplete");
    }
    if (!cancelled && result.status !== "fulfilled") {
      problems.push(`result ${JSON.stringify(result)}`);
    }
    if (cancelled && result.status === "rejected" && result.kind !== "cancelled") {
      problems.push(`cancel gave ${JSON.stringify(result)}`);
    }
    const viewed = await viewer;
    if (viewed) problems.push(viewed);
    if (problems.length > 0) {
      return `session ${no} (${kind} ${params.join(" ")}, seed ${seed}; ${events.join(", ")}): ${
        problems.join("; ")
      }`;
    }
    sessions[`pow.v2 ${kind}${cancelled ? " cancelled" : ""}`] =
      (sessions[`pow.v2 ${kind}${cancelled ? " cancelled" : ""}`] ?? 0) + 1;
    return "";
  }

  /** One pow-1 session: `count` over a plain WebSocket, output checked to the byte. */
  async function pow1Session(rng: Rng, no: number): Promise<string> {
    const n = rng.pick([1, 100, 10_000, 100_000]);
    const want = decoder.decode(countOutput(n));
    const ws = new WebSocket(server.wsUrl, ["pow-1"]);
    ws.binaryType = "arraybuffer";
    let output = "";
    const results: string[] = [];
    const closed = new Promise<CloseEvent>((resolve) => ws.onclose = resolve);
    ws.onmessage = ({ data }) => {
      if (typeof data === "string") output += data;
      else results.push(decoder.decode(data));
    };
    ws.onopen = () =>
      ws.send(encoder.encode(JSON.stringify({ call: "count", params: [String(n)] })));
    const close = await closed;
    stats.bytes += output.length;
    sessions["pow-1 count"] = (sessions["pow-1 count"] ?? 0) + 1;
    if (
      output !== want || results.join() !== '{"status":"fulfilled","value":null}' ||
      close.code !== 1000
    ) {
      return `pow-1 session ${no} (count ${n}): ${output.length} of ${want.length} characters, results ${results}, close ${close.code}`;
    }
    return "";
  }

  let no = 0;
  const worker = async (w: number) => {
    const rng = root.fork(`worker ${w}`);
    while (Date.now() - started < duration) {
      const n = no++;
      let problem: string;
      try {
        problem = rng.chance(0.15) ? await pow1Session(rng, n) : await v2Session(rng, n);
      } catch (error) {
        problem = `session ${n}: ${(error as Error).stack ?? error}`;
      }
      if (problem) violations.push(problem);
      done++;
      if (!server.alive) {
        violations.push(`the server exited: ${server.stderr.slice(-2000)}`);
        return;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  } finally {
    clearInterval(sampler);
  }
  const seconds = (Date.now() - started) / 1000;
  samples.push(server.rss());

  // Every session has ended: no process may be left (zombies count).
  const deadline = Date.now() + 10_000;
  let leftovers: string[] = [];
  do {
    leftovers = [...pids].flatMap((pid) =>
      sessionMembers(pid).map((p) => `${p.pid} ${p.comm} (${p.state})`)
    );
    if (leftovers.length > 0) await new Promise((r) => setTimeout(r, 100));
  } while (leftovers.length > 0 && Date.now() < deadline);
  await server.stop();
  if (leftovers.length > 0) violations.push(`processes left behind: ${leftovers.join(", ")}`);

  const rss = trend(samples, sampleEvery);
  // Memory is judged on runs of 2 minutes or more: shorter ones are all warm-up (lingering
  // sessions keep their output for `sessions.linger`, and V8 grows its heap before it settles).
  if (duration >= 120_000 && rss.growth > 32 * 1048576 && rss.growth > rss.first * 0.25) {
    violations.push(
      `server memory grows: ${
        (rss.growth / 1048576).toFixed(1)
      } MiB from the first to the last quarter after warm-up (${
        rss.slopeMiBPerMinute.toFixed(2)
      } MiB/min)`,
    );
  }
  return {
    seed,
    seconds,
    sessions,
    bytesChecked: stats.bytes,
    reattaches: stats.reattaches,
    viewers: stats.viewers,
    cancels: stats.cancels,
    gaps: { count: stats.gaps, bytes: stats.gapBytes, messages: stats.gapMessages },
    rss,
    leftovers,
    violations,
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/** RSS figures after a warm-up of the first fifth of the samples. */
function trend(samples: number[], interval: number): SoakReport["rss"] {
  const warm = samples.slice(Math.floor(samples.length / 5));
  const quarter = Math.max(1, Math.floor(warm.length / 4));
  const n = warm.length;
  const mean = (warm.reduce((a, b) => a + b, 0)) / n;
  const meanX = (n - 1) / 2;
  let num = 0;
  let den = 0;
  warm.forEach((y, x) => {
    num += (x - meanX) * (y - mean);
    den += (x - meanX) ** 2;
  });
  const perSample = den === 0 ? 0 : num / den;
  return {
    samples,
    first: samples[0],
    last: samples.at(-1)!,
    max: Math.max(...samples),
    slopeMiBPerMinute: (perSample / 1048576) * (60_000 / interval),
    growth: median(warm.slice(-quarter)) - median(warm.slice(0, quarter)),
  };
}

function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text);
  if (!match) throw new TypeError(`Invalid duration "${text}": expected e.g. 90s, 10m or 1h`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] ?? "s"]!;
  return Number(match[1]) * unit;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      duration: { type: "string" },
      seed: { type: "string" },
      concurrency: { type: "string" },
      json: { type: "boolean" },
    },
  });
  const mb = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
  const sampleEvery = 5000;
  const report = await soak({
    duration: parseDuration(values.duration ?? "10m"),
    seed: values.seed === undefined ? 1 : Number(values.seed),
    concurrency: values.concurrency ? Number(values.concurrency) : undefined,
    sampleEvery,
    onSample(s) {
      console.error(
        `soak: ${s.seconds.toFixed(0)} s, ${s.sessions} sessions, RSS ${
          mb(s.rss)
        }, ${s.violations} violations`,
      );
    },
  });
  if (values.json) console.log(JSON.stringify(report, null, 2));
  else {
    const total = Object.values(report.sessions).reduce((a, b) => a + b, 0);
    console.log(
      `seed ${report.seed}: ${report.seconds.toFixed(0)} s, ${total} sessions ${
        JSON.stringify(report.sessions)
      }, ` +
        `${report.bytesChecked} bytes checked, ${report.reattaches} reattaches, ${report.viewers} viewers, ` +
        `${report.cancels} cancels, ${report.gaps.count} reattaches with skipped bytes and ${report.gaps.messages} gap messages (${report.gaps.bytes} bytes, all reported); server RSS first ${
          mb(report.rss.first)
        } last ${mb(report.rss.last)} ` +
        `max ${mb(report.rss.max)}, trend ${report.rss.slopeMiBPerMinute.toFixed(2)} MiB/min, ` +
        `growth ${mb(report.rss.growth)}; ${report.leftovers.length} leftover processes; ` +
        `${report.violations.length} violations`,
    );
    for (const v of report.violations.slice(0, 20)) console.log(`VIOLATION ${v}`);
  }
  Deno.exit(report.violations.length > 0 ? 1 : 0);
}
