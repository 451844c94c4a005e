/**
 * The event bus: one place where everything that happens in the server is published and from
 * where every watcher, subscriber and (later) every other node learns of it.
 *
 * Topics are dot-separated names (`session.created`, `process.changed`, `topic.news`). A
 * subscription takes a pattern: a topic itself, `*` for exactly one segment (`session.*`) or a
 * trailing `>` for one or more segments (`topic.>`).
 *
 * The bus never blocks a publisher and never loses an event silently:
 *
 * - Every subscription has a bounded queue (`queue`, default 1024 events). A subscriber that does
 *   not keep up is not waited for: when its queue is full, the queued events are dropped and the
 *   subscriber's next read is a {@linkcode BusGap} saying how many events it missed. It then
 *   resynchronizes from a snapshot (e.g. a fresh listing) and goes on with the events that follow.
 * - Every event gets an id, increasing by one per event published on this bus. The bus keeps the
 *   last `history` events (default 4096), so a subscriber that reconnects can ask for the events
 *   after the last id it saw (`after`); when those are no longer held, it is told with a gap.
 *
 * {@linkcode MemoryEventBus} is the in-memory implementation. The interface is asynchronous where
 * a broker-backed implementation (Redis, NATS) has to be.
 *
 * @example Publish and subscribe
 * ```ts
 * import { MemoryEventBus } from "./bus.ts";
 * import assert from "node:assert/strict";
 *
 * const bus = new MemoryEventBus();
 * const subscription = bus.subscribe("topic.*");
 * await bus.publish("topic.news", { headline: "pow has a bus" });
 * await bus.publish("session.created", { id: "a" }); // another pattern: not delivered
 * const { value } = await subscription.next();
 * assert.equal(value.type, "event");
 * assert.equal(value.type === "event" && value.event.topic, "topic.news");
 * subscription.close();
 * ```
 *
 * @module
 */

/** One published event. */
export interface BusEvent<T = unknown> {
  /** Its id on this bus: one more than the previous event's. */
  readonly id: number;
  /** The topic it was published to. */
  readonly topic: string;
  /** When it was published (milliseconds since the epoch). */
  readonly time: number;
  /** What was published: plain JSON-compatible data. */
  readonly data: T;
}

/** What a subscriber reads: an event, or a gap where events were missed. */
export type BusMessage<T = unknown> =
  | { readonly type: "event"; readonly event: BusEvent<T> }
  | BusGap;

/**
 * Events a subscriber missed: its queue overflowed, or the events it asked to resume from are
 * no longer held. The subscriber should resynchronize from a snapshot.
 */
export interface BusGap {
  /** Discriminates messages. */
  readonly type: "gap";
  /** How many events were missed (all topics, when resuming from history). */
  readonly missed: number;
  /** Why: the queue overflowed, or the history no longer holds the events asked for. */
  readonly reason: "overflow" | "history";
}

/** Options for {@linkcode EventBus.subscribe}. */
export interface SubscribeOptions {
  /**
   * Replay held events with an id greater than this before live ones (resume after a
   * reconnect). When some of them are no longer held, a {@linkcode BusGap} comes first.
   */
  after?: number;
  /** Events queued before the subscription overflows. @default {1024} */
  queue?: number;
  /** Closes the subscription when aborted. */
  signal?: AbortSignal;
}

/** A subscription to a pattern. Read it with `for await` or `next()`. */
export interface Subscription<T = unknown> extends AsyncIterableIterator<BusMessage<T>> {
  /** The pattern subscribed to. */
  readonly pattern: string;
  /** Events queued and not yet read. */
  readonly pending: number;
  /** Ends the subscription: a pending read resolves as done. */
  close(): void;
}

/** The event bus. */
export interface EventBus {
  /**
   * Publishes an event. Returns once the event is on the bus, without waiting for subscribers.
   *
   * @param topic A dot-separated topic name.
   * @param data Plain JSON-compatible data.
   * @returns The event with its id.
   */
  publish<T>(topic: string, data: T): Promise<BusEvent<T>>;
  /**
   * Subscribes to a pattern.
   *
   * @param pattern A topic, or a pattern with `*` (one segment) or a final `>` (the rest).
   * @param options Resume point, queue bound and signal.
   * @returns The subscription.
   */
  subscribe<T = unknown>(pattern: string, options?: SubscribeOptions): Subscription<T>;
  /** The id of the last event published (0 before the first). */
  lastId(): Promise<number>;
  /** Closes every subscription. */
  close(): Promise<void>;
}

/** Options for {@linkcode MemoryEventBus}. */
export interface MemoryEventBusOptions {
  /** Events held for resuming subscribers. @default {4096} */
  history?: number;
  /** The clock. @default {Date.now} */
  now?: () => number;
}

