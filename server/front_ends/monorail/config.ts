/**
 * The `monorail` section of the configuration.
 *
 * @module
 */

import type { ConfigPath, ConfigSection } from "../../config.ts";

/**
 * Settings of the MonoRail events front end: WebSockets at `<prefix>/<channel>` speaking the
 * MonoRail resource protocol (`docs/events.md`).
 */
export interface MonoRailConfig {
  /** Whether the endpoint is served at all. @default {true} */
  enabled: boolean;
  /** The path prefix, relative to the base path. @default {"/events"} */
  prefix: string;
  /** Events queued per connection before it gets a fresh `list` instead. @default {1024} */
  queue: number;
  /** Milliseconds a dropped connection's watches are kept for `init` with its id. @default {60 s} */
  resume: number;
  /** Token names or roles that may watch the `server` channel and broadcast. @default {["admin"]} */
  admins: string[];
}

const KEY = "monorail";

/** The `monorail` section: its keys, defaults and reader. */
export const monorailConfigSection: ConfigSection<MonoRailConfig> = {
  key: KEY,
  keys: ["enabled", "prefix", "queue", "resume", "admins"],
  defaults: { enabled: true, prefix: "/events", queue: 1024, resume: 60_000, admins: ["admin"] },
  parse(section, v): MonoRailConfig {
    const at = (key: keyof MonoRailConfig): ConfigPath => [KEY, key];
    const prefix = v.basePath(section.prefix, at("prefix"))?.replace(/\/$/, "");
    if (prefix === "") v.fail(at("prefix"), 'must not be "/"');
    const d = monorailConfigSection.defaults;
    return {
      prefix: prefix ?? d.prefix,
      enabled: v.boolean(section.enabled, at("enabled")) ?? d.enabled,
      queue: v.integer(section.queue, at("queue"), 1, 1_000_000) ?? d.queue,
      resume: v.duration(section.resume, at("resume")) ?? d.resume,
      admins: v.stringList(section.admins, at("admins")) ?? [...d.admins],
    };
  },
};
