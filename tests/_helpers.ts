/**
 * Shared helpers for end-to-end tests: a real server on a free port, a WebSocket client that
 * records every frame and the close, and small waiting utilities.
 *
 * @module
 */

import { createServer, defaultConfig, listen, type PowConfig } from "../mod.ts";
import type { FrontEndFactory } from "../server/front_end.ts";
import type { ListeningServer } from "../server/server.ts";

/** A server started for a test. */
export interface TestServer extends AsyncDisposable {
  /** The base URL, e.g. `http://127.0.0.1:41234/`. */
  readonly url: URL;
  /** The same URL with the `ws:` scheme. */
  readonly wsUrl: URL;
  /** The listening server. */
  readonly running: ListeningServer;
  /** Stops the server and waits until it has stopped. */
  shutdown(): Promise<void>;
}

/** Options for {@linkcode startServer}. */
export interface StartServerOptions {
  /** Changes the default config (port 0 is already set) before the server starts. */
  configure?: (config: PowConfig) => void;
  /** The front ends. @default {every built-in front end} */
  frontEnds?: FrontEndFactory[];
  /** The clock for session activity and expiry; tests move a fake one instead of sleeping. */
  now?: () => number;
}

/**
 * Starts the default configuration on a free port of 127.0.0.1.
 *
 * @param options Config changes and front ends.
 * @returns The running server; `await using` it or call `shutdown()`.
 */
export async function startServer(options: StartServerOptions = {}): Promise<TestServer> {
  const config = defaultConfig();
  config.server.port = 0;
  options.configure?.(config);
  const frontEnds = options.frontEnds ??
    (await import("../server/front_ends.ts")).frontEnds;
  const server = createServer(config, { frontEnds, now: options.now });
  const running = await listen(server, { onListen() {} });
  const url = running.url;
  const wsUrl = new URL(url.href.replace(/^http/, "ws"));
  const shutdown = () => running.shutdown();
  return { url, wsUrl, running, shutdown, [Symbol.asyncDispose]: shutdown };
}

/** A frame received by a {@linkcode TestSocket}. */
export type Frame = { type: "text"; data: string } | { type: "binary"; data: string };

/** How a WebSocket closed. */
export interface CloseInfo {
  /** The close code. */
  code: number;
  /** The close reason. */
  reason: string;
  /** Whether the closing handshake completed. */
  wasClean: boolean;
}

/**
 * A WebSocket client that records every frame (binary frames decoded as UTF-8) and the close.
 */
export class TestSocket {
  /** The socket. */
  readonly ws: WebSocket;
  /** Frames received so far. */
  readonly frames: Frame[] = [];
  /** Resolves once the socket is open (rejects if it fails to open). */
  readonly opened: Promise<void>;
  /** Resolves with the close. */
  readonly closed: Promise<CloseInfo>;
  #waiters: (() => void)[] = [];

  /**
   * Connects.
   *
   * @param url The WebSocket URL.
   * @param protocols The subprotocols to offer. @default {["pow-1"]}
   */
  constructor(url: URL | string, protocols: string[] = ["pow-1"]) {
    const ws = this.ws = new WebSocket(url, protocols);
    ws.binaryType = "arraybuffer";
    const opened = Promise.withResolvers<void>();
    const closed = Promise.withResolvers<CloseInfo>();
    this.opened = opened.promise;
    this.closed = closed.promise;
    this.opened.catch(() => {});
    ws.onopen = () => opened.resolve();
    ws.onerror = () => opened.reject(new Error("WebSocket failed to open"));
    ws.onmessage = (event) => {
      this.frames.push(
        typeof event.data === "string"
          ? { type: "text", data: event.data }
          : { type: "binary", data: new TextDecoder().decode(event.data as ArrayBuffer) },
      );
      this.#wake();
    };
    ws.onclose = (event) => {
      opened.reject(new Error(`WebSocket closed before opening: ${event.code}`));
      closed.resolve({ code: event.code, reason: event.reason, wasClean: event.wasClean });
      this.#wake();
    };
  }

  /** The text frames received so far. */
  get texts(): string[] {
    return this.frames.filter((f) => f.type === "text").map((f) => f.data);
  }

  /**
   * Sends a JSON control message as a binary frame.
   *
   * @param message The message.
   */
  sendJson(message: unknown): void {
    this.ws.send(new TextEncoder().encode(JSON.stringify(message)));
  }

  /**
   * Sends a text frame.
   *
   * @param text The text.
   */
  sendText(text: string): void {
    this.ws.send(text);
  }