const TOPIC = /^[^.\s*>]+(\.[^.\s*>]+)*$/;
/** Topics already found valid (at most {@linkcode KNOWN_TOPICS_MAX}, then forgotten at once). */
const knownTopics = new Set<string>();
const KNOWN_TOPICS_MAX = 1024;

/**
 * Checks a topic name: non-empty dot-separated segments without spaces, `*` or `>`.
 *
 * @example
 * ```ts
 * import { checkTopic } from "./bus.ts";
 * import assert from "node:assert/strict";
 *
 * checkTopic("topic.news");
 * assert.throws(() => checkTopic("topic..news"), TypeError);
 * ```
 *
 * @param topic The topic name.
 */
export function checkTopic(topic: string): void {
  if (knownTopics.has(topic)) return;
  if (typeof topic !== "string" || topic.length > 512 || !TOPIC.test(topic)) {
    throw new TypeError(
      `Invalid topic ${
        JSON.stringify(topic)
      }: expected dot-separated names without spaces, "*" or ">"`,
    );
  }
  // The session events' few topics are checked on every call: remember the valid ones.
  if (knownTopics.size >= KNOWN_TOPICS_MAX) knownTopics.clear();
  knownTopics.add(topic);
}

/**
 * Compiles a pattern to a predicate on topic names.
 *
 * @example
 * ```ts
 * import { topicMatcher } from "./bus.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(topicMatcher("session.*")("session.state"), true);
 * assert.equal(topicMatcher("topic.>")("topic.a.b"), true);
 * assert.equal(topicMatcher("topic.>")("topic"), false);
 * ```
 *
 * @param pattern A topic, or a pattern with `*` or a final `>`.
 * @returns Whether a topic matches.
 */
export function topicMatcher(pattern: string): (topic: string) => boolean {
  const segments = pattern.split(".");
  const bad = segments.some((s, i) =>
    s === "" || /\s/.test(s) || (s.includes("*") && s !== "*") ||
    (s.includes(">") && (s !== ">" || i !== segments.length - 1))
  );
  if (typeof pattern !== "string" || pattern.length > 512 || bad) {
    throw new TypeError(
      `Invalid topic pattern ${
        JSON.stringify(pattern)
      }: expected dot-separated names, "*" for one name, a final ">" for the rest`,
    );
  }
  if (!pattern.includes("*") && !pattern.includes(">")) return (topic) => topic === pattern;
  const rest = segments[segments.length - 1] === ">";
  const fixed = rest ? segments.slice(0, -1) : segments;
  return (topic) => {
    const parts = topic.split(".");
    if (rest ? parts.length <= fixed.length : parts.length !== fixed.length) return false;
    return fixed.every((s, i) => s === "*" || s === parts[i]);
  };
}

/**
 * A subscription with the bus's queue policy: a bounded queue whose overflow is reported as a
 * gap on the next read. Buses deliver to it with `push`; other bus implementations (Redis)
 * build on it.
 */
export class QueuedSubscription<T> implements Subscription<T> {
  /** The pattern it follows. */
  readonly pattern: string;
  /** Whether a topic matches the pattern. */
  readonly matches: (topic: string) => boolean;
  #queue: BusMessage<T>[] = [];
  #max: number;
  #missed = 0;
  #waiting: ((result: IteratorResult<BusMessage<T>>) => void) | undefined;
  #closed = false;
  #onClose: () => void;

  /**
   * Makes a subscription.
   *
   * @param pattern The pattern it follows.
   * @param max Messages queued before it overflows.
   * @param onClose Called once when it closes.
   */
  constructor(pattern: string, max: number, onClose: () => void) {
    this.pattern = pattern;
    this.matches = topicMatcher(pattern);
    this.#max = max;
    this.#onClose = onClose;
  }

  /** Messages queued and not yet read. */
  get pending(): number {
    return this.#queue.length;
  }

  /**
   * Delivers a message: to a waiting read, into the queue, or (when full) into the gap count.
   *
   * @param message The message.
   */
  push(message: BusMessage<T>): void {
    if (this.#closed) return;
    if (this.#waiting) {
      const resolve = this.#waiting;
      this.#waiting = undefined;
      resolve({ value: message, done: false });
      return;
    }
    if (this.#queue.length >= this.#max) {
      // Too slow: drop what is queued rather than grow, and say so on the next read.
      const events = this.#queue.reduce(
        (n, m) => n + (m.type === "event" ? 1 : m.missed),
        0,
      );
      this.#missed += events + (message.type === "event" ? 1 : message.missed);
      this.#queue = [];
      return;
    }
    this.#queue.push(message);
  }

