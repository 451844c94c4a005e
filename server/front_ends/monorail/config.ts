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
    const D = monorailConfigSection.defaults;
    const M = (key: string): ConfigPath => [KEY, key];
    const settings: MonoRailConfig = {
      enabled: v.boolean(section.enabled, M("enabled")) ?? D.enabled,
      prefix: v.basePath(section.prefix, M("prefix"))?.replace(/\/$/, "") ?? D.prefix,
      queue: v.integer(section.queue, M("queue"), 1, 1_000_000) ?? D.queue,
      resume: v.duration(section.resume, M("resume")) ?? D.resume,
      admins: v.stringList(section.admins, M("admins")) ?? [...D.admins],
    };
    if (settings.prefix === "") v.fail(M("prefix"), 'must not be "/"');
    return settings;
  },
};
