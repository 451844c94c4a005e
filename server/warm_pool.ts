/**
 * Warm starts for commands (`warm: N` on a command process): a few launchers spawned ahead of
 * the calls, each a shell that is already its own session and process group, waiting on its
 * standard input for the one command it will become. A call takes one, writes the command to
 * it, and the shell `exec`s the program in place: same pid, same group, same pipes. The call
 * skips Deno's spawn, which blocks the server's main thread (longer the larger the server),
 * and the extra exec of `setsid`; the pool refills after the call has been answered.
 *
 * Nothing runs that was not asked for: a launcher only waits, ends when its standard input
 * closes (when the pool is idle for a minute, when the server closes the pool, or when the
 * server dies), and is recorded in the crash ledger like every process group.
 *
 * @module
 */

import { recordGroup } from "./process_ledger.ts";

/** The shell a launcher runs, found in the command's `PATH` (its run permission is checked). */
export const LAUNCHER_SHELL = "sh";

/**
 * What a launcher runs: read a line count, then that many lines, and evaluate them. The lines
 * are made by {@linkcode launchScript} only: `export`s and one `exec` of single-quoted words.
 * `read` takes a pipe's bytes one at a time, so the client's input after them stays unread
 * for the program.
 */
export const LAUNCHER_SCRIPT = [
  "IFS= read -r n || exit 0",
  "s=",
  'while [ "$n" -gt 0 ]; do IFS= read -r l || exit 0; s="$s$l',
  '"; n=$((n-1)); done',
  'eval "$s"',
].join("\n");

/** Idle launchers of a pool not taken for this long are ended. */
export const WARM_IDLE_MS = 60_000;

/**
 * The longest command text a launcher is given; a call with more (long params) starts cold. The
 * shell reads its input a byte at a time (about 0.75 µs a byte here), so past this a warm start
 * would lose what it saves.
 */
export const MAX_WARM_SCRIPT = 512;

/** The most launchers a command may keep warm. */
export const MAX_WARM = 16;

/**
 * Quotes a word for a POSIX shell: single quotes, each `'` as `'\''`. Nothing inside single
 * quotes is expanded, so any text without NUL is passed as it is.
 *
 * @param word The word.
 * @returns The quoted word.
 */
export function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * The text a launcher reads to become a command: the line count, then `export`s of the
 * variables the call adds or changes, then `exec` of the program with its arguments. `PWD`,
 * which the shell exports on its own, is unset unless the call sets it: the program gets the
 * environment a cold start gives it.
 *
 * @param path The program's absolute path.
 * @param args Its arguments.
 * @param env Variables to set for this call only (with `PWD` when the command sets it).
 * @returns The text, or `undefined` when a word holds a NUL (no program can receive one).
 */
export function launchScript(
  path: string,
  args: readonly string[],
  env: Record<string, string> = {},
): string | undefined {
  const words = [path, ...args];
  const entries = Object.entries(env);
  if (words.some((w) => w.includes("\0")) || entries.some(([, v]) => v.includes("\0"))) {
    return undefined;
  }
  let script = "PWD" in env ? "" : "unset PWD\n";
  for (const [name, value] of entries) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) return undefined;
    script += `export ${name}=${shellQuote(value)}\n`;
  }
  script += `exec ${words.map(shellQuote).join(" ")}\n`;
  const lines = script.split("\n").length - 1;
  return `${lines}\n${script}`;
}

/** A launcher: a shell in its own session, waiting for its command. */
export interface Launcher {
  /** The shell; after the `exec`, the program (same pid, same pipes). */
  readonly child: Deno.ChildProcess;
  /** Tells the crash ledger the group has ended. */
  readonly ended: () => void;
}

/** Options for {@linkcode WarmPool}. */
export interface WarmPoolOptions {
  /** Launchers kept ready. */
  size: number;
  /** Spawns one launcher (throws when it cannot). */
  spawn: () => Deno.ChildProcess;
  /** Idle launchers are ended after this long without a take. @default {WARM_IDLE_MS} */
  idleMs?: number;
}

