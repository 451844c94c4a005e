/**
 * The benchmark's WebSocket clients: a minimal pow-1 client and a websocketd client. They run
 * in the bench process; the servers are separate processes.
 *
 * pow-1 on the wire: connect with subprotocol `pow-1`, send `{"call":NAME,"params":[...]}` in a
 * binary frame, input in text frames, `{"signal":"close"}` in a binary frame to close stdin; the
 * server sends output in text frames, then one binary frame with the result, then closes (1000).
 *
 * @module
 */

import { drained, within } from "./_util.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** How a WebSocket closed. */
export interface Closed {
  /** The close code. */
  code: number;
  /** The close reason. */
  reason: string;
}

/** An open WebSocket with a promise for its close. */
export interface OpenSocket {
  /** The socket (`binaryType` is `arraybuffer`). */
  ws: WebSocket;
  /** Resolves when the socket has closed. */
  closed: Promise<Closed>;
}

/**
 * Opens a WebSocket and waits until it is open. `onMessage` is installed before the socket
 * opens, so no early message is missed.
 *
 * @param url The URL.
 * @param protocol The subprotocol to offer, if any.
 * @param onMessage The message handler.
 * @param timeout Milliseconds to wait for the socket to open.
 * @returns The open socket.
 */
export async function openSocket(
  url: string,
  protocol: string | undefined,
  onMessage: (data: string | ArrayBuffer) => void,
  timeout = 10_000,
): Promise<OpenSocket> {
  const ws = protocol ? new WebSocket(url, [protocol]) : new WebSocket(url);
  ws.binaryType = "arraybuffer";
  ws.onmessage = (event) => onMessage(event.data);
  const closed = new Promise<Closed>((resolve) => {
    ws.onclose = (event) => resolve({ code: event.code, reason: event.reason });
  });
  const opened = new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    closed.then((c) => reject(new Error(`WebSocket to ${url} closed before opening (${c.code})`)));
  });
  try {
    await within(opened, timeout, `WebSocket open ${url}`);
  } catch (error) {
    ws.close();
    throw error;
  }
  if (protocol && ws.protocol !== protocol) {
    ws.close();
    throw new Error(`Server chose subprotocol "${ws.protocol}", expected "${protocol}"`);
  }
  return { ws, closed };
}

/** The result frame of a pow-1 call. */
export type Pow1Result =
  | { status: "fulfilled"; value: unknown }
  | { status: "rejected"; reason: string };

/** What a pow-1 call returns. */
export interface Pow1Outcome {
  /** The result frame. */
  result: Pow1Result;
  /** How the server closed the socket afterwards. */
  closed: Closed;
  /** `performance.now()` when the result frame arrived. */
  resultAt: number;
}

/** Options for {@linkcode pow1Call}. */
export interface Pow1CallOptions {
  /** Receives every output text frame. */
  onText?: (text: string) => void;
  /** Sends input once the call is sent; the client then sends `{"signal":"close"}`. */
  input?: (ws: WebSocket) => Promise<void>;
  /** Milliseconds for the whole call. @default {60000} */
  timeout?: number;
}

/**
 * Makes one pow-1 call on a new connection and waits for the result and the close.
 *
 * @param url The server's WebSocket URL.
 * @param call The process name and params.
 * @param options Handlers and the time limit.
 * @returns The result.
 */
export async function pow1Call(
  url: string,
  call: { name: string; params?: string[] },
  options: Pow1CallOptions = {},
): Promise<Pow1Outcome> {
  const timeout = options.timeout ?? 60_000;
  const got = Promise.withResolvers<{ result: Pow1Result; at: number }>();
  got.promise.catch(() => {}); // awaited below; an early close must not go unhandled meanwhile
  const onMessage = (data: string | ArrayBuffer) => {
    if (typeof data === "string") return options.onText?.(data);
    try {
      got.resolve({ result: JSON.parse(decoder.decode(data)), at: performance.now() });
    } catch (error) {
      got.reject(error);
    }
  };
  const { ws, closed } = await openSocket(url, "pow-1", onMessage, timeout);
  closed.then((c) => got.reject(new Error(`pow-1 socket closed (${c.code} ${c.reason}) early`)));
  try {
    ws.send(encoder.encode(JSON.stringify({ call: call.name, params: call.params ?? [] })));
    if (options.input) {
      await within(options.input(ws), timeout, `pow-1 input to "${call.name}"`);
      ws.send(encoder.encode('{"signal":"close"}'));
    }
    const { result, at } = await within(got.promise, timeout, `pow-1 result of "${call.name}"`);
    return { result, resultAt: at, closed: await within(closed, 10_000, "pow-1 close") };
  } finally {
    if (ws.readyState !== WebSocket.CLOSED) ws.close();
  }
}

/**
 * Sends `total` bytes of ASCII input in messages of `chunk` bytes, keeping at most `window`
 * bytes in the socket's send buffer.
 *
 * @param ws The socket.
 * @param total Bytes to send.
 * @param options Text or binary messages, message and window sizes.
 */
export async function sendInput(
  ws: WebSocket,
  total: number,
  options: { binary: boolean; chunk?: number; window?: number },
): Promise<void> {
  const chunk = options.chunk ?? 64 * 1024;
  const window = options.window ?? 1024 * 1024;
  const text = "0123456789abcdef".repeat(Math.ceil(chunk / 16)).slice(0, chunk - 1) + "\n";
  const bytes = encoder.encode(text);
  for (let sent = 0; sent < total;) {
    const n = Math.min(chunk, total - sent);
    if (options.binary) ws.send(n === chunk ? bytes : bytes.subarray(0, n));
    else ws.send(n === chunk ? text : text.slice(0, n));
    sent += n;
    await drained(ws, window);
    if (ws.readyState !== WebSocket.OPEN) throw new Error(`Socket closed after ${sent} bytes`);
  }
}

/** Options for {@linkcode websocketdSession}. */
export interface WebsocketdSessionOptions {
  /** Receives every message (binary ones as `ArrayBuffer`). */
  onMessage?: (data: string | ArrayBuffer) => void;
  /** Sends input once connected; websocketd has no half-close, so the command must end itself. */
  input?: (ws: WebSocket) => Promise<void>;
  /** Milliseconds for the whole session. @default {60000} */
  timeout?: number;
}

/**
 * Connects to websocketd (which starts its command for this connection) and waits until it
 * closes the connection after the command exits.
 *
 * @param url The URL.
 * @param options Handlers and the time limit.
 * @returns How it closed, and when (`performance.now()`).
 */
export async function websocketdSession(
  url: string,
  options: WebsocketdSessionOptions = {},
): Promise<Closed & { at: number }> {
  const timeout = options.timeout ?? 60_000;
  const { ws, closed } = await openSocket(url, undefined, options.onMessage ?? (() => {}), timeout);
  try {
    if (options.input) await within(options.input(ws), timeout, "websocketd input");
    const end = await within(closed, timeout, "websocketd close");
    return { ...end, at: performance.now() };
  } finally {
    if (ws.readyState !== WebSocket.CLOSED) ws.close();
  }
}
