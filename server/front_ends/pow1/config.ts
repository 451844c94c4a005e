/**
 * The `pow1` section of the configuration: pow-1's own settings and defaults.
 *
 * @module
 */

import type { ConfigSection } from "../../config.ts";

/** Settings of the pow-1 front end. */
export interface Pow1Config {
  /** Milliseconds a WebSocket client has to send its call. @default {1 s} */
  callDeadline: number;
  /** The largest input message accepted, in bytes. @default {1 MiB} */
  maxMessage: number;
  /** The largest output frame sent when coalescing, in bytes. @default {64 KiB} */
  maxFrame: number;
  /**
   * Input bytes a pow-1 WebSocket connection may hold for its process (received, not yet taken
   * by the process). pow-1 has no input flow control and a WebSocket cannot stop reading, so
   * this buffer absorbs a client that sends faster than the process reads. @default {64 MiB}
   */
  maxPendingInput: number;
  /**
   * The older name of `server.keepAlive` (read as it when `server.keepAlive` is not set; after
   * loading, it holds the value in use). @default {54 s}
   */
  keepAlive: number;
  /** Milliseconds a REST session is kept after its last request. @default {60 s} */
  restExpiry: number;
  /** Lines shown in the REST status buffer. @default {1000} */
  statusLines: number;
}

const KEY = "pow1";

/** The `pow1` section: its keys, defaults and reader. */
export const pow1ConfigSection: ConfigSection<Pow1Config> = {
  key: KEY,
  get keys(): string[] {
    return Object.keys(this.defaults);
  },
  defaults: {
    callDeadline: 1000,
    maxMessage: 1024 * 1024,
    maxFrame: 64 * 1024,
    maxPendingInput: 64 * 1024 * 1024,
    keepAlive: 54_000,
    restExpiry: 60_000,
    statusLines: 1000,
  },
  parse(pow1, v, { root, config }): Pow1Config {
    const D = pow1ConfigSection.defaults;
    const at = (key: string) => [KEY, key];
    // Before every front end had its own settings, `pow1.keepAlive` and `pow1.maxMessage` held
    // for every socket: they still set `server.keepAlive` and `limits.maxMessage` when those are
    // not set themselves.
    const keepAlive = v.duration(pow1.keepAlive, at("keepAlive"));
    const server = root.server as Record<string, unknown> | undefined;
    if (keepAlive !== undefined && server?.keepAlive === undefined) {
      config.server.keepAlive = keepAlive;
    }
    const maxMessage = v.size(pow1.maxMessage, at("maxMessage"), 1);
    const limits = root.limits as Record<string, unknown> | undefined;
    if (maxMessage !== undefined && limits?.maxMessage === undefined) {
      config.limits.maxMessage = maxMessage;
    }
    return {
      callDeadline: v.duration(pow1.callDeadline, at("callDeadline")) ?? D.callDeadline,
      maxMessage: maxMessage ?? D.maxMessage,
      maxFrame: v.size(pow1.maxFrame, at("maxFrame"), 16) ?? D.maxFrame,
      maxPendingInput: v.size(pow1.maxPendingInput, at("maxPendingInput"), 1) ??
        D.maxPendingInput,
      keepAlive: config.server.keepAlive ?? D.keepAlive,
      restExpiry: v.duration(pow1.restExpiry, at("restExpiry")) ?? D.restExpiry,
      statusLines: v.integer(pow1.statusLines, at("statusLines"), 1) ?? D.statusLines,
    };
  },
};
