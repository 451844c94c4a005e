/**
 * The front ends `main.ts` serves, in one list.
 *
 * @module
 */

import type { FrontEndFactory } from "./front_end.ts";

/** Every built-in front end. */
export const frontEnds: FrontEndFactory[] = [];