  /**
   * Waits until the frames satisfy `predicate` (or the socket closed).
   *
   * @param predicate Checked after every frame.
   * @param timeout Milliseconds. @default {5000}
   */
  async waitFor(predicate: (frames: Frame[]) => boolean, timeout = 5000): Promise<void> {
    const deadline = Date.now() + timeout;
    while (!predicate(this.frames)) {
      if (this.ws.readyState === WebSocket.CLOSED) {
        throw new Error(`Socket closed while waiting; frames: ${JSON.stringify(this.frames)}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`Timed out; frames: ${JSON.stringify(this.frames)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /**
   * Waits for the close, failing after `timeout`.
   *
   * @param timeout Milliseconds. @default {10000}
   * @returns The close.
   */
  async close(timeout = 10_000): Promise<CloseInfo> {
    return await withTimeout(this.closed, timeout, "WebSocket close");
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}

/**
 * Rejects if `promise` does not settle within `timeout` milliseconds.
 *
 * @param promise The promise.
 * @param timeout Milliseconds.
 * @param what What is awaited, for the message.
 * @returns What the promise resolves to.
 */
export async function withTimeout<T>(
  promise: Promise<T>,
  timeout: number,
  what: string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`Timed out after ${timeout} ms: ${what}`)),
          timeout,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Polls until `check` returns true.
 *
 * @param check The condition.
 * @param timeout Milliseconds. @default {5000}
 * @param what What is awaited, for the message.
 */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  timeout = 5000,
  what = "condition",
): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeout} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Whether a process exists (zombies count as gone).
 *
 * @param pid The pid.
 * @returns `true` while `/proc/<pid>` shows a live process.
 */
export function processAlive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/**
 * Lists a process and all its descendants, from `/proc/<pid>/task/<tid>/children`.
 *
 * @param pid The root.
 * @returns The pids, root first.
 */
export function processTree(pid: number): number[] {
  const out: number[] = [];
  const visit = (p: number) => {
    out.push(p);
    let tasks: Deno.DirEntry[] = [];
    try {
      tasks = [...Deno.readDirSync(`/proc/${p}/task`)];
    } catch {
      return;
    }
    for (const task of tasks) {
      let children = "";
      try {
        children = Deno.readTextFileSync(`/proc/${p}/task/${task.name}/children`);
      } catch {
        continue;
      }
      for (const child of children.trim().split(/\s+/).filter(Boolean)) visit(Number(child));
    }
  };
  visit(pid);
  return out;
}

/**
 * Sends a raw HTTP/1.1 request and returns the status line, headers and body as text (for
 * WebSocket handshakes, which `fetch` cannot make).
 *
 * @param url The URL.
 * @param headers The request headers (Host and Connection: close are added).
 * @returns The status code, lower-case headers, and the body.
 */
export async function rawRequest(
  url: URL,
  headers: Record<string, string>,
): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const conn = await Deno.connect({ hostname: url.hostname, port: Number(url.port) });
  try {
    const lines = [`GET ${url.pathname}${url.search} HTTP/1.1`, `Host: ${url.host}`];
    for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
    await conn.write(new TextEncoder().encode(lines.join("\r\n") + "\r\n\r\n"));
    const decoder = new TextDecoder();
    let text = "";
    const buffer = new Uint8Array(65536);
    while (true) {
      const head = text.indexOf("\r\n\r\n");
      if (head >= 0) {
        const length = /\r\ncontent-length:\s*(\d+)/i.exec(text.slice(0, head));
        const status = Number(text.slice(9, 12));
        if (status === 101 || !length || text.length - head - 4 >= Number(length[1])) break;
      }
      const n = await conn.read(buffer);
      if (n === null) break;
      text += decoder.decode(buffer.subarray(0, n), { stream: true });
    }
    const head = text.indexOf("\r\n\r\n");
    const [statusLine, ...headerLines] = text.slice(0, head).split("\r\n");
    const parsed: Record<string, string> = {};
    for (const line of headerLines) {
      const colon = line.indexOf(":");
      parsed[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    return {
      status: Number(statusLine.split(" ")[1]),
      headers: parsed,
      body: text.slice(head + 4),
    };
  } finally {
    conn.close();
  }
}

/** A server started as a subprocess, once it printed its `Listening on URL` line. */
export interface ServerProcess {
  /** Where it listens. */
  url: URL;
  /** Its process id. */
  pid: number;
  /** Settles when it has ended (on its own, or stopped). */
  status: Promise<Deno.CommandStatus>;
  /**
   * Stops it with SIGTERM (unless it ended on its own); resolves with its exit code, the rest of
   * stdout and stderr.
   */
  stop(): Promise<{ code: number; stdout: string; stderr: string }>;
}

/**
 * Starts a server command (`main.ts` through Deno, or a compiled binary) and waits for the
 * `Listening on URL` line that is its stdout's first.
 *
 * @param command The program.
 * @param args Its arguments.
 * @param options Where it runs, and variables added to its environment.
 * @returns The running server.
 * @throws {Error} When the first line is something else; with its exit code and output.
 */
export async function startServerProcess(
  command: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<ServerProcess> {
  const child = new Deno.Command(command, {
    args,
    cwd: options.cwd,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let stdout = "";
  while (!stdout.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    stdout += value;
  }
  const match = /^Listening on (\S+)\n$/.exec(stdout);
  if (!match) {
    const { code } = await child.status;
    throw new Error(`no Listening line (exit ${code}): ${stdout}${await stderr}`);
  }
  return {
    url: new URL(match[1]),
    pid: child.pid,
    status: child.status,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch {
        // It ended on its own.
      }
      const { code } = await child.status;
      let rest = "";
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        rest += value;
      }
      return { code, stdout: stdout + rest, stderr: await stderr };
    },
  };
}
