/**
 * The `furtherLink` section of the configuration.
 *
 * @module
 */

import type { ConfigSection } from "../../config.ts";

/**
 * Settings of the further-link compatibility endpoint: a WebSocket at `path` speaking
 * further-link's JSON protocol, `POST /upload` and `GET /status`.
 */
export interface FurtherLinkConfig {
  /** Whether the endpoint is served at all. @default {false} */
  enabled: boolean;
  /** The WebSocket path, relative to the base path. @default {"/run"} */
  path: string;
  /** Where uploads and code files go; required when enabled. */
  workDir?: string;
  /** further-link runner names (`python3`, `shell`, ...) mapped to configured process names. @default {{}} */
  runners: Record<string, string>;
}

const KEY = "furtherLink";

/** The `furtherLink` section: its keys, defaults and reader. */
export const furtherLinkConfigSection: ConfigSection<FurtherLinkConfig> = {
  key: KEY,
  keys: ["enabled", "path", "workDir", "runners"],
  defaults: { enabled: false, path: "/run", runners: {} },
  parse(furtherLink, v, { config }): FurtherLinkConfig {
    const D = furtherLinkConfigSection.defaults;
    const settings: FurtherLinkConfig = {
      enabled: v.boolean(furtherLink.enabled, [KEY, "enabled"]) ?? D.enabled,
      path: v.basePath(furtherLink.path, [KEY, "path"])?.replace(/\/$/, "") ?? D.path,
      runners: {},
    };
    if (furtherLink.workDir !== undefined) {
      const workDir = v.string(furtherLink.workDir, [KEY, "workDir"]);
      if (!workDir) v.fail([KEY, "workDir"], "must name a directory");
      settings.workDir = workDir;
    }
    if (settings.enabled && settings.workDir === undefined) {
      v.fail([KEY], 'missing key "workDir": the directory for uploads and code files');
    }
    if (settings.path === "") v.fail([KEY, "path"], 'must not be "/"');
    if (furtherLink.runners !== undefined && furtherLink.runners !== null) {
      const runners = v.object(furtherLink.runners, [KEY, "runners"]);
      for (const [runner, name] of Object.entries(runners)) {
        const at = [KEY, "runners", runner];
        const process = v.string(name, at);
        if (!process || !Object.hasOwn(config.processes, process)) {
          v.fail(at, `names process "${process}", which is not configured`);
        }
        settings.runners[runner] = process!;
      }
    }
    return settings;
  },
};
