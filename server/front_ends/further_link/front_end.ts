/**
 * The further-link compatibility front end: a WebSocket (default `/run`) speaking the JSON
 * protocol of pi-top's further-link server, `POST /upload` of text files into a work directory,
 * and `GET /status`. It is off unless `furtherLink.enabled` is set.
 *
 * further-link runners (`python3`, `shell`, ...) are ordinary configured processes, named in
 * `furtherLink.runners`: the operator decides which exist. Code sent with `start` is written to
 * a file in the work directory whose absolute path is the process's one param. Output is never
 * dropped or rate-limited: while the socket's send buffer is full the session is not read, so
 * the output log fills and the child blocks on its pipe.
 *
 * See `docs/further-link.md`.
 *
 * @module
 */

import { dirname, isAbsolute, relative, resolve } from "../../_posix_path.ts";
import type { Context, Hono } from "hono";
import { type FurtherLinkConfig, furtherLinkConfigSection } from "./config.ts";
import { SIGNAL_NUMBERS, signalNumber } from "@pow/protocol";
import {
  BodyError,
  callErrorDetail,
  ConnectionSet,
  jsonBody,
  oversize,
  pumpOutput,
  readBody,
  StreamDecoders,
  textResponse,
} from "../_kit/mod.ts";
import { checkNoSymlink, describeFsError, makeDirectory, undo, writeWhole } from "./_safe_path.ts";
import { CallError } from "../../errors.ts";
import type { FrontEnd, FrontEndContext, FrontEndFactory, PowEnv } from "../../front_end.ts";
import type { OutputReader } from "../../output_log.ts";
import type { Caller } from "../../process.ts";
import type { Session, SessionResult } from "../../session.ts";
import type { SessionManager } from "../../session_manager.ts";

/** Send-buffer bytes above which a connection stops reading its sessions' output. */
const HIGH_WATER = 1024 * 1024;
/** The most output bytes read from a session at once (one message or a few). */
const READ_SIZE = 64 * 1024;
/** The terminal size of a `?pty=1` process until the client resizes it. */
const DEFAULT_TERMINAL = { cols: 80, rows: 24 };
/** File extensions of code files by runner name, so interpreters that care are happy. */
const EXTENSIONS: Record<string, string> = {
  python3: ".py",
  python: ".py",
  shell: ".sh",
  node: ".js",
  deno: ".ts",
};

/**
 * The further-link exit code of a session result: the exit code of a program that exited, the
 * negative signal number of one ended by a signal (as Python's asyncio reports it, so SIGTERM is
 * -15), 0 for a fulfilled function process, -15 for a cancelled one and 1 for any other failure.
 *
 * @example
 * ```ts
 * import { furtherLinkExitCode } from "./front_end.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(furtherLinkExitCode({ status: "fulfilled", value: null, exitCode: 0 }), 0);
 * assert.equal(
 *   furtherLinkExitCode({ status: "rejected", reason: "signal: SIGTERM", kind: "error", signal: "SIGTERM" }),
 *   -15,
 * );
 * ```
 *
 * @param result How the session ended.
 * @returns The exit code further-link clients expect.
 */
export function furtherLinkExitCode(result: SessionResult): number {
  if (result.exitCode !== undefined) return result.exitCode;
  if (result.status === "fulfilled") return 0;
  if (result.signal !== undefined) {
    const number = signalNumber(result.signal);
    if (number !== undefined) return -number;
  }
  return result.kind === "cancelled" ? -SIGNAL_NUMBERS.SIGTERM : 1;
}

/**
 * Resolves a path inside a directory, refusing anything that would leave it (`..`, an absolute
 * path elsewhere).
 *
 * @example
 * ```ts
 * import { resolveWithin } from "./front_end.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(resolveWithin("/srv/further", "demo/run.py"), "/srv/further/demo/run.py");
 * assert.throws(() => resolveWithin("/srv/further", "../etc/passwd"), RangeError);
 * ```
 *
 * @param root The directory.
 * @param path A path relative to it, or an absolute path inside it.
 * @returns The absolute path.
 * @throws {RangeError} When the path leaves the directory.
 */
export function resolveWithin(root: string, path: string): string {
  const base = resolve(root);
  const target = resolve(base, path);
  if (!isInside(base, target)) {
    throw new RangeError(`Path "${path}" is outside the work directory`);
  }
  return target;
}

