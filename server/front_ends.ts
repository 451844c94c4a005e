/**
 * Every built-in front end, in one list: what {@linkcode createServer} serves unless told
 * otherwise.
 *
 * @module
 */

import type { FrontEndFactory } from "./front_end.ts";
import { openApi } from "./openapi.ts";
import { pow1Rest } from "./pow1_rest.ts";
import { pow1WebSocket } from "./pow1_ws.ts";
import { nativeWebSocket } from "./native_ws.ts";
import { nativeRest } from "./native_rest.ts";
import { furtherLink } from "./further_link.ts";
import { monorail } from "./front_ends/monorail/mod.ts";
import { webConsole } from "./front_ends/console/mod.ts";
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
  monorail,
  webConsole,
  wubsub,
];
