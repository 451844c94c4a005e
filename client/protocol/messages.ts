// Copyright the pow authors. MIT license.
/**
 * Message types of the native pow protocol (`pow.v2`) and their encoder.
 *
 * Control messages travel as JSON objects in WebSocket text frames; process
 * data travels in binary frames (see `frames.ts`).
 *
 * @module
 */

import type { ErrorCode, SessionState, SignalName } from "./constants.ts";
import type { MonoRailResponse } from "./monorail.ts";

/**
 * A connection-local channel id chosen by the client: an integer from 1 to
 * 4294967295 that names one process (one session) on one connection.
 */
export type ChannelId = number;

/**
 * A client-chosen correlation value, echoed in the answer: a string of at
 * most 128 characters or a non-negative safe integer.
 */
export type Ref = string | number;

/** The result of a process that ended successfully. */
export interface FulfilledResult {
  /** Always `"fulfilled"`. */
  status: "fulfilled";
  /** Any JSON value the process returned; `null` when it returned nothing. */
  value: unknown;
  /** The exit code, for processes that have one. */
  exitCode?: number;
  /** The name of the signal that ended the process (e.g. `"SIGTERM"`), if any. */
  signal?: string;
}

/** The result of a process that failed, was refused or was cancelled. */
export interface RejectedResult {
  /** Always `"rejected"`. */
  status: "rejected";
  /** A human-readable reason, e.g. `"exit status 3"`. */
  reason: string;
  /**
   * What kind of failure: `error` (non-zero exit, a signal, a thrown error),
   * `crash`, `spawn` (could not be started), `cancelled` or `timeout`.
   * Clients must accept other values.
   */
  kind?: string;
  /** The exit code, for processes that have one. */
  exitCode?: number;
  /** The name of the signal that ended the process (e.g. `"SIGKILL"`), if any. */
  signal?: string;
}

/** How a session ended: fulfilled with a value or rejected with a reason. */
export type ProcessResult = FulfilledResult | RejectedResult;

// ---------------------------------------------------------------------------
// Client to server

/** Starts a process and binds it to channel `id`; answered by `started` or `error`. */
export interface StartMessage {
  /** Always `"start"`. */
  type: "start";
  /** The channel id to bind; must not be in use on this connection. */
  id: ChannelId;
  /** Correlation value echoed in the answer. */
  ref?: Ref;
  /** The name of a process definition of the server. */
  name: string;
  /** The parameters (missing means none). */
  params: string[];
  /** Run the process in a pseudo terminal (stdout and stderr merge into stdout). */
  pty?: boolean;
  /** Terminal columns (1-65535), only with `pty: true`, together with `rows`. */
  cols?: number;
  /** Terminal rows (1-65535), only with `pty: true`, together with `cols`. */
  rows?: number;
  /** Initial output credit in bytes (default 1 MiB). */
  credit?: number;
  /** W3C trace context `traceparent` of the caller's span. */
  traceparent?: string;
  /** W3C trace context `tracestate`, only with `traceparent`. */
  tracestate?: string;
  /**
   * Accept the one-message answer to a quick call: an `exit` with `started`'s fields and the
   * output inline, instead of `started`, data frames and `exit` (see {@linkcode ExitMessage}).
   */
  inline?: boolean;
}

/** Binds channel `id` to an existing session; answered by `attached` or `error`. */
export interface AttachMessage {
  /** Always `"attach"`. */
  type: "attach";
  /** The channel id to bind; must not be in use on this connection. */
  id: ChannelId;
  /** Correlation value echoed in the answer. */
  ref?: Ref;
  /** The server session id from `started` or `sessions`. */
  session: string;
  /** The output offset to resume from (default 0). */
  offset?: number;
  /** Initial output credit in bytes (default 1 MiB). */
  credit?: number;
}

/** Unbinds channel `id` and leaves the session running; answered by `detached`. */
export interface DetachMessage {
  /** Always `"detach"`. */
  type: "detach";
  /** The channel to unbind. */
  id: ChannelId;
  /** Correlation value echoed in the answer. */
  ref?: Ref;
}

/** Closes the process's stdin (half-close); answered by `ok` when it has a `ref`. */
export interface EofMessage {
  /** Always `"eof"`. */
  type: "eof";
  /** The channel whose stdin to close. */
  id: ChannelId;
  /** Correlation value; when present the server answers `ok`. */
  ref?: Ref;
}

/** Sends a signal to the process; answered by `ok` when it has a `ref`. */
export interface SignalMessage {
  /** Always `"signal"`. */
  type: "signal";
  /** The channel of the process. */
  id: ChannelId;
  /** Correlation value; when present the server answers `ok`. */
  ref?: Ref;
  /** Which signal. */
  signal: SignalName;
}