function isInside(base: string, target: string): boolean {
  const rel = relative(base, target);
  return !(rel === ".." || rel.startsWith("../") || isAbsolute(rel));
}

/** A message from a further-link client. */
interface ClientMessage {
  type: string;
  process?: string | number;
  data: Record<string, unknown>;
}

/** One process of a connection, by its client-chosen id. */
interface Entry {
  /** The id as the client sent it, echoed in every message. */
  id: string | number;
  /** Resolves once the session exists (or `undefined` when it could not start). */
  ready: Promise<Session | undefined>;
  session?: Session;
  reader?: OutputReader;
  detach?: () => void;
  /** A code file written for this process, removed once it stops. */
  file?: string;
}

/** Per-connection limits. */
interface ConnectionLimits {
  /** The largest message accepted, in bytes (`limits.maxMessage`). */
  maxMessage: number;
  /** Processes one connection may run at once (`limits.sessionsPerConnection`). */
  maxProcesses: number;
}

/** One further-link WebSocket connection, with its processes. */
class Connection {
  #socket: WebSocket;
  #manager: SessionManager;
  #settings: FurtherLinkConfig;
  #caller: Caller;
  #pty: boolean;
  #limits: ConnectionLimits;
  #entries = new Map<string, Entry>();
  #closed = false;

