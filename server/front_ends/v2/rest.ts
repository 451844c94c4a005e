/**
 * The native REST front end, under `/api/v2/`: start sessions, list them, read their state,
 * result and output from a byte offset (JSON or raw bytes), send input, close input, signal,
 * resize, and stream output as server-sent events that resume exactly with `Last-Event-ID`.
 * Errors are JSON `{code, message}` with the `pow.v2` error codes. Sessions are the same as the
 * WebSocket's (one registry) and visible only to the identity that started them.
 *
 * See `docs/rest.md`.
 *
 * @module
 */

import type { Context, Hono } from "hono";
import { type ErrorCode, type SessionInfo, validateClientMessage } from "@pow/protocol";
import {
  BodyError,
  callErrorStatus,
  coalesce,
  concat,
  incompleteTail,
  pathParameter,
  pipeBody,
  readBody,
  sseComment,
  sseEvent,
  sseResponse,
  stdinWindow,
} from "../_kit/mod.ts";
import {
  applySignal,
  listProcessInfos,
  listSessionInfos,
  toProcessResult,
  toSessionInfo,
} from "../_kit/convert.ts";
import { CallError } from "../../errors.ts";
import type { FrontEnd, FrontEndContext, FrontEndFactory, PowEnv } from "../../front_end.ts";
import { v2ConfigSection } from "./config.ts";
import type { OutputChunk, OutputReader, OutputStream } from "../../output_log.ts";
import { Session, type SessionHandle } from "../../session.ts";

/** The path prefix of every route, relative to the base path. */
export const NATIVE_REST_PREFIX = "/api/v2";

/** The default and largest `max` of the output routes, in bytes. */
const DEFAULT_MAX = 1024 * 1024;
const LARGEST_MAX = 16 * 1024 * 1024;
/** The most bytes in one server-sent event. */
const EVENT_SIZE = 64 * 1024;
/** Milliseconds between keep-alive comments on an idle event stream. */
const KEEP_ALIVE = 15_000;
/** Milliseconds an incomplete UTF-8 character is held back waiting for its last bytes. */
const UTF8_WAIT = 50;

/** An error body: a `pow.v2` error code and a human-readable message. */
export interface RestError {
  /** A stable machine-readable code. */
  code: ErrorCode;
  /** What went wrong. */
  message: string;
}

/** A piece of output in a JSON body or event: text, or base64 when it is not UTF-8. */
export interface RestOutputChunk {
  /** The stream. */
  stream: OutputStream;
  /** The output offset of the first byte. */
  offset: number;
  /** The bytes as text, or as base64 when `encoding` is `"base64"`. */
  data: string;
  /** `"base64"` when the bytes are not valid UTF-8. */
  encoding?: "base64";
}

/** The body of `GET sessions/{id}` with an `offset`: the session and output from there. */
export interface RestSessionOutput extends SessionInfo {
  /** Output from the requested offset. */
  output: {
    /** Where the returned output starts (the requested offset, or later after a gap). */
    offset: number;
    /** Bytes lost before `offset` because they are no longer retained. */
    skipped: number;
    /** The chunks, in order (only one stream's with `stream=`). */
    chunks: RestOutputChunk[];
    /** The offset to ask for next. */
    next: number;
    /** Whether the session has ended and everything up to its end was returned. */
    complete: boolean;
  };
}

const STATUS: Partial<Record<ErrorCode, 400 | 403 | 404 | 409 | 429 | 500>> = {
  bad_json: 400,
  bad_message: 400,
  bad_params: 400,
  bad_offset: 400,
  not_allowed: 403,
  unknown_process: 404,
  unknown_session: 404,
  stdin_closed: 409,
  not_pty: 409,
  unsupported: 409,
  limit_reached: 429,
  internal: 500,
};

class RestFailure extends Error {
  constructor(readonly code: ErrorCode, message: string) {
    super(message);
  }
}

const decoder = new TextDecoder("utf-8", { fatal: true });

/** Encodes bytes as text when they are valid UTF-8, else as base64. */
function encodeData(bytes: Uint8Array): { data: string; encoding?: "base64" } {
  try {
    return { data: decoder.decode(bytes) };
  } catch {
    let binary = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    }
    return { data: btoa(binary), encoding: "base64" };
  }
}

