/**
 * Starting and stopping the servers under test, each as its own process on 127.0.0.1: the
 * pow server (`main.ts`) and websocketd.
 *
 * @module
 */

import { capture, delay, within } from "./_util.ts";

/** A server process under test. */
export interface ServerProcess {
  /** The WebSocket URL clients connect to. */
  readonly url: string;
  /** The server's pid (its own process, children not included). */
  readonly pid: number;
  /** The last lines it wrote to stdout and stderr, for error messages. */
  tail(): string;
  /** Stops it and waits for it (and, for websocketd, its children) to exit. */
  stop(): Promise<void>;
}

const REPO = new URL("../", import.meta.url);

/** Options for {@linkcode startPow}. */
export interface StartPowOptions {
  /** A config file (absolute, or relative to the repository root); none serves the demo config. */
  config?: string;
  /**
   * The script to run instead of `main.ts` (relative to the repository root), e.g. the floor
   * server `bench/floor_server.ts`; it must print the same `Listening on` line.
   */
  script?: string;
  /** Arguments for `script`. */
  scriptArgs?: string[];
  /** Milliseconds to wait for the `Listening on` line. @default {30000} */
  timeout?: number;
  /**
   * V8 flags for the server (`deno run --v8-flags=…`), e.g. `--max-semi-space-size=2`; `""`
   * for none. @default {the bench's `--pow-v8-flags`, else none}
   */
  v8Flags?: string;
}

let defaultV8Flags = "";

/**
 * Sets the V8 flags of every pow server started without its own (the bench's `--pow-v8-flags`).
 *
 * @param flags Comma-separated V8 flags, or `""` for none.
 */
export function setDefaultPowV8Flags(flags: string): void {
  defaultV8Flags = flags;
}

/**
 * The V8 flags `deno task start` gives the server (from `deno.json`), or `""`.
 *
 * @returns The flags, as `--v8-flags=` takes them.
 */
export async function startTaskV8Flags(): Promise<string> {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", REPO)));
  return String(config.tasks?.start ?? "").match(/--v8-flags=(\S+)/)?.[1] ?? "";
}

/**
 * Starts `deno run -A [--v8-flags=…] main.ts [--config FILE] --port 0` and waits for its
 * `Listening on` line.
 *
 * @param options The config.
 * @returns The running server.
 */
export async function startPow(options: StartPowOptions = {}): Promise<ServerProcess> {
  const v8Flags = options.v8Flags ?? defaultV8Flags;
  const args = ["run", "-A", ...(v8Flags ? [`--v8-flags=${v8Flags}`] : [])];
  args.push(
    ...(options.script
      ? [options.script, ...(options.scriptArgs ?? [])]
      : ["main.ts", "--port", "0"]),
  );
  if (options.config) args.push("--config", options.config);
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd: REPO,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const output = new Tail();
  const listening = Promise.withResolvers<string>();
  const watch = async (stream: ReadableStream<Uint8Array>) => {
    let pending = "";
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      output.add(text);
      pending += text;
      const match = pending.match(/Listening on (http:\/\/\S+)/);
      if (match) listening.resolve(match[1]);
      if (pending.length > 4096) pending = pending.slice(-256);
    }
  };
  const drained = Promise.all([watch(child.stdout), watch(child.stderr)]);
  child.status.then((status) =>
    listening.reject(
      new Error(`pow server exited with status ${status.code} before listening:\n${output}`),
    )
  );
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // already gone
    }
    try {
      await within(child.status, 15_000, "pow server shutdown");
    } catch {
      child.kill("SIGKILL");
      await child.status;
    }
    await drained.catch(() => {});
  };
  let http: string;
  try {
    http = await within(listening.promise, options.timeout ?? 30_000, "pow server start");
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url: http.replace(/^http/, "ws"),
    pid: child.pid,
    tail: () => output.toString(),
    stop,
  };
}

/**
 * Finds websocketd and its version.
 *
 * @param program The program name or path.
 * @returns Its version (the Debian package version where known), or `undefined` when missing.
 */
export async function websocketdVersion(program = "websocketd"): Promise<string | undefined> {
  const own = await capture(program, ["--version"]);
  if (own === undefined) return undefined;
  if (program === "websocketd") {
    const deb = await capture("dpkg-query", ["-W", "-f", "${Version}", "websocketd"]);
    if (deb) return `${deb} (Debian package; ${own})`;
  }
  return own;
}

/**
 * Picks a free TCP port on 127.0.0.1 by binding port 0 and closing the listener (websocketd
 * cannot be told to pick one itself).
 *
 * @returns The port.
 */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Options for {@linkcode startWebsocketd}. */
export interface StartWebsocketdOptions {
  /** The program. @default {"websocketd"} */
  program?: string;
  /** Use `--binary` (raw bytes in binary messages) instead of line mode. */
  binary?: boolean;
}

/**
 * Starts websocketd serving one command on a free port of 127.0.0.1, with logging at `error`
 * (its default logs every connection), in its own process group so its children can be ended
 * with it.
 *
 * @param command The command and its arguments.
 * @param options Binary mode and the program.
 * @returns The running server.
 */
export async function startWebsocketd(
  command: string[],
  options: StartWebsocketdOptions = {},
): Promise<ServerProcess> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = freePort();
    const args = ["--address=127.0.0.1", `--port=${port}`, "--loglevel=error"];
    if (options.binary) args.push("--binary");
    const child = new Deno.Command(options.program ?? "websocketd", {
      args: [...args, ...command],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      detached: true,
    }).spawn();
    const output = new Tail();
    const drain = async (stream: ReadableStream<Uint8Array>) => {
      for await (const text of stream.pipeThrough(new TextDecoderStream())) output.add(text);
    };
    const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
    let exited = false;
    child.status.then(() => (exited = true));
    const stop = async () => {
      for (const signal of ["SIGTERM", "SIGKILL"] as const) {
        try {
          Deno.kill(-child.pid, signal);
        } catch {
          // the group is gone
        }
        try {
          await within(child.status, 5000, "websocketd shutdown");
          break;
        } catch {
          // try harder
        }
      }
      await drained.catch(() => {});
    };
    const deadline = Date.now() + 10_000;
    while (!exited && Date.now() < deadline) {
      try {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        conn.close();
        return {
          url: `ws://127.0.0.1:${port}/`,
          pid: child.pid,
          tail: () => output.toString(),
          stop,
        };
      } catch {
        await delay(20);
      }
    }
    await stop();
    if (!exited) throw new Error(`websocketd did not listen on port ${port}:\n${output}`);
    // Port taken between our check and its bind: try another.
  }
  throw new Error("websocketd could not start on a free port");
}

class Tail {
  #text = "";
  add(text: string): void {
    this.#text = (this.#text + text).slice(-4000);
  }
  toString(): string {
    return this.#text;
  }
}
