/**
 * The session store: the one seam between the session core and where its shared state lives.
 * It gathers the three things a cluster has to share -- the record of every session, each
 * session's output log, and the event bus -- behind asynchronous operations, so that a
 * broker-backed store (Redis Streams, NATS JetStream) can stand in for the in-memory one.
 *
 * - **Records** are plain JSON ({@linkcode SessionRecord}): what any node needs to list, watch and
 *   authorize a session, never the live {@linkcode Session} object, which stays on the node that
 *   runs the process.
 * - **Output logs** are made by the store ({@linkcode SessionStore.createLog}) for the node that
 *   runs the process; {@linkcode SessionStore.openReader} opens a reader by session id, which a
 *   broker-backed store can serve for a session that runs elsewhere.
 * - **Events** go through {@linkcode SessionStore.bus}.
 *
 * {@linkcode MemorySessionStore} is the default. `server/store_conformance.ts` holds the
 * conformance suite every implementation must pass unchanged.
 *
 * @example Keep a record and read a log by session id
 * ```ts
 * import { MemorySessionStore } from "./store.ts";
 * import assert from "node:assert/strict";
 *
 * const store = new MemorySessionStore();
 * const log = store.createLog("a", { retention: 1024 });
 * await store.put({ id: "a", name: "echo", params: [], owner: "me", state: "running", createdAt: 0, outputBytes: 0, attached: 0 });
 * await log.append("stdout", new TextEncoder().encode("hi"));
 * log.close();
 * const reader = await store.openReader("a");
 * assert.equal(new TextDecoder().decode((await reader!.read())![0].data), "hi");
 * assert.equal((await store.get("a"))?.owner, "me");
 * await store.close();
 * ```
 *
 * @module
 */

import { type EventBus, MemoryEventBus } from "./bus.ts";
import {
  MemoryOutputLog,
  type OutputLog,
  type OutputReader,
  type ReaderOptions,
} from "./output_log.ts";
import type { SessionResult, SessionState } from "./session.ts";

/** What every node may know of a session: its summary and its owner. */
export interface SessionRecord {
  /** The session id. */
  id: string;
  /** The process name. */
  name: string;
  /** The validated params. */
  params: readonly string[];
  /** The identity that started it. */
  owner: string;
  /** Its state. */
  state: SessionState;
  /** The process id, while it runs. */
  pid?: number;
  /** When it was created (epoch milliseconds). */
  createdAt: number;
  /** When it ended (epoch milliseconds). */
  endedAt?: number;
  /** Output bytes written so far. */
  outputBytes: number;
  /** Clients attached. */
  attached: number;
  /** How it ended. */
  result?: SessionResult;
  /** Whether it runs in a pseudo-terminal. */
  pty?: boolean;
  /** The node that runs it (cluster stores). */
  node?: string;
}

/** Options for {@linkcode SessionStore.createLog}. */
export interface CreateLogOptions {
  /** Bytes retained for late readers (see the output log's backpressure policy). */
  retention: number;
}

/** Where sessions, their output and the server's events are kept. */
export interface SessionStore {
  /** The event bus. */
  readonly bus: EventBus;
  /**
   * Makes the output log of a new session on this node.
   *
   * @param id The session id.
   * @param options Retention.
   * @returns The log the session writes to.
   */
  createLog(id: string, options: CreateLogOptions): OutputLog;
  /**
   * Opens a reader on a session's output by id.
   *
   * @param id The session id.
   * @param options Where to start.
   * @returns The reader, or `undefined` when the store has no log for the id.
   */
  openReader(id: string, options?: ReaderOptions): Promise<OutputReader | undefined>;
  /**
   * Adds or replaces a session's record.
   *
   * @param record The record.
   */
  put(record: SessionRecord): Promise<void>;
  /**
   * Finds a session's record.
   *
   * @param id The session id.
   * @returns The record, or `undefined`.
   */
  get(id: string): Promise<SessionRecord | undefined>;
  /**
   * Every record, oldest first.
   *
   * @returns The records.
   */
  list(): Promise<SessionRecord[]>;
  /**
   * Forgets a session: its record and its output log.
   *
   * @param id The session id.
   * @returns Whether there was such a session.
   */
  delete(id: string): Promise<boolean>;
  /** Releases what the store holds (connections, the bus). */
  close(): Promise<void>;
}

