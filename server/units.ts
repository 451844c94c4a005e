/**
 * Parsing of the human-friendly durations and sizes used in pow's config.
 *
 * @module
 */

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};

/**
 * Parses a duration such as `"30s"`, `"500ms"`, `"1m"` or `"2h"` into milliseconds.
 * A bare number is taken as seconds.
 *
 * @example Parse durations
 * ```ts
 * import { parseDuration } from "./units.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(parseDuration("30s"), 30_000);
 * assert.equal(parseDuration("1.5m"), 90_000);
 * assert.equal(parseDuration(2), 2_000);
 * ```
 *
 * @param value The duration as a string with a unit, or a number of seconds.
 * @returns The duration in milliseconds.
 * @throws {TypeError} When the value is not a valid duration.
 */
export function parseDuration(value: string | number): number {
  if (typeof value === "number") {
    if (!Number.isFinite(value) || value < 0) {
      throw new TypeError(`Invalid duration ${value}: expected a non-negative number of seconds`);
    }
    return Math.round(value * 1000);
  }
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$/.exec(value);
  if (!match) {
    throw new TypeError(
      `Invalid duration "${value}": expected a number with a unit (ms, s, m or h), e.g. "30s"`,
    );
  }
  return Math.round(Number(match[1]) * DURATION_UNITS[match[2]]);
}

/**
 * Parses a size such as `"4MiB"`, `"64KiB"`, `"1MB"` or a bare number of bytes.
 *
 * @example Parse sizes
 * ```ts
 * import { parseSize } from "./units.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(parseSize("4MiB"), 4 * 1024 * 1024);
 * assert.equal(parseSize(2048), 2048);
 * ```
 *
 * @param value The size as a string with an optional unit, or a number of bytes.
 * @returns The size in bytes.
 * @throws {TypeError} When the value is not a valid size.
 */
export function parseSize(value: string | number): number {
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new TypeError(`Invalid size ${value}: expected a non-negative whole number of bytes`);
    }
    return value;
  }
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
  const unit = match?.[2].toLowerCase();
  if (!match || unit === undefined || !(unit in SIZE_UNITS)) {
    throw new TypeError(
      `Invalid size "${value}": expected a number with an optional unit (B, KB, MB, GB, KiB, MiB, GiB), e.g. "4MiB"`,
    );
  }
  return Math.round(Number(match[1]) * SIZE_UNITS[unit]);
}

/**
 * Formats milliseconds as the shortest duration string that {@linkcode parseDuration} reads back.
 *
 * @example Format a duration
 * ```ts
 * import { formatDuration } from "./units.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(formatDuration(30_000), "30s");
 * assert.equal(formatDuration(1500), "1500ms");
 * ```
 *
 * @param ms The duration in milliseconds.
 * @returns A string such as `"30s"`.
 */
export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
