// Copyright the pow authors. MIT license.
/**
 * `Promise.withResolvers()` without needing it: Node 20 and older browsers lack it, and the
 * client must not patch globals.
 *
 * @module
 */

/** A promise with its resolve and reject functions. */
export interface Deferred<T> {
  /** The promise. */
  promise: Promise<T>;
  /** Resolves it. */
  resolve(value: T | PromiseLike<T>): void;
  /** Rejects it. */
  reject(reason?: unknown): void;
}

/**
 * A new pending promise with its resolvers, like `Promise.withResolvers()`.
 *
 * @returns The promise and its resolvers.
 */
export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T | PromiseLike<T>) => void;
  let reject!: (reason?: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
