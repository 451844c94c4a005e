/**
 * The process ledger: a state file per server process that records the process groups of its
 * running commands, so that a server started after a crash (`kill -9`, out of memory) can end
 * what the dead one left running.
 *
 * Design, decided by measurement (docs/reliability.md, "Orphans"):
 *
 * - Every command already runs in its own session and process group, so one `kill(-pgid)`
 *   reaches it and everything it started that stayed in the group.
 * - The ledger is an append-only file, `<stateDir>/<pid>.ledger`: a header
 *   `pow-ledger <pid> <start time> <boot id>` and then `+<pgid> <start time>` when a group is
 *   started and `-<pgid>` when it has ended. Lines are appended in batches (one short write
 *   for what started and ended in {@linkcode LEDGER_DELAY_MS}), never a rewrite of the whole
 *   file; it is compacted when it grows past its live entries.
 * - Processes are read from `/proc`, which Deno 2.9 reads only with `--allow-all`; a server with
 *   a scoped `--allow-run` list reads them with `ps` instead (start times good to a second).
 * - At start, {@linkcode sweepLedgers} reads every ledger in the directory. A ledger whose
 *   server is still running (same pid and the same start time in `/proc/<pid>/stat`) is left
 *   alone; one written before the last boot is deleted. For a dead server's groups still
 *   listed, every process of the group gets SIGKILL, but only when the group's leader, if
 *   still present, has the recorded start time and no member started before it: a pid that
 *   was reused by an unrelated process is never signalled.
 * - The kernel's parent-death signal (`PR_SET_PDEATHSIG`) is not used: Deno spawns children
 *   from a thread pool, and the signal fires when the spawning *thread* exits, not the server;
 *   it reaches only the direct child and needs `prctl` between fork and exec, which Deno does
 *   not offer (FFI cannot run in the child). cgroup v2 `cgroup.kill` needs a delegated,
 *   writable cgroup, which typical container and desktop setups do not give.
 *
 * What remains possible: a descendant that calls `setsid` itself leaves the group and is not
 * swept, and a group started less than {@linkcode LEDGER_DELAY_MS} before a crash is missed:
 * groups are written in batches that long after their spawn, so that a quick command costs
 * no ledger work at all (reading the leader's start time right after a spawn waits while the
 * child execs, 0.6-0.9 ms measured, and a write per spawn and per exit cost more than the rest
 * of the bookkeeping; see docs/benchmarks.md).
 *
 * @module
 */

import { join } from "./_posix_path.ts";
import { signalNow } from "./signals.ts";

/** Options for {@linkcode ProcessLedger.open}. */
export interface ProcessLedgerOptions {
  /** Sweep dead servers' ledgers before opening. @default {true} */
  sweep?: boolean;
}

/** What {@linkcode sweepLedgers} did. */
export interface SweepReport {
  /** Ledgers of dead servers that were read and removed. */
  ledgers: number;
  /** Process groups that still had running members and were killed. */
  groups: number;
  /** Processes sent SIGKILL. */
  processes: number;
}

interface ProcStat {
  pid: number;
  pgrp: number;
  state: string;
  start: string;
}

function readStat(pid: number | string): ProcStat | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return undefined;
  }
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return { pid: Number(pid), state: fields[0], pgrp: Number(fields[2]), start: fields[19] };
}

/**
 * Where the ledger reads processes, decided once: `/proc` (which Deno 2.9 reads only with
 * `--allow-all`), else the `ps` program when the server may run it (a scoped `--allow-run`
 * list with `ps`), else nowhere (no ledger). Start times from `/proc` are clock ticks since
 * boot; from `ps` they are `s<seconds since the epoch>`, good to a second, and compared with
 * {@linkcode sameStart}. A ledger written with the other kind is left alone.
 */
let source: "proc" | "ps" | undefined | null = null;

