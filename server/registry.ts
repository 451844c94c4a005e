/**
 * The session registry: where front ends find sessions by id. It announces lifecycle events
 * (`created`, `state`, `removed`) for watch and pub/sub front ends. The in-memory
 * implementation is {@linkcode MemorySessionRegistry}; a broker-backed one can implement the
 * same interface to share sessions between nodes.
 *
 * @module
 */

import type { Session, SessionState } from "./session.ts";
import { Observers, QuietEventTarget } from "./quiet_event_target.ts";

/** The detail of a registry event. */
export interface RegistryEventDetail {
  /** The session concerned. */
  session: Session;
  /** Its state at the time of the event. */
  state: SessionState;
}

/** The types of registry events. */
export type RegistryEventType = "created" | "state" | "removed";

/** Follows a registry's events without `Event` objects: see {@linkcode SessionRegistry.observe}. */
export type RegistryObserver = (type: RegistryEventType, session: Session) => void;

/** Where sessions live while they run and linger. */
export interface SessionRegistry extends EventTarget {
  /**
   * Calls `observer` on every `created`, `state` and `removed`, before the event is dispatched
   * (the session's `state` is the event's). The cheap way for the session core to follow every
   * session: an event is built only when someone listens for it.
   *
   * @param observer What it throws is reported, not raised.
   * @returns A function that stops the observing.
   */
  observe(observer: RegistryObserver): () => void;
  /** Adds a session and announces `created` (and later its `state` changes). */
  add(session: Session): void;
  /** Finds a session by id. */
  get(id: string): Session | undefined;
  /** Removes a session and announces `removed`. */
  delete(id: string): boolean;
  /** All sessions. */
  values(): IterableIterator<Session>;
  /** The number of sessions. */
  readonly size: number;
}

/**
 * Sessions held in memory.
 *
 * @example Watch sessions come and go
 * ```ts
 * import { MemorySessionRegistry } from "./registry.ts";
 * import { Session } from "./session.ts";
 * import { defineProcess } from "./process.ts";
 * import assert from "node:assert/strict";
 *
 * const registry = new MemorySessionRegistry();
 * const seen: string[] = [];
 * for (const type of ["created", "state", "removed"]) {
 *   registry.addEventListener(type, (e) => {
 *     const { state } = (e as CustomEvent).detail;
 *     seen.push(`${type}:${state}`);
 *   });
 * }
 * const session = new Session({
 *   id: "a", name: "noop", params: [], caller: { id: "me" },
 *   definition: defineProcess({ run: () => null }),
 * });
 * registry.add(session);
 * session.start();
 * await session.result;
 * registry.delete("a");
 * assert.deepEqual(seen, ["created:starting", "state:running", "state:fulfilled", "removed:fulfilled"]);
 * ```
 */
export class MemorySessionRegistry extends QuietEventTarget implements SessionRegistry {
  #sessions = new Map<string, Session>();
  #unobserve = new Map<Session, () => void>();
  #observers = new Observers<[RegistryEventType, Session]>();

  /** Calls `observer` on every event, before it is dispatched. */
  observe(observer: RegistryObserver): () => void {
    return this.#observers.add(observer);
  }

  /** Adds a session. */
  add(session: Session): void {
    if (this.#sessions.has(session.id)) {
      throw new TypeError(`Cannot add session "${session.id}": the id is already taken`);
    }
    this.#sessions.set(session.id, session);
    this.#unobserve.set(
      session,
      session.observe(() => {
        this.#emit("state", session);
        // An ended session's state never changes again: nothing is left to stop observing.
        if (session.ended) this.#unobserve.delete(session);
      }),
    );
    this.#emit("created", session);
  }

  /** Finds a session by id. */
  get(id: string): Session | undefined {
    return this.#sessions.get(id);
  }

  /** Removes a session. */
  delete(id: string): boolean {
    const session = this.#sessions.get(id);
    if (!session) return false;
    this.#sessions.delete(id);
    this.#unobserve.get(session)?.();
    this.#unobserve.delete(session);
    this.#emit("removed", session);
    return true;
  }

  /** All sessions. */
  values(): IterableIterator<Session> {
    return this.#sessions.values();
  }

  /** The number of sessions. */
  get size(): number {
    return this.#sessions.size;
  }

  #emit(type: RegistryEventType, session: Session): void {
    this.#observers.call(type, session);
    if (!this.listening(type)) return;
    this.dispatchEvent(
      new CustomEvent<RegistryEventDetail>(type, { detail: { session, state: session.state } }),
    );
  }
}