  /** Reads the next message (a gap first, after an overflow). */
  next(): Promise<IteratorResult<BusMessage<T>>> {
    if (this.#missed > 0) {
      const missed = this.#missed;
      this.#missed = 0;
      return Promise.resolve({ value: { type: "gap", missed, reason: "overflow" }, done: false });
    }
    const message = this.#queue.shift();
    if (message) return Promise.resolve({ value: message, done: false });
    if (this.#closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.#waiting = resolve);
  }

  /** Ends the subscription (a `for await` loop that breaks). */
  return(): Promise<IteratorResult<BusMessage<T>>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  /** Ends the subscription: a pending read resolves as done. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue = [];
    this.#onClose();
    const resolve = this.#waiting;
    this.#waiting = undefined;
    resolve?.({ value: undefined, done: true });
  }

  /** The subscription itself. */
  [Symbol.asyncIterator](): AsyncIterableIterator<BusMessage<T>> {
    return this;
  }
}

/**
 * The in-memory event bus.
 *
 * @example Resume after the last event seen
 * ```ts
 * import { MemoryEventBus } from "./bus.ts";
 * import assert from "node:assert/strict";
 *
 * const bus = new MemoryEventBus();
 * const first = await bus.publish("topic.a", 1);
 * await bus.publish("topic.a", 2);
 * const resumed = bus.subscribe("topic.a", { after: first.id });
 * const { value } = await resumed.next();
 * assert.equal(value.type === "event" && value.event.data, 2);
 * resumed.close();
 * ```
 */
export class MemoryEventBus implements EventBus {
  #subscriptions = new Set<QueuedSubscription<unknown>>();
  #history: BusEvent[] = [];
  #historyStart = 0;
  #historyMax: number;
  #lastId = 0;
  #now: () => number;

  /**
   * Makes a bus.
   *
   * @param options History size and clock.
   */
  constructor(options: MemoryEventBusOptions = {}) {
    this.#historyMax = options.history ?? 4096;
    this.#now = options.now ?? Date.now;
  }

  /** Subscriptions open now. */
  get subscriptions(): number {
    return this.#subscriptions.size;
  }

  /** Publishes an event. */
  publish<T>(topic: string, data: T): Promise<BusEvent<T>> {
    return Promise.resolve(this.publishNow(topic, data));
  }

  /**
   * Publishes an event and returns it in the same turn (the in-memory bus needs no wait).
   *
   * @param topic A dot-separated topic name.
   * @param data Plain JSON-compatible data.
   * @returns The event with its id.
   */
  publishNow<T>(topic: string, data: T): BusEvent<T> {
    checkTopic(topic);
    const event: BusEvent<T> = { id: ++this.#lastId, topic, time: this.#now(), data };
    if (this.#historyMax > 0) {
      this.#history.push(event);
      // Drop from the front in batches: amortized O(1) per event.
      if (this.#history.length - this.#historyStart > this.#historyMax) this.#historyStart++;
      if (this.#historyStart > 1024 && this.#historyStart * 2 > this.#history.length) {
        this.#history = this.#history.slice(this.#historyStart);
        this.#historyStart = 0;
      }
    }
    for (const subscription of this.#subscriptions) {
      if (subscription.matches(topic)) subscription.push({ type: "event", event });
    }
    return event;
  }

  /** Subscribes to a pattern. */
  subscribe<T = unknown>(pattern: string, options: SubscribeOptions = {}): Subscription<T> {
    const max = options.queue ?? 1024;
    if (!Number.isInteger(max) || max < 1) {
      throw new RangeError(`Invalid queue size ${max}: expected a whole number of at least 1`);
    }
    const subscription: QueuedSubscription<T> = new QueuedSubscription<T>(
      pattern,
      max,
      () => this.#subscriptions.delete(subscription as QueuedSubscription<unknown>),
    );
    if (options.after !== undefined) {
      const held = this.#history.length - this.#historyStart;
      const oldest = held > 0 ? this.#history[this.#historyStart].id : this.#lastId + 1;
      if (options.after + 1 < oldest) {
        subscription.push({ type: "gap", missed: oldest - options.after - 1, reason: "history" });
      }
      for (let i = this.#historyStart; i < this.#history.length; i++) {
        const event = this.#history[i];
        if (event.id > options.after && subscription.matches(event.topic)) {
          subscription.push({ type: "event", event: event as BusEvent<T> });
        }
      }
    }
    this.#subscriptions.add(subscription as QueuedSubscription<unknown>);
    if (options.signal) {
      if (options.signal.aborted) subscription.close();
      else options.signal.addEventListener("abort", () => subscription.close(), { once: true });
    }
    return subscription;
  }

  /** The id of the last event published. */
  lastId(): Promise<number> {
    return Promise.resolve(this.#lastId);
  }

  /** Closes every subscription. */
  close(): Promise<void> {
    for (const subscription of [...this.#subscriptions]) subscription.close();
    return Promise.resolve();
  }
}
