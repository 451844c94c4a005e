// Copyright the pow authors. MIT license.
/**
 * Validating parsers for `pow.v2` control messages. They never throw on bad
 * input: they return a structured error with the code to answer with.
 *
 * @module
 */

import {
  ERROR_CODES,
  type ErrorCode,
  MAX_CHANNEL_ID,
  SESSION_STATES,
  SIGNAL_NAMES,
  V2_SUBPROTOCOL,
} from "./constants.ts";
import type {
  ChannelId,
  ClientMessage,
  ErrorMessage,
  ParamInfo,
  ProcessInfo,
  ProcessResult,
  Ref,
  ServerMessage,
  SessionInfo,
} from "./messages.ts";
import type { MonoRailResponse } from "./monorail.ts";
import { base64Length } from "./inline.ts";
import {
  bool,
  defined,
  id,
  int,
  Invalid,
  isChannelId,
  isObject,
  isRef,
  nested,
  type Obj,
  obj,
  objArray,
  oneOf,
  optBool,
  optInt,
  optStr,
  ref,
  str,
  strArray,
} from "./_validate.ts";

/**
 * What was wrong with an incoming message or frame: the error code to answer
 * with, a message, and the channel `id` and `ref` of the bad message when
 * they could be read, so that the answer reaches the right caller.
 */
export interface ErrorInfo {
  /** The stable error code. */
  code: ErrorCode;
  /** A human-readable explanation. */
  message: string;
  /** The channel id of the bad message, when it had a valid one. */
  id?: ChannelId;
  /** The `ref` of the bad message, when it had a valid one. */
  ref?: Ref;
}

/** Either a valid value or the reason why the input was invalid. */
export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: ErrorInfo };

const SESSION_ID = /^[A-Za-z0-9_-]+$/;
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}(-.*)?$/;
const DIMENSION_MAX = 65535;

type Parsers<T> = Record<string, (o: Obj) => T>;

function session(o: Obj): string {
  const value = str(o, "session", 128);
  if (!SESSION_ID.test(value)) throw new Invalid("bad_message", '"session" is not a session id');
  return value;
}

function traceparent(o: Obj): string | undefined {
  const value = optStr(o, "traceparent", 512);
  if (value === undefined) return undefined;
  const match = TRACEPARENT.exec(value);
  if (
    !match || match[1] === "ff" || /^0+$/.test(match[2]) || /^0+$/.test(match[3]) ||
    (match[1] === "00" && match[4] !== undefined)
  ) {
    throw new Invalid("bad_message", '"traceparent" is not a W3C trace context traceparent');
  }
  return value;
}

/** A provided process's name: no `/` (wubsub's `<channel>/<method>`), no spaces. */
const PROVIDED_NAME = /^[A-Za-z0-9_.:@+-]{1,64}$/;

function providedName(o: Obj): string {
  const value = str(o, "name", 256);
  if (!PROVIDED_NAME.test(value)) {
    throw new Invalid(
      "bad_message",
      '"name" must be 1 to 64 letters, digits, "_", "-", ".", ":", "@" or "+"',
    );
  }
  return value;
}

function providedParams(o: Obj): ParamInfo[] {
  if (o.params === undefined) return [];
  const params = objArray(o, "params", paramInfo);
  params.forEach((param, i) => {
    const path = `params[${i}]`;
    if (param.pattern !== undefined) {
      try {
        new RegExp(`^(?:${param.pattern})$`, "u");
      } catch {
        throw new Invalid("bad_message", `"${path}.pattern" is not a valid regular expression`);
      }
    }
    if (param.variadic && i !== params.length - 1) {
      throw new Invalid("bad_message", `"${path}" is variadic but not the last param`);
    }
    if (!param.optional && !param.variadic && params.slice(0, i).some((p) => p.optional)) {
      throw new Invalid("bad_message", `"${path}" is required but follows an optional param`);
    }
  });
  return params;
}

