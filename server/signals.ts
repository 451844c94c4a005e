/**
 * Signals to the process groups of commands, with whatever permission the server has.
 *
 * Every command runs in its own process group, and ending it means signalling the whole group
 * (what the command started too). Deno signals an arbitrary process id (`Deno.kill`) only when
 * it has the whole `--allow-run`; a server started with a list of programs
 * (`--allow-run=seq,sh,kill`, what `main.ts permissions` prints and `deno task start` uses)
 * may not. {@linkcode signalMode} tells how this server signals:
 *
 * - `"direct"`: the whole `--allow-run`: `Deno.kill(-pgid)`.
 * - `"program"`: `kill` is in the `--allow-run` list: the `kill` program signals the groups,
 *   one run for every group signalled within {@linkcode KILL_BATCH_MS}.
 * - `"leader"`: neither. A command's own process is still signalled through its child handle
 *   (cancel, timeouts and disconnects end a plain command), but what it started in the
 *   background is out of reach. The server warns about this at startup.
 *
 * @module
 */

/** How this server signals process groups (see the module documentation). */
export type SignalMode = "direct" | "program" | "leader";

/** How long group signals wait to share one run of the `kill` program, in milliseconds. */
export const KILL_BATCH_MS = 5;

let mode: SignalMode | undefined;

/**
 * How this server signals process groups, decided once per server process from its run
 * permission.
 *
 * @example
 * ```ts
 * import { signalMode } from "./signals.ts";
 * import assert from "node:assert/strict";
 *
 * // `deno test -A` has the whole --allow-run.
 * assert.equal(signalMode(), "direct");
 * ```
 *
 * @returns The mode.
 */
export function signalMode(): SignalMode {
  if (mode === undefined) {
    mode = "leader";
    try {
      if (Deno.permissions.querySync({ name: "run" }).state === "granted") mode = "direct";
      else if (Deno.permissions.querySync({ name: "run", command: "kill" }).state === "granted") {
        mode = "program";
      }
    } catch {
      // no permission API (or a denied query): stay with leader
    }
  }
  return mode;
}

/**
 * Sends a signal to a process group at once, ignoring a group that is already gone. Only in
 * `"direct"` mode; otherwise nothing is sent (see {@linkcode signalGroup}).
 *
 * @param pgid The process group id (the leader's pid).
 * @param signal The signal.
 * @returns Whether any process received it.
 */
export function killGroup(pgid: number, signal: Deno.Signal): boolean {
  if (signalMode() !== "direct") return false;
  // A group that is gone is the usual case after an exit: its error needs no stack trace,
  // which is most of what an exception costs in a busy server.
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    Deno.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/**
 * Whether a process group may still have members (zombies count). Known only in `"direct"`
 * mode (signal 0 through `node:process`, which sends nothing); otherwise `true`.
 *
 * `node:process` is imported on the first call: it boots part of Node compatibility (about
 * 1.5 MiB of resident memory), and the question comes up only when a command's pipes outlived
 * it.
 *
 * @example
 * ```ts
 * import { groupAlive } from "./signals.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(await groupAlive(2147483000), false); // no such group (`deno test -A`: direct mode)
 * ```
 *
 * @param pgid The process group id.
 * @returns `false` when the group is certainly gone.
 */
export async function groupAlive(pgid: number): Promise<boolean> {
  if (signalMode() !== "direct") return true;
  const { default: process } = await import("node:process");
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code !== "ESRCH";
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** Groups waiting for the next run of `kill`, by signal. */
const batches = new Map<Deno.Signal, Map<number, ((delivered: boolean) => void)[]>>();

/**
 * Sends a signal to a process group in whatever way the server may: at once in `"direct"`
 * mode, through the `kill` program (batched) in `"program"` mode, not at all in `"leader"` mode.
 *
 * @example
 * ```ts
 * import { signalGroup } from "./signals.ts";
 * import assert from "node:assert/strict";
 *
 * // No such group: nothing received it.
 * assert.equal(await signalGroup(2147483000, "SIGTERM"), false);
 * ```
 *
 * @param pgid The process group id.
 * @param signal The signal.
 * @returns Whether any process received it.
 */
export function signalGroup(pgid: number, signal: Deno.Signal): Promise<boolean> {
  const how = signalMode();
  if (how !== "program") return Promise.resolve(how === "direct" && killGroup(pgid, signal));
  let batch = batches.get(signal);
  if (batch === undefined) {
    batch = new Map();
    batches.set(signal, batch);
    setTimeout(() => void flush(signal), KILL_BATCH_MS);
  }
  const waiting = batch.get(-pgid) ?? [];
  batch.set(-pgid, waiting);
  return new Promise((resolve) => waiting.push(resolve));
}

/**
 * Ends what is left of a group after its leader exited: SIGTERM, then SIGKILL after `grace`
 * when anything received the first.
 *
 * @param pgid The process group id.
 * @param grace Milliseconds between the two signals.
 * @returns A promise that resolves once SIGTERM was sent (SIGKILL follows on a timer).
 */
export async function endGroup(pgid: number, grace: number): Promise<void> {
  if (await signalGroup(pgid, "SIGTERM")) {
    setTimeout(() => void signalGroup(pgid, "SIGKILL"), grace);
  }
}

async function flush(signal: Deno.Signal): Promise<void> {
  const batch = batches.get(signal);
  batches.delete(signal);
  if (batch === undefined) return;
  const failed = await killProgram([...batch.keys()], signal);
  for (const [id, waiting] of batch) for (const resolve of waiting) resolve(!failed.has(id));
}

/**
 * Sends a signal to processes (positive ids) and process groups (negative ids) now, as the
 * server may: `Deno.kill` in `"direct"` mode, one run of the `kill` program in `"program"` mode.
 * What the startup sweep of the process ledger uses.
 *
 * @param ids Process ids, and negated process group ids.
 * @param signal The signal.
 * @returns How many of them received it.
 */
export function signalNow(ids: number[], signal: Deno.Signal): number {
  const how = signalMode();
  if (how === "leader" || ids.length === 0) return 0;
  if (how === "program") {
    const failed = failedIds(ids, () => killCommand(ids, signal).outputSync().stderr);
    return ids.filter((id) => !failed.has(id)).length;
  }
  let delivered = 0;
  for (const id of ids) {
    try {
      Deno.kill(id, signal);
      delivered++;
    } catch {
      // gone
    }
  }
  return delivered;
}

function killCommand(ids: number[], signal: Deno.Signal): Deno.Command {
  // `kill -s TERM -- -123 456`: procps and util-linux both take the name without SIG.
  return new Deno.Command("kill", {
    args: ["-s", signal.slice(3), "--", ...ids.map(String)],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  });
}

async function killProgram(ids: number[], signal: Deno.Signal): Promise<Set<number>> {
  let stderr: Uint8Array | undefined;
  try {
    stderr = (await killCommand(ids, signal).output()).stderr;
  } catch {
    // kill could not run: nothing was delivered
  }
  return failedIds(ids, () => stderr);
}

/** The ids `kill` complained about (each failure names its id); all of them if it did not run. */
function failedIds(ids: number[], run: () => Uint8Array | undefined): Set<number> {
  let text: string;
  try {
    const stderr = run();
    if (stderr === undefined) return new Set(ids);
    text = new TextDecoder().decode(stderr);
  } catch {
    return new Set(ids);
  }
  const named = new Set((text.match(/-?\d+/g) ?? []).map(Number));
  return new Set(ids.filter((id) => named.has(id)));
}