/** Options for {@linkcode MemorySessionStore}. */
export interface MemorySessionStoreOptions {
  /** The bus. @default {a new MemoryEventBus} */
  bus?: EventBus;
}

/** The in-memory {@linkcode SessionStore}: one node's sessions, logs and events. */
export class MemorySessionStore implements SessionStore {
  /** The event bus. */
  readonly bus: EventBus;
  #records = new Map<string, SessionRecord>();
  #logs = new Map<string, OutputLog>();
  #ownBus: boolean;

  /**
   * Makes an empty store.
   *
   * @param options The bus to use.
   */
  constructor(options: MemorySessionStoreOptions = {}) {
    this.bus = options.bus ?? new MemoryEventBus();
    this.#ownBus = !options.bus;
  }

  /** Makes the output log of a new session. */
  createLog(id: string, options: CreateLogOptions): OutputLog {
    if (this.#logs.has(id)) {
      throw new TypeError(`Cannot create the output log of session "${id}": it already exists`);
    }
    const log = new MemoryOutputLog({ retention: options.retention });
    this.#logs.set(id, log);
    return log;
  }

  /** Opens a reader on a session's output. */
  openReader(id: string, options?: ReaderOptions): Promise<OutputReader | undefined> {
    return Promise.resolve(this.#logs.get(id)?.reader(options));
  }

  /** Adds or replaces a record. */
  put(record: SessionRecord): Promise<void> {
    // Stored as a copy: a record is data, never shared with its writer.
    this.#records.set(record.id, copyRecord(record));
    return Promise.resolve();
  }

  /**
   * Adds or replaces a record in the same turn and without a copy: the caller gives the record
   * away and never changes it (the session manager makes one for every session's every state
   * change, and announces that same record on the bus). `get` and `list` still hand out copies.
   *
   * @param record The record, kept as it is.
   */
  putNow(record: SessionRecord): void {
    this.#records.set(record.id, record);
  }

  /** Finds a record. */
  get(id: string): Promise<SessionRecord | undefined> {
    const record = this.#records.get(id);
    return Promise.resolve(record && copyRecord(record));
  }

  /** Every record, oldest first. */
  list(): Promise<SessionRecord[]> {
    return Promise.resolve([...this.#records.values()].map(copyRecord));
  }

  /** Forgets a session. */
  delete(id: string): Promise<boolean> {
    return Promise.resolve(this.deleteNow(id));
  }

  /**
   * Forgets a session in the same turn, as {@linkcode MemorySessionStore.delete} does without a
   * promise.
   *
   * @param id The session id.
   * @returns Whether the store had its record or its log.
   */
  deleteNow(id: string): boolean {
    const had = this.#records.delete(id);
    const log = this.#logs.get(id);
    if (log) {
      if (!log.closed) log.close();
      this.#logs.delete(id);
    }
    return had || log !== undefined;
  }

  /** Closes the bus when the store made it. */
  async close(): Promise<void> {
    if (this.#ownBus) await this.bus.close();
  }
}

/**
 * Copies a record: its own fields and arrays, and a deep copy of the result (a function's value
 * may be any JSON). A tenth of what `structuredClone` costs on the records of every session
 * start and end.
 */
function copyRecord(record: SessionRecord): SessionRecord {
  const copy = { ...record, params: [...record.params] };
  const result = record.result;
  if (result !== undefined) {
    copy.result = { ...result };
    if (
      result.status === "fulfilled" && typeof result.value === "object" && result.value !== null
    ) {
      copy.result = { ...result, value: structuredClone(result.value) };
    }
  }
  return copy;
}