function parseStream(value: string | undefined): OutputStream | undefined {
  if (value === undefined || value === "" || value === "both") return undefined;
  if (value === "stdout" || value === "stderr") return value;
  throw new RestFailure("bad_message", `Invalid stream "${value}": expected stdout or stderr`);
}

function parseOffset(value: string, what: string): number {
  const offset = /^\d{1,16}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(offset)) {
    throw new RestFailure("bad_offset", `Invalid ${what} "${value}": expected a byte offset`);
  }
  return offset;
}

function parseMax(value: string | undefined): number {
  if (value === undefined) return DEFAULT_MAX;
  const max = /^\d{1,9}$/.test(value) ? Number(value) : NaN;
  if (!(max >= 1 && max <= LARGEST_MAX)) {
    throw new RestFailure(
      "bad_message",
      `Invalid max "${value}": expected a number of bytes from 1 to ${LARGEST_MAX}`,
    );
  }
  return max;
}

/** Opens a reader, turning an offset past the end into `bad_offset`. */
function openReader(session: SessionHandle, offset: number): OutputReader {
  // (A session on another node knows its end only as of its last state change.)
  if (session instanceof Session && offset > session.log.end) {
    throw new RestFailure(
      "bad_offset",
      `Invalid offset ${offset}: session "${session.id}" has only ${session.log.end} bytes of output so far`,
    );
  }
  return session.reader({ offset });
}

/** Reads what is available from `offset` now, without waiting. */
async function readNow(session: SessionHandle, offset: number, max: number, text: boolean) {
  const reader = openReader(session, offset);
  try {
    // A local log answers at once; a session on another node is read from the store once,
    // without waiting for more.
    let chunks = session instanceof Session
      ? reader.readAvailable(max)
      : (await reader.read({ maxBytes: max, signal: AbortSignal.abort() })) ?? [];
    const start = chunks[0]?.offset ?? reader.offset;
    // Hold back a character cut at the end of a text read: the next read starts with it. Raw
    // reads are bytes: holding back there would withhold binary output until the process wrote
    // more.
    const last = chunks.at(-1);
    if (text && last && !session.log.closed) {
      const tail = incompleteTail(last.data);
      if (tail > 0 && tail < last.data.length) {
        chunks = [...chunks.slice(0, -1), { ...last, data: last.data.subarray(0, -tail) }];
      }
    }
    const lastKept = chunks.at(-1);
    const next = lastKept ? lastKept.offset + lastKept.data.length : reader.offset;
    return { start, skipped: reader.skipped, chunks, next };
  } finally {
    reader.close();
  }
}

/**
 * The body of `GET sessions/{id}/events`: server-sent events from `offset`, pulled only as fast
 * as the client reads them (a client that stops reading holds the process back through the
 * output log, as a WebSocket channel without credit does).
 */
