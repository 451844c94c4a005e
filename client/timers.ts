// Copyright the pow authors. MIT license.
/**
 * The clock the client uses for backoff, keep-alive and polling, replaceable in tests.
 *
 * @module
 */

/** An opaque timer handle. */
export type TimerHandle = unknown;

/**
 * Time and timers. The client only ever uses these, so a fake clock makes its timing
 * deterministic in tests (see `FakeClock` in `@pow/client/testing`).
 */
export interface Clock {
  /** Milliseconds since some fixed point (only differences matter). */
  now(): number;
  /** Calls `callback` once after `ms` milliseconds. */
  setTimeout(callback: () => void, ms: number): TimerHandle;
  /** Cancels a timer of {@linkcode Clock.setTimeout}; unknown handles are ignored. */
  clearTimeout(handle: TimerHandle): void;
}

/**
 * The real clock: `Date.now()` and the global timers.
 *
 * @example
 * ```ts
 * import { systemClock } from "@pow/client";
 * import { ok } from "node:assert/strict";
 *
 * const before = systemClock.now();
 * await new Promise<void>((resolve) => systemClock.setTimeout(resolve, 5));
 * ok(systemClock.now() >= before);
 * ```
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as number),
};
