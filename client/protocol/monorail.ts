// Copyright the pow authors. MIT license.
/**
 * The MonoRail resource protocol: JSON messages with a `handler` field over a WebSocket at
 * `/events/<channel>` (no subprotocol), as in the MonoRail WebSocket specification, made exact
 * for pow. See `docs/events.md`.
 *
 * Browser compatible: no `Deno.*`, no Node built-ins.
 *
 * @example Parse what a client sends
 * ```ts
 * import { parseMonoRailRequest } from "./monorail.ts";
 * import assert from "node:assert/strict";
 *
 * const parsed = parseMonoRailRequest('{"handler":"watch","params":{"id":"s1"}}');
 * assert.deepEqual(parsed, { ok: true, value: { handler: "watch", params: { id: "s1" } } });
 * const bad = parseMonoRailRequest('{"handler":"fly"}');
 * assert.equal(!bad.ok && bad.error.code, "unknown_handler");
 * ```
 *
 * @module
 */

/** The handlers a client sends. */
export const MONORAIL_REQUEST_HANDLERS = [
  "init",
  "query",
  "all",
  "get",
  "watch",
  "stop",
] as const;

/** A handler a client sends. */
export type MonoRailRequestHandler = typeof MONORAIL_REQUEST_HANDLERS[number];

/** Params of a request: a JSON object whose meaning depends on the channel. */
export type MonoRailParams = Record<string, unknown>;

/**
 * `init`: asks for a connection id. With `id` (a previous connection's), resumes that
 * connection's watches; `seq` is the last `seq` the client received and `offsets` the `next`
 * offset of the last `logs` item per session, so nothing is delivered twice or lost.
 */
export interface MonoRailInit {
  /** Discriminates messages. */
  handler: "init";
  /** A previous connection id to resume. */
  id?: string;
  /** The last `seq` received on that connection. */
  seq?: number;
  /** For `logs`: the `next` offset of the last item received, per session. */
  offsets?: Record<string, number>;
}

/** `query`: asks for the items matching `params`. */
export interface MonoRailQuery {
  /** Discriminates messages. */
  handler: "query";
  /** The filter. */
  params?: MonoRailParams;
}

/** `all`: asks for every item. */
export interface MonoRailAll {
  /** Discriminates messages. */
  handler: "all";
}

/** `get`: asks for one item; the answer is `item` or `remove`. */
export interface MonoRailGet {
  /** Discriminates messages. */
  handler: "get";
  /** Identifies the item. */
  params?: MonoRailParams;
}

/** `watch`: a `list` of the matching items, then `item`/`remove` on every change. */
export interface MonoRailWatch {
  /** Discriminates messages. */
  handler: "watch";
  /** The filter. */
  params?: MonoRailParams;
}

/** `stop`: ends the watch with equal `params` (every watch when `params` is left out). */
export interface MonoRailStop {
  /** Discriminates messages. */
  handler: "stop";
  /** The params of the watch to stop. */
  params?: MonoRailParams;
}

/** What a client sends. */
export type MonoRailRequest =
  | MonoRailInit
  | MonoRailQuery
  | MonoRailAll
  | MonoRailGet
  | MonoRailWatch
  | MonoRailStop;

/** `session`: the connection id. */
export interface MonoRailSession {
  /** Discriminates messages. */
  handler: "session";
  /** The connection id (the same id when a resume succeeded). */
  id: string;
  /** Whether the previous connection's watches were resumed. */
  resumed?: boolean;
}

/** `list`: a collection. */
export interface MonoRailList {
  /** Discriminates messages. */
  handler: "list";
  /** The items. */
  items: unknown[];
  /** The bus position the list is current at (resume from here). */
  seq?: number;
}

/** `item`: one item, new or changed. */
export interface MonoRailItem {
  /** Discriminates messages. */
  handler: "item";
  /** The item. */
  data: unknown;
  /** The bus event that caused it, when one did (resume after it). */
  seq?: number;
}