function eventStream(
  session: SessionHandle,
  offset: number,
  stream: OutputStream | undefined,
): Response {
  const reader = openReader(session, offset);
  const detach = session.attach();
  let skipped = 0;
  let carry: OutputChunk | undefined; // an incomplete UTF-8 character held back
  let done = false;
  const finish = () => {
    done = true;
    reader.close();
    detach();
  };
  const output = (chunk: OutputChunk) => {
    const end = chunk.offset + chunk.data.length;
    const data = JSON.stringify({ offset: chunk.offset, ...encodeData(chunk.data) });
    return sseEvent({ event: chunk.stream, id: String(end), data });
  };
  const flushCarry = () => {
    if (!carry) return "";
    const text = output(carry);
    carry = undefined;
    return text;
  };
  /** Turns chunks into events, holding back a trailing incomplete character. */
  const events = (chunks: OutputChunk[]): string => {
    let text = "";
    for (let chunk of coalesce(chunks, EVENT_SIZE)) {
      if (stream && chunk.stream !== stream) continue;
      if (carry) {
        if (carry.stream === chunk.stream && carry.offset + carry.data.length === chunk.offset) {
          chunk = {
            stream: chunk.stream,
            offset: carry.offset,
            data: concat([carry.data, chunk.data]),
          };
          carry = undefined;
        } else {
          text += flushCarry();
        }
      }
      const tail = incompleteTail(chunk.data);
      if (tail > 0) {
        const cut = chunk.data.length - tail;
        carry = { stream: chunk.stream, offset: chunk.offset + cut, data: chunk.data.slice(cut) };
        if (cut === 0) continue;
        chunk = { stream: chunk.stream, offset: chunk.offset, data: chunk.data.subarray(0, cut) };
      }
      text += output(chunk);
    }
    return text;
  };

  return sseResponse({
    async pull() {
      while (!done) {
        const abort = new AbortController();
        const timer = setTimeout(() => abort.abort(), carry ? UTF8_WAIT : KEEP_ALIVE);
        let chunks: OutputChunk[] | null;
        try {
          chunks = await reader.read({ maxBytes: 4 * EVENT_SIZE, signal: abort.signal });
        } finally {
          clearTimeout(timer);
        }
        if (done) break;
        let text = "";
        if (reader.skipped > skipped) {
          text += flushCarry();
          const resumed = chunks?.[0]?.offset ?? reader.offset;
          const data = JSON.stringify({ offset: resumed, skipped: reader.skipped - skipped });
          text += sseEvent({ event: "gap", id: String(resumed), data });
          skipped = reader.skipped;
        }
        if (chunks === null) {
          text += flushCarry();
          const result = await session.result;
          const data = JSON.stringify({
            offset: session.log.end,
            result: toProcessResult(result),
          });
          text += sseEvent({ event: "exit", id: "exit", data });
          session.markDelivered();
          finish();
          return { text, done: true };
        }
        if (chunks.length === 0) {
          // Idle: a held-back character is sent as it is, else a keep-alive comment.
          text += carry ? flushCarry() : sseComment("keep-alive");
        } else {
          text += events(chunks);
        }
        if (text) return { text };
      }
      return { text: "" };
    },
    cancel() {
      finish();
    },
  });
}

/**
 * The native REST front end.
 *
 * @example Start a process and read its output over REST
 * ```ts
 * import { createServer, defaultConfig } from "../../../mod.ts";
 * import { nativeRest } from "./rest.ts";
 * import assert from "node:assert/strict";
 *
 * const server = createServer(defaultConfig(), { frontEnds: [nativeRest] });
 * const api = (path: string, init?: RequestInit) =>
 *   server.fetch(new Request(`http://localhost/api/v2/${path}`, init));
 * const started = await api("sessions", {
 *   method: "POST",
 *   body: JSON.stringify({ name: "count", params: ["3"] }),
 * });
 * assert.equal(started.status, 201);
 * const { session } = await started.json();
 * await server.manager.get(session)!.result;
 * const status = await (await api(`sessions/${session}?offset=0`)).json();
 * assert.equal(status.state, "fulfilled");
 * assert.deepEqual(status.output.chunks, [{ stream: "stdout", offset: 0, data: "1\n2\n3\n" }]);
 * await server.close();
 * ```
 *
 * @param context The server's shared services.
 * @returns The front end.
 */
