/**
 * The pow-1 REST front end, wire-compatible with the original: `POST /new`,
 * `GET /status/{id}`, `POST /input/{id}`, `POST /closeInput/{id}` and `POST /cancel/{id}`,
 * with plain-text error bodies. Sessions are the same as the WebSocket's (same registry); a
 * REST session expires `pow1.restExpiry` after the last request on it.
 *
 * @module
 */

import type { Context, Hono } from "hono";
import {
  BodyError,
  callErrorStatus,
  jsonBody,
  pathParameter,
  pipeBody,
  readBody,
  stdinWindow,
  textResponse,
} from "../_kit/mod.ts";
import { CallError } from "../../errors.ts";
import type { FrontEnd, FrontEndContext, FrontEndFactory, PowEnv } from "../../front_end.ts";
import { pow1ConfigSection } from "./config.ts";
import type { OutputChunk, OutputReader } from "../../output_log.ts";
import type { Caller } from "../../process.ts";
import type { Session } from "../../session.ts";
import { type Pow1Result, readPow1Call } from "@pow/protocol";
import { pow1CallErrorReason, pow1Result } from "./_results.ts";

/** The body of `GET /status/{id}`. */
export interface Pow1Status {
  /** The last complete output lines, joined by `\n`; left out when empty. */
  buffer?: string;
  /** The result, or `{"status":"pending"}` while the process runs. */
  result: Pow1Result | { status: "pending" };
}

/**
 * Keeps the last lines of a session's output for `GET /status/{id}`, reading the output
 * continuously so that the process is never held back by an unread log.
 */
class StatusBuffer {
  readonly session: Session;
  /** The reason of a call that could not start, already in pow-1 words. */
  readonly callError: string | undefined;
  #max: number;
  #lines: string[] = [];
  #partial = "";
  #decoders = { stdout: new TextDecoder(), stderr: new TextDecoder() };
  #reader: OutputReader;
  #flushed = false;

  constructor(session: Session, maxLines: number, callError?: string) {
    this.session = session;
    this.callError = callError;
    this.#max = maxLines;
    this.#reader = session.reader();
    this.#consume();
  }

  async #consume(): Promise<void> {
    let chunks: OutputChunk[] | null;
    while ((chunks = await this.#reader.read()) !== null) this.#take(chunks);
  }

  #take(chunks: OutputChunk[]): void {
    for (const chunk of chunks) {
      this.#append(this.#decoders[chunk.stream].decode(chunk.data, { stream: true }));
    }
  }

  #append(text: string): void {
    const parts = text.split("\n");
    this.#partial += parts[0];
    for (let i = 1; i < parts.length; i++) {
      this.#lines.push(this.#partial.endsWith("\r") ? this.#partial.slice(0, -1) : this.#partial);
      this.#partial = parts[i];
    }
    if (this.#lines.length > 2 * this.#max) this.#lines.splice(0, this.#lines.length - this.#max);
  }

