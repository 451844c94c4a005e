/**
 * pow.v2: the native protocol, served over WebSocket (subprotocol `pow.v2`, many sessions per
 * connection with output credit) and as REST below `/api/v2`. See `docs/protocol.md` and
 * `docs/rest.md`.
 *
 * - {@linkcode nativeWebSocket}: the WebSocket front end.
 * - {@linkcode nativeRest}: the REST front end.
 *
 * @module
 */

export {
  NATIVE_REST_PREFIX,
  nativeRest,
  type RestError,
  type RestOutputChunk,
  type RestSessionOutput,
} from "./rest.ts";
export { nativeWebSocket } from "./ws.ts";
export { type V2Config, v2ConfigSection } from "./config.ts";
