/**
 * Test helpers that look at `/proc`: which processes belong to a process session (a pow
 * command runs in its own session, whose id is the leader's pid), and waiting for them to go.
 *
 * @module
 */

/** A process found in `/proc`. */
export interface ProcInfo {
  /** The pid. */
  pid: number;
  /** The state letter (R, S, Z, …). */
  state: string;
  /** The command name. */
  comm: string;
}

/** A process and its place in the process tree, as `/proc/<pid>/stat` gives them. */
export interface ProcStat extends ProcInfo {
  /** The parent's pid. */
  ppid: number;
  /** The session id. */
  sid: number;
}

/**
 * Lists every process in `/proc` (zombies included).
 *
 * @returns The processes there now.
 */
export function processes(): ProcStat[] {
  const found: ProcStat[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    let stat: string;
    try {
      stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
    } catch {
      continue;
    }
    const close = stat.lastIndexOf(")");
    const comm = stat.slice(stat.indexOf("(") + 1, close);
    const fields = stat.slice(close + 2).split(" ");
    // fields[0] = state, [1] = ppid, [2] = pgrp, [3] = session
    found.push({
      pid: Number(entry.name),
      state: fields[0],
      comm,
      ppid: Number(fields[1]),
      sid: Number(fields[3]),
    });
  }
  return found;
}

/**
 * Lists the processes (zombies included) whose session id is `sid`.
 *
 * @param sid The session id (the pid of a pow command's leader).
 * @returns The processes still present.
 */
export function sessionMembers(sid: number): ProcInfo[] {
  return processes()
    .filter((p) => p.sid === sid || p.pid === sid)
    .map(({ pid, state, comm }) => ({ pid, state, comm }));
}

/**
 * Lists the warm launchers of a server (docs/config.md, "Warm starts"): its live `sh` children
 * that lead their own session.
 *
 * @param parent The server's pid.
 * @returns Their pids.
 */
export function launchersOf(parent: number): number[] {
  return processes()
    .filter((p) => p.ppid === parent && p.comm === "sh" && p.state !== "Z" && p.sid === p.pid)
    .map((p) => p.pid);
}

/**
 * Waits until no process of session `sid` is left (zombies count as left).
 *
 * @param sid The session id.
 * @param timeout Milliseconds to wait.
 * @throws {Error} Listing the leftovers when time runs out.
 */
export async function waitSessionGone(sid: number, timeout = 5000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (true) {
    const left = sessionMembers(sid);
    if (left.length === 0) return;
    if (Date.now() > deadline) {
      throw new Error(
        `Processes left behind in session ${sid}: ${
          left.map((p) => `${p.pid} ${p.comm} (${p.state})`).join(", ")
        }`,
      );
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
