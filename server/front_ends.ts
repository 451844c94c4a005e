/**
 * Every built-in front end, in one list: what {@linkcode createServer} serves unless told
 * otherwise, and whose configuration sections `parseConfig` reads. Adding a front end is one
 * folder under `front_ends/` and one line here (and one in {@linkcode FrontEndSettings} when it
 * has settings).
 *
 * @module
 */

import type { FrontEndFactory } from "./front_end.ts";
import { furtherLink, type FurtherLinkConfig } from "./front_ends/further_link/mod.ts";
import { openApi } from "./front_ends/openapi/mod.ts";
import { type Pow1Config, pow1Rest, pow1WebSocket } from "./front_ends/pow1/mod.ts";
import { nativeRest, nativeWebSocket, type V2Config } from "./front_ends/v2/mod.ts";
import { wubsub, type WubsubConfig } from "./front_ends/wubsub/mod.ts";
import { monorail, type MonoRailConfig } from "./front_ends/monorail/mod.ts";
import { type ConsoleConfig, webConsole } from "./front_ends/console/mod.ts";

export type {
  ConsoleConfig,
  FurtherLinkConfig,
  MonoRailConfig,
  Pow1Config,
  V2Config,
  WubsubConfig,
};

/** The configuration sections of the built-in front ends, by key (part of `PowConfig`). */
export interface FrontEndSettings {
  /** pow-1 (WebSocket and REST). */
  pow1: Pow1Config;
  /** pow.v2 (WebSocket and REST). */
  v2: V2Config;
  /** The further-link compatibility endpoint. */
  furtherLink: FurtherLinkConfig;
  /** The wubsub endpoint. */
  wubsub: WubsubConfig;
  /** The MonoRail events front end. */
  monorail: MonoRailConfig;
  /** The web console. */
  console: ConsoleConfig;
}

/**
 * Every built-in front end: pow-1 (WebSocket and REST), OpenAPI with Swagger UI, pow.v2
 * (WebSocket and REST), further-link (serves nothing unless enabled) and wubsub.
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
