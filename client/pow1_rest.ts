// Copyright the pow authors. MIT license.
/**
 * {@linkcode Pow1RestSession}: one process over the pow-1 REST routes (`/new`, `/status/{id}`,
 * `/input/{id}`, `/closeInput/{id}`, `/cancel/{id}`), polling its status.
 *
 * @module
 */

import { deferred } from "./_deferred.ts";
import type { Pow1Result } from "./protocol/mod.ts";
import { Pow1Error } from "./errors.ts";
import { LineQueue } from "./_line_queue.ts";
import type { Pow1Outcome } from "./pow1_websocket.ts";
import { type Clock, systemClock, type TimerHandle } from "./timers.ts";

/** Options of {@linkcode Pow1RestSession}. */
export interface Pow1RestSessionOptions {
  /** The process to call. */
  call: string;
  /** Its parameters. */
  params?: string[];
  /** Called with every new output line seen in the status buffer. */
  onLogLine?: (line: string) => void;
  /** A bearer token (sent as `Authorization: Bearer`). */
  token?: string;
  /**
   * How often the status is polled, in milliseconds.
   *
   * @default {250}
   */
  pollInterval?: number;
  /**
   * How many lines the async iterator keeps while nobody reads it.
   *
   * @default {10000}
   */
  maxBuffered?: number;
  /**
   * The `fetch` to use.
   *
   * @default {globalThis.fetch}
   */
  fetch?: typeof fetch;
  /**
   * Time and timers.
   *
   * @default {systemClock}
   */
  clock?: Clock;
}

interface Status {
  buffer?: string;
  result: Pow1Result | { status: "pending" };
}

/**
 * One call of a process over pow-1 REST, with the same methods as
 * {@linkcode Pow1WebSocketSession} (they return promises here). Output lines are found by
 * comparing successive status buffers (the last 1000 complete lines): when more than that
 * arrives between two polls, or when identical lines repeat across the buffer's edge, lines
 * can be missed; use the WebSocket session or `PowClient` for exact output.
 *
 * @example Against pow's demo server (`deno run -A main.ts`)
 * ```ts ignore
 * import { Pow1RestSession } from "@pow/client";
 *
 * const session = new Pow1RestSession("http://localhost:8028/", { call: "echo", params: ["a"] });
 * await session.connect();
 * await session.sendText("hello\n");
 * await session.closeInput();
 * const { result } = await session.wait(); // { status: "fulfilled", value: ["a"] }
 * ```
 *
 * @example With a fake `fetch`
 * ```ts
 * import { Pow1RestSession } from "@pow/client";
 * import { deepStrictEqual } from "node:assert/strict";
 *
 * let polls = 0;
 * const fakeFetch = (input: RequestInfo | URL): Promise<Response> => {
 *   const path = new URL(String(input)).pathname;
 *   if (path === "/new") return Promise.resolve(Response.json("id1"));
 *   polls++;
 *   return Promise.resolve(Response.json(polls === 1
 *     ? { buffer: "one", result: { status: "pending" } }
 *     : { buffer: "one\ntwo", result: { status: "fulfilled", value: 2 } }));
 * };
 * const session = new Pow1RestSession("http://pow.test/", { call: "count", fetch: fakeFetch, pollInterval: 1 });
 * await session.connect();
 * deepStrictEqual(await session.wait(), { result: { status: "fulfilled", value: 2 } });
 * deepStrictEqual(await Array.fromAsync(session), ["one", "two"]);
 * ```
 */
export class Pow1RestSession implements AsyncIterable<string> {
  #base: URL;
  #options: Pow1RestSessionOptions;
  #fetch: typeof fetch;
  #clock: Clock;
  #id: string | undefined;
  #connect: Promise<void> | undefined;
  #done = deferred<Pow1Outcome>();
  #finished = false;
  #lines: LineQueue;
  #previous: string[] = [];
  #timer: TimerHandle | undefined;

  /**
   * Creates the session; nothing is sent before {@linkcode Pow1RestSession.connect}.
   *
   * @param baseUrl The server's `http:` or `https:` base URL.
   * @param options The call, its params, the output callback, polling.
   */
  constructor(baseUrl: string | URL, options: Pow1RestSessionOptions) {
    const base = new URL(String(baseUrl));
    if (!base.pathname.endsWith("/")) base.pathname += "/";
    this.#base = base;
    this.#options = options;
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#clock = options.clock ?? systemClock;
    this.#lines = new LineQueue(options.maxBuffered ?? 10_000);
    this.#done.promise.catch(() => {});
  }

  /** The session id the server assigned, once connected. */
  get id(): string | undefined {
    return this.#id;
  }

