/**
 * Small helpers of the benchmark harness: time limits, percentiles, hashing, pacing.
 *
 * @module
 */

import { createHash, type Hash } from "node:crypto";

/** Thrown when a workload step runs past its time limit. */
export class BenchTimeout extends Error {
  /** @param what The step that timed out. @param ms Its limit. */
  constructor(what: string, ms: number) {
    super(`Timed out after ${ms} ms: ${what}`);
    this.name = "BenchTimeout";
  }
}

/**
 * Waits for a promise, failing after `ms` milliseconds.
 *
 * @param promise What to wait for.
 * @param ms The limit.
 * @param what What is being waited for, for the error message.
 * @returns The promise's value.
 */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new BenchTimeout(what, ms)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Sleeps.
 *
 * @param ms Milliseconds.
 * @returns A promise that resolves after `ms`.
 */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The value at a quantile of sorted-on-demand samples (nearest rank).
 *
 * @param samples The samples.
 * @param q The quantile, 0..1.
 * @returns The sample at that rank, or NaN for no samples.
 */
export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

/** An incremental SHA-256 with a byte count. */
export class Digest {
  #hash: Hash = createHash("sha256");
  /** Bytes (or UTF-8 bytes of text) added so far. */
  bytes = 0;

  /**
   * Adds bytes, or ASCII text (counted one byte per character).
   *
   * @param data What was received.
   */
  add(data: Uint8Array | string): void {
    this.#hash.update(data);
    this.bytes += data.length;
  }

  /** @returns The hex digest; the object cannot be used afterwards. */
  hex(): string {
    return this.#hash.digest("hex");
  }
}

/**
 * Hashes a file with SHA-256.
 *
 * @param path The file.
 * @param limit Hash only this many bytes from the start.
 * @returns The hex digest and the size.
 */
export async function hashFile(
  path: string,
  limit = Infinity,
): Promise<{ sha256: string; bytes: number }> {
  const digest = new Digest();
  const file = await Deno.open(path);
  for await (const chunk of file.readable) {
    const left = limit - digest.bytes;
    digest.add(chunk.length > left ? chunk.subarray(0, left) : chunk);
    if (digest.bytes >= limit) break;
  }
  return { sha256: digest.hex(), bytes: digest.bytes };
}

/**
 * Waits until a WebSocket's send buffer is below `max` bytes (or it is no longer open).
 *
 * @param ws The socket.
 * @param max The most bytes allowed to be waiting.
 */
export async function drained(ws: WebSocket, max: number): Promise<void> {
  for (let i = 0; ws.readyState === WebSocket.OPEN && ws.bufferedAmount > max; i++) {
    await delay(i < 4 ? 0 : 1);
  }
}

/**
 * Runs `task` over `items` with at most `limit` running at once.
 *
 * @param items The inputs.
 * @param limit The concurrency.
 * @param task What to do with each.
 * @returns The results, in order.
 */
export async function pool<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await task(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * Reads a process's resident memory from `/proc/<pid>/status`.
 *
 * @param pid The process.
 * @returns VmRSS in bytes, or NaN when unreadable.
 */
export function rss(pid: number): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const match = status.match(/^VmRSS:\s+(\d+)\s+kB/m);
    return match ? Number(match[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/**
 * Reads the open-files limit of a process from `/proc/<pid>/limits`.
 *
 * @param pid The process (`"self"` for this one).
 * @returns The soft and hard limits.
 */
export function fileLimit(pid: number | "self"): { soft: number; hard: number } {
  try {
    const limits = Deno.readTextFileSync(`/proc/${pid}/limits`);
    const match = limits.match(/^Max open files\s+(\S+)\s+(\S+)/m);
    const n = (s: string | undefined) => (s === "unlimited" ? Infinity : Number(s));
    return { soft: n(match?.[1]), hard: n(match?.[2]) };
  } catch {
    return { soft: NaN, hard: NaN };
  }
}

/**
 * Raises a process's open-files soft limit to its hard limit with `prlimit` (util-linux),
 * when that program is there.
 *
 * @param pid The process.
 * @returns The soft limit afterwards.
 */
export async function raiseFileLimit(pid: number): Promise<number> {
  const { soft, hard } = fileLimit(pid);
  if (!(soft < hard)) return soft;
  try {
    const value = hard === Infinity ? "unlimited" : String(hard);
    await new Deno.Command("prlimit", {
      args: [`--pid=${pid}`, `--nofile=${value}:${value}`],
      stdout: "null",
      stderr: "null",
    }).output();
  } catch {
    // no prlimit: keep the limit we have
  }
  return fileLimit(pid).soft;
}

/**
 * Runs a program and returns its trimmed standard output, or `undefined` when it fails.
 *
 * @param program The program.
 * @param args Its arguments.
 * @returns The output.
 */
export async function capture(program: string, args: string[] = []): Promise<string | undefined> {
  try {
    const out = await new Deno.Command(program, { args, stdout: "piped", stderr: "null" })
      .output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : undefined;
  } catch {
    return undefined;
  }
}
