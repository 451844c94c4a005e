/**
 * The pow fuzzer: drives every front end of a real server (a subprocess on a free port) with
 * random and mutated frames, and checks that each frame gets its defined answer (the error
 * code, close code or HTTP status of the docs), that the server stays up (a health probe and
 * its pid between batches), and that control sessions running beside the fuzz frames (a `cat`
 * on another channel of the fuzzed `pow.v2` connection, on another `pow.v2` connection, on a
 * pow-1 connection, on the further-link socket and over the native REST API) echo their input
 * byte for byte.
 *
 * ```sh
 * deno task fuzz                       # 1,000,000 frames, seed 1
 * deno task fuzz --frames 20000 --seed 7
 * deno task fuzz --lane pow.v2 --seed 7 --frames 5000   # replay one lane
 * ```
 *
 * Every lane draws from its own generator derived from the seed, so a lane's frames are the
 * same on every run with the same seed and frame count; a violation names the seed, the lane
 * and the frame number.
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { FuzzContext, Lane, LaneFactory, Violation } from "./_fuzz_common.ts";
import { v2Lane } from "./_fuzz_v2.ts";
import { pow1Lane } from "./_fuzz_pow1.ts";
import { restLane } from "./_fuzz_rest.ts";
import { furtherLinkLane } from "./_fuzz_further_link.ts";
import { rawLane } from "./_fuzz_raw.ts";
import { wubsubLane } from "./_fuzz_wubsub.ts";
import { Rng } from "./_rng.ts";
import { startServerProcess } from "./_server_process.ts";

export type { Violation } from "./_fuzz_common.ts";

/** The lanes, with their share of the frames. */
const LANES: [LaneFactory, number][] = [
  [v2Lane, 55],
  [pow1Lane, 8],
  [restLane, 20],
  [furtherLinkLane, 15],
  [rawLane, 2],
  [wubsubLane, 10],
];

/** Options for {@linkcode fuzz}. */
export interface FuzzOptions {
  /** Frames to send in total. @default {1000000} */
  frames?: number;
  /** The seed. @default {1} */
  seed?: number;
  /** Frames per batch (between health probes and control checks). @default {2000} */
  batch?: number;
  /** Only run this lane (`pow.v2`, `pow-1`, `rest`, `further-link`, `raw`, `wubsub`). */
  lane?: string;
  /** Stop at the first violation. @default {false} */
  failFast?: boolean;
  /** Called after every batch. */
  onProgress?: (progress: FuzzProgress) => void;
  /** Stops the run early. */
  signal?: AbortSignal;
}

/** Progress after a batch. */
export interface FuzzProgress {
  /** Frames sent so far. */
  frames: number;
  /** Violations so far. */
  violations: number;
  /** The server's RSS in bytes. */
  rss: number;
  /** Seconds since the start. */
  seconds: number;
}

/** The outcome of a run. */
export interface FuzzReport {
  /** The seed. */
  seed: number;
  /** Frames sent. */
  frames: number;
  /** Seconds the run took (server start and stop excluded). */
  seconds: number;
  /** Frames per second. */
  framesPerSecond: number;
  /** Frames sent per lane and class (`lane/class`). */
  classes: Record<string, number>;
  /** Control output verified byte for byte. */
  controlBytes: number;
  /** Health probes that passed. */
  probes: number;
  /** The server's RSS (bytes): first sample, last, highest. */
  rss: { first: number; last: number; max: number };
  /** What went wrong. */
  violations: Violation[];
}

/**
 * The config the fuzzed server runs: small limits so that limits are reached quickly, short
 * linger times so that fuzz sessions go away, and further-link enabled.
 *
 * @param workDir The further-link work directory.
 * @returns The YAML text.
 */
export function fuzzConfig(workDir: string): string {
  return `# Written by tools/fuzz.ts
server: { host: 127.0.0.1, port: 0 }
sessions: { linger: 3s, killGrace: 1s, max: 100000 }
pow1: { maxMessage: 64KiB, callDeadline: 1s, restExpiry: 3s }
limits: { startsPerMinute: 10000000, connections: 100000, connectionsPerAddress: 100000 }
furtherLink:
  enabled: true
  workDir: ${JSON.stringify(workDir)}
  runners: { shell: cat, python3: count }
processes:
  cat: { command: [cat] }
  count:
    command: [seq, "1", "{1}"]
    params: [{ name: n, pattern: "[0-9]{1,7}" }]
`;
}

/**
 * Runs the fuzzer against a fresh server subprocess.
 *
 * @example A short run
 * ```ts ignore
 * import { fuzz } from "./fuzz.ts";
 *
 * const report = await fuzz({ frames: 5000, seed: 42 });
 * if (report.violations.length > 0) throw new Error(JSON.stringify(report.violations[0]));
 * ```
 *
 * @param options Frames, seed, lane and progress.
 * @returns The report.
 */
