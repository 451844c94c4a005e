// Copyright the pow authors. MIT license.
/**
 * The WebSocket handshake: choosing the subprotocol (`pow.v2` or `pow-1`)
 * from `Sec-WebSocket-Protocol`, and carrying a bearer token in it for
 * browsers, which cannot set an `Authorization` header.
 *
 * @module
 */

import { TOKEN_SUBPROTOCOL_PREFIX, V2_SUBPROTOCOL } from "./constants.ts";
import { POW1_NO_SUBPROTOCOL_BODY, POW1_SUBPROTOCOL } from "./pow1.ts";

/** A subprotocol a pow server speaks. */
export type PowSubprotocol = "pow.v2" | "pow-1";

/** Options of {@linkcode negotiateSubprotocol}. */
export interface NegotiateSubprotocolOptions<P extends string = PowSubprotocol> {
  /**
   * The subprotocols this endpoint speaks, most preferred first.
   *
   * @default {["pow.v2", "pow-1"]}
   */
  protocols?: readonly P[];
}

/**
 * The outcome of the negotiation: the subprotocol to answer with (and the
 * token offered as a subprotocol entry, if any), or the HTTP refusal.
 */
export type Negotiation<P extends string = PowSubprotocol> =
  | { ok: true; protocol: P; token?: string }
  | { ok: false; status: 400 | 403; body: string };

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * Builds the subprotocol entry that carries a bearer token:
 * `pow.token.` followed by the unpadded base64url of the token's UTF-8 bytes.
 *
 * @param token The bearer token.
 * @returns The subprotocol entry to offer after `pow.v2`.
 * @throws {TypeError} If the token is empty.
 *
 * @example
 * ```ts
 * import { tokenSubprotocol, V2_SUBPROTOCOL } from "@pow/protocol";
 * import { equal } from "node:assert/strict";
 *
 * equal(tokenSubprotocol("s3cret!"), "pow.token.czNjcmV0IQ");
 * // In a browser: new WebSocket(url, [V2_SUBPROTOCOL, tokenSubprotocol(token)])
 * ```
 */
export function tokenSubprotocol(token: string): string {
  if (token.length === 0) throw new TypeError("Cannot encode token subprotocol: token is empty");
  const bytes = new TextEncoder().encode(token);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return TOKEN_SUBPROTOCOL_PREFIX +
    btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function decodeToken(encoded: string): string | undefined {
  if (!BASE64URL.test(encoded) || encoded.length % 4 === 1) return undefined;
  const binary = atob(encoded.replaceAll("-", "+").replaceAll("_", "/"));
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * Chooses the subprotocol from a `Sec-WebSocket-Protocol` request header and
 * extracts a token entry. The server must answer with exactly `protocol`,
 * never with the token entry.
 *
 * Refusals: no pow subprotocol offered on an endpoint that speaks pow-1 is
 * HTTP 403 with pow-1's body `client does not support required pow-1
 * subprotocol`; otherwise 400 with a body naming the supported versions; a
 * malformed or repeated token entry is 400.
 *
 * @param header The request's `Sec-WebSocket-Protocol` header, or `null`.
 * @param options Which subprotocols the endpoint speaks.
 * @returns The chosen subprotocol and token, or the refusal.
 *
 * @example
 * ```ts
 * import { negotiateSubprotocol } from "@pow/protocol";
 * import { deepStrictEqual } from "node:assert/strict";
 *
 * deepStrictEqual(negotiateSubprotocol("pow.v2, pow.token.czNjcmV0IQ"), {
 *   ok: true,
 *   protocol: "pow.v2",
 *   token: "s3cret!",
 * });
 * deepStrictEqual(negotiateSubprotocol("pow.v3"), {
 *   ok: false,
 *   status: 400,
 *   body: 'Unsupported subprotocol "pow.v3": this endpoint speaks pow.v2, pow-1',
 * });
 * ```
 */
export function negotiateSubprotocol<P extends string = PowSubprotocol>(
  header: string | null,
  options: NegotiateSubprotocolOptions<P> = {},
): Negotiation<P> {
  const protocols: readonly string[] = options.protocols ?? [V2_SUBPROTOCOL, POW1_SUBPROTOCOL];
  const offered = (header ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "");
  const tokens = offered.filter((s) => s.startsWith(TOKEN_SUBPROTOCOL_PREFIX));
  const versions = offered.filter((s) => !s.startsWith(TOKEN_SUBPROTOCOL_PREFIX));
  if (tokens.length > 1) {
    return { ok: false, status: 400, body: "Cannot accept more than one token subprotocol" };
  }
  let token: string | undefined;
  if (tokens.length === 1) {
    token = decodeToken(tokens[0].slice(TOKEN_SUBPROTOCOL_PREFIX.length));
    if (token === undefined) {
      return {
        ok: false,
        status: 400,
        body: "Cannot read token subprotocol: not the base64url of UTF-8 text",
      };
    }
  }
  const protocol = protocols.find((p) => versions.includes(p)) as P | undefined;
  if (protocol !== undefined) {
    return token === undefined ? { ok: true, protocol } : { ok: true, protocol, token };
  }
  const speaks = protocols.join(", ");
  if (versions.length === 0) {
    if (protocols.includes(POW1_SUBPROTOCOL)) {
      return { ok: false, status: 403, body: POW1_NO_SUBPROTOCOL_BODY };
    }
    return {
      ok: false,
      status: 400,
      body: `No subprotocol offered: this endpoint speaks ${speaks}`,
    };
  }
  return {
    ok: false,
    status: 400,
    body: `Unsupported subprotocol "${versions[0]}": this endpoint speaks ${speaks}`,
  };
}
