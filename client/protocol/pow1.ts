// Copyright the pow authors. MIT license.
/**
 * The pow-1 protocol: one process per WebSocket connection. Control messages
 * (call, signals, result) are JSON in binary frames; process input and output
 * are text frames.
 *
 * @module
 */

/**
 * The WebSocket subprotocol of pow-1.
 *
 * @example
 * ```ts
 * import { POW1_SUBPROTOCOL } from "@pow/protocol/pow1";
 * import { equal } from "node:assert/strict";
 *
 * equal(POW1_SUBPROTOCOL, "pow-1");
 * ```
 */
export const POW1_SUBPROTOCOL = "pow-1";

/**
 * The body of the HTTP 403 refusal when a client offers no subprotocol.
 *
 * @example
 * ```ts
 * import { POW1_NO_SUBPROTOCOL_BODY } from "@pow/protocol/pow1";
 * import { equal } from "node:assert/strict";
 *
 * equal(POW1_NO_SUBPROTOCOL_BODY, "client does not support required pow-1 subprotocol");
 * ```
 */
export const POW1_NO_SUBPROTOCOL_BODY = "client does not support required pow-1 subprotocol";

/**
 * Rejection reason for a call of a process the server does not have.
 *
 * @example
 * ```ts
 * import { encodePow1Result, POW1_REASON_UNKNOWN_PROCESS } from "@pow/protocol/pow1";
 * import { equal } from "node:assert/strict";
 *
 * const frame = encodePow1Result({ status: "rejected", reason: POW1_REASON_UNKNOWN_PROCESS });
 * equal(
 *   new TextDecoder().decode(frame),
 *   '{"status":"rejected","reason":"failed to get process: unknown process"}',
 * );
 * ```
 */
export const POW1_REASON_UNKNOWN_PROCESS = "failed to get process: unknown process";

/**
 * Rejection reason for a call whose params the process refuses.
 *
 * @example
 * ```ts
 * import { POW1_REASON_INVALID_ARGS } from "@pow/protocol/pow1";
 * import { equal } from "node:assert/strict";
 *
 * equal(POW1_REASON_INVALID_ARGS, "failed to get process: invalid args");
 * ```
 */
export const POW1_REASON_INVALID_ARGS = "failed to get process: invalid args";

/**
 * Rejection reason for a call the caller is not allowed to make.
 *
 * @example
 * ```ts
 * import { POW1_REASON_AUTHORIZATION_DENIED } from "@pow/protocol/pow1";
 * import { equal } from "node:assert/strict";
 *
 * equal(POW1_REASON_AUTHORIZATION_DENIED, "failed to get process: authorization denied");
 * ```
 */
export const POW1_REASON_AUTHORIZATION_DENIED = "failed to get process: authorization denied";

/**
 * Rejection reason for a bad control frame (invalid JSON, unknown signal, a
 * second call).
 *
 * @example
 * ```ts
 * import { POW1_REASON_PROTOCOL_ERROR } from "@pow/protocol/pow1";
 * import { equal } from "node:assert/strict";
 *
 * equal(POW1_REASON_PROTOCOL_ERROR, "protocol error occurred");
 * ```
 */
export const POW1_REASON_PROTOCOL_ERROR = "protocol error occurred";

/**
 * Rejection reason when no call arrived within the call deadline.
 *
 * @example
 * ```ts
 * import { POW1_REASON_TIMEOUT } from "@pow/protocol/pow1";
 * import { equal } from "node:assert/strict";
 *
 * equal(POW1_REASON_TIMEOUT, "timeout expired");
 * ```
 */
export const POW1_REASON_TIMEOUT = "timeout expired";

/**
 * Prefix of the rejection reason for an error the process returned.
 *
 * @example
 * ```ts
 * import { POW1_REASON_PROCESS_ERROR_PREFIX } from "@pow/protocol/pow1";
 * import { equal } from "node:assert/strict";
 *
 * equal(POW1_REASON_PROCESS_ERROR_PREFIX + "exit status 2", "process returned error: exit status 2");
 * ```
 */
