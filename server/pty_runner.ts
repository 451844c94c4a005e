/**
 * The pseudo-terminal runner: starts a command in a pty through `npm:@lydell/node-pty`, in its
 * own session and process group. Loaded lazily, only when a client asks for a terminal.
 *
 * stdout carries everything the terminal shows (a pty has no separate stderr). Closing input
 * sends end-of-file (Ctrl-D, `\x04`) the way a terminal user would. Output is paused while the
 * output log is full, so the child blocks on the terminal like it would on a pipe.
 *
 * @module
 */

import { spawn } from "@lydell/node-pty";
import { expandTemplate } from "./params.ts";
import type { ProcessDefinition } from "./process.ts";
import {
  childEnv,
  currentDirectory,
  type ExitInfo,
  type RunningProcess,
  type RunOptions,
} from "./runner.ts";
import { endGroup, signalGroup } from "./signals.ts";

const SIGNALS: Record<number, string> = {
  1: "SIGHUP",
  2: "SIGINT",
  3: "SIGQUIT",
  6: "SIGABRT",
  9: "SIGKILL",
  13: "SIGPIPE",
  14: "SIGALRM",
  15: "SIGTERM",
};

/**
 * Starts a command process in a pseudo-terminal.
 *
 * @param definition The process; it must be a command.
 * @param options Params, caller, output sink and the terminal size.
 * @returns The running process.
 */
export function startPty(
  definition: ProcessDefinition,
  options: RunOptions,
): Promise<RunningProcess> {
  if (definition.kind !== "command") {
    return Promise.reject(new TypeError("Cannot start a pseudo-terminal for a function process"));
  }
  const [program, ...args] = expandTemplate(definition.command, options.params);
  const env = childEnv(definition.env, options.trace);
  env.TERM ??= "xterm-256color";
  const pty = spawn(program, args, {
    cols: options.pty?.cols ?? 80,
    rows: options.pty?.rows ?? 24,
    // The server's own directory; "." (which the child inherits) when the server may not read
    // its path (scoped --allow-read).
    cwd: definition.cwd ?? currentDirectory() ?? ".",
    env,
    encoding: null,
    uid: definition.uid,
    gid: definition.gid,
  });
  const pid = pty.pid;
  let pending = Promise.resolve();
  let closed = false;
  pty.onData((data: unknown) => {
    const bytes = typeof data === "string"
      ? new TextEncoder().encode(data)
      : new Uint8Array(data as Uint8Array);
    pty.pause();
    pending = pending.then(() => options.output.write("stdout", bytes)).then(
      () => {
        if (!closed) pty.resume();
      },
      () => {},
    );
  });
  const exited = new Promise<ExitInfo>((resolve) => {
    pty.onExit(({ exitCode, signal }) => {
      closed = true;
      void endGroup(pid, options.killGrace);
      pending.then(() =>
        resolve(signal ? { signal: SIGNALS[signal] ?? `signal ${signal}` } : { code: exitCode })
      );
    });
  });
  return Promise.resolve({
    pid,
    write: (data) => {
      if (closed) return Promise.reject(new TypeError("the terminal is closed"));
      pty.write(new TextDecoder().decode(data));
      return Promise.resolve();
    },
    closeInput: () => {
      if (!closed) pty.write("\x04");
      return Promise.resolve();
    },
    kill: (signal) => void signalGroup(pid, signal),
    resize: (cols, rows) => {
      if (!closed) pty.resize(cols, rows);
    },
    exited,
  });
}
