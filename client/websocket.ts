// Copyright the pow authors. MIT license.
/**
 * The part of the WebSocket API the client uses, and how it opens sockets (with a token in a
 * header where the runtime allows it, in a subprotocol entry otherwise).
 *
 * @module
 */

import { tokenSubprotocol } from "./protocol/mod.ts";

/** The subset of the standard `WebSocket` the client needs (so tests can pass a fake). */
export interface WebSocketLike {
  /** Set to `"arraybuffer"` by the client. */
  binaryType: string;
  /** 0 connecting, 1 open, 2 closing, 3 closed. */
  readonly readyState: number;
  /** The subprotocol the server chose. */
  readonly protocol: string;
  /** Bytes queued by `send()` and not yet sent. */
  readonly bufferedAmount: number;
  /** Sends a text or binary message. */
  send(data: string | ArrayBuffer | ArrayBufferView<ArrayBuffer>): void;
  /** Starts the closing handshake. */
  close(code?: number, reason?: string): void;
  /** Called when the connection opened. */
  onopen: ((event: Event) => void) | null;
  /** Called for every message; `data` is a string or an `ArrayBuffer`. */
  onmessage: ((event: MessageEvent) => void) | null;
  /** Called when the connection failed (followed by `onclose`). */
  onerror: ((event: Event) => void) | null;
  /** Called once when the connection closed. */
  onclose: ((event: CloseEvent) => void) | null;
}

/** What a {@linkcode WebSocketFactory} is asked to open. */
export interface WebSocketRequest {
  /** The URL. */
  url: string;
  /** The subprotocols to offer, in order of preference. */
  protocols: string[];
  /** Extra handshake headers (only where the runtime supports them). */
  headers?: Record<string, string>;
}

/** Opens a WebSocket. */
export type WebSocketFactory = (request: WebSocketRequest) => WebSocketLike;

/** Where a bearer token travels in the handshake. */
export type TokenTransport = "header" | "subprotocol";

/**
 * Whether this runtime's `WebSocket` accepts handshake headers (Deno, Bun, Node 22+), unlike
 * browsers.
 *
 * @returns `true` outside browsers.
 *
 * @example
 * ```ts
 * import { supportsWebSocketHeaders } from "@pow/client";
 * import { equal } from "node:assert/strict";
 *
 * equal(supportsWebSocketHeaders(), true); // this example runs in Deno
 * ```
 */
export function supportsWebSocketHeaders(): boolean {
  const g = globalThis as {
    Deno?: unknown;
    Bun?: unknown;
    process?: { versions?: { node?: string } };
  };
  return g.Deno !== undefined || g.Bun !== undefined || g.process?.versions?.node !== undefined;
}

/**
 * The factory that uses the runtime's global `WebSocket`; handshake headers are passed with the
 * non-standard options form (`new WebSocket(url, {protocols, headers})`) outside browsers.
 *
 * @param request The URL, subprotocols and headers.
 * @returns The new socket.
 *
 * @example
 * ```ts ignore
 * import { openWebSocket } from "@pow/client";
 *
 * const ws = openWebSocket({ url: "ws://localhost:8028/", protocols: ["pow.v2"] });
 * ```
 */
export function openWebSocket(request: WebSocketRequest): WebSocketLike {
  if (typeof (globalThis as { WebSocket?: unknown }).WebSocket !== "function") {
    throw new TypeError(
      'Cannot open a WebSocket: this runtime has no global WebSocket (Node before 22): pass one, e.g. { WebSocket: webSocketFrom(WebSocket) } with WebSocket from the "ws" package',
    );
  }
  const headers = request.headers ?? {};
  if (Object.keys(headers).length > 0 && supportsWebSocketHeaders()) {
    const WebSocketWithOptions = WebSocket as unknown as new (
      url: string,
      options: { protocols: string[]; headers: Record<string, string> },
    ) => WebSocket;
    return new WebSocketWithOptions(request.url, { protocols: request.protocols, headers });
  }
  return new WebSocket(request.url, request.protocols) as WebSocketLike;
}

/**
 * The subprotocols and headers that carry `protocol` and an optional bearer token.
 *
 * @param protocol The pow subprotocol, e.g. `"pow.v2"`.
 * @param token The bearer token, if any.
 * @param transport Where the token goes.
 * @returns The subprotocols to offer and the headers to send.
 *
 * @example
 * ```ts
 * import { handshakeFor } from "@pow/client";
 * import { deepStrictEqual } from "node:assert/strict";
 *
 * deepStrictEqual(handshakeFor("pow.v2", "s3cr3t!", "subprotocol"), {
 *   protocols: ["pow.v2", "pow.token.czNjcjN0IQ"],
 *   headers: {},
 * });
 * deepStrictEqual(handshakeFor("pow.v2", "s3cr3t!", "header"), {
 *   protocols: ["pow.v2"],
 *   headers: { authorization: "Bearer s3cr3t!" },
 * });
 * ```
 */
export function handshakeFor(
  protocol: string,
  token: string | undefined,
  transport: TokenTransport,
): { protocols: string[]; headers: Record<string, string> } {
  if (token === undefined || token === "") return { protocols: [protocol], headers: {} };
  if (transport === "header") {
    return { protocols: [protocol], headers: { authorization: `Bearer ${token}` } };
  }
  return { protocols: [protocol, tokenSubprotocol(token)], headers: {} };
}

/**
 * A constructor in the style of the `ws` package for Node: `new WebSocket(url, protocols,
 * {headers})`. Its instances must have the standard `WebSocket` members of
 * {@linkcode WebSocketLike} (the `ws` package's do; their TypeScript types differ slightly,
 * which is why the instance type is only `object`).
 */
export type WebSocketClass = new (
  url: string,
  protocols: string[],
  options: { headers: Record<string, string> },
) => object;

/**
 * Makes a {@linkcode WebSocketFactory} from a WebSocket class that takes handshake headers as
 * its third argument, such as the `ws` package's, for runtimes without a global `WebSocket`
 * (Node 20) or to use another implementation.
 *
 * @param WebSocketClass The class.
 * @returns A factory for the client's `WebSocket` option.
 *
 * @example Node 20 with the `ws` package
 * ```ts ignore
 * import WebSocket from "ws";
 * import { PowClient, webSocketFrom } from "@pow/client";
 *
 * const client = new PowClient("ws://127.0.0.1:8028/", { WebSocket: webSocketFrom(WebSocket) });
 * ```
 */
export function webSocketFrom(WebSocketClass: WebSocketClass): WebSocketFactory {
  return (request) =>
    new WebSocketClass(request.url, request.protocols, {
      headers: request.headers ?? {},
    }) as WebSocketLike;
}