  status(): Pow1Status {
    this.#take(this.#reader.readAvailable());
    const outcome = this.session.outcome;
    if (outcome && !this.#flushed && this.session.log.closed) {
      this.#take(this.#reader.readAvailable());
      this.#flushed = true;
      this.#append(this.#decoders.stdout.decode() + this.#decoders.stderr.decode());
      if (this.#partial) this.#append("\n");
    }
    const buffer = this.#lines.slice(-this.#max).join("\n");
    const result = !outcome
      ? { status: "pending" as const }
      : this.callError !== undefined
      ? { status: "rejected" as const, reason: this.callError }
      : pow1Result(outcome);
    // The poller sees the result (pow-1 REST keeps only the last lines of output anyway).
    if (outcome) this.session.markDelivered();
    return buffer ? { buffer, result } : { result };
  }

  dispose(): void {
    this.#reader.close();
  }
}

/**
 * The pow-1 REST front end.
 *
 * @example Run `echo` over REST
 * ```ts
 * import { createServer, defaultConfig } from "../../../mod.ts";
 * import { pow1Rest } from "./rest.ts";
 * import assert from "node:assert/strict";
 *
 * const server = createServer(defaultConfig(), { frontEnds: [pow1Rest] });
 * const post = (path: string, body?: string) =>
 *   server.fetch(new Request(`http://localhost${path}`, { method: "POST", body }));
 * const id = await (await post("/new", '{"call":"echo","params":["x"]}')).json();
 * assert.equal(await (await post(`/input/${id}`, "hello\n")).text(), "input sent");
 * assert.equal(await (await post(`/closeInput/${id}`)).text(), "input closed");
 * await server.manager.get(id)!.result;
 * const status = await (await server.fetch(new Request(`http://localhost/status/${id}`))).json();
 * assert.deepEqual(status, { buffer: "hello", result: { status: "fulfilled", value: ["x"] } });
 * await server.close();
 * ```
 *
 * @param context The server's shared services.
 * @returns The front end.
 */
export const pow1Rest: FrontEndFactory = (context: FrontEndContext): FrontEnd => {
  const { manager, config } = context;
  const buffers = new Map<string, StatusBuffer>();
  const onRemoved = (event: Event) => {
    const { session } = (event as CustomEvent<{ session: Session }>).detail;
    buffers.get(session.id)?.dispose();
    buffers.delete(session.id);
  };
  manager.registry.addEventListener("removed", onRemoved);

  const text = (
    c: Context<PowEnv>,
    body: string,
    status: 200 | 400 | 404 | 408 | 413 | 429 | 500 | 503,
  ) => c.text(body, status, { "content-type": "text/plain; charset=utf-8" });
  const notFound = (c: Context<PowEnv>) => text(c, "process not found", 404);

  /** Finds the caller's REST session and touches it (extends its expiry). */
  const find = (c: Context<PowEnv>): Response | StatusBuffer => {
    const caller = c.get("caller");
    const id = c.req.param("id") ?? "";
    const session = manager.get(id, caller);
    const buffer = session && buffers.get(id);
    if (!buffer) return notFound(c);
    session.touch();
    return buffer;
  };

  return {
    name: "pow-1-rest",
    routes(app: Hono<PowEnv>): void {
      app.post("/new", async (c) => {
        const caller = c.get("caller");
        let body: string;
        try {
          const { maxBody, bodyTimeout } = config.limits;
          body = await readBody(c.req.raw, { limit: maxBody, timeout: bodyTimeout });
        } catch (error) {
          if (!(error instanceof BodyError)) throw error;
          return text(c, error.message, error.status);
        }
        const call = readPow1Call(body);
        if (!call) return text(c, "failed to decode call message", 400);
        const options = {
          caller: { ...caller, via: "pow-1-rest" } as Caller,
          linger: config.pow1.restExpiry,
        };
        let session: Session;
        let callError: string | undefined;
        try {
          session = manager.start(call.call, call.params ?? null, options);
        } catch (error) {
          if (!(error instanceof CallError)) throw error;
          callError = pow1CallErrorReason(error);
          // A call refused by a limit gets no id: it must not hold a session either.
          if (error.code === "limit_reached") {
            return text(c, callError, callErrorStatus(error) as 429 | 503);
          }
          try {
            // Listings (pow.v2 `sessions`, `GET /api/v2/sessions`) carry names of 1 to 256
            // characters: a call of "" or of a longer name is recorded under a name that fits.
            const name = call.call.slice(0, 256) || "-";
            // A call refused before it was counted (unknown process, params, permission) still
            // counts against `startsPerMinute`: failed calls hold an id too.
            session = manager.rejected(name, call.params ?? null, options, error.message, "spawn", {
              countStart: true,
            });
          } catch (limit) {
            // Even failed calls hold an id for a while: refuse once a limit is reached.
            if (!(limit instanceof CallError)) throw limit;
            return text(c, pow1CallErrorReason(limit), callErrorStatus(limit) as 429 | 503);
          }
        }
        buffers.set(session.id, new StatusBuffer(session, config.pow1.statusLines, callError));
        return c.json(session.id);
      });
      app.get("/status/:id", (c) => {
        const found = find(c);
        if (found instanceof Response) return found;
        return c.json(found.status());
      });
      app.post("/input/:id", async (c) => {
        const found = find(c);
        if (found instanceof Response) return found;
        // Streamed to stdin as it arrives, only as fast as the process takes it.
        try {
          await pipeBody(c.req.raw, (bytes) => found.session.write(bytes), {
            timeout: config.limits.bodyTimeout,
            window: stdinWindow(config.sessions.maxPendingInput),
          });
        } catch (error) {
          if (error instanceof BodyError) return text(c, error.message, error.status);
          return text(c, "error copying data to process", 500);
        }
        return text(c, "input sent", 200);
      });
      app.post("/closeInput/:id", (c) => {
        const found = find(c);
        if (found instanceof Response) return found;
        found.session.closeInput();
        return text(c, "input closed", 200);
      });
      app.post("/cancel/:id", async (c) => {
        const found = find(c);
        if (found instanceof Response) return found;
        found.session.cancel();
        await found.session.result;
        return text(c, "process cancelled", 200);
      });
    },
    openapi: restPaths(),
    close(): void {
      manager.registry.removeEventListener("removed", onRemoved);
      for (const buffer of buffers.values()) buffer.dispose();
      buffers.clear();
    },
  };
};

pow1Rest.config = pow1ConfigSection;

function restPaths(): Record<string, unknown> {
  const plain = textResponse;
  const idParam = pathParameter("id", "The session id returned by `POST /new`");
  const notFound = plain("No session with this id (or it expired)", "process not found");
  const result = {
    oneOf: [
      {
        type: "object",
        required: ["status"],
        description: "The process completed successfully",
        properties: { status: { const: "fulfilled" }, value: {} },
      },
      {
        type: "object",
        required: ["status", "reason"],
        description: "The process failed, was cancelled, or could not start",
        properties: { status: { const: "rejected" }, reason: { type: "string" } },
      },
      {
        type: "object",
        required: ["status"],
        description: "The process is still running",
        properties: { status: { const: "pending" } },
      },
    ],
  };
  const tags = ["pow-1 REST"];
  return {
    "/new": {
      post: {
        summary: "Start a process",
        description:
          "Starts a process in the background and answers its session id. A call that cannot " +
          "start (unknown process, invalid params, not allowed) still gets an id; its status " +
          "is rejected.",
        tags,
        requestBody: jsonBody({
          type: "object",
          required: ["call"],
          properties: {
            call: { type: "string", examples: ["echo"] },
            params: {
              type: ["array", "null"],
              items: { type: "string" },
              description: "The params; missing or null means none",
            },
          },
        }),
        responses: {
          "200": {
            description: "The session id",
            content: { "application/json": { schema: { type: "string" } } },
          },
          "400": plain("The body is not a call message", "failed to decode call message"),
          "408": plain(
            "The body stalled for `limits.bodyTimeout`",
            "Cannot read the request body: no data for 30000 ms",
          ),
          "413": plain(
            "The body is larger than `limits.maxBody`",
            "Cannot read the request body: it is larger than 1048576 bytes",
          ),
          "429": plain(
            "A session limit is reached (`sessions.max`, `sessions.maxPerCaller`, " +
              "`limits.startsPerMinute`; failed calls count too)",
            "failed to get process: limit reached",
          ),
          "503": plain(
            "The server's output memory budget is used up",
            "failed to get process: limit reached",
          ),
        },
      },
    },
    "/status/{id}": {
      get: {
        summary: "Get the status of a process",
        description:
          "The last complete output lines (1000 by default, joined by newlines; a final line " +
          "without a newline is shown once the process has ended) and the result.",
        tags,
        parameters: [idParam],
        responses: {
          "200": {
            description: "The status",
            content: {
              "application/json": {
                schema: {
                  type: "object",
                  required: ["result"],
                  properties: { buffer: { type: "string" }, result },
                },
              },
            },
          },
          "404": notFound,
        },
      },
    },
    "/input/{id}": {
      post: {
        summary: "Send input to a process",
        description: "The raw body is written to the process's standard input.",
        tags,
        parameters: [idParam],
        requestBody: {
          required: true,
          content: { "text/plain": { schema: { type: "string" } } },
        },
        responses: {
          "200": plain("The input was delivered", "input sent"),
          "404": notFound,
          "500": plain(
            "Input is closed or the process has ended",
            "error copying data to process",
          ),
        },
      },
    },
    "/closeInput/{id}": {
      post: {
        summary: "Close the input of a process",
        description: "The process reads a clean end of file once earlier input is delivered.",
        tags,
        parameters: [idParam],
        responses: { "200": plain("Input is closed", "input closed"), "404": notFound },
      },
    },
    "/cancel/{id}": {
      post: {
        summary: "Cancel a process",
        description: "Cancels the process and answers once it has ended.",
        tags,
        parameters: [idParam],
        responses: { "200": plain("The process has ended", "process cancelled"), "404": notFound },
      },
    },
  };
}