function processSource(): "proc" | "ps" | undefined {
  if (source === null) {
    source = readStat(Deno.pid) ? "proc" : psProcesses(["-p", String(Deno.pid)]) ? "ps" : undefined;
  }
  return source;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/**
 * The seconds since the epoch of a `ps -o lstart` time printed in UTC and the C locale. `ps`
 * computes it from the boot time and the process's start in clock ticks, so every reading of
 * one process gives the same second, however long the run of `ps` took. (An age, `etimes`, had to
 * be subtracted from the time of the run: two readings of one process could then differ by more
 * than the two seconds {@linkcode sameStart} allows when runs of `ps` were slow, and a crashed
 * server's group be taken for a reused pid and left running.)
 *
 * @example
 * ```ts
 * import { lstartSeconds } from "./process_ledger.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(lstartSeconds("Fri Nov 27 06:18:24 2026"), Date.UTC(2026, 10, 27, 6, 18, 24) / 1000);
 * assert.equal(lstartSeconds("Fri Nov 27 2026"), undefined);
 * ```
 *
 * @param text The time, e.g. `Fri Nov 27 06:18:24 2026`.
 * @returns The seconds, or `undefined` when the text is not such a time.
 */
export function lstartSeconds(text: string): number | undefined {
  const match = /^[A-Z][a-z]{2} ([A-Z][a-z]{2}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/.exec(
    text.trim(),
  );
  const month = match ? MONTHS.indexOf(match[1]) : -1;
  if (!match || month < 0) return undefined;
  const [day, hours, minutes, seconds, year] = match.slice(2).map(Number);
  return Date.UTC(year, month, day, hours, minutes, seconds) / 1000;
}

/** Runs `ps` for pid, pgid, state and start; `undefined` when it may not or cannot run. */
function psProcesses(select: string[]): ProcStat[] | undefined {
  try {
    if (Deno.permissions.querySync({ name: "run", command: "ps" }).state !== "granted") {
      return undefined;
    }
    const { stdout } = new Deno.Command("ps", {
      args: [...select, "-o", "pid=,pgid=,stat=,lstart="],
      env: { TZ: "UTC", LC_ALL: "C" },
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).outputSync();
    const found: ProcStat[] = [];
    for (const line of new TextDecoder().decode(stdout).split("\n")) {
      const match = /^\s*(\d+)\s+(\d+)\s+(\S+)\s+(.+)$/.exec(line);
      const start = match ? lstartSeconds(match[4]) : undefined;
      if (!match || start === undefined) continue;
      found.push({
        pid: Number(match[1]),
        pgrp: Number(match[2]),
        state: match[3][0],
        start: `s${start}`,
      });
    }
    return found;
  } catch {
    return undefined;
  }
}

/** The start times of processes (those still running), read in one go. */
function startTimes(pids: readonly number[]): Map<number, string> {
  const times = new Map<number, string>();
  if (pids.length === 0) return times;
  if (processSource() === "ps") {
    for (const p of psProcesses(["-p", pids.join(",")]) ?? []) times.set(p.pid, p.start);
    return times;
  }
  for (const pid of pids) {
    const start = readStat(pid)?.start;
    if (start !== undefined) times.set(pid, start);
  }
  return times;
}

/** Whether two recorded start times are the same process's (a `ps` one is good to a second). */
function sameStart(a: string, b: string): boolean {
  if (a.startsWith("s") !== b.startsWith("s")) return false;
  if (!a.startsWith("s")) return a === b;
  return Math.abs(Number(a.slice(1)) - Number(b.slice(1))) <= 2;
}

/** Whether a process started before the recorded start time of its group's leader. */
function startedBefore(start: string, leader: string): boolean {
  if (leader === "" || start.startsWith("s") !== leader.startsWith("s")) return false;
  if (!leader.startsWith("s")) return BigInt(start) < BigInt(leader);
  return Number(start.slice(1)) < Number(leader.slice(1)) - 2;
}

let boot: string | undefined;

/** This boot's id, read once (with `ps`, each read is a run of it). */
function bootId(): string {
  if (boot !== undefined) return boot;
  if (processSource() === "ps") {
    // The start of pid 1: a new boot (or a new container) has a new one.
    const init = startTimes([1]).get(1);
    return boot = init ? `boot-${init}` : "unknown";
  }
  try {
    return boot = Deno.readTextFileSync("/proc/sys/kernel/random/boot_id").trim();
  } catch {
    return boot = "unknown";
  }
}

/** Whether two boot ids are the same boot (`ps` ones are good to a second). */
function sameBoot(a: string, b: string): boolean {
  if (a.startsWith("boot-s") && b.startsWith("boot-s")) return sameStart(a.slice(5), b.slice(5));
  return a === b;
}

/**
 * The start time of a process (clock ticks since boot from `/proc/<pid>/stat`, or
 * `s<seconds since the epoch>` from `ps`).
 *
 * @param pid The process id.
 * @returns The start time, or `undefined` when there is no such process.
 */
export function processStartTime(pid: number): string | undefined {
  return startTimes([pid]).get(pid);
}

/**
 * The default state directory: `/tmp/pow-<uid>`.
 *
 * @returns The directory, or `undefined` when the uid cannot be read.
 */
export function defaultStateDir(): string | undefined {
  try {
    return `/tmp/pow-${Deno.uid()}`;
  } catch {
    return undefined;
  }
}

/**
 * Makes the state directory (mode 0700) and checks it is a real directory of this user, not a
 * symlink someone else planted in a shared `/tmp`.
 *
 * @param dir The directory.
 * @throws {Error} When it is not a private directory of this user.
 */
function ensurePrivateDir(dir: string): void {
  try {
    Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
  }
  const info = Deno.lstatSync(dir);
  if (!info.isDirectory || info.isSymlink) {
    throw new Error(`State directory "${dir}" is not a directory`);
  }
  let uid: number | null = null;
  try {
    uid = Deno.uid();
  } catch {
    uid = null;
  }
  if (uid !== null && info.uid !== uid) {
    throw new Error(`State directory "${dir}" belongs to uid ${info.uid}, not ${uid}`);
  }
}

/**
 * Ends the process groups that servers which are no longer running left in their ledgers.
 *
 * @example
 * ```ts
 * import { sweepLedgers } from "./process_ledger.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * // A server (pid 1 is init, never a pow server, so its "start time" does not match) left
 * // group 2147483000 (no such group exists): the ledger is read and removed, nothing killed.
 * Deno.writeTextFileSync(`${dir}/1.ledger`, `pow-ledger 1 0 x\n+2147483000 5\n`);
 * assert.deepEqual(sweepLedgers(dir), { ledgers: 1, groups: 0, processes: 0 });
 * assert.deepEqual([...Deno.readDirSync(dir)], []);
 * await Deno.remove(dir);
 * ```
 *
 * @param dir The state directory.
 * @returns What was swept.
 */
export function sweepLedgers(dir: string): SweepReport {
  const report: SweepReport = { ledgers: 0, groups: 0, processes: 0 };
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch {
    return report;
  }
  const thisBoot = bootId();
  let byGroup: Map<number, ProcStat[]> | undefined;
  for (const entry of entries) {
    if (!entry.isFile || !/^\d+\.ledger$/.test(entry.name)) continue;
    const file = join(dir, entry.name);
    let text: string;
    try {
      text = Deno.readTextFileSync(file);
    } catch {
      continue;
    }
    const [header, ...lines] = text.split("\n");
    const [magic, pid, start, recordedBoot] = header.split(" ");
    if (magic !== "pow-ledger") continue;
    // Written with the other source of start times (/proc or ps): not comparable, left alone.
    if (recordedBoot.startsWith("boot-s") !== thisBoot.startsWith("boot-s")) continue;
    const booted = sameBoot(recordedBoot, thisBoot);
    // A live server keeps its ledger (same pid, same start time, same boot).
    const serverStart = Number(pid) === Deno.pid ? undefined : processStartTime(Number(pid));
    if (booted && serverStart !== undefined && sameStart(serverStart, start)) continue;
    if (booted && Number(pid) === Deno.pid) continue;
    const live = new Map<number, string>();
    for (const line of lines) {
      const match = /^([+-])(\d+)(?: (s?\d+))?$/.exec(line);
      if (!match) continue;
      if (match[1] === "+") live.set(Number(match[2]), match[3] ?? "");
      else live.delete(Number(match[2]));
    }
    if (booted && live.size > 0) {
      byGroup ??= groupsInProc();
      for (const [pgid, started] of live) {
        const members = (byGroup.get(pgid) ?? []).filter((p) => p.state !== "Z");
        if (members.length === 0) continue;
        const leader = members.find((p) => p.pid === pgid);
        if (leader && !sameStart(leader.start, started)) continue; // the pid was reused
        if (members.some((p) => startedBefore(p.start, started))) continue;
        // The members, then the group (one that joined meanwhile): gone ones are skipped.
        const killed = signalNow(members.map((p) => p.pid), "SIGKILL");
        signalNow([-pgid], "SIGKILL");
        if (killed > 0) {
          report.groups++;
          report.processes += killed;
        }
      }
    }
    try {
      Deno.removeSync(file);
    } catch {
      // another server swept it first
    }
    report.ledgers++;
  }
  return report;
}

function procProcesses(): ProcStat[] {
  const all: ProcStat[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const stat = readStat(entry.name);
    if (stat) all.push(stat);
  }
  return all;
}

function groupsInProc(): Map<number, ProcStat[]> {
  const groups = new Map<number, ProcStat[]>();
  const all = processSource() === "ps" ? psProcesses(["-e"]) ?? [] : procProcesses();
  for (const stat of all) {
    const list = groups.get(stat.pgrp);
    if (list) list.push(stat);
    else groups.set(stat.pgrp, [stat]);
  }
  return groups;
}

/**
 * The ledger of this server process: records each command's process group while it runs.
 *
 * @example
 * ```ts
 * import { ProcessLedger } from "./process_ledger.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const ledger = ProcessLedger.open(dir);
 * ledger.add(Deno.pid);
 * assert.match(Deno.readTextFileSync(ledger.file), new RegExp(`\\n\\+${Deno.pid} \\d+\\n$`));
 * ledger.remove(Deno.pid);
 * ledger.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class ProcessLedger {
  #file: Deno.FsFile;
  #path: string;
  #live = new Map<number, string>();
  #lines = 0;
  #header: string;
  #encoder = new TextEncoder();

  private constructor(path: string, file: Deno.FsFile, header: string) {
    this.#path = path;
    this.#file = file;
    this.#header = header;
  }

  /**
   * Opens this server process's ledger in a state directory, after sweeping the ledgers of
   * servers that are no longer running.
   *
   * @param dir The state directory (created with mode 0700).
   * @param options Whether to sweep.
   * @returns The ledger, and what the sweep did.
   */
  static open(dir: string, options: ProcessLedgerOptions = {}): ProcessLedger & {
    swept: SweepReport;
  } {
    // Deno 2.9 reads /proc only with --allow-all; without it and without ps a ledger could
    // neither tell a live server from a dead one nor find a group's members, so it is not used
    // at all (and the ledgers of other servers are left for one that can).
    if (processSource() === undefined) {
      throw new Deno.errors.NotCapable(
        "cannot read /proc (Deno allows it only with --allow-all) and may not run ps (add it " +
          "to --allow-run, or turn the ledger off with `server.stateDir: false`)",
      );
    }
    ensurePrivateDir(dir);
    const swept = options.sweep === false
      ? { ledgers: 0, groups: 0, processes: 0 }
      : sweepLedgers(dir);
    const path = join(dir, `${Deno.pid}.ledger`);
    const header = `pow-ledger ${Deno.pid} ${processStartTime(Deno.pid) ?? 0} ${bootId()}\n`;
    Deno.writeTextFileSync(path, header, { mode: 0o600 });
    const file = Deno.openSync(path, { append: true });
    return Object.assign(new ProcessLedger(path, file, header), { swept });
  }

  /** The path of the ledger file. */
  get file(): string {
    return this.#path;
  }

  /**
   * Records a running process group.
   *
   * @param pgid The group id (the leader's pid).
   * @param start The leader's start time, when the caller has read it (`""` when unknown).
   */
  add(pgid: number, start: string = processStartTime(pgid) ?? ""): void {
    this.#live.set(pgid, start);
    this.#write(`+${pgid} ${start}\n`);
  }

  /**
   * Records that a process group has ended.
   *
   * @param pgid The group id.
   */
  remove(pgid: number): void {
    if (!this.#live.delete(pgid)) return;
    this.#write(`-${pgid}\n`);
    if (this.#lines > 1024 && this.#lines > 4 * this.#live.size) this.#compact();
  }

  /**
   * Records groups that started and groups that ended, in one write.
   *
   * @param added The groups started, each with its leader's start time (`""` when unknown).
   * @param removed The groups that ended.
   */
  update(added: readonly [number, string][], removed: readonly number[]): void {
    let text = "";
    for (const [pgid, start] of added) {
      this.#live.set(pgid, start);
      text += `+${pgid} ${start}\n`;
    }
    for (const pgid of removed) {
      if (this.#live.delete(pgid)) text += `-${pgid}\n`;
    }
    if (text === "") return;
    this.#write(text, added.length + removed.length);
    if (this.#lines > 1024 && this.#lines > 4 * this.#live.size) this.#compact();
  }

  /** Closes and deletes the ledger (on a clean shutdown, once every group has ended). */
  close(): void {
    try {
      this.#file.close();
    } catch {
      // already closed
    }
    if (this.#live.size === 0) {
      try {
        Deno.removeSync(this.#path);
      } catch {
        // already gone
      }
    }
  }

  #write(text: string, lines = 1): void {
    try {
      const bytes = this.#encoder.encode(text);
      let written = 0;
      while (written < bytes.length) written += this.#file.writeSync(bytes.subarray(written));
      this.#lines += lines;
    } catch {
      // A full disk must not stop sessions; the next restart sweeps what was recorded.
    }
  }

  #compact(): void {
    const body = [...this.#live].map(([pgid, start]) => `+${pgid} ${start}\n`).join("");
    const temp = `${this.#path}.tmp`;
    try {
      Deno.writeTextFileSync(temp, this.#header + body, { mode: 0o600 });
      Deno.renameSync(temp, this.#path);
      this.#file.close();
      this.#file = Deno.openSync(this.#path, { append: true });
      this.#lines = this.#live.size;
    } catch {
      // keep appending to the old file
    }
  }
}

let current: ProcessLedger | undefined;
let users = 0;

/**
 * Opens (once per server process) the ledger that {@linkcode recordGroup} writes to.
 *
 * @param dir The state directory.
 * @returns What the sweep at open did, or `undefined` when the ledger was already open.
 */
export function openLedger(dir: string): SweepReport | undefined {
  users++;
  if (current) return undefined;
  const ledger = ProcessLedger.open(dir);
  current = ledger;
  return ledger.swept;
}

/** Closes the ledger once the last server of this process that opened it has stopped. */
export function closeLedger(): void {
  if (users > 0) users--;
  if (users > 0 || !current) return;
  flushGroups();
  current.close();
  current = undefined;
}

/**
 * Milliseconds between a spawn and the ledger write that records its group. Groups are written
 * in batches: a quick command that ends within this time costs the ledger nothing (no read of
 * `/proc`, no write), and many starts share one write.
 */
export const LEDGER_DELAY_MS = 10;

interface PendingGroup {
  pgid: number;
  /** Written to the ledger. */
  added: boolean;
  /** Its end was reported. */
  ended: boolean;
}

let pendingAdds: PendingGroup[] = [];
let pendingRemoves: number[] = [];
let flushTimer: ReturnType<typeof setTimeout> | undefined;

function scheduleFlush(): void {
  if (flushTimer !== undefined) return;
  flushTimer = setTimeout(flushGroups, LEDGER_DELAY_MS);
  Deno.unrefTimer(flushTimer);
}

/**
 * Writes the groups recorded and ended since the last write to the open ledger: a group still
 * running is added with its leader's start time (read now, after its program was exec'd, when
 * the read is quick), a group that ended before it was written is left out.
 */
export function flushGroups(): void {
  clearTimeout(flushTimer);
  flushTimer = undefined;
  const adds = pendingAdds;
  const removes = pendingRemoves;
  pendingAdds = [];
  pendingRemoves = [];
  const ledger = current;
  if (!ledger) return;
  const running = adds.filter((group) => !group.ended);
  const starts = startTimes(running.map((group) => group.pgid));
  const added: [number, string][] = [];
  for (const group of running) {
    group.added = true;
    added.push([group.pgid, starts.get(group.pgid) ?? ""]);
  }
  ledger.update(added, removes);
}

/**
 * Records a process group in the open ledger, if any. The record is written within
 * {@linkcode LEDGER_DELAY_MS} (see {@linkcode flushGroups}).
 *
 * @param pgid The group id.
 * @returns A function that records its end.
 */
export function recordGroup(pgid: number): () => void {
  if (!current) return () => {};
  const group: PendingGroup = { pgid, added: false, ended: false };
  pendingAdds.push(group);
  scheduleFlush();
  return () => {
    if (group.ended) return;
    group.ended = true;
    if (group.added) {
      pendingRemoves.push(pgid);
      scheduleFlush();
    }
  };
}