export async function fuzz(options: FuzzOptions = {}): Promise<FuzzReport> {
  const total = options.frames ?? 1_000_000;
  const seed = options.seed ?? 1;
  const batchSize = options.batch ?? 2000;
  const dir = await Deno.makeTempDir({ prefix: "pow-fuzz-" });
  const configFile = `${dir}/pow.yaml`;
  await Deno.writeTextFile(configFile, fuzzConfig(`${dir}/work`));
  const server = await startServerProcess(configFile);
  const abort = new AbortController();
  options.signal?.addEventListener("abort", () => abort.abort(), { once: true });
  const context: FuzzContext = {
    server,
    seed,
    violations: [],
    counts: new Map(),
    signal: abort.signal,
  };
  const root = new Rng(seed);
  const chosen = LANES.filter(([factory]) => !options.lane || laneName(factory) === options.lane);
  if (chosen.length === 0) throw new TypeError(`Unknown lane "${options.lane}"`);
  const weight = chosen.reduce((sum, [, w]) => sum + w, 0);
  const lanes: { lane: Lane; share: number }[] = chosen.map(([factory, w]) => {
    const lane = factory(context, root.fork(laneName(factory)));
    return { lane, share: w / weight };
  });
  const rss = { first: server.rss(), last: 0, max: 0 };
  let probes = 0;
  let sent = 0;
  const started = performance.now();
  let ended = started;
  try {
    for (const { lane } of lanes) await lane.open();
    while (sent < total && !abort.signal.aborted) {
      const size = Math.min(batchSize, total - sent);
      // Lanes run side by side; each gets its share of the batch.
      await Promise.all(
        lanes.map(({ lane, share }) => lane.batch(Math.max(1, Math.round(size * share)))),
      );
      sent += size;
      await Promise.all(lanes.map(({ lane }) => lane.check()));
      const ok = await probe(server.url);
      if (!ok || !server.alive) {
        context.violations.push({
          lane: "server",
          seed,
          frame: sent,
          cls: "health",
          sent: "GET /api/v2/processes",
          expected: "200 while the server runs",
          got: server.alive ? "no 200" : `the server exited: ${server.stderr.slice(-2000)}`,
        });
        break;
      }
      probes++;
      const now = server.rss();
      rss.last = now;
      rss.max = Math.max(rss.max, now);
      if (options.failFast && context.violations.length > 0) break;
      options.onProgress?.({
        frames: sent,
        violations: context.violations.length,
        rss: now,
        seconds: (performance.now() - started) / 1000,
      });
    }
    ended = performance.now();
  } finally {
    for (const { lane } of lanes) await lane.close().catch(() => {});
    await server.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  const seconds = (ended - started) / 1000;
  return {
    seed,
    frames: sent,
    seconds,
    framesPerSecond: Math.round(sent / seconds),
    classes: Object.fromEntries([...context.counts].sort()),
    controlBytes: lanes.reduce((sum, { lane }) => sum + lane.controlBytes, 0),
    probes,
    rss,
    violations: context.violations,
  };
}

function laneName(factory: LaneFactory): string {
  return ({
    v2Lane: "pow.v2",
    pow1Lane: "pow-1",
    restLane: "rest",
    furtherLinkLane: "further-link",
    rawLane: "raw",
    wubsubLane: "wubsub",
  } as Record<string, string>)[factory.name] ?? factory.name;
}

async function probe(url: URL): Promise<boolean> {
  try {
    const response = await fetch(new URL("api/v2/processes", url), {
      signal: AbortSignal.timeout(10_000),
    });
    await response.body?.cancel();
    return response.status === 200;
  } catch {
    return false;
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      frames: { type: "string" },
      seed: { type: "string" },
      batch: { type: "string" },
      lane: { type: "string" },
      "fail-fast": { type: "boolean" },
      json: { type: "boolean" },
    },
  });
  const frames = values.frames === undefined
    ? 1_000_000
    : Number(values.frames.replaceAll("_", ""));
  const seed = values.seed === undefined ? 1 : Number(values.seed);
  const mb = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
  let last = 0;
  const result = await fuzz({
    frames,
    seed,
    batch: values.batch ? Number(values.batch) : undefined,
    lane: values.lane,
    failFast: values["fail-fast"],
    onProgress(p) {
      if (p.seconds - last < 5 && p.frames < frames) return;
      last = p.seconds;
      console.error(
        `fuzz: ${p.frames} frames, ${Math.round(p.frames / p.seconds)}/s, ` +
          `${p.violations} violations, server RSS ${mb(p.rss)}`,
      );
    },
  });
  if (values.json) console.log(JSON.stringify(result, null, 2));
  else {
    console.log(
      `seed ${result.seed}: ${result.frames} frames in ${result.seconds.toFixed(1)} s ` +
        `(${result.framesPerSecond} frames/s), ${result.probes} health probes, ` +
        `${result.controlBytes} control bytes verified, server RSS first ${mb(result.rss.first)} ` +
        `last ${mb(result.rss.last)} max ${
          mb(result.rss.max)
        }, ${result.violations.length} violations`,
    );
    for (const v of result.violations.slice(0, 20)) {
      console.log(
        `VIOLATION lane ${v.lane} frame ${v.frame} (${v.cls}), seed ${v.seed}: sent ${v.sent}; expected ${v.expected}; got ${v.got}`,
      );
    }
  }
  Deno.exit(result.violations.length > 0 ? 1 : 0);
}
