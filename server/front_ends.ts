/**
 * Every built-in front end, in one list: what {@linkcode createServer} serves unless told
 * otherwise.
 *
 * @module
 */

import type { FrontEndFactory } from "./front_end.ts";
import { furtherLink } from "./front_ends/further_link/mod.ts";
import { openApi } from "./front_ends/openapi/mod.ts";
import { pow1Rest, pow1WebSocket } from "./front_ends/pow1/mod.ts";
import { nativeRest, nativeWebSocket } from "./front_ends/v2/mod.ts";
import { wubsub } from "./front_ends/wubsub/mod.ts";

/**
 * Every built-in front end: pow-1 (WebSocket and REST), OpenAPI with Swagger UI, pow.v2
 * (WebSocket and REST), further-link and wubsub (these two serve nothing unless configured).
 */
export const frontEnds: FrontEndFactory[] = [
  pow1WebSocket,
  pow1Rest,
  openApi,
  nativeWebSocket,
  nativeRest,
  furtherLink,
  wubsub,
];
