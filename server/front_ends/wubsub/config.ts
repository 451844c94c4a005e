/**
 * The `wubsub` section of the configuration.
 *
 * @module
 */

import type { ConfigPath, ConfigSection } from "../../config.ts";

/**
 * Settings of the wubsub front end: a WebSocket at `path` speaking wubsub's JSON protocol
 * (channels, pub/sub, restpie requests), and REST publish/subscribe of bus topics below it.
 */
export interface WubsubConfig {
  /** Whether the endpoint is served at all. @default {true} */
  enabled: boolean;
  /** The WebSocket path, relative to the base path. @default {"/wubsub"} */
  path: string;
  /** Milliseconds a request waits for the owner's answer. @default {30 s} */
  requestTimeout: number;
  /** Requests one caller (a connection, or a pow identity) may have waiting. @default {64} */
  maxPendingPerCaller: number;
  /** Requests one channel owner may have to answer at once. @default {1024} */
  maxPendingPerOwner: number;
  /** Published messages queued per subscriber before it is told it missed some. @default {1024} */
  subscriberQueue: number;
  /** Channels one connection may own. @default {64} */
  maxChannels: number;
  /** The largest message accepted, in bytes. @default {1 MiB} */
  maxMessage: number;
  /** Token names or roles that may register channels and provide methods (`"*"`: all). @default {["*"]} */
  register: string[];
  /** Token names or roles that may call client-provided methods; unset means everyone. */
  allow?: string[];
}

const KEY = "wubsub";

/** The `wubsub` section: its keys, defaults and reader. */
export const wubsubConfigSection: ConfigSection<WubsubConfig> = {
  key: KEY,
  get keys(): string[] {
    return [...Object.keys(this.defaults), "allow"];
  },
  defaults: {
    enabled: true,
    path: "/wubsub",
    requestTimeout: 30_000,
    maxPendingPerCaller: 64,
    maxPendingPerOwner: 1024,
    subscriberQueue: 1024,
    maxChannels: 64,
    maxMessage: 1024 * 1024,
    register: ["*"],
  },
  parse(wubsub, v): WubsubConfig {
    const D = wubsubConfigSection.defaults;
    const W = (key: string): ConfigPath => [KEY, key];
    const settings: WubsubConfig = {
      enabled: v.boolean(wubsub.enabled, W("enabled")) ?? D.enabled,
      path: v.basePath(wubsub.path, W("path"))?.replace(/\/$/, "") ?? D.path,
      requestTimeout: v.duration(wubsub.requestTimeout, W("requestTimeout")) ??
        D.requestTimeout,
      maxPendingPerCaller: v.integer(wubsub.maxPendingPerCaller, W("maxPendingPerCaller"), 1) ??
        D.maxPendingPerCaller,
      maxPendingPerOwner: v.integer(wubsub.maxPendingPerOwner, W("maxPendingPerOwner"), 1) ??
        D.maxPendingPerOwner,
      subscriberQueue: v.integer(wubsub.subscriberQueue, W("subscriberQueue"), 1) ??
        D.subscriberQueue,
      maxChannels: v.integer(wubsub.maxChannels, W("maxChannels"), 1) ?? D.maxChannels,
      maxMessage: v.size(wubsub.maxMessage, W("maxMessage"), 64) ?? D.maxMessage,
      register: v.stringList(wubsub.register, W("register")) ?? [...D.register],
    };
    if (wubsub.allow !== undefined) settings.allow = v.stringList(wubsub.allow, W("allow"));
    if (settings.path === "") v.fail(W("path"), 'must not be "/"');
    if (settings.requestTimeout <= 0) v.fail(W("requestTimeout"), "must be longer than 0");
    return settings;
  },
};