  constructor(
    socket: WebSocket,
    manager: SessionManager,
    settings: FurtherLinkConfig,
    caller: Caller,
    pty: boolean,
    limits: ConnectionLimits,
  ) {
    this.#socket = socket;
    this.#limits = limits;
    this.#manager = manager;
    this.#settings = settings;
    this.#caller = { ...caller, via: "further-link" };
    this.#pty = pty;
    socket.addEventListener("message", (event) => this.#onMessage(event.data));
    socket.addEventListener("close", () => this.close());
  }

  /** Server shutdown: the same as {@linkcode Connection.close}. */
  abort(): void {
    this.close();
  }

  /** Cancels every process of the connection (further-link processes end with their socket). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const entry of this.#entries.values()) {
      entry.reader?.close();
      entry.session?.cancel("client disconnected");
      entry.ready.then((session) => session?.cancel("client disconnected"));
    }
    if (this.#socket.readyState === WebSocket.OPEN) {
      this.#socket.close(1001, "server shutting down");
    }
  }

  #send(type: string, process?: string | number, data?: Record<string, unknown>): void {
    if (this.#socket.readyState !== WebSocket.OPEN) return;
    const message: Record<string, unknown> = { type };
    if (data !== undefined) message.data = data;
    if (process !== undefined) message.process = process;
    this.#socket.send(JSON.stringify(message));
  }

  #error(message: string, process?: string | number): void {
    this.#send("error", process, { message });
  }

  #onMessage(raw: unknown): void {
    if (oversize(raw, this.#limits.maxMessage) !== undefined) {
      this.#socket.close(1009, "message too big");
      return;
    }
    const message = parseMessage(raw);
    if (typeof message === "string") return this.#error(message);
    const { type, process: id, data } = message;
    switch (type) {
      case "ping":
        return this.#send("pong", id);
      case "start":
        return this.#start(id, data);
      case "stdin":
      case "stop":
      case "resize":
        return this.#control(type, id, data);
      default:
        return this.#error(`Unsupported message type "${type}"`, id);
    }
  }

  #start(id: string | number | undefined, data: Record<string, unknown>): void {
    if (id === undefined) return this.#error('Cannot start: "process" is missing');
    const key = String(id);
    if (this.#entries.has(key)) {
      return this.#error(`Cannot start process "${key}": the id is already in use`, id);
    }
    if (this.#entries.size >= this.#limits.maxProcesses) {
      return this.#error(
        `Cannot start process "${key}": this connection already runs ${this.#entries.size} processes (the limit is ${this.#limits.maxProcesses})`,
        id,
      );
    }
    const runner = data.runner;
    if (typeof runner !== "string") {
      return this.#error(`Cannot start process "${key}": "runner" is missing`, id);
    }
    const name = Object.hasOwn(this.#settings.runners, runner)
      ? this.#settings.runners[runner]
      : undefined;
    if (name === undefined) {
      const known = Object.keys(this.#settings.runners).map((r) => `"${r}"`).join(", ");
      return this.#error(
        `Cannot start process "${key}": unknown runner "${runner}"${
          known ? `; this server has ${known}` : "; this server has none"
        }`,
        id,
      );
    }
    const { code, path } = data;
    if (code !== undefined && typeof code !== "string") {
      return this.#error(`Cannot start process "${key}": "code" is not a string`, id);
    }
    if (path !== undefined && typeof path !== "string") {
      return this.#error(`Cannot start process "${key}": "path" is not a string`, id);
    }
    const entry: Entry = { id, ready: Promise.resolve(undefined) };
    this.#entries.set(key, entry);
    entry.ready = this.#launch(entry, runner, name, code, path).catch((error) => {
      this.#entries.delete(key);
      if (entry.file) Deno.remove(entry.file).catch(() => {});
      this.#error(`Cannot start process "${key}": ${messageOf(error)}`, id);
      return undefined;
    });
  }

  async #launch(
    entry: Entry,
    runner: string,
    name: string,
    code: string | undefined,
    path: string | undefined,
  ): Promise<Session | undefined> {
    const params = await this.#prepareFile(entry, runner, code, path);
    if (this.#closed) throw new Error("the connection closed");
    const session = this.#manager.start(name, params, {
      caller: this.#caller,
      pty: this.#pty ? { ...DEFAULT_TERMINAL } : undefined,
    });
    entry.session = session;
    entry.detach = session.attach();
    await session.started;
    const outcome = session.outcome;
    if (outcome?.status === "rejected" && outcome.kind === "spawn") {
      entry.detach();
      throw new Error(outcome.reason);
    }
    this.#send("started", entry.id);
    this.#pump(entry, session).catch(() => this.#socket.close(1011, "internal error"));
    return session;
  }

  /** Writes `code` to a file or resolves `path`; returns the process params. */
  async #prepareFile(
    entry: Entry,
    runner: string,
    code: string | undefined,
    path: string | undefined,
  ): Promise<string[]> {
    const workDir = resolve(this.#settings.workDir!);
    if (code === undefined && path === undefined) return [];
    await Deno.mkdir(workDir, { recursive: true });
    if (code === undefined) {
      const file = resolveWithin(workDir, path!);
      await checkNoSymlink(workDir, file);
      return [file];
    }
    const directory = resolveWithin(workDir, path ?? ".pow-run");
    await makeDirectory(workDir, directory, []);
    const file = resolve(directory, `${crypto.randomUUID()}${EXTENSIONS[runner] ?? ""}`);
    entry.file = file;
    await Deno.writeTextFile(file, code, { createNew: true });
    return [file];
  }

  async #pump(entry: Entry, session: Session): Promise<void> {
    const reader = session.reader();
    entry.reader = reader;
    const decoders = new StreamDecoders();
    try {
      await pumpOutput(this.#socket, session, reader, (chunks) => {
        for (const chunk of chunks) {
          const output = decoders.decode(chunk.stream, chunk.data);
          if (output) this.#send(chunk.stream, entry.id, { output });
        }
      }, { maxBytes: READ_SIZE, highWater: HIGH_WATER });
      for (const stream of ["stdout", "stderr"] as const) {
        const output = decoders.end(stream);
        if (output) this.#send(stream, entry.id, { output });
      }
      const result = await session.result;
      this.#entries.delete(String(entry.id));
      this.#send("stopped", entry.id, { exitCode: furtherLinkExitCode(result) });
      if (this.#socket.readyState === WebSocket.OPEN) session.markDelivered();
    } finally {
      reader.close();
      entry.detach?.();
      if (entry.file) await Deno.remove(entry.file).catch(() => {});
    }
  }

  #control(
    type: "stdin" | "stop" | "resize",
    id: string | number | undefined,
    data: Record<string, unknown>,
  ): void {
    if (id === undefined) return this.#error(`Cannot ${type}: "process" is missing`);
    const key = String(id);
    const entry = this.#entries.get(key);
    if (!entry) return this.#error(`Cannot ${type} process "${key}": no such process`, id);
    if (type === "stdin") {
      const input = data.input;
      if (typeof input !== "string") {
        return this.#error(`Cannot stdin process "${key}": "input" is not a string`, id);
      }
      entry.ready.then((session) => session?.write(input)).catch((error) =>
        this.#error(`Cannot stdin process "${key}": ${messageOf(error)}`, id)
      );
      return;
    }
    if (type === "stop") {
      entry.ready.then((session) => session?.cancel());
      return;
    }
    const { cols, rows } = data;
    if (!isSize(cols) || !isSize(rows)) {
      return this.#error(
        `Cannot resize process "${key}": "rows" and "cols" must be whole numbers from 1 to 65535`,
        id,
      );
    }
    entry.ready.then((session) => session?.resize(cols, rows)).catch((error) =>
      this.#error(`Cannot resize process "${key}": ${messageOf(error)}`, id)
    );
  }
}

