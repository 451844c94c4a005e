/**
 * Mappings from the session core to the `pow.v2` protocol types, shared by the native
 * WebSocket front end and the native REST front end: results, session listings, process
 * definitions and signal names.
 *
 * @module
 */

import type { ParamInfo, ProcessInfo, ProcessResult, SessionInfo, SignalName } from "@pow/protocol";
import type { ProcessDefinition } from "../../process.ts";
import type { SessionHandle, SessionResult } from "../../session.ts";
import type { SessionManager } from "../../session_manager.ts";
import type { SessionRecord } from "../../store.ts";
import type { Caller } from "../../process.ts";
import { allowedProcesses, listSessions } from "./listing.ts";

/** The server name and version announced in `hello`. */
export const SERVER_NAME = "pow/0.1.0";

/**
 * Maps a session result to the protocol's result (fields that are `undefined` left out).
 *
 * @example
 * ```ts
 * import { toProcessResult } from "./convert.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(
 *   toProcessResult({ status: "rejected", reason: "exit status 3", kind: "error", exitCode: 3 }),
 *   { status: "rejected", reason: "exit status 3", kind: "error", exitCode: 3 },
 * );
 * ```
 *
 * @param result How the session ended.
 * @returns The protocol's `ProcessResult`.
 */
export function toProcessResult(result: SessionResult): ProcessResult {
  if (result.status === "fulfilled") {
    const out: ProcessResult = { status: "fulfilled", value: result.value ?? null };
    if (result.exitCode !== undefined) out.exitCode = result.exitCode;
    return out;
  }
  const out: ProcessResult = { status: "rejected", reason: result.reason, kind: result.kind };
  if (result.exitCode !== undefined) out.exitCode = result.exitCode;
  if (result.signal !== undefined) out.signal = result.signal;
  return out;
}

/**
 * Describes a session as the protocol's `SessionInfo` (the `sessions` answer of `list`, and
 * the native REST status). The W3C trace context it was started with is included when present.
 *
 * @param session The session.
 * @returns Its description.
 */
export function toSessionInfo(session: SessionHandle): SessionInfo {
  const info: SessionInfo = {
    session: session.id,
    name: session.name,
    params: [...session.params],
    state: session.state,
    pty: session.pty,
    offset: session.log.end,
    createdAt: session.createdAt,
    attached: session.attached,
  };
  if (session.pid !== undefined) info.pid = session.pid;
  info.owner = session.caller.id;
  if (session.endedAt !== undefined) info.endedAt = session.endedAt;
  if (session.outcome) info.result = toProcessResult(session.outcome);
  if (session.trace?.traceparent) info.traceparent = session.trace.traceparent;
  if (session.trace?.tracestate) info.tracestate = session.trace.tracestate;
  return info;
}

/**
 * Describes a session of any node of a cluster, from its store record, as the protocol's
 * `SessionInfo`.
 *
 * @param record The session's record.
 * @returns Its description.
 */
export function recordToSessionInfo(record: SessionRecord): SessionInfo {
  const info: SessionInfo = {
    session: record.id,
    name: record.name,
    params: [...record.params],
    state: record.state,
    pty: record.pty === true,
    offset: record.outputBytes,
    createdAt: record.createdAt,
    attached: record.attached,
  };
  if (record.pid !== undefined) info.pid = record.pid;
  if (record.endedAt !== undefined) info.endedAt = record.endedAt;
  if (record.result) info.result = toProcessResult(record.result);
  return info;
}

/**
 * Lists the sessions a caller may see: this node's, or in a cluster every node's.
 *
 * @param manager The session manager.
 * @param caller Who is asking.
 * @returns Their descriptions, oldest first.
 */
export function listSessionInfos(manager: SessionManager, caller: Caller): Promise<SessionInfo[]> {
  return listSessions(manager, caller, { local: toSessionInfo, stored: recordToSessionInfo });
}

/**
 * Lists the processes a caller may start.
 *
 * @param manager The session manager.
 * @param caller Who is asking.
 * @returns Their descriptions, in catalogue order.
 */
export function listProcessInfos(manager: SessionManager, caller: Caller): ProcessInfo[] {
  return allowedProcesses(manager, caller).map(([name, definition]) =>
    toProcessInfo(name, definition)
  );
}

/**
 * Describes a process definition as the protocol's `ProcessInfo`.
 *
 * @example
 * ```ts
 * import { toProcessInfo } from "./convert.ts";
 * import { defineCommand } from "../../process.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(
 *   toProcessInfo("count", defineCommand(["seq", "{1}"], { params: [{ name: "n", pattern: "[0-9]+" }] })),
 *   { name: "count", params: [{ name: "n", pattern: "[0-9]+" }], pty: false },
 * );
 * ```
 *
 * @param name The name clients start it by.
 * @param definition The definition.
 * @returns Its description.
 */
export function toProcessInfo(name: string, definition: ProcessDefinition): ProcessInfo {
  const params = (definition.params ?? []).map((spec) => {
    const param: ParamInfo = { name: spec.name };
    if (spec.description !== undefined) param.description = spec.description;
    if (spec.pattern !== undefined) param.pattern = spec.pattern;
    if (spec.enum !== undefined) param.enum = [...spec.enum];
    if (spec.optional !== undefined) param.optional = spec.optional;
    if (spec.variadic !== undefined) param.variadic = spec.variadic;
    return param;
  });
  const pty = definition.kind === "command" && definition.pty === true;
  return definition.description === undefined
    ? { name, params, pty }
    : { name, description: definition.description, params, pty };
}

/** The operating-system signal of each protocol signal name but `cancel`. */
export const SIGNALS: Readonly<Record<Exclude<SignalName, "cancel">, Deno.Signal>> = {
  interrupt: "SIGINT",
  terminate: "SIGTERM",
  kill: "SIGKILL",
  hangup: "SIGHUP",
};

/**
 * Applies a protocol signal to a session: `cancel` ends it the orderly way
 * ({@linkcode Session.cancel}), the others send the signal to the process group.
 *
 * @param session The session.
 * @param signal The protocol signal name.
 * @returns `false` when the runner cannot deliver it (`hangup` to a TypeScript function), else
 * `true` (signalling an ended session is not an error).
 */
export function applySignal(session: SessionHandle, signal: SignalName): boolean {
  if (signal === "cancel") {
    session.cancel();
    return true;
  }
  if (session.definition.kind === "function" && signal === "hangup") return false;
  session.signal(SIGNALS[signal]);
  return true;
}