/** Resizes the pseudo terminal of a pty session; answered by `ok` when it has a `ref`. */
export interface ResizeMessage {
  /** Always `"resize"`. */
  type: "resize";
  /** The channel of the process. */
  id: ChannelId;
  /** Correlation value; when present the server answers `ok`. */
  ref?: Ref;
  /** Terminal columns, 1-65535. */
  cols: number;
  /** Terminal rows, 1-65535. */
  rows: number;
}

/**
 * Grants credit: from the client, more output bytes for channel `id`; from
 * the server, more stdin bytes. Never answered on success.
 */
export interface CreditMessage {
  /** Always `"credit"`. */
  type: "credit";
  /** The channel the credit is for. */
  id: ChannelId;
  /** Correlation value (only echoed in an `error`). */
  ref?: Ref;
  /** Bytes added to the window, at least 1. */
  bytes: number;
}

/** Asks for the caller's sessions; answered by `sessions`. */
export interface ListMessage {
  /** Always `"list"`. */
  type: "list";
  /** Correlation value echoed in the answer. */
  ref?: Ref;
}

/** Asks for the process definitions the caller may start; answered by `processes`. */
export interface ProcessesMessage {
  /** Always `"processes"`. */
  type: "processes";
  /** Correlation value echoed in the answer. */
  ref?: Ref;
}

/** Application-level keep-alive; answered by `pong`. */
export interface PingMessage {
  /** Always `"ping"`. */
  type: "ping";
  /** Correlation value echoed in the answer. */
  ref?: Ref;
}

/**
 * Offers a process: while the connection lasts, the server's catalogue has a process `name`
 * that anyone allowed can start; each start is a `serve` to this connection.
 */
export interface ProvideMessage {
  /** Always `"provide"`. */
  type: "provide";
  /** Correlation value echoed in the answer. */
  ref?: Ref;
  /** The process name: 1 to 64 letters, digits, `_`, `-`, `.`, `:`, `@` or `+`. */
  name: string;
  /** What it does, shown in listings. */
  description?: string;
  /** The params it takes, validated by the server before a call reaches the provider. */
  params: ParamInfo[];
}

/** The provider's result of a call it serves (`serve` channel `id`): the call ends. */
export interface ReturnMessage {
  /** Always `"exit"`. */
  type: "exit";
  /** The call's channel id, from `serve`. */
  id: ChannelId;
  /** Correlation value echoed in the `ok` (only sent when present). */
  ref?: Ref;
  /** `{status: "fulfilled", value}` or `{status: "rejected", reason}`. */
  result: ProcessResult;
}

/**
 * Watches a resource channel as MonoRail does (`docs/events.md`): answered by `event` messages
 * carrying `list`, then `item`/`remove` on every change, until `unwatch`.
 */
export interface WatchMessage {
  /** Always `"watch"`. */
  type: "watch";
  /** The client's id for this watch (a channel id's range; separate from channel ids). */
  watch: number;
  /** `processes`, `sessions`, `logs`, `server` or `topics/<name>`. */
  channel: string;
  /** The watch's params, as on MonoRail (e.g. `{session}` for `logs`). */
  params?: Record<string, unknown>;
  /** Correlation value echoed in an error. */
  ref?: Ref;
}

/** Ends a watch; no more `event` messages come for it. */
export interface UnwatchMessage {
  /** Always `"unwatch"`. */
  type: "unwatch";
  /** The watch id. */
  watch: number;
  /** Correlation value echoed in an error. */
  ref?: Ref;
}

/** Any control message a client sends. */
export type ClientMessage =
  | StartMessage
  | AttachMessage
  | DetachMessage
  | EofMessage
  | SignalMessage
  | ResizeMessage
  | CreditMessage
  | ListMessage
  | ProcessesMessage
  | PingMessage
  | ProvideMessage
  | ReturnMessage
  | WatchMessage
  | UnwatchMessage;

// ---------------------------------------------------------------------------
// Server to client

/** The first message of every connection: the server's limits. */
export interface HelloMessage {
  /** Always `"hello"`. */
  type: "hello";
  /** The negotiated subprotocol, `"pow.v2"`. */
  protocol: "pow.v2";
  /** Server name and version, e.g. `"pow/0.1.0"`. */
  server: string;
  /** The largest WebSocket message the server accepts, header included. */
  maxMessageSize: number;
  /** The stdin credit every channel starts with. */
  stdinCredit: number;
  /** How long (ms) a session with no attached channel is kept. */
  lingerMs: number;
  /** The most channels one connection may have bound at once. */
  maxChannels: number;
  /** The server may answer `start` with `inline: true` by one inline `exit` (see `ExitMessage`). */
  inline?: boolean;
}