function isSize(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 65535;
}

function parseMessage(raw: unknown): ClientMessage | string {
  if (typeof raw !== "string") return "Cannot parse message: expected JSON text, got binary";
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return "Cannot parse message: not JSON";
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return "Cannot parse message: not a JSON object";
  }
  const { type, process, data } = value as Record<string, unknown>;
  if (typeof type !== "string") return 'Cannot parse message: "type" is missing';
  if (
    process !== undefined && process !== null && typeof process !== "string" &&
    !Number.isSafeInteger(process)
  ) {
    return 'Cannot parse message: "process" is not a string';
  }
  if (data !== undefined && data !== null && (typeof data !== "object" || Array.isArray(data))) {
    return 'Cannot parse message: "data" is not an object';
  }
  return {
    type,
    process: (process ?? undefined) as string | number | undefined,
    data: (data ?? {}) as Record<string, unknown>,
  };
}

function messageOf(error: unknown): string {
  if (error instanceof CallError) {
    return callErrorDetail(error);
  }
  // An OS error's message names the server's absolute path: say what happened instead.
  if (error instanceof Error && "code" in error) return describeFsError(error);
  return error instanceof Error ? error.message : String(error);
}

/** The body of `POST /upload`. */
interface Upload {
  name: string;
  files: [string, string][];
}

function parseUpload(value: unknown): Upload | string {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return "Cannot upload: the body is not a JSON object";
  }
  const { name, files } = value as Record<string, unknown>;
  if (typeof name !== "string" || name === "") return 'Cannot upload: "name" is missing';
  if (typeof files !== "object" || files === null || Array.isArray(files)) {
    return 'Cannot upload: "files" is not an object';
  }
  const out: [string, string][] = [];
  for (const [path, file] of Object.entries(files)) {
    const { type, content } = (file ?? {}) as Record<string, unknown>;
    if (type === "url") return `Cannot upload "${path}": url files are not supported`;
    if (type !== "text" || typeof content !== "string") {
      return `Cannot upload "${path}": expected {"type": "text", "content": "..."}`;
    }
    out.push([path, content]);
  }
  return { name, files: out };
}

/**
 * The further-link compatibility front end. Without `furtherLink.enabled` it serves nothing.
 *
 * @example Off unless the config turns it on
 * ```ts
 * import { createServer, defaultConfig } from "../../../mod.ts";
 * import { furtherLink } from "./front_end.ts";
 * import assert from "node:assert/strict";
 *
 * const server = createServer(defaultConfig(), { frontEnds: [furtherLink] });
 * const response = await server.fetch(new Request("http://localhost/status"));
 * assert.equal(response.status, 404);
 * await response.body?.cancel();
 * await server.close();
 * ```
 *
 * @param context The server's shared services.
 * @returns The front end.
 */
