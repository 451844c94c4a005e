/**
 * pow-1: the original pow protocol, served over WebSocket (subprotocol `pow-1`) and as REST
 * (`POST /new`, `GET /status`, ...). See `docs/pow1.md`.
 *
 * - {@linkcode pow1WebSocket}: the WebSocket front end.
 * - {@linkcode pow1Rest}: the REST front end.
 *
 * @module
 */

export { pow1Rest, type Pow1Status } from "./rest.ts";
export { pow1WebSocket } from "./ws.ts";
export { type Pow1Config, pow1ConfigSection } from "./config.ts";
