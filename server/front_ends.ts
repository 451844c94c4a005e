/**
 * The front ends `main.ts` serves, in one list.
 *
 * @module
 */

import type { FrontEndFactory } from "./front_end.ts";
import { nativeWebSocket } from "./native_ws.ts";
import { nativeRest } from "./native_rest.ts";
import { furtherLink } from "./further_link.ts";

/** Every built-in front end. */
export const frontEnds: FrontEndFactory[] = [nativeWebSocket, nativeRest, furtherLink];