export const POW1_REASON_PROCESS_ERROR_PREFIX = "process returned error: ";

/**
 * Prefix of the rejection reason for an unexpected failure (a crash).
 *
 * @example
 * ```ts
 * import { POW1_REASON_UNKNOWN_ERROR_PREFIX } from "@pow/protocol/pow1";
 * import { equal } from "node:assert/strict";
 *
 * equal(POW1_REASON_UNKNOWN_ERROR_PREFIX + "boom", "unknown error: boom");
 * ```
 */
export const POW1_REASON_UNKNOWN_ERROR_PREFIX = "unknown error: ";

/**
 * The error message of a process cancelled by its client; the full reason
 * is {@linkcode POW1_REASON_CANCELLED}.
 *
 * @example
 * ```ts
 * import { POW1_CANCELLATION_MESSAGE } from "@pow/protocol/pow1";
 * import { equal } from "node:assert/strict";
 *
 * equal(POW1_CANCELLATION_MESSAGE, "client requested cancellation");
 * ```
 */
export const POW1_CANCELLATION_MESSAGE = "client requested cancellation";

/**
 * Rejection reason of a process cancelled by its client.
 *
 * @example
 * ```ts
 * import { POW1_REASON_CANCELLED } from "@pow/protocol/pow1";
 * import { equal } from "node:assert/strict";
 *
 * equal(POW1_REASON_CANCELLED, "process returned error: client requested cancellation");
 * ```
 */
export const POW1_REASON_CANCELLED = "process returned error: client requested cancellation";

/** The call message: the first binary frame a pow-1 client sends. */
export interface Pow1Call {
  /** The process name. */
  call: string;
  /** The parameters; left out (or `null` on the wire) means none. */
  params?: string[];
}

/** A signal message: `close` closes stdin, `cancel` cancels the process. */
export interface Pow1Signal {
  /** Which signal. */
  signal: "close" | "cancel";
}

/** Any control message a pow-1 client sends. */
export type Pow1Control = Pow1Call | Pow1Signal;

/** The result message: the last binary frame a pow-1 server sends. */
export type Pow1Result =
  | { status: "fulfilled"; value: unknown }
  | { status: "rejected"; reason: string };

/** Bytes or text of a WebSocket message. */
export type Pow1Data = string | ArrayBuffer | ArrayBufferView;

function decodeJson(data: Pow1Data, what: string): unknown {
  let text: string;
  if (typeof data === "string") {
    text = data;
  } else {
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(data);
    } catch {
      throw new SyntaxError(`Cannot parse pow-1 ${what}: invalid UTF-8`);
    }
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new SyntaxError(`Cannot parse pow-1 ${what}: invalid JSON`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new TypeError(`Cannot parse pow-1 ${what}: not a JSON object`);
  }
  return json;
}

/**
 * Parses a control message a pow-1 client sent in a binary frame: a call or
 * a signal. Unknown fields are ignored.
 *
 * @param data The frame's bytes (or text).
 * @returns The call or signal.
 * @throws {SyntaxError} If the frame is not UTF-8 JSON.
 * @throws {TypeError} If the JSON is not a valid call or signal.
 *
 * @example
 * ```ts
 * import { parsePow1Control } from "@pow/protocol/pow1";
 * import { deepStrictEqual, throws } from "node:assert/strict";
 *
 * deepStrictEqual(parsePow1Control('{"call":"echo","params":["hi"]}'), {
 *   call: "echo",
 *   params: ["hi"],
 * });
 * deepStrictEqual(parsePow1Control('{"signal":"close"}'), { signal: "close" });
 * throws(() => parsePow1Control('{"signal":"stop"}'), {
 *   name: "TypeError",
 *   message: 'Cannot parse pow-1 signal: unknown signal "stop"',
 * });
 * ```
 */