/** `remove`: an item is gone (or not visible, or no longer matches a watch). */
export interface MonoRailRemove {
  /** Discriminates messages. */
  handler: "remove";
  /** Identifies the item. */
  params: MonoRailParams;
  /** The bus event that caused it, when one did. */
  seq?: number;
}

/** Error codes of `error` messages. */
export type MonoRailErrorCode =
  | "bad_json"
  | "bad_message"
  | "unknown_handler"
  | "bad_params"
  | "not_allowed"
  | "unsupported";

/** `error`: a request could not be served. The connection stays open. */
export interface MonoRailError {
  /** Discriminates messages. */
  handler: "error";
  /** A stable machine-readable code. */
  code: MonoRailErrorCode;
  /** What went wrong. */
  text: string;
}

/** What the server sends (plus broadcasts, which carry any `handler`). */
export type MonoRailResponse =
  | MonoRailSession
  | MonoRailList
  | MonoRailItem
  | MonoRailRemove
  | MonoRailError;

/** A parse result. */
export type MonoRailParseResult =
  | { ok: true; value: MonoRailRequest }
  | { ok: false; error: { code: MonoRailErrorCode; text: string } };

/** The most characters of a message the server reads. */
export const MONORAIL_MAX_MESSAGE = 65536;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Parses and validates a message a client sends.
 *
 * @example
 * ```ts
 * import { parseMonoRailRequest } from "./monorail.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parseMonoRailRequest("{"), {
 *   ok: false,
 *   error: { code: "bad_json", text: "Cannot parse the message: not JSON" },
 * });
 * ```
 *
 * @param text The message text.
 * @returns The request, or the error to send back.
 */
export function parseMonoRailRequest(text: string): MonoRailParseResult {
  const fail = (code: MonoRailErrorCode, text: string): MonoRailParseResult => ({
    ok: false,
    error: { code, text },
  });
  if (text.length > MONORAIL_MAX_MESSAGE) {
    return fail(
      "bad_message",
      `Cannot read the message: ${text.length} characters, at most ${MONORAIL_MAX_MESSAGE} allowed`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return fail("bad_json", "Cannot parse the message: not JSON");
  }
  if (!isObject(value)) return fail("bad_message", "Cannot read the message: not a JSON object");
  const handler = value.handler;
  if (typeof handler !== "string") {
    return fail("bad_message", 'Cannot read the message: no "handler" string');
  }
  if (!(MONORAIL_REQUEST_HANDLERS as readonly string[]).includes(handler)) {
    return fail(
      "unknown_handler",
      `Unknown handler "${handler}": expected one of ${MONORAIL_REQUEST_HANDLERS.join(", ")}`,
    );
  }
  if (value.params !== undefined && !isObject(value.params)) {
    return fail("bad_params", `Invalid params of "${handler}": expected a JSON object`);
  }
  if (handler === "init") {
    const init: MonoRailInit = { handler };
    if (value.id !== undefined) {
      if (typeof value.id !== "string" || value.id.length > 64) {
        return fail("bad_params", 'Invalid "id" of "init": expected a connection id');
      }
      init.id = value.id;
    }
    if (value.seq !== undefined) {
      if (!Number.isSafeInteger(value.seq) || (value.seq as number) < 0) {
        return fail("bad_params", 'Invalid "seq" of "init": expected a whole number');
      }
      init.seq = value.seq as number;
    }
    if (value.offsets !== undefined) {
      if (
        !isObject(value.offsets) ||
        !Object.values(value.offsets).every((n) => Number.isSafeInteger(n) && (n as number) >= 0)
      ) {
        return fail(
          "bad_params",
          'Invalid "offsets" of "init": expected session ids mapped to byte offsets',
        );
      }
      init.offsets = value.offsets as Record<string, number>;
    }
    return { ok: true, value: init };
  }
  if (handler === "all") return { ok: true, value: { handler } };
  const params = value.params as MonoRailParams | undefined;
  return {
    ok: true,
    value: (params === undefined ? { handler } : { handler, params }) as MonoRailRequest,
  };
}