export const nativeRest: FrontEndFactory = (context: FrontEndContext): FrontEnd => {
  const { manager, config } = context;

  const fail = (c: Context<PowEnv>, error: unknown): Response => {
    if (error instanceof CallError) {
      const body: RestError = { code: error.code, message: error.message };
      return c.json(body, callErrorStatus(error));
    }
    if (error instanceof RestFailure) {
      const body: RestError = { code: error.code, message: error.message };
      return c.json(body, STATUS[error.code] ?? 400);
    }
    if (error instanceof BodyError) {
      const code = error.status === 400 ? "bad_message" : "limit_reached";
      const body: RestError = { code, message: error.message };
      return c.json(body, error.status);
    }
    throw error;
  };

  /**
   * Finds the caller's session (404 otherwise), on this node or, in a cluster, on another, and
   * records the request as activity.
   */
  const find = async (c: Context<PowEnv>): Promise<SessionHandle> => {
    const id = c.req.param("id") ?? "";
    const session = manager.get(id, c.get("caller")) ??
      (manager.node === undefined ? undefined : await manager.find(id, c.get("caller")));
    if (!session) {
      throw new RestFailure("unknown_session", `Unknown session "${id}"`);
    }
    session.touch();
    return session;
  };

  /** Reads a JSON body and validates it as the `pow.v2` message `type` would be. */
  const body = async (c: Context<PowEnv>, type: "start" | "signal" | "resize") => {
    const { maxBody, bodyTimeout } = config.limits;
    const text = await readBody(c.req.raw, { limit: maxBody, timeout: bodyTimeout });
    let value: unknown;
    try {
      value = text.trim() === "" ? {} : JSON.parse(text);
    } catch {
      throw new RestFailure("bad_json", "Cannot parse the body: not JSON");
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new RestFailure("bad_message", "Cannot parse the body: not a JSON object");
    }
    // Validated as it is: caller data is never serialized again.
    const parsed = validateClientMessage({ ...value, type, id: 1 });
    if (!parsed.ok) throw new RestFailure(parsed.error.code, parsed.error.message);
    return parsed.value;
  };

  const handle = (
    handler: (c: Context<PowEnv>) => Response | Promise<Response>,
  ) =>
  async (c: Context<PowEnv>): Promise<Response> => {
    try {
      return await handler(c);
    } catch (error) {
      return fail(c, error);
    }
  };

  const p = NATIVE_REST_PREFIX;
  return {
    name: "pow.v2-rest",
    eventStreams: /^api\/v2\/sessions\/[^/]+\/events$/,
    routes(app: Hono<PowEnv>): void {
      app.get(
        `${p}/processes`,
        handle((c) => {
          const caller = c.get("caller");
          return c.json({ processes: listProcessInfos(manager, caller) });
        }),
      );
      app.get(
        `${p}/sessions`,
        handle(async (c) => c.json({ sessions: await listSessionInfos(manager, c.get("caller")) })),
      );
      app.post(
        `${p}/sessions`,
        handle(async (c) => {
          const start = await body(c, "start");
          if (start.type !== "start") throw new Error("unreachable");
          const session = manager.start(start.name, start.params, {
            caller: { ...c.get("caller"), via: "pow.v2-rest" },
            linger: config.sessions.linger,
            pty: start.pty ? { cols: start.cols ?? 80, rows: start.rows ?? 24 } : undefined,
            trace: traceOf(start, c.req.raw.headers),
          });
          // Answer once spawned (or failed), so that the answer has the pid.
          await session.started;
          c.header("location", `sessions/${session.id}`);
          return c.json(toSessionInfo(session), 201);
        }),
      );
      app.get(
        `${p}/sessions/:id`,
        handle(async (c) => {
          const session = await find(c);
          const offsetParam = c.req.query("offset");
          if (offsetParam === undefined) return c.json(toSessionInfo(session));
          const offset = parseOffset(offsetParam, "offset");
          const stream = parseStream(c.req.query("stream"));
          const max = parseMax(c.req.query("max"));
          // Snapshot the state first: output read after it is at least as complete.
          const info = toSessionInfo(session);
          const read = await readNow(session, offset, max, true);
          const chunks = coalesce(read.chunks, Infinity)
            .filter((chunk) => !stream || chunk.stream === stream)
            .map((chunk): RestOutputChunk => ({
              stream: chunk.stream,
              offset: chunk.offset,
              ...encodeData(chunk.data),
            }));
          const out: RestSessionOutput = {
            ...info,
            output: {
              offset: read.start,
              skipped: read.skipped,
              chunks,
              next: read.next,
              complete: info.result !== undefined && read.next >= info.offset,
            },
          };
          if (out.output.complete) session.markDelivered();
          return c.json(out);
        }),
      );
      app.get(
        `${p}/sessions/:id/output`,
        handle(async (c) => {
          const session = await find(c);
          const offset = parseOffset(c.req.query("offset") ?? "0", "offset");
          const stream = parseStream(c.req.query("stream"));
          const max = parseMax(c.req.query("max"));
          const ended = session.ended;
          const end = session.log.end;
          const read = await readNow(session, offset, max, false);
          const chosen = read.chunks.filter((chunk) => !stream || chunk.stream === stream);
          const bytes = concat(chosen.map((ch) => ch.data));
          // With a stream filter, the offset of the first byte of that stream that is returned
          // (or where the read ended, when none is).
          const first = stream ? chosen[0]?.offset ?? read.next : read.start;
          return c.body(bytes.slice().buffer, 200, {
            "content-type": "application/octet-stream",
            "x-pow-offset": String(first),
            "x-pow-next-offset": String(read.next),
            "x-pow-skipped": String(read.skipped),
            "x-pow-state": session.state,
            "x-pow-complete": String(ended && read.next >= end),
          });
        }),
      );
      app.get(
        `${p}/sessions/:id/events`,
        handle(async (c) => {
          const session = await find(c);
          const lastEventId = c.req.header("last-event-id")?.trim();
          if (lastEventId === "exit") return c.body(null, 204);
          const offset = lastEventId
            ? parseOffset(lastEventId, "Last-Event-ID")
            : parseOffset(c.req.query("offset") ?? "0", "offset");
          const stream = parseStream(c.req.query("stream"));
          return eventStream(session, offset, stream);
        }),
      );
      app.post(
        `${p}/sessions/:id/input`,
        handle(async (c) => {
          const session = await find(c);
          // Streamed to stdin as it arrives: the body is read only as fast as the process takes
          // it (at most a window, and never past `maxPendingInput`), never collected whole.
          try {
            await pipeBody(c.req.raw, (bytes) => session.write(bytes), {
              timeout: config.limits.bodyTimeout,
              window: stdinWindow(config.sessions.maxPendingInput),
            });
          } catch (error) {
            if (error instanceof BodyError) throw error;
            if (error instanceof RangeError) throw new RestFailure("limit_reached", error.message);
            throw new RestFailure("stdin_closed", (error as Error).message);
          }
          return c.body(null, 204);
        }),
      );
      app.post(
        `${p}/sessions/:id/eof`,
        handle(async (c) => {
          const session = await find(c);
          session.closeInput();
          return c.body(null, 204);
        }),
      );
      app.post(
        `${p}/sessions/:id/signal`,
        handle(async (c) => {
          const session = await find(c);
          const message = await body(c, "signal");
          if (message.type !== "signal") throw new Error("unreachable");
          if (!applySignal(session, message.signal)) {
            throw new RestFailure(
              "unsupported",
              `Cannot send "${message.signal}" to session "${session.id}": its runner cannot deliver it`,
            );
          }
          return c.body(null, 204);
        }),
      );
      app.post(
        `${p}/sessions/:id/resize`,
        handle(async (c) => {
          const session = await find(c);
          const message = await body(c, "resize");
          if (message.type !== "resize") throw new Error("unreachable");
          if (!session.pty) {
            throw new RestFailure(
              "not_pty",
              `Cannot resize session "${session.id}": it has no terminal`,
            );
          }
          session.resize(message.cols, message.rows);
          return c.body(null, 204);
        }),
      );
    },
    openapi: restPaths(),
  };
};