export function parsePow1Control(data: Pow1Data): Pow1Control {
  const json = decodeJson(data, "control message") as Record<string, unknown>;
  if (Object.hasOwn(json, "call")) {
    if (typeof json.call !== "string") {
      throw new TypeError('Cannot parse pow-1 call: "call" is not a string');
    }
    const params = json.params;
    if (params === undefined || params === null) return { call: json.call };
    if (!Array.isArray(params)) {
      throw new TypeError('Cannot parse pow-1 call: "params" is not an array');
    }
    params.forEach((param, i) => {
      if (typeof param !== "string") {
        throw new TypeError(`Cannot parse pow-1 call: parameter ${i} is not a string`);
      }
    });
    return { call: json.call, params };
  }
  if (Object.hasOwn(json, "signal")) {
    if (json.signal !== "close" && json.signal !== "cancel") {
      const shown = typeof json.signal === "string"
        ? `"${json.signal}"`
        : JSON.stringify(json.signal);
      throw new TypeError(`Cannot parse pow-1 signal: unknown signal ${shown}`);
    }
    return { signal: json.signal };
  }
  throw new TypeError('Cannot parse pow-1 control message: neither "call" nor "signal"');
}

const lenientDecoder = new TextDecoder();

/**
 * Reads a call message as the original pow-1 server does (Go's `encoding/json` into
 * `{call string; params []string}`): extra keys are ignored, invalid UTF-8 becomes U+FFFD, a
 * JSON `null` or a missing or `null` `call` is the empty name, a missing or `null` `params`
 * means none; anything else of the wrong type is a protocol error. Servers read calls with
 * this; {@linkcode parsePow1Control} is the strict reading a client uses to check its own.
 *
 * @param data The frame's bytes (or text).
 * @returns The call (`params` left out when there are none), or `undefined` when it is a
 * protocol error.
 *
 * @example
 * ```ts
 * import { readPow1Call } from "@pow/protocol/pow1";
 * import { deepStrictEqual, equal } from "node:assert/strict";
 *
 * deepStrictEqual(readPow1Call('{"call":"echo","x":1}'), { call: "echo" });
 * deepStrictEqual(readPow1Call("null"), { call: "" });
 * equal(readPow1Call('{"call":1}'), undefined);
 * ```
 */
export function readPow1Call(data: Pow1Data): Pow1Call | undefined {
  let message: unknown;
  try {
    message = JSON.parse(typeof data === "string" ? data : lenientDecoder.decode(data));
  } catch {
    return undefined;
  }
  if (message === null) return { call: "" };
  if (typeof message !== "object" || Array.isArray(message)) return undefined;
  const { call, params } = message as Record<string, unknown>;
  if (call !== undefined && call !== null && typeof call !== "string") return undefined;
  if (params !== undefined && params !== null) {
    if (!Array.isArray(params) || params.some((p) => typeof p !== "string")) return undefined;
    return { call: (call as string | null) ?? "", params: params as string[] };
  }
  return { call: (call as string | null) ?? "" };
}

/**
 * Reads a signal message as the original pow-1 server does: the `signal` key of any JSON value,
 * invalid UTF-8 read as U+FFFD.
 *
 * @param data The frame's bytes (or text).
 * @returns `"close"` or `"cancel"`, or `undefined` for anything else (a protocol error).
 *
 * @example
 * ```ts
 * import { readPow1Signal } from "@pow/protocol/pow1";
 * import { equal } from "node:assert/strict";
 *
 * equal(readPow1Signal('{"signal":"close","x":1}'), "close");
 * equal(readPow1Signal('{"signal":"stop"}'), undefined);
 * ```
 */
export function readPow1Signal(data: Pow1Data): Pow1Signal["signal"] | undefined {
  let signal: unknown;
  try {
    const text = typeof data === "string" ? data : lenientDecoder.decode(data);
    signal = (JSON.parse(text) as { signal?: unknown } | null)?.signal;
  } catch {
    return undefined;
  }
  return signal === "close" || signal === "cancel" ? signal : undefined;
}

