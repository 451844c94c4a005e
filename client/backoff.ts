// Copyright the pow authors. MIT license.
/**
 * Reconnect delays: exponential backoff with jitter.
 *
 * @module
 */

/** How reconnect attempts are spaced. */
export interface BackoffOptions {
  /**
   * The delay before the first reconnect attempt, in milliseconds.
   *
   * @default {500}
   */
  initialDelay?: number;
  /**
   * The longest delay, in milliseconds.
   *
   * @default {30000}
   */
  maxDelay?: number;
  /**
   * How much longer each delay is than the previous one.
   *
   * @default {2}
   */
  factor?: number;
  /**
   * The fraction of each delay that is random: a delay `d` becomes a uniform random value
   * between `d * (1 - jitter)` and `d`. 0 disables jitter.
   *
   * @default {0.5}
   */
  jitter?: number;
  /**
   * How many consecutive failed attempts are made before giving up.
   *
   * @default {Infinity}
   */
  maxAttempts?: number;
  /**
   * The random source, a function returning a number in [0, 1).
   *
   * @default {Math.random}
   */
  random?: () => number;
}

/**
 * The delay before reconnect attempt `attempt` (0 for the first):
 * `min(maxDelay, initialDelay * factor ** attempt)`, less a random part of up to `jitter` of it.
 *
 * @param attempt How many attempts failed since the connection was last open.
 * @param options The backoff settings.
 * @returns The delay in milliseconds.
 *
 * @example
 * ```ts
 * import { backoffDelay } from "@pow/client";
 * import { equal } from "node:assert/strict";
 *
 * const options = { initialDelay: 100, maxDelay: 1000, jitter: 0 };
 * equal(backoffDelay(0, options), 100);
 * equal(backoffDelay(3, options), 800);
 * equal(backoffDelay(10, options), 1000);
 * // Up to half of the delay is random by default: random() = 0 keeps it whole.
 * equal(backoffDelay(1, { initialDelay: 100, random: () => 0 }), 200);
 * equal(backoffDelay(1, { initialDelay: 100, random: () => 0.5 }), 150);
 * ```
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const initial = options.initialDelay ?? 500;
  const max = options.maxDelay ?? 30_000;
  const factor = options.factor ?? 2;
  const jitter = Math.min(1, Math.max(0, options.jitter ?? 0.5));
  const random = options.random ?? Math.random;
  const delay = Math.min(max, initial * factor ** Math.max(0, attempt));
  return Math.round(delay * (1 - jitter * random()));
}
