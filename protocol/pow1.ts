// Copyright the pow authors. MIT license.
/**
 * `pow-1`, the protocol of the original Process Over WebSocket implementation: one process per
 * connection. Re-exported from `@pow/client/protocol/pow1` (see the package overview).
 *
 * @module
 */

export * from "@pow/client/protocol/pow1";