const CLIENT_PARSERS: Parsers<ClientMessage> = {
  start(o) {
    const pty = optBool(o, "pty");
    const cols = optInt(o, "cols", 1, DIMENSION_MAX);
    const rows = optInt(o, "rows", 1, DIMENSION_MAX);
    if ((cols === undefined) !== (rows === undefined)) {
      throw new Invalid("bad_message", '"cols" and "rows" must be given together');
    }
    if (cols !== undefined && pty !== true) {
      throw new Invalid("bad_message", '"cols" and "rows" require "pty": true');
    }
    const parent = traceparent(o);
    const state = optStr(o, "tracestate", 512);
    if (state !== undefined && parent === undefined) {
      throw new Invalid("bad_message", '"tracestate" requires "traceparent"');
    }
    return defined({
      type: "start" as const,
      id: id(o),
      ref: ref(o),
      name: str(o, "name", 256),
      params: o.params === undefined ? [] : strArray(o, "params"),
      pty,
      cols,
      rows,
      credit: optInt(o, "credit", 0),
      traceparent: parent,
      tracestate: state,
      inline: optBool(o, "inline"),
    });
  },
  attach: (o) =>
    defined({
      type: "attach" as const,
      id: id(o),
      ref: ref(o),
      session: session(o),
      offset: optInt(o, "offset", 0),
      credit: optInt(o, "credit", 0),
    }),
  detach: (o) => defined({ type: "detach" as const, id: id(o), ref: ref(o) }),
  eof: (o) => defined({ type: "eof" as const, id: id(o), ref: ref(o) }),
  signal: (o) =>
    defined({
      type: "signal" as const,
      id: id(o),
      ref: ref(o),
      signal: oneOf(o, "signal", SIGNAL_NAMES),
    }),
  resize: (o) =>
    defined({
      type: "resize" as const,
      id: id(o),
      ref: ref(o),
      cols: int(o, "cols", 1, DIMENSION_MAX),
      rows: int(o, "rows", 1, DIMENSION_MAX),
    }),
  credit: (o) =>
    defined({ type: "credit" as const, id: id(o), ref: ref(o), bytes: int(o, "bytes", 1) }),
  list: (o) => defined({ type: "list" as const, ref: ref(o) }),
  processes: (o) => defined({ type: "processes" as const, ref: ref(o) }),
  ping: (o) => defined({ type: "ping" as const, ref: ref(o) }),
  provide: (o) =>
    defined({
      type: "provide" as const,
      ref: ref(o),
      name: providedName(o),
      description: optStr(o, "description"),
      params: providedParams(o),
    }),
  exit: (o) => defined({ type: "exit" as const, id: id(o), ref: ref(o), result: resultField(o) }),
  watch(o) {
    const channel = str(o, "channel", 256);
    if (o.params !== undefined && !isObject(o.params)) {
      throw new Invalid("bad_message", '"params" is not an object');
    }
    return defined({
      type: "watch" as const,
      watch: int(o, "watch", 1, MAX_CHANNEL_ID),
      channel,
      params: o.params as Record<string, unknown> | undefined,
      ref: ref(o),
    });
  },
  unwatch: (o) =>
    defined({
      type: "unwatch" as const,
      watch: int(o, "watch", 1, MAX_CHANNEL_ID),
      ref: ref(o),
    }),
};

function result(o: Obj): ProcessResult {
  const status = oneOf(o, "status", ["fulfilled", "rejected"] as const);
  const exitCode = optInt(o, "exitCode", Number.MIN_SAFE_INTEGER);
  const signal = optStr(o, "signal", 64);
  if (status === "fulfilled") {
    const value = Object.hasOwn(o, "value") ? o.value : null;
    return defined({ status, value, exitCode, signal });
  }
  if (typeof o.reason !== "string") throw new Invalid("bad_message", '"reason" is not a string');
  const kind = optStr(o, "kind", 32);
  return defined({ status, reason: o.reason, kind, exitCode, signal });
}

function resultField(o: Obj): ProcessResult {
  const value = obj(o, "result");
  return nested("result", () => result(value));
}