/**
 * Launchers kept ready for one command.
 *
 * @example Warm start of `echo`
 * ```ts
 * import { LAUNCHER_SCRIPT, launchScript, WarmPool } from "./warm_pool.ts";
 * import assert from "node:assert/strict";
 *
 * const pool = new WarmPool({
 *   size: 1,
 *   spawn: () =>
 *     new Deno.Command("/usr/bin/setsid", {
 *       args: ["sh", "-c", LAUNCHER_SCRIPT],
 *       stdin: "piped",
 *       stdout: "piped",
 *     }).spawn(),
 * });
 * pool.fill();
 * const launcher = pool.take()!;
 * const writer = launcher.child.stdin.getWriter();
 * await writer.write(new TextEncoder().encode(launchScript("/usr/bin/echo", ["hi"])));
 * await writer.close();
 * const { stdout } = await launcher.child.output();
 * assert.equal(new TextDecoder().decode(stdout), "hi\n");
 * await pool.close();
 * ```
 */
export class WarmPool {
  #options: WarmPoolOptions;
  #idle: { launcher: Launcher; gone: boolean }[] = [];
  #lastTake = Date.now();
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #fillTimer: ReturnType<typeof setTimeout> | undefined;
  #broken = false;
  #closed = false;
  #ending = new Set<Promise<void>>();

  /**
   * Makes an empty pool; {@linkcode WarmPool.fill} or the first take starts it.
   *
   * @param options Size and how to spawn.
   */
  constructor(options: WarmPoolOptions) {
    this.#options = options;
  }

  /** Launchers ready now. */
  get ready(): number {
    return this.#idle.filter((entry) => !entry.gone).length;
  }

  /**
   * Takes a ready launcher, and schedules the refill for after the current task.
   *
   * @returns The launcher, or `undefined` when none is ready (start the command cold).
   */
  take(): Launcher | undefined {
    if (this.#closed || this.#broken) return undefined;
    this.#lastTake = Date.now();
    let entry = this.#idle.shift();
    while (entry?.gone) entry = this.#idle.shift();
    if (!entry) {
      this.#scheduleFill();
      return undefined;
    }
    // Refilled once this call's process has exited: a spawn blocks the server's main thread,
    // which until then has the call's output to forward.
    entry.launcher.child.status.finally(() => this.#scheduleFill());
    entry.launcher.child.ref();
    return entry.launcher;
  }

  /** Spawns launchers up to the pool's size (a spawn that fails turns the pool off). */
  fill(): void {
    clearTimeout(this.#fillTimer);
    this.#fillTimer = undefined;
    if (this.#closed || this.#broken) return;
    this.#idle = this.#idle.filter((entry) => !entry.gone);
    while (this.#idle.length < this.#options.size) {
      let child: Deno.ChildProcess;
      try {
        child = this.#options.spawn();
      } catch {
        this.#broken = true; // e.g. no permission: calls start cold, as without `warm`
        return;
      }
      child.unref(); // an idle launcher never keeps the server running
      const entry = { launcher: { child, ended: recordGroup(child.pid) }, gone: false };
      // A launcher that ends while idle (killed from outside) is never handed out.
      child.status.then(() => {
        entry.gone = true;
      }, () => {});
      this.#idle.push(entry);
    }
    this.#armIdle();
  }

  /**
   * Ends the idle launchers (their input closes, their shells exit) and takes no more.
   *
   * @returns A promise that resolves when they have exited.
   */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#fillTimer);
    clearTimeout(this.#idleTimer);
    this.#drain();
    await Promise.all(this.#ending);
  }

  #scheduleFill(): void {
    if (this.#fillTimer !== undefined) return;
    // After the current task: the call that took a launcher goes first.
    this.#fillTimer = setTimeout(() => this.fill(), 0);
  }

  #armIdle(): void {
    if (this.#idleTimer !== undefined) return;
    const idleMs = this.#options.idleMs ?? WARM_IDLE_MS;
    const check = () => {
      this.#idleTimer = undefined;
      const quiet = Date.now() - this.#lastTake;
      if (quiet >= idleMs) return this.#drain();
      this.#idleTimer = setTimeout(check, idleMs - quiet);
      Deno.unrefTimer(this.#idleTimer);
    };
    this.#idleTimer = setTimeout(check, idleMs);
    Deno.unrefTimer(this.#idleTimer);
  }

  #drain(): void {
    const idle = this.#idle;
    this.#idle = [];
    for (const { launcher } of idle) {
      const { child, ended } = launcher;
      child.ref(); // whoever waits for the close keeps the process running until it is done
      const ending = (async () => {
        await child.stdin.close().catch(() => {});
        await Promise.all([child.stdout.cancel(), child.stderr.cancel()]).catch(() => {});
        await child.status.catch(() => {});
        ended();
      })();
      this.#ending.add(ending);
      ending.finally(() => this.#ending.delete(ending));
    }
  }
}