nativeRest.config = v2ConfigSection;

function restPaths(): Record<string, unknown> {
  const p = NATIVE_REST_PREFIX;
  const tags = ["pow.v2 REST"];
  const json = (description: string, schema: unknown) => ({
    description,
    content: { "application/json": { schema } },
  });
  const errorSchema = {
    type: "object",
    required: ["code", "message"],
    properties: {
      code: { type: "string", description: "A pow.v2 error code", examples: ["unknown_session"] },
      message: { type: "string" },
    },
  };
  const error = (description: string) => json(description, errorSchema);
  const noContent = { description: "Done" };
  const unknownSession = error("`unknown_session`: no such session of the caller");
  const idParam = pathParameter("id", "The session id");
  const query = (name: string, description: string, schema: unknown) => ({
    name,
    in: "query",
    required: false,
    description,
    schema,
  });
  const offset = query("offset", "The output offset to read from", { type: "integer", minimum: 0 });
  const stream = query("stream", "Only this stream's output", {
    type: "string",
    enum: ["stdout", "stderr", "both"],
  });
  const max = query("max", "At most this many bytes (default 1 MiB)", {
    type: "integer",
    minimum: 1,
    maximum: LARGEST_MAX,
  });
  const result = {
    type: "object",
    required: ["status"],
    description: "How the session ended (see docs/protocol.md)",
    properties: {
      status: { enum: ["fulfilled", "rejected"] },
      value: {},
      reason: { type: "string" },
      kind: { type: "string" },
      exitCode: { type: "integer" },
      signal: { type: "string" },
    },
  };
  const sessionInfo = {
    type: "object",
    required: ["session", "name", "params", "state", "pty", "offset", "createdAt", "attached"],
    properties: {
      session: { type: "string" },
      name: { type: "string" },
      params: { type: "array", items: { type: "string" } },
      state: { enum: ["starting", "running", "fulfilled", "rejected"] },
      pty: { type: "boolean" },
      pid: { type: "integer" },
      owner: { type: "string", description: "The identity the session belongs to" },
      offset: { type: "integer", description: "Output bytes so far" },
      createdAt: { type: "integer" },
      endedAt: { type: "integer" },
      attached: { type: "integer" },
      result,
    },
  };
  const chunk = {
    type: "object",
    required: ["stream", "offset", "data"],
    properties: {
      stream: { enum: ["stdout", "stderr"] },
      offset: { type: "integer" },
      data: { type: "string", description: "UTF-8 text, or base64 with `encoding`" },
      encoding: { const: "base64" },
    },
  };
  const jsonBody = (schema: unknown) => ({
    required: true,
    content: { "application/json": { schema } },
  });
  return {
    [`${p}/processes`]: {
      get: {
        summary: "List the processes the caller may start",
        tags,
        responses: {
          "200": json("The processes", {
            type: "object",
            properties: {
              processes: {
                type: "array",
                items: {
                  type: "object",
                  required: ["name", "params", "pty"],
                  properties: {
                    name: { type: "string" },
                    description: { type: "string" },
                    params: { type: "array", items: { type: "object" } },
                    pty: { type: "boolean" },
                  },
                },
              },
            },
          }),
        },
      },
    },
    [`${p}/sessions`]: {
      get: {
        summary: "List the caller's sessions, oldest first",
        tags,
        responses: {
          "200": json("The sessions", {
            type: "object",
            properties: { sessions: { type: "array", items: sessionInfo } },
          }),
        },
      },
      post: {
        summary: "Start a process",
        description: "Answers once the process was spawned (or failed to spawn).",
        tags,
        parameters: [],
        requestBody: jsonBody({
          type: "object",
          required: ["name"],
          properties: {
            name: { type: "string" },
            params: { type: "array", items: { type: "string" } },
            pty: { type: "boolean" },
            cols: { type: "integer", minimum: 1, maximum: 65535 },
            rows: { type: "integer", minimum: 1, maximum: 65535 },
            traceparent: { type: "string" },
            tracestate: { type: "string" },
          },
        }),
        responses: {
          "201": json("The session (header `Location: sessions/{id}`)", sessionInfo),
          "400": error("`bad_json`, `bad_message` or `bad_params`"),
          "403": error("`not_allowed`: the caller may not run it (or not in a pty)"),
          "404": error("`unknown_process`"),
          "408": error("`limit_reached`: the body stalled for `limits.bodyTimeout`"),
          "413": error("`limit_reached`: the body is larger than `limits.maxBody`"),
          "429": error("`limit_reached`: too many sessions or starts"),
          "503": error("`limit_reached`: the server's output memory budget is used up"),
        },
      },
    },
    [`${p}/sessions/{id}`]: {
      get: {
        summary: "A session's state and result, and its output from an offset",
        tags,
        parameters: [idParam, offset, stream, max],
        responses: {
          "200": json("The session; with `offset`, also `output`", {
            ...sessionInfo,
            properties: {
              ...sessionInfo.properties,
              output: {
                type: "object",
                properties: {
                  offset: { type: "integer" },
                  skipped: { type: "integer" },
                  chunks: { type: "array", items: chunk },
                  next: { type: "integer" },
                  complete: { type: "boolean" },
                },
              },
            },
          }),
          "400": error("`bad_offset` or `bad_message`"),
          "404": unknownSession,
        },
      },
    },
    [`${p}/sessions/{id}/output`]: {
      get: {
        summary: "Raw output bytes from an offset (what is available now)",
        tags,
        parameters: [
          idParam,
          { ...offset, description: "The output offset (default 0)" },
          stream,
          max,
        ],
        responses: {
          "200": {
            description: "The bytes; headers X-Pow-Offset (first byte), X-Pow-Next-Offset, " +
              "X-Pow-Skipped, X-Pow-State and X-Pow-Complete",
            content: {
              "application/octet-stream": { schema: { type: "string", format: "binary" } },
            },
          },
          "400": error("`bad_offset` or `bad_message`"),
          "404": unknownSession,
        },
      },
    },
    [`${p}/sessions/{id}/events`]: {
      get: {
        summary: "Output as server-sent events from an offset, then the result",
        description: "Events `stdout`/`stderr` (`{offset, data, encoding?}`, id = the offset " +
          "after the event), `gap` (`{offset, skipped}`) and `exit` (`{offset, result}`, id " +
          "`exit`). Reconnecting with `Last-Event-ID` resumes exactly after the last event; " +
          "after `exit` it answers 204.",
        tags,
        parameters: [
          idParam,
          { ...offset, description: "Where to start (default 0; Last-Event-ID wins)" },
          stream,
          {
            name: "Last-Event-ID",
            in: "header",
            required: false,
            schema: { type: "string" },
          },
        ],
        responses: {
          "200": { description: "The event stream", content: { "text/event-stream": {} } },
          "204": { description: "Last-Event-ID was `exit`: nothing more will come" },
          "400": error("`bad_offset` or `bad_message`"),
          "404": unknownSession,
        },
      },
    },
    [`${p}/sessions/{id}/input`]: {
      post: {
        summary: "Write the raw body to the process's stdin",
        description: "The body is streamed to the process as it reads it (any size; read only " +
          "as fast as the process takes it). Answers once the process has taken every byte.",
        tags,
        parameters: [idParam],
        requestBody: {
          required: true,
          content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } },
        },
        responses: {
          "204": noContent,
          "404": unknownSession,
          "408": error("`limit_reached`: the body stalled for `limits.bodyTimeout`"),
          "409": error("`stdin_closed`: input was closed or the session ended"),
          "429": error("`limit_reached`: too much input is pending"),
        },
      },
    },
    [`${p}/sessions/{id}/eof`]: {
      post: {
        summary: "Close the process's stdin (it reads end of file; output continues)",
        tags,
        parameters: [idParam],
        responses: { "204": noContent, "404": unknownSession },
      },
    },
    [`${p}/sessions/{id}/signal`]: {
      post: {
        summary: "Signal the process",
        description: "`cancel` ends it the orderly way; the others send SIGINT, SIGTERM, " +
          "SIGKILL or SIGHUP to its process group. Signalling an ended session is no error.",
        tags,
        parameters: [idParam],
        requestBody: jsonBody({
          type: "object",
          required: ["signal"],
          properties: {
            signal: { enum: ["cancel", "interrupt", "terminate", "kill", "hangup"] },
          },
        }),
        responses: {
          "204": noContent,
          "400": error("`bad_json` or `bad_message`"),
          "404": unknownSession,
          "409": error("`unsupported`: the runner cannot deliver this signal"),
        },
      },
    },
    [`${p}/sessions/{id}/resize`]: {
      post: {
        summary: "Resize the session's terminal",
        tags,
        parameters: [idParam],
        requestBody: jsonBody({
          type: "object",
          required: ["cols", "rows"],
          properties: {
            cols: { type: "integer", minimum: 1, maximum: 65535 },
            rows: { type: "integer", minimum: 1, maximum: 65535 },
          },
        }),
        responses: {
          "204": noContent,
          "400": error("`bad_json` or `bad_message`"),
          "404": unknownSession,
          "409": error("`not_pty`: the session has no terminal"),
        },
      },
    },
  };
}

/**
 * The trace context of a REST start: the body's `traceparent`/`tracestate`, else the request's
 * W3C `traceparent`/`tracestate` headers (as any instrumented HTTP client sends them).
 */
function traceOf(
  start: { traceparent?: string; tracestate?: string },
  headers: Headers,
): { traceparent: string; tracestate?: string } | undefined {
  if (start.traceparent) return { traceparent: start.traceparent, tracestate: start.tracestate };
  const traceparent = headers.get("traceparent")?.trim();
  if (!traceparent) return undefined;
  const tracestate = headers.get("tracestate")?.trim();
  return tracestate ? { traceparent, tracestate } : { traceparent };
}