/** Answers `start`: the session exists and is bound to channel `id`. */
export interface StartedMessage {
  /** Always `"started"`. */
  type: "started";
  /** The channel id of the `start` message. */
  id: ChannelId;
  /** The `ref` of the `start` message. */
  ref?: Ref;
  /** The server session id, for `attach` from any connection. */
  session: string;
  /** The operating system process id, where there is one. */
  pid?: number;
  /** Whether the process runs in a pseudo terminal. */
  pty: boolean;
}

/** Answers `attach`: channel `id` now follows the session from `offset`. */
export interface AttachedMessage {
  /** Always `"attached"`. */
  type: "attached";
  /** The channel id of the `attach` message. */
  id: ChannelId;
  /** The `ref` of the `attach` message. */
  ref?: Ref;
  /** The server session id. */
  session: string;
  /** The process definition's name. */
  name: string;
  /** The session's state now. */
  state: SessionState;
  /** The operating system process id, where there is one. */
  pid?: number;
  /** Whether the process runs in a pseudo terminal. */
  pty: boolean;
  /** The offset of the first output byte that will be sent. */
  offset: number;
  /** Bytes between the requested offset and `offset` that are no longer retained. */
  skipped: number;
  /** Stdin bytes the session has received so far (where to resume stdin). */
  stdinOffset: number;
  /** Whether the session's stdin is already closed. */
  stdinClosed: boolean;
}

/** Answers `detach`: no more frames for channel `id` follow. */
export interface DetachedMessage {
  /** Always `"detached"`. */
  type: "detached";
  /** The channel that was unbound. */
  id: ChannelId;
  /** The `ref` of the `detach` message. */
  ref?: Ref;
}

/** Acknowledges `eof`, `signal` or `resize` that carried a `ref`. */
export interface OkMessage {
  /** Always `"ok"`. */
  type: "ok";
  /** The channel of the acknowledged message. */
  id: ChannelId;
  /** The `ref` of the acknowledged message. */
  ref: Ref;
}

/** Output bytes were lost before `offset` (retention exceeded); never silent. */
export interface GapMessage {
  /** Always `"gap"`. */
  type: "gap";
  /** The channel. */
  id: ChannelId;
  /** The offset of the next output byte that will be sent. */
  offset: number;
  /** How many bytes before `offset` were lost. */
  skipped: number;
}

/**
 * The session ended and all its output was sent; channel `id` is free again.
 *
 * An **inline** `exit` (it has `output`) answers a `start` that asked for it with `inline: true`
 * when the session ended before `started` went out: it takes the place of `started`, the data
 * frames and `exit`, and also carries `started`'s `ref`, `pid` and `pty`.
 */
export interface ExitMessage {
  /** Always `"exit"`. */
  type: "exit";
  /** The channel, unbound by this message. */
  id: ChannelId;
  /** Inline only: the `ref` of the `start` message. */
  ref?: Ref;
  /** The server session id. */
  session: string;
  /** Inline only: the operating system process id, where there was one. */
  pid?: number;
  /** Inline only (and then always present): whether the process ran in a pseudo terminal. */
  pty?: boolean;
  /** The total output length: the offset after the last output byte. */
  offset: number;
  /**
   * Inline only: the whole output, from offset 0, as runs of one stream each; their lengths add
   * up to `offset`.
   */
  output?: InlineOutput[];
  /** How the session ended. */
  result: ProcessResult;
}

/** One run of output in an inline `exit`. */
export interface InlineOutput {
  /** The stream. */
  stream: "stdout" | "stderr";
  /** The bytes, base64 (standard alphabet, padded). */
  data: string;
}

/** A session as listed by `sessions`. */
export interface SessionInfo {
  /** The server session id. */
  session: string;
  /** The process definition's name. */
  name: string;
  /** The parameters it was started with. */
  params: string[];
  /** The session's state. */
  state: SessionState;
  /** Whether it runs in a pseudo terminal. */
  pty: boolean;
  /** The operating system process id, where there is one. */
  pid?: number;
  /**
   * The identity the session belongs to (a token's name, or `"anonymous"`), when the server
   * says; callers configured as `sessions.viewers` also see other identities' sessions.
   */
  owner?: string;
  /** Output bytes produced so far (attach here to see only new output). */
  offset: number;
  /** When the session was created (milliseconds since the epoch). */
  createdAt: number;
  /** When the session ended (milliseconds since the epoch), once it has. */
  endedAt?: number;
  /** How many channels (on any connection) are attached now. */
  attached: number;
  /** The result, once the state is `fulfilled` or `rejected`. */
  result?: ProcessResult;
  /** The W3C `traceparent` the session was started with, if any. */
  traceparent?: string;
  /** The W3C `tracestate` the session was started with, if any. */
  tracestate?: string;
}

/** Answers `list`. */
export interface SessionsMessage {
  /** Always `"sessions"`. */
  type: "sessions";
  /** The `ref` of the `list` message. */
  ref?: Ref;
  /** The caller's sessions, oldest first. */
  sessions: SessionInfo[];
}