function sessionInfo(o: Obj, path: string): SessionInfo {
  return nested(path, () => {
    const state = oneOf(o, "state", SESSION_STATES);
    const ended = state === "fulfilled" || state === "rejected";
    const res = Object.hasOwn(o, "result") ? resultField(o) : undefined;
    if (ended !== (res !== undefined) || (res !== undefined && res.status !== state)) {
      throw new Invalid(
        "bad_message",
        '"result" must be present exactly when the state is final and match it',
      );
    }
    return defined({
      session: session(o),
      name: str(o, "name", 256),
      params: strArray(o, "params"),
      state,
      pty: bool(o, "pty"),
      pid: optInt(o, "pid", 0),
      owner: optStr(o, "owner", 256),
      offset: int(o, "offset", 0),
      createdAt: int(o, "createdAt", 0),
      endedAt: optInt(o, "endedAt", 0),
      attached: int(o, "attached", 0),
      result: res,
      traceparent: optStr(o, "traceparent", 512),
      tracestate: optStr(o, "tracestate", 512),
    });
  });
}

function paramInfo(o: Obj, path: string): ParamInfo {
  return nested(path, () =>
    defined({
      name: str(o, "name", 256),
      description: optStr(o, "description"),
      pattern: optStr(o, "pattern"),
      enum: Object.hasOwn(o, "enum") ? strArray(o, "enum") : undefined,
      optional: optBool(o, "optional"),
      variadic: optBool(o, "variadic"),
    }));
}

function processInfo(o: Obj, path: string): ProcessInfo {
  return nested(path, () =>
    defined({
      name: str(o, "name", 256),
      description: optStr(o, "description"),
      params: objArray(o, "params", paramInfo),
      pty: bool(o, "pty"),
    }));
}

const OUTPUT_STREAMS = ["stdout", "stderr"] as const;