  /**
   * Creates the session on the server (`POST /new`) and starts polling its status.
   *
   * @returns Resolves with the session created; rejects with a {@linkcode Pow1Error}.
   */
  connect(): Promise<void> {
    this.#connect ??= (async () => {
      try {
        const text = await this.#post(
          "new",
          JSON.stringify({
            call: this.#options.call,
            params: this.#options.params,
          }),
          "create the session",
        );
        const id = JSON.parse(text);
        if (typeof id !== "string") throw new Pow1Error("Cannot create the session: no id");
        this.#id = id;
      } catch (error) {
        const failure = error instanceof Pow1Error
          ? error
          : new Pow1Error(`Cannot create the session: ${String(error)}`, { cause: error });
        this.#finish({ error: failure });
        throw failure;
      }
      this.#poll();
    })();
    return this.#connect;
  }

  /**
   * Sends text to the process's stdin (`POST /input/{id}`).
   *
   * @param text The text.
   * @returns Resolves once the server took it.
   */
  async sendText(text: string): Promise<void> {
    await this.#post(`input/${this.#requireId("send text")}`, text, "send text");
  }

  /**
   * Closes the process's stdin (`POST /closeInput/{id}`).
   *
   * @returns Resolves once closed.
   */
  async closeInput(): Promise<void> {
    await this.#post(`closeInput/${this.#requireId("close input")}`, "", "close input");
  }

  /**
   * Cancels the process (`POST /cancel/{id}`).
   *
   * @returns Resolves once the process has ended.
   */
  async cancel(): Promise<void> {
    await this.#post(`cancel/${this.#requireId("cancel")}`, "", "cancel");
    await this.#pollNow();
  }

  /**
   * Waits for the result (polling the status).
   *
   * @returns The result; rejects with a {@linkcode Pow1Error} when the session was lost.
   */
  wait(): Promise<Pow1Outcome> {
    return this.#done.promise;
  }

  /** Stops polling (the session expires on the server). */
  abandon(): void {
    this.#finish({ error: new Pow1Error("Cannot get the result: the session was abandoned") });
  }

  /**
   * Every new output line, until the result arrived.
   *
   * @returns The iterator.
   */
  [Symbol.asyncIterator](): AsyncIterator<string> {
    return this.#lines.iterate();
  }

  #requireId(what: string): string {
    if (this.#id === undefined) throw new Pow1Error(`Cannot ${what}: the session is not connected`);
    return encodeURIComponent(this.#id);
  }

  async #request(path: string, init: RequestInit, what: string): Promise<string> {
    const headers = new Headers(init.headers);
    if (this.#options.token) headers.set("authorization", `Bearer ${this.#options.token}`);
    let response: Response;
    try {
      response = await this.#fetch(new URL(path, this.#base), { ...init, headers });
    } catch (error) {
      throw new Pow1Error(`Cannot ${what}: ${(error as Error).message ?? String(error)}`, {
        cause: error,
      });
    }
    const text = await response.text();
    if (!response.ok) {
      throw new Pow1Error(`Cannot ${what}: HTTP ${response.status}: ${text}`, {
        status: response.status,
      });
    }
    return text;
  }

  #post(path: string, body: string, what: string): Promise<string> {
    return this.#request(path, { method: "POST", body }, what);
  }

  #poll(): void {
    if (this.#finished) return;
    this.#pollNow().then(() => {
      if (this.#finished) return;
      this.#timer = this.#clock.setTimeout(() => {
        this.#timer = undefined;
        this.#poll();
      }, this.#options.pollInterval ?? 250);
    });
  }

  async #pollNow(): Promise<void> {
    if (this.#finished || this.#id === undefined) return;
    let status: Status;
    try {
      status = JSON.parse(
        await this.#request(`status/${encodeURIComponent(this.#id)}`, {}, "get the status"),
      );
    } catch (error) {
      if (error instanceof Pow1Error && error.status === undefined) return; // retry next time
      this.#finish({
        error: error instanceof Pow1Error ? error : new Pow1Error(String(error), { cause: error }),
      });
      return;
    }
    if (this.#finished) return;
    const lines = status.buffer === undefined || status.buffer === ""
      ? []
      : status.buffer.split("\n");
    for (const line of newLines(this.#previous, lines)) {
      this.#lines.push(line);
      try {
        this.#options.onLogLine?.(line);
      } catch { /* the callback's problem */ }
    }
    this.#previous = lines;
    if (status.result.status !== "pending") this.#finish({ result: status.result });
  }

  #finish(outcome: { result: Pow1Result } | { error: Pow1Error }): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    if ("result" in outcome) {
      this.#lines.end();
      this.#done.resolve({ result: outcome.result });
    } else {
      this.#lines.end({ error: outcome.error });
      this.#done.reject(outcome.error);
    }
  }
}

/** The lines of `current` not in `previous`, by the longest overlap of its tail and the start. */
function newLines(previous: string[], current: string[]): string[] {
  const starts = (k: number) => {
    for (let i = 0; i < k; i++) if (previous[previous.length - k + i] !== current[i]) return false;
    return true;
  };
  // A final line without newline may still grow: compare all but the last previous line loosely.
  for (let k = Math.min(previous.length, current.length); k > 0; k--) {
    if (starts(k)) return current.slice(k);
  }
  return current;
}