/** One parameter of a process definition. */
export interface ParamInfo {
  /** A short name for usage lines, e.g. `"file"`. */
  name: string;
  /** What the parameter means. */
  description?: string;
  /** A regular expression (source) the value must match. */
  pattern?: string;
  /** The only values allowed, if restricted to a list. */
  enum?: string[];
  /** Whether it may be left out (only trailing parameters). */
  optional?: boolean;
  /** Whether it is the last parameter and takes zero or more values. */
  variadic?: boolean;
}

/** A process definition as listed by `processes`. */
export interface ProcessInfo {
  /** The name to `start` it by. */
  name: string;
  /** What it does. */
  description?: string;
  /** Its parameters, in order. */
  params: ParamInfo[];
  /** Whether it may run in a pseudo terminal. */
  pty: boolean;
}

/** Answers `processes`. */
export interface ProcessesListMessage {
  /** Always `"processes"`. */
  type: "processes";
  /** The `ref` of the `processes` message. */
  ref?: Ref;
  /** The definitions the caller may start, by name. */
  processes: ProcessInfo[];
}

/** Answers `ping`. */
export interface PongMessage {
  /** Always `"pong"`. */
  type: "pong";
  /** The `ref` of the `ping` message. */
  ref?: Ref;
}

/** A structured error; only the channel `id` (if any) is affected. */
export interface ErrorMessage {
  /** Always `"error"`. */
  type: "error";
  /** The channel the error is about, if any. */
  id?: ChannelId;
  /** The `ref` of the message that caused it, if it had a valid one. */
  ref?: Ref;
  /** A stable machine-readable code. */
  code: ErrorCode;
  /** A human-readable explanation. */
  message: string;
}

/** Answers `provide`: the process is in the catalogue. */
export interface ProvidedMessage {
  /** Always `"provided"`. */
  type: "provided";
  /** The `ref` of the `provide`. */
  ref?: Ref;
  /** The process name. */
  name: string;
}

/**
 * To a provider: someone started one of its processes. `id` is a server-chosen channel id
 * (counting down from 4294967295) for the call's stdin, stdout, stderr and `exit`.
 */
export interface ServeMessage {
  /** Always `"serve"`. */
  type: "serve";
  /** The call's channel id. */
  id: ChannelId;
  /** The provided process's name. */
  name: string;
  /** The caller's params, already validated against the provided params. */
  params: string[];
  /** The caller's session. */
  session: string;
  /** The caller's identity. */
  caller: string;
  /** Output bytes (stdout and stderr) the provider may send before more `credit`. */
  credit: number;
}

/** To a provider: the caller closed the call's stdin. */
export interface InputEndMessage {
  /** Always `"eof"`. */
  type: "eof";
  /** The call's channel id. */
  id: ChannelId;
}

/** To a provider: the call was cancelled (or signalled); answer with `exit`. */
export interface CancelMessage {
  /** Always `"cancel"`. */
  type: "cancel";
  /** The call's channel id. */
  id: ChannelId;
  /** Why, e.g. `client requested cancellation` or `Received SIGINT`. */
  reason: string;
}

/**
 * A message of a watch: the MonoRail message as it is on `/events` (`list`, `item`, `remove` or
 * `error`, with `items`, `data`, `params`, `seq`, `code`, `text`).
 */
export interface EventMessage {
  /** Always `"event"`. */
  type: "event";
  /** The watch id. */
  watch: number;
  /** The MonoRail message. */
  event: MonoRailResponse;
}

/** Any control message a server sends. */
export type ServerMessage =
  | HelloMessage
  | StartedMessage
  | AttachedMessage
  | DetachedMessage
  | OkMessage
  | CreditMessage
  | GapMessage
  | ExitMessage
  | SessionsMessage
  | ProcessesListMessage
  | PongMessage
  | EventMessage
  | ErrorMessage
  | ProvidedMessage
  | ServeMessage
  | InputEndMessage
  | CancelMessage;

/**
 * Encodes a control message as the JSON text of a WebSocket text frame, with
 * `type` first and fields that are `undefined` left out.
 *
 * @param message The message to encode.
 * @returns The JSON text.
 *
 * @example
 * ```ts
 * import { encodeMessage } from "@pow/protocol";
 * import { equal } from "node:assert/strict";
 *
 * const text = encodeMessage({ type: "start", id: 1, name: "echo", params: ["hi"] });
 * equal(text, '{"type":"start","id":1,"name":"echo","params":["hi"]}');
 * ```
 */
export function encodeMessage(message: ClientMessage | ServerMessage): string {
  // Most messages are written with `type` first: then they need no copy.
  for (const key in message) {
    if (key === "type") return JSON.stringify(message);
    break;
  }
  const { type, ...fields } = message;
  return JSON.stringify({ type, ...fields });
}