const SERVER_PARSERS: Parsers<ServerMessage> = {
  hello: (o) =>
    defined({
      type: "hello" as const,
      protocol: oneOf(o, "protocol", [V2_SUBPROTOCOL] as const),
      server: str(o, "server", 256),
      maxMessageSize: int(o, "maxMessageSize", 1),
      stdinCredit: int(o, "stdinCredit", 0),
      lingerMs: int(o, "lingerMs", 0),
      maxChannels: int(o, "maxChannels", 1, MAX_CHANNEL_ID),
      inline: optBool(o, "inline"),
    }),
  started: (o) =>
    defined({
      type: "started" as const,
      id: id(o),
      ref: ref(o),
      session: session(o),
      pid: optInt(o, "pid", 0),
      pty: bool(o, "pty"),
    }),
  attached: (o) =>
    defined({
      type: "attached" as const,
      id: id(o),
      ref: ref(o),
      session: session(o),
      name: str(o, "name", 256),
      state: oneOf(o, "state", SESSION_STATES),
      pid: optInt(o, "pid", 0),
      pty: bool(o, "pty"),
      offset: int(o, "offset", 0),
      skipped: int(o, "skipped", 0),
      stdinOffset: int(o, "stdinOffset", 0),
      stdinClosed: bool(o, "stdinClosed"),
    }),
  detached: (o) => defined({ type: "detached" as const, id: id(o), ref: ref(o) }),
  ok(o) {
    const r = ref(o);
    if (r === undefined) throw new Invalid("bad_message", '"ref" is missing');
    return { type: "ok" as const, id: id(o), ref: r };
  },
  credit: (o) =>
    defined({ type: "credit" as const, id: id(o), ref: ref(o), bytes: int(o, "bytes", 1) }),
  gap: (o) => ({
    type: "gap" as const,
    id: id(o),
    offset: int(o, "offset", 0),
    skipped: int(o, "skipped", 1),
  }),
  exit(o) {
    const exit = {
      type: "exit" as const,
      id: id(o),
      session: session(o),
      offset: int(o, "offset", 0),
      result: resultField(o),
    };
    if (!Object.hasOwn(o, "output")) return exit;
    // An inline exit: `started`'s fields and the whole output.
    let length = 0;
    const output = objArray(o, "output", (run, path) =>
      nested(path, () => {
        const stream = oneOf(run, "stream", OUTPUT_STREAMS);
        const data = str(run, "data", Infinity);
        const n = base64Length(data);
        if (n < 0) throw new Invalid("bad_message", '"data" is not base64');
        length += n;
        return { stream, data };
      }));
    if (length !== exit.offset) {
      throw new Invalid(
        "bad_message",
        `"output" has ${length} bytes but "offset" is ${exit.offset}`,
      );
    }
    return defined({
      type: "exit" as const,
      id: exit.id,
      ref: ref(o),
      session: exit.session,
      pid: optInt(o, "pid", 0),
      pty: bool(o, "pty"),
      offset: exit.offset,
      output,
      result: exit.result,
    });
  },
  sessions: (o) =>
    defined({
      type: "sessions" as const,
      ref: ref(o),
      sessions: objArray(o, "sessions", sessionInfo),
    }),
  processes: (o) =>
    defined({
      type: "processes" as const,
      ref: ref(o),
      processes: objArray(o, "processes", processInfo),
    }),
  pong: (o) => defined({ type: "pong" as const, ref: ref(o) }),
  provided: (o) => defined({ type: "provided" as const, ref: ref(o), name: str(o, "name", 256) }),
  serve: (o) => ({
    type: "serve" as const,
    id: id(o),
    name: str(o, "name", 256),
    params: strArray(o, "params"),
    session: session(o),
    caller: str(o, "caller", 256),
    credit: int(o, "credit", 0),
  }),
  eof: (o) => ({ type: "eof" as const, id: id(o) }),
  cancel: (o) => ({ type: "cancel" as const, id: id(o), reason: str(o, "reason") }),
  event(o) {
    const event = obj(o, "event");
    str(event, "handler", 64);
    return {
      type: "event" as const,
      watch: int(o, "watch", 1, MAX_CHANNEL_ID),
      event: event as unknown as MonoRailResponse,
    };
  },
  error(o) {
    const channel = Object.hasOwn(o, "id") ? id(o) : undefined;
    return defined({
      type: "error" as const,
      id: channel,
      ref: ref(o),
      code: oneOf(o, "code", ERROR_CODES),
      message: str(o, "message"),
    });
  },
};

function parseWith<T>(text: string, parsers: Parsers<T>): ParseResult<T> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return {
      ok: false,
      error: { code: "bad_json", message: "Cannot parse message: invalid JSON" },
    };
  }
  return validateWith(json, parsers);
}

function validateWith<T>(json: unknown, parsers: Parsers<T>): ParseResult<T> {
  if (!isObject(json)) {
    return {
      ok: false,
      error: { code: "bad_message", message: "Cannot parse message: not a JSON object" },
    };
  }
  // The id and ref of a bad message, echoed in its error (only built for an error).
  const echo = () =>
    defined({
      id: isChannelId(json.id) ? json.id : undefined,
      ref: isRef(json.ref) ? json.ref : undefined,
    });
  const type = json.type;
  if (typeof type !== "string") {
    const what = type === undefined ? "is missing" : "is not a string";
    return {
      ok: false,
      error: { code: "bad_message", message: `Cannot parse message: "type" ${what}`, ...echo() },
    };
  }
  if (!Object.hasOwn(parsers, type)) {
    return {
      ok: false,
      error: { code: "unknown_type", message: `Unknown message type "${type}"`, ...echo() },
    };
  }
  try {
    return { ok: true, value: parsers[type](json) };
  } catch (e) {
    if (!(e instanceof Invalid)) throw e;
    return {
      ok: false,
      error: { code: e.code, message: `Cannot parse "${type}" message: ${e.message}`, ...echo() },
    };
  }
}

