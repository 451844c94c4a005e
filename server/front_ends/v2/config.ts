/**
 * The `v2` section of the configuration: pow.v2's own limits. Before this section existed,
 * pow.v2 used `pow1.maxMessage` and `pow1.maxFrame`; a configuration that sets those and not
 * these still gets the same limits (`maxMessage` defaults to `limits.maxMessage`, which
 * `pow1.maxMessage` sets when it is not set itself).
 *
 * @module
 */

import type { ConfigSection } from "../../config.ts";

/** Settings of the pow.v2 front ends. */
export interface V2Config {
  /**
   * The largest message accepted (announced as `maxMessageSize`), in bytes.
   * @default {limits.maxMessage}
   */
  maxMessage: number;
  /**
   * The largest output payload per data frame, in bytes (`pow1.maxFrame` is read as this when
   * this is not set). @default {64 KiB}
   */
  maxFrame: number;
}

const KEY = "v2";

/** The `v2` section: its keys, defaults and reader. */
export const v2ConfigSection: ConfigSection<V2Config> = {
  key: KEY,
  keys: ["maxMessage", "maxFrame"],
  defaults: { maxMessage: 1024 * 1024, maxFrame: 64 * 1024 },
  parse(v2, v, { root, config }): V2Config {
    const D = v2ConfigSection.defaults;
    // The older key, shared with pow-1, still counts when the new one is not set.
    const older = (root.pow1 ?? {}) as Record<string, unknown>;
    return {
      maxMessage: v.size(v2.maxMessage, [KEY, "maxMessage"], 1) ?? config.limits.maxMessage,
      maxFrame: v.size(v2.maxFrame, [KEY, "maxFrame"], 16) ??
        v.size(older.maxFrame, ["pow1", "maxFrame"], 16) ?? D.maxFrame,
    };
  },
};
