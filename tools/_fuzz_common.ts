/**
 * What the fuzzer's lanes share: the violation record, the per-class frame counts, and small
 * helpers to describe frames and wait for things.
 *
 * @module
 */

import type { Rng } from "./_rng.ts";
import type { ServerProcess } from "./_server_process.ts";

/** A frame whose answer was not the defined one, or a broken invariant. */
export interface Violation {
  /** The lane (front end) that found it. */
  lane: string;
  /** The run's seed. */
  seed: number;
  /** The lane's frame number (0-based), to replay with `--lane` and `--frames`. */
  frame: number;
  /** The frame class. */
  cls: string;
  /** The frame, as JSON text or hex (cut to 300 characters). */
  sent: string;
  /** The defined answer. */
  expected: string;
  /** What came back. */
  got: string;
}

/** Shared state of one fuzz run. */
export interface FuzzContext {
  /** The server under test. */
  readonly server: ServerProcess;
  /** The run's seed. */
  readonly seed: number;
  /** Violations found so far. */
  readonly violations: Violation[];
  /** Frames sent, by lane and class. */
  readonly counts: Map<string, number>;
  /** Stops the run early (the first violation, with `--fail-fast`). */
  readonly signal: AbortSignal;
  /** The further-link work directory of the server under test. */
  readonly workDir: string;
}

/**
 * Makes the function a lane calls to record a violation: the frame, its class, what was sent,
 * the answer the docs define and what came back.
 *
 * @param context The run.
 * @param lane The lane's name.
 * @returns The recorder.
 */
export function violationRecorder(
  context: FuzzContext,
  lane: string,
): (frame: number, cls: string, sent: string, expected: string, got: string) => void {
  return (frame, cls, sent, expected, got) =>
    void context.violations.push({ lane, seed: context.seed, frame, cls, sent, expected, got });
}

/** One front end under fuzz. */
export interface Lane {
  /** Its name. */
  readonly name: string;
  /** Opens connections and starts the control session(s). */
  open(): Promise<void>;
  /** Sends `frames` fuzz frames and checks every answer. */
  batch(frames: number): Promise<void>;
  /** Checks that the control session's output is intact (writes more input, reads it back). */
  check(): Promise<void>;
  /** Ends the control sessions and closes every connection. */
  close(): Promise<void>;
  /** Bytes of control output verified byte for byte so far. */
  readonly controlBytes: number;
}

/** A lane factory. */
export type LaneFactory = (context: FuzzContext, rng: Rng) => Lane;

/**
 * Describes a frame for a report.
 *
 * @param frame Text or bytes.
 * @returns JSON text, or `hex:` and the bytes, at most 300 characters.
 */
export function describe(frame: string | Uint8Array): string {
  const text = typeof frame === "string"
    ? JSON.stringify(frame)
    : "hex:" + Array.from(frame.subarray(0, 150), (b) => b.toString(16).padStart(2, "0")).join("");
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}

/**
 * Counts a frame of a class.
 *
 * @param context The run.
 * @param lane The lane.
 * @param cls The class.
 */
export function count(context: FuzzContext, lane: string, cls: string): void {
  const key = `${lane}/${cls}`;
  context.counts.set(key, (context.counts.get(key) ?? 0) + 1);
}

/**
 * Resolves after `ms` milliseconds.
 *
 * @param ms Milliseconds.
 */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `check` until it returns something other than `undefined`.
 *
 * @param check The condition.
 * @param timeout Milliseconds.
 * @returns What `check` returned, or `undefined` on timeout.
 */
export async function poll<T>(
  check: () => T | undefined | Promise<T | undefined>,
  timeout: number,
): Promise<T | undefined> {
  const deadline = Date.now() + timeout;
  while (true) {
    const value = await check();
    if (value !== undefined || Date.now() >= deadline) return value;
    await sleep(2);
  }
}

/**
 * Text that `JSON.parse` refuses: a mutation of a JSON message (cut, a byte flipped, a quote
 * dropped) or random characters.
 *
 * @param rng The generator.
 * @returns The text.
 */
export function badJson(rng: Rng): string {
  for (;;) {
    const base = JSON.stringify({ type: rng.pick(["start", "ping", "stdin"]), id: rng.int(99) });
    const r = rng.int(6);
    const text = r === 0
      ? base.slice(0, rng.int(base.length))
      : r === 1
      ? base.replace('"', "")
      : r === 2
      ? base + rng.pick(["}", ",", "x", "]"])
      : r === 3
      ? `{${rng.text(rng.range(0, 40))}`
      : r === 4
      ? rng.pick(["NaN", "undefined", "{'a':1}", "[1,]", '{"a":01}', "\u0000", "", " "])
      : rng.text(rng.range(1, 60));
    try {
      JSON.parse(text);
    } catch {
      return text;
    }
  }
}

/**
 * A JSON value that is not an object.
 *
 * @param rng The generator.
 * @returns Its JSON text.
 */
export function nonObjectJson(rng: Rng): string {
  return rng.pick([
    "null",
    "true",
    "false",
    "0",
    "-1",
    "1e308",
    "1e999",
    "-0",
    "123456789012345678901234567890",
    '"start"',
    "[]",
    '[{"type":"ping"}]',
    "[".repeat(200) + "]".repeat(200),
    JSON.stringify(rng.text(20)),
  ]);
}

/**
 * A value of a random JSON type other than the ones allowed.
 *
 * @param rng The generator.
 * @param not JSON types to avoid: "string", "number", "integer", "boolean", "object", "array", "null".
 * @returns The value.
 */
export function wrongValue(rng: Rng, not: string[]): unknown {
  const choices: [string, () => unknown][] = [
    ["string", () => rng.pick(["", "1", "x", rng.text(5)])],
    ["number", () => rng.pick([1.5, -0.5, 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, 2 ** 64])],
    ["integer", () => rng.pick([-1, -(2 ** 31), 2 ** 53, 2 ** 32])],
    ["boolean", () => rng.chance(0.5)],
    ["object", () => ({ a: rng.int(9) })],
    ["array", () => [rng.int(9)]],
    ["null", () => null],
  ];
  const allowed = choices.filter(([type]) => !not.includes(type));
  return rng.pick(allowed)[1]();
}
