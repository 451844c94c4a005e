/**
 * The client's address from a request's connection info.
 *
 * @module
 */

/**
 * The client's host name, reading `remoteAddr` once (each read makes a new object).
 *
 * @example
 * ```ts
 * import { hostnameOf } from "./_remote.ts";
 * import assert from "node:assert/strict";
 *
 * const info = { remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 4242 } };
 * assert.equal(hostnameOf(info as Deno.ServeHandlerInfo), "127.0.0.1");
 * assert.equal(hostnameOf(undefined), undefined);
 * ```
 *
 * @param info The connection info, when the request came through `Deno.serve`.
 * @returns The host name, or `undefined` (no info, or not a network address).
 */
export function hostnameOf(info?: Deno.ServeHandlerInfo): string | undefined {
  const remote = info?.remoteAddr;
  return remote && "hostname" in remote ? remote.hostname : undefined;
}
