/**
 * Runs a pow server as a subprocess (`deno run -A main.ts --config FILE --port 0`) for the
 * fuzzer and the soak: they can then tell whether it stays up, and measure its memory.
 *
 * @module
 */

import { fileURLToPath } from "node:url";

/** A pow server running in a subprocess. */
export interface ServerProcess extends AsyncDisposable {
  /** The base URL, e.g. `http://127.0.0.1:41234/`. */
  readonly url: URL;
  /** The same URL with the `ws:` scheme. */
  readonly wsUrl: URL;
  /** The server's pid. */
  readonly pid: number;
  /** Whether the process is still running. */
  readonly alive: boolean;
  /** What the server wrote on stderr so far (the last 64 KiB). */
  readonly stderr: string;
  /** @returns The server's resident set size in bytes (`VmRSS`), or 0 once it is gone. */
  rss(): number;
  /** Stops the server with SIGTERM (SIGKILL after 10 s) and waits for it. */
  stop(): Promise<Deno.CommandStatus>;
}

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));

/**
 * Starts `main.ts` with a config file on a free port of 127.0.0.1.
 *
 * @param configFile The YAML config.
 * @returns The running server, once it listens.
 */
export async function startServerProcess(configFile: string): Promise<ServerProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "--config", configFile, "--port", "0", "--host", "127.0.0.1"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let alive = true;
  let stderr = "";
  const status = child.status.then((s) => {
    alive = false;
    return s;
  });
  const errDone = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({
      write(text) {
        stderr = (stderr + text).slice(-65536);
      },
    }),
  ).catch(() => {});
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  let url: URL | undefined;
  while (!url) {
    const { value, done } = await Promise.race([
      lines.read(),
      status.then(() => ({ value: undefined, done: true })),
    ]);
    if (done) {
      await errDone;
      throw new Error(`The server did not start: ${stderr || out}`);
    }
    out += value;
    const match = /Listening on (\S+)/.exec(out);
    if (match) url = new URL(match[1]);
  }
  // Keep draining stdout so that the server never blocks on it.
  const outDone = (async () => {
    while (!(await lines.read()).done) { /* discard */ }
  })().catch(() => {});
  let stopping: Promise<Deno.CommandStatus> | undefined;
  const stop = () =>
    stopping ??= (async () => {
      if (alive) {
        try {
          child.kill("SIGTERM");
        } catch { /* gone */ }
      }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
      }, 10_000);
      const s = await status;
      clearTimeout(timer);
      await Promise.all([outDone, errDone]);
      return s;
    })();
  return {
    url: url!,
    wsUrl: new URL(url!.href.replace(/^http/, "ws")),
    pid: child.pid,
    get alive() {
      return alive;
    },
    get stderr() {
      return stderr;
    },
    rss() {
      try {
        const text = Deno.readTextFileSync(`/proc/${child.pid}/status`);
        return Number(/VmRSS:\s+(\d+) kB/.exec(text)?.[1] ?? 0) * 1024;
      } catch {
        return 0;
      }
    },
    stop,
    async [Symbol.asyncDispose]() {
      await stop();
    },
  };
}