export const furtherLink: FrontEndFactory = (context: FrontEndContext): FrontEnd => {
  const settings = context.config.furtherLink;
  const connections = new ConnectionSet<Connection>();
  if (!settings.enabled) return { name: "further-link" };

  const text = (c: Context<PowEnv>, body: string, status: 200 | 400 | 408 | 413 | 426 | 500) =>
    c.text(body, status, { "content-type": "text/plain; charset=utf-8" });

  return {
    name: "further-link",
    routes(app: Hono<PowEnv>): void {
      app.get(settings.path, (c) => {
        if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
          c.header("upgrade", "websocket");
          return text(c, "Upgrade required: this endpoint speaks further-link over WebSocket", 426);
        }
        const pty = /^(1|true)$/i.test(c.req.query("pty") ?? "");
        const { socket, response } = context.upgradeWebSocket(c.req.raw);
        const connection = new Connection(
          socket,
          context.manager,
          settings,
          c.get("caller"),
          pty,
          {
            maxMessage: context.config.limits.maxMessage,
            maxProcesses: context.config.limits.sessionsPerConnection,
          },
        );
        connections.add(connection, socket);
        return response;
      });
      app.get("/status", (c) => text(c, "OK", 200));
      app.post("/upload", async (c) => {
        let body: unknown;
        try {
          const { maxBody, bodyTimeout } = context.config.limits;
          body = JSON.parse(await readBody(c.req.raw, { limit: maxBody, timeout: bodyTimeout }));
        } catch (error) {
          if (error instanceof BodyError) return text(c, error.message, error.status);
          return text(c, "Cannot upload: the body is not JSON", 400);
        }
        const upload = parseUpload(body);
        if (typeof upload === "string") return text(c, upload, 400);
        const workDir = resolve(settings.workDir!);
        let targets: [string, string][];
        let directory: string;
        try {
          directory = resolveWithin(workDir, upload.name);
          targets = upload.files.map(([path, content]) => [
            resolveWithin(directory, path),
            content,
          ]);
          if (directory === workDir) {
            throw new RangeError(`Path "${upload.name}" is the work directory itself`);
          }
        } catch (error) {
          return text(c, `Cannot upload "${upload.name}": ${messageOf(error)}`, 400);
        }
        // Nothing is followed through a symlink, and a refusal or a failure (a full disk)
        // leaves nothing behind (server/_safe_path.ts).
        const created: string[] = [];
        const written: string[] = [];
        try {
          await Deno.mkdir(workDir, { recursive: true });
          for (const [file] of targets) await checkNoSymlink(workDir, file);
          for (const [file, content] of targets) {
            await makeDirectory(workDir, dirname(file), created);
            const existed = await Deno.lstat(file).then(() => true, () => false);
            await writeWhole(workDir, file, content);
            if (!existed) written.push(file);
          }
        } catch (error) {
          await undo(written, created);
          const status = error instanceof RangeError ? 400 : 500;
          return text(
            c,
            `Cannot upload "${upload.name}": ${describeFsError(error)}`,
            status,
          );
        }
        return text(c, "OK", 200);
      });
    },
    openapi: furtherLinkPaths(settings.path),
    close(): void {
      connections.close();
    },
  };
};

furtherLink.config = furtherLinkConfigSection;
// It reads and writes its work directory (uploads, code files).
furtherLink.permissions = (config) => {
  const workDir = config.furtherLink.enabled ? config.furtherLink.workDir : undefined;
  // A client may ask for a pseudo-terminal (`?pty=1`).
  return workDir ? { read: [workDir], write: [workDir], pty: true } : {};
};

function furtherLinkPaths(path: string): Record<string, unknown> {
  const tags = ["further-link"];
  const plain = textResponse;
  return {
    [path]: {
      get: {
        summary: "further-link process WebSocket",
        description:
          "A WebSocket speaking further-link's JSON protocol (`ping`, `start`, `stdin`, `stop`, " +
          "`resize`; `pong`, `started`, `stdout`, `stderr`, `stopped`, `error`), several " +
          "processes per socket by `process` id. See docs/further-link.md.",
        tags,
        parameters: [{
          name: "pty",
          in: "query",
          required: false,
          description: "`1` or `true` runs every process of the socket in a pseudo-terminal",
          schema: { type: "string", enum: ["1", "true", "0", "false"] },
        }],
        responses: {
          "101": { description: "Switching to the WebSocket protocol" },
          "426": plain(
            "Not a WebSocket upgrade",
            "Upgrade required: this endpoint speaks further-link over WebSocket",
          ),
        },
      },
    },
    "/upload": {
      post: {
        summary: "Upload text files into a directory of the work directory",
        tags,
        requestBody: jsonBody({
          type: "object",
          required: ["name", "files"],
          properties: {
            name: { type: "string", description: "The directory, inside the work directory" },
            files: {
              type: "object",
              description: "Files by path inside the directory",
              additionalProperties: {
                type: "object",
                required: ["type", "content"],
                properties: { type: { const: "text" }, content: { type: "string" } },
              },
            },
          },
        }),
        responses: {
          "200": plain("The files were written", "OK"),
          "400": plain(
            "A bad body, a path outside the work directory, or a url file",
            'Cannot upload "demo/x": url files are not supported',
          ),
        },
      },
    },
    "/status": {
      get: {
        summary: "Whether the server is up",
        tags,
        responses: { "200": plain("The server is up", "OK") },
      },
    },
  };
}
