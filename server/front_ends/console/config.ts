/**
 * The `console` section of the configuration.
 *
 * @module
 */

import type { ConfigSection } from "../../config.ts";

/** Settings of the web console served at `/console/` (see `docs/console.md`). */
export interface ConsoleConfig {
  /** Whether the console is served at all. @default {true} */
  enabled: boolean;
}

/** The `console` section: its keys, defaults and reader. */
export const consoleConfigSection: ConfigSection<ConsoleConfig> = {
  key: "console",
  keys: ["enabled"],
  defaults: { enabled: true },
  parse(section, v): ConsoleConfig {
    return {
      enabled: v.boolean(section.enabled, ["console", "enabled"]) ??
        consoleConfigSection.defaults.enabled,
    };
  },
};
