/**
 * pow: Process Over WebSocket, for Deno. This module re-exports the server's public API from
 * `server/mod.ts` for users who import the repository directly.
 *
 * @module
 */

export * from "./server/mod.ts";