/**
 * Parses and validates the JSON text of a control message from a client.
 * Unknown fields are ignored; every known field is checked.
 *
 * @param text The text of a WebSocket text frame.
 * @returns The message, or the error to answer with (`bad_json`,
 * `bad_message` or `unknown_type`).
 *
 * @example A valid message
 * ```ts
 * import { parseClientMessage } from "@pow/protocol";
 * import { deepStrictEqual } from "node:assert/strict";
 *
 * const parsed = parseClientMessage('{"type":"signal","id":3,"signal":"interrupt"}');
 * deepStrictEqual(parsed, { ok: true, value: { type: "signal", id: 3, signal: "interrupt" } });
 * ```
 *
 * @example An invalid message keeps the id and ref for the answer
 * ```ts
 * import { parseClientMessage } from "@pow/protocol";
 * import { deepStrictEqual } from "node:assert/strict";
 *
 * const parsed = parseClientMessage('{"type":"start","id":1,"ref":"a","name":"ls","params":[1]}');
 * deepStrictEqual(parsed, {
 *   ok: false,
 *   error: {
 *     code: "bad_message",
 *     message: 'Cannot parse "start" message: "params[0]" is not a string',
 *     id: 1,
 *     ref: "a",
 *   },
 * });
 * ```
 */
export function parseClientMessage(text: string): ParseResult<ClientMessage> {
  return parseWith(text, CLIENT_PARSERS);
}

/**
 * Validates a control message from a client that is already parsed from JSON (for example a
 * REST body with `type` and `id` added), without serializing it again. Unknown fields are
 * ignored, however large or deeply nested; every known field is checked.
 *
 * @param value The parsed JSON value.
 * @returns The message, or the error to answer with (`bad_message` or `unknown_type`).
 *
 * @example
 * ```ts
 * import { validateClientMessage } from "@pow/protocol";
 * import { deepStrictEqual } from "node:assert/strict";
 *
 * const parsed = validateClientMessage({ type: "resize", id: 1, cols: 80, rows: 24, x: [[[]]] });
 * deepStrictEqual(parsed, { ok: true, value: { type: "resize", id: 1, cols: 80, rows: 24 } });
 * ```
 */
export function validateClientMessage(value: unknown): ParseResult<ClientMessage> {
  return validateWith(value, CLIENT_PARSERS);
}

/**
 * Parses and validates the JSON text of a control message from a server.
 * Unknown fields are ignored; every known field is checked.
 *
 * @param text The text of a WebSocket text frame.
 * @returns The message, or what was wrong with it.
 *
 * @example
 * ```ts
 * import { parseServerMessage } from "@pow/protocol";
 * import { equal } from "node:assert/strict";
 *
 * const parsed = parseServerMessage(
 *   '{"type":"exit","id":1,"session":"abc","offset":3,"result":{"status":"fulfilled","value":null,"exitCode":0}}',
 * );
 * if (!parsed.ok || parsed.value.type !== "exit") throw new Error("unexpected");
 * equal(parsed.value.result.exitCode, 0);
 * ```
 */
export function parseServerMessage(text: string): ParseResult<ServerMessage> {
  return parseWith(text, SERVER_PARSERS);
}

/**
 * Turns a parse or decode error into the `error` message a server sends back.
 *
 * @param error The error from a parser or `decodeDataFrame`.
 * @returns The `error` message, with the same code, message, id and ref.
 *
 * @example
 * ```ts
 * import { encodeMessage, parseClientMessage, toErrorMessage } from "@pow/protocol";
 * import { equal } from "node:assert/strict";
 *
 * const parsed = parseClientMessage('{"type":"launch","ref":7}');
 * if (parsed.ok) throw new Error("unexpected");
 * equal(
 *   encodeMessage(toErrorMessage(parsed.error)),
 *   '{"type":"error","code":"unknown_type","message":"Unknown message type \\"launch\\"","ref":7}',
 * );
 * ```
 */
export function toErrorMessage(error: ErrorInfo): ErrorMessage {
  return defined({ type: "error" as const, ...error });
}
