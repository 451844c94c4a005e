/**
 * Signal numbers of Linux, by name: what a process result's `signal` (e.g. `"SIGTERM"`) means as a
 * number, for exit codes (a shell's 128 + N, further-link's -N).
 *
 * @module
 */

/** Linux signal numbers by name. */
export const SIGNAL_NUMBERS: Readonly<Record<string, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGIOT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGSTKFLT: 16,
  SIGCHLD: 17,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGTSTP: 20,
  SIGTTIN: 21,
  SIGTTOU: 22,
  SIGURG: 23,
  SIGXCPU: 24,
  SIGXFSZ: 25,
  SIGVTALRM: 26,
  SIGPROF: 27,
  SIGWINCH: 28,
  SIGIO: 29,
  SIGPOLL: 29,
  SIGPWR: 30,
  SIGSYS: 31,
};

/**
 * The number of a signal named in a process result: a name (`"SIGTERM"`), a real-time signal
 * (`"SIGRTMIN+3"`) or a bare number (`"15"`, `"SIG15"`, `"signal 15"`).
 *
 * @example
 * ```ts
 * import { signalNumber } from "./signals.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(signalNumber("SIGSEGV"), 11);
 * assert.equal(signalNumber("SIGRTMIN+2"), 36);
 * assert.equal(signalNumber("signal 9"), 9);
 * assert.equal(signalNumber("SIGNOPE"), undefined);
 * ```
 *
 * @param signal The signal as a result names it.
 * @returns Its number, or `undefined` when it names none.
 */
export function signalNumber(signal: string): number | undefined {
  if (Object.hasOwn(SIGNAL_NUMBERS, signal)) return SIGNAL_NUMBERS[signal];
  const realtime = /^SIGRTMIN\+(\d+)$/.exec(signal);
  if (realtime) return 34 + Number(realtime[1]);
  const numeric = /^(?:SIG|signal )?(\d+)$/.exec(signal);
  return numeric ? Number(numeric[1]) : undefined;
}
