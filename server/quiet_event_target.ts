/**
 * An `EventTarget` that knows whether anyone listens for a type, so that its owner builds and
 * dispatches an event only when someone will hear it. The session core changes state several
 * times per call; with nobody listening, a `CustomEvent` and its dispatch are pure cost (about a
 * tenth of a quick call's server time, and much of its garbage).
 *
 * @module
 */

/**
 * An `EventTarget` whose subclasses can ask {@linkcode QuietEventTarget.listening} before they
 * make an event. It may over-count (a listener added with `once` or a `signal` still counts after
 * it is gone), never under-count: an event is skipped only when nobody can hear it.
 *
 * @example Skip an event nobody listens for
 * ```ts
 * import { QuietEventTarget } from "./quiet_event_target.ts";
 * import assert from "node:assert/strict";
 *
 * class Counter extends QuietEventTarget {
 *   built = 0;
 *   tick(): void {
 *     if (!this.listening("tick")) return;
 *     this.built++;
 *     this.dispatchEvent(new Event("tick"));
 *   }
 * }
 * const counter = new Counter();
 * counter.tick();
 * assert.equal(counter.built, 0);
 * let heard = 0;
 * const listener = () => heard++;
 * counter.addEventListener("tick", listener);
 * counter.tick();
 * counter.removeEventListener("tick", listener);
 * counter.tick();
 * assert.deepEqual([counter.built, heard], [1, 1]);
 * ```
 */
export class QuietEventTarget extends EventTarget {
  /** Listeners per type, as `EventTarget` keys them: by listener and capture flag. */
  #bubbling: Map<string, Set<EventListenerOrEventListenerObject>> | undefined;
  #capturing: Map<string, Set<EventListenerOrEventListenerObject>> | undefined;

  /** Adds a listener, and counts it for {@linkcode QuietEventTarget.listening}. */
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void {
    super.addEventListener(type, listener, options);
    if (listener === null || (typeof options === "object" && options.signal?.aborted)) return;
    const sets = capture(options)
      ? (this.#capturing ??= new Map())
      : (this.#bubbling ??= new Map());
    let set = sets.get(type);
    if (!set) sets.set(type, set = new Set());
    set.add(listener);
  }

  /** Removes a listener. */
  override removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void {
    super.removeEventListener(type, listener, options);
    if (listener === null) return;
    const sets = capture(options) ? this.#capturing : this.#bubbling;
    const set = sets?.get(type);
    if (set?.delete(listener) && set.size === 0) sets!.delete(type);
  }

  /**
   * Whether an event of this type may have a listener.
   *
   * @param type The event type.
   * @returns `false` only when no listener for it can be registered.
   */
  protected listening(type: string): boolean {
    return this.#bubbling?.has(type) === true || this.#capturing?.has(type) === true;
  }
}

function capture(options: boolean | EventListenerOptions | undefined): boolean {
  return typeof options === "boolean" ? options : options?.capture === true;
}

/**
 * Callbacks that follow an object without `Event`s (the session core's cheap path): each is
 * called in the order added, and what one throws is reported, not raised.
 *
 * @example
 * ```ts
 * import { Observers } from "./quiet_event_target.ts";
 * import assert from "node:assert/strict";
 *
 * const observers = new Observers<[string]>();
 * const seen: string[] = [];
 * const stop = observers.add((state) => seen.push(state));
 * observers.call("running");
 * stop();
 * observers.call("ended");
 * assert.deepEqual(seen, ["running"]);
 * ```
 */
export class Observers<A extends unknown[]> {
  #list: readonly ((...args: A) => void)[] = [];

  /**
   * Adds a callback.
   *
   * @param observer The callback.
   * @returns A function that removes it.
   */
  add(observer: (...args: A) => void): () => void {
    this.#list = [...this.#list, observer];
    return () => {
      this.#list = this.#list.filter((o) => o !== observer);
    };
  }

  /**
   * Calls every callback.
   *
   * @param args What they are called with.
   */
  call(...args: A): void {
    for (const observer of this.#list) {
      try {
        observer(...args);
      } catch (error) {
        reportError(error);
      }
    }
  }
}