/**
 * Parses the result message a pow-1 server sent in a binary frame.
 *
 * @param data The frame's bytes (or text).
 * @returns The result; a fulfilled result without `value` has `value: null`.
 * @throws {SyntaxError} If the frame is not UTF-8 JSON.
 * @throws {TypeError} If the JSON is not a valid result.
 *
 * @example
 * ```ts
 * import { parsePow1Result } from "@pow/protocol/pow1";
 * import { deepStrictEqual } from "node:assert/strict";
 *
 * deepStrictEqual(parsePow1Result('{"status":"rejected","reason":"timeout expired"}'), {
 *   status: "rejected",
 *   reason: "timeout expired",
 * });
 * ```
 */
export function parsePow1Result(data: Pow1Data): Pow1Result {
  const json = decodeJson(data, "result") as Record<string, unknown>;
  if (json.status === "fulfilled") {
    return { status: "fulfilled", value: Object.hasOwn(json, "value") ? json.value : null };
  }
  if (json.status === "rejected") {
    if (typeof json.reason !== "string") {
      throw new TypeError('Cannot parse pow-1 result: "reason" is not a string');
    }
    return { status: "rejected", reason: json.reason };
  }
  throw new TypeError('Cannot parse pow-1 result: "status" is not "fulfilled" or "rejected"');
}

/**
 * Encodes a call message for a binary frame.
 *
 * @param call The process name and params.
 * @returns The UTF-8 JSON `{"call":...,"params":[...]}` (params left out when undefined).
 *
 * @example
 * ```ts
 * import { encodePow1Call } from "@pow/protocol/pow1";
 * import { equal } from "node:assert/strict";
 *
 * const frame = encodePow1Call({ call: "echo", params: ["hi"] });
 * equal(new TextDecoder().decode(frame), '{"call":"echo","params":["hi"]}');
 * ```
 */
export function encodePow1Call(call: Pow1Call): Uint8Array<ArrayBuffer> {
  const text = call.params === undefined
    ? JSON.stringify({ call: call.call })
    : JSON.stringify({ call: call.call, params: call.params });
  return new TextEncoder().encode(text);
}

/**
 * Encodes a signal message for a binary frame.
 *
 * @param signal `"close"` (close stdin) or `"cancel"`.
 * @returns The UTF-8 JSON `{"signal":...}`.
 *
 * @example
 * ```ts
 * import { encodePow1Signal } from "@pow/protocol/pow1";
 * import { equal } from "node:assert/strict";
 *
 * equal(new TextDecoder().decode(encodePow1Signal("cancel")), '{"signal":"cancel"}');
 * ```
 */
export function encodePow1Signal(signal: Pow1Signal["signal"]): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(JSON.stringify({ signal }));
}

/**
 * Encodes a result message for a binary frame, keys in pow-1's order:
 * `{"status":"fulfilled","value":...}` or `{"status":"rejected","reason":...}`.
 *
 * @param result The result; an `undefined` value is encoded as `null`.
 * @returns The UTF-8 JSON.
 *
 * @example
 * ```ts
 * import { encodePow1Result } from "@pow/protocol/pow1";
 * import { equal } from "node:assert/strict";
 *
 * const frame = encodePow1Result({ status: "fulfilled", value: { lines: 2 } });
 * equal(new TextDecoder().decode(frame), '{"status":"fulfilled","value":{"lines":2}}');
 * ```
 */
export function encodePow1Result(result: Pow1Result): Uint8Array<ArrayBuffer> {
  const text = result.status === "fulfilled"
    ? `{"status":"fulfilled","value":${JSON.stringify(result.value ?? null) ?? "null"}}`
    : `{"status":"rejected","reason":${JSON.stringify(result.reason)}}`;
  return new TextEncoder().encode(text);
}
