/**
 * Sessions that run on another node of a cluster, and the control channel that reaches them.
 *
 * A {@linkcode RemoteSession} offers the same surface front ends use on a local
 * {@linkcode Session} -- state, result, output readers, stdin, end of input, signals, resize,
 * attach -- built from the store alone: its state and result come from the `session.*` events
 * of the bus, its output from the store's reader by session id, and every command goes to the
 * node that runs the process as an event on the bus topic `node.<name>.control`, where that
 * node's {@linkcode serveControl} applies it to the local session. Commands travel in the bus's
 * single order, so stdin arrives in the order it was written.
 *
 * @module
 */

import type { BusMessage, EventBus } from "./bus.ts";
import type { OutputReader, ReaderOptions } from "./output_log.ts";
import type { Caller, ProcessDefinition } from "./process.ts";
import type { SharedTickets } from "./auth.ts";
import {
  type Session,
  type SessionHandle,
  type SessionResult,
  type SessionState,
  untilStarted,
} from "./session.ts";
import type { SessionRecord, SessionStore } from "./store.ts";

/** A command for the node that runs a session. */
export type ControlCommand =
  | { op: "write"; id: string; data: string }
  | { op: "closeInput"; id: string }
  | { op: "cancel"; id: string; reason: string }
  | { op: "signal"; id: string; signal: Deno.Signal }
  | { op: "resize"; id: string; cols: number; rows: number }
  | { op: "attach"; id: string; handle: string }
  | { op: "detach"; id: string; handle: string }
  | { op: "touch"; id: string };

/** A store that can open a reader synchronously for a session of another node. */
export interface ClusterStore extends SessionStore {
  /** This node's name. */
  readonly node: string;
  /**
   * Opens a reader on a session's output wherever it runs; it starts reading when first read.
   *
   * @param id The session id.
   * @param options Where to start.
   * @returns The reader.
   */
  remoteReader(id: string, options?: ReaderOptions): OutputReader;
  /**
   * Says this node is alive for the next `ttl` milliseconds.
   *
   * @param ttl Milliseconds.
   */
  heartbeat(ttl: number): Promise<void>;
  /**
   * The nodes whose heartbeat has not expired.
   *
   * @returns Their names.
   */
  aliveNodes(): Promise<Set<string>>;
  /**
   * Takes a one-time claim (e.g. to be the one node that reports a lost node).
   *
   * @param key What is claimed.
   * @param ttl Milliseconds the claim lasts.
   * @returns Whether this node got it.
   */
  claim(key: string, ttl: number): Promise<boolean>;
  /**
   * Calls `listener` each time the store's connection comes back after a loss.
   *
   * @param listener What to do.
   */
  onReconnect(listener: () => void): void;
  /**
   * Ends a session's output where it stands (its node was lost).
   *
   * @param id The session id.
   */
  endLog(id: string): Promise<void>;
  /** Browser tickets, redeemable once on any node. */
  readonly tickets: SharedTickets;
  /**
   * A map every node shares (e.g. the wubsub channel directory).
   *
   * @param name The map's name.
   * @returns The map.
   */
  sharedMap(name: string): SharedMap;
  /**
   * Every node that ever beat and was not forgotten.
   *
   * @returns Their names.
   */
  knownNodes(): Promise<Set<string>>;
  /**
   * Forgets a node (after it was reported lost).
   *
   * @param node Its name.
   */
  forgetNode(node: string): Promise<void>;
}

/** A string-keyed map of JSON values shared by the nodes of a cluster. */
export interface SharedMap {
  /**
   * Sets a key unless it is set.
   *
   * @param key The key.
   * @param value The value.
   * @returns Whether it was set.
   */
  setIfAbsent(key: string, value: unknown): Promise<boolean>;
  /**
   * Deletes a key.
   *
   * @param key The key.
   */
  delete(key: string): Promise<void>;
  /**
   * Every entry.
   *
   * @returns The entries.
   */
  entries(): Promise<[string, unknown][]>;
}

/** The bus topic on which a lost node is announced once, with `{node}`. */
export const NODE_LOST_TOPIC = "cluster.node.lost";

/**
 * Whether a store is a cluster store.
 *
 * @param store The store.
 * @returns `true` for a store with a node name and remote readers.
 */
export function isClusterStore(store: SessionStore): store is ClusterStore {
  return typeof (store as ClusterStore).node === "string" &&
    typeof (store as ClusterStore).remoteReader === "function";
}

/**
 * The control topic of a node.
 *
 * @param node The node name.
 * @returns The bus topic its commands go to.
 */
export function controlTopic(node: string): string {
  return `node.${node}.control`;
}

function toBase64(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

function fromBase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

/** Options for {@linkcode serveControl}. */
export interface ServeControlOptions {
  /** Closes the control subscription when aborted. */
  signal?: AbortSignal;
}

/**
 * Applies the commands other nodes send to this node's sessions.
 *
 * @param bus The bus.
 * @param node This node's name.
 * @param find Finds a local session by id.
 * @param options A signal to stop.
 * @returns Resolves once stopped.
 */
export async function serveControl(
  bus: EventBus,
  node: string,
  find: (id: string) => Session | undefined,
  options: ServeControlOptions = {},
): Promise<void> {
  const detaches = new Map<string, () => void>();
  const subscription = bus.subscribe<ControlCommand>(controlTopic(node), {
    queue: 65536,
    signal: options.signal,
  });
  for await (const message of subscription) {
    if (message.type !== "event") continue;
    const command = message.event.data;
    const session = find(command.id);
    if (!session) continue;
    try {
      switch (command.op) {
        case "write":
          await session.write(fromBase64(command.data)).catch(() => {});
          break;
        case "closeInput":
          await session.closeInput().catch(() => {});
          break;
        case "cancel":
          session.cancel(command.reason);
          break;
        case "signal":
          session.signal(command.signal);
          break;
        case "resize":
          session.resize(command.cols, command.rows);
          break;
        case "attach":
          if (!detaches.has(command.handle)) detaches.set(command.handle, session.attach());
          break;
        case "detach":
          detaches.get(command.handle)?.();
          detaches.delete(command.handle);
          break;
        case "touch":
          session.touch();
          break;
      }
    } catch {
      // A command a session refuses (e.g. a signal after its end) changes nothing.
    }
  }
  for (const detach of detaches.values()) detach();
}

/**
 * A session that runs on another node, driven through the store and the bus.
 */
export class RemoteSession extends EventTarget implements SessionHandle {
  /** The session id. */
  readonly id: string;
  /** The process name. */
  readonly name: string;
  /** The params. */
  readonly params: readonly string[];
  /** Who started it. */
  readonly caller: Caller;
  /** What kind of process it runs (the definition itself lives on the node that runs it). */
  readonly definition: { readonly kind: ProcessDefinition["kind"] };
  /** When it was created. */
  readonly createdAt: number;
  /** The node that runs it. */
  readonly node: string;
  /** Resolves with the result. */
  readonly result: Promise<SessionResult>;
  /** No trace context travels with a remote handle. */
  readonly trace: undefined = undefined;
  /** Linger of the handle (the owner node decides). */
  linger = 0;
  #record: SessionRecord;
  #store: ClusterStore;
  #resolve!: (result: SessionResult) => void;
  #subscription: AsyncIterableIterator<BusMessage<SessionRecord>> & { close(): void };
  #handle = crypto.randomUUID();
  #inputClosed = false;
  #inputOffset = 0;

  /**
   * Makes a handle from a session's record.
   *
   * @param record The record.
   * @param store The cluster store.
   */
  constructor(record: SessionRecord, store: ClusterStore) {
    super();
    this.#record = record;
    this.#store = store;
    this.id = record.id;
    this.name = record.name;
    this.params = record.params;
    this.caller = { id: record.owner };
    this.createdAt = record.createdAt;
    this.node = record.node ?? "";
    this.definition = { kind: "command" };
    this.result = new Promise((resolve) => this.#resolve = resolve);
    this.#subscription = store.bus.subscribe<SessionRecord>("session.*", { queue: 4096 });
    if (record.result) this.#resolve(record.result);
    void this.#follow();
  }

  async #follow(): Promise<void> {
    // Catch up with the store first: the record may have changed before the subscription.
    const fresh = await this.#store.get(this.id).catch(() => undefined);
    if (fresh) this.#update(fresh);
    for await (const message of this.#subscription) {
      if (message.type === "gap") {
        const again = await this.#store.get(this.id).catch(() => undefined);
        if (again) this.#update(again);
        continue;
      }
      if (message.event.data.id !== this.id) continue;
      this.#update(message.event.data);
      if (this.#record.result) break;
    }
    this.#subscription.close();
  }

  #update(record: SessionRecord): void {
    const changed = record.state !== this.#record.state;
    this.#record = record;
    if (changed) this.dispatchEvent(new Event("state"));
    if (record.result) this.#resolve(record.result);
  }

  /** The state, as last announced. */
  get state(): SessionState {
    return this.#record.state;
  }

  /** Resolves once the session is no longer `starting` (spawned, or ended without a process). */
  get started(): Promise<void> {
    return untilStarted(this);
  }

  /** The result, once ended. */
  get outcome(): SessionResult | undefined {
    return this.#record.result;
  }

  /** Whether it has ended. */
  get ended(): boolean {
    return this.#record.result !== undefined;
  }

  /** The process id on its node. */
  get pid(): number | undefined {
    return this.#record.pid;
  }

  /** Whether it runs in a pseudo-terminal. */
  get pty(): boolean {
    return this.#record.pty === true;
  }

  /** Whether this handle closed its input. */
  get inputClosed(): boolean {
    return this.#inputClosed;
  }

  /** Stdin bytes sent through this handle (stdin offsets are per handle across nodes). */
  get inputOffset(): number {
    return this.#inputOffset;
  }

  /** Clients attached, as last recorded. */
  get attached(): number {
    return this.#record.attached;
  }

  /** Always `false`: a delivery through another node is not recorded on the owner node. */
  get delivered(): boolean {
    return false;
  }

  /**
   * Does nothing: the owner node keeps the session until its linger has passed, as it keeps
   * every session whose result it has not seen delivered.
   */
  markDelivered(): void {}

  /** When it ended. */
  get endedAt(): number | undefined {
    return this.#record.endedAt;
  }

  /** What a front end reads of the log: its end as last recorded, and whether it is closed. */
  get log(): { readonly start: number; readonly end: number; readonly closed: boolean } {
    // The oldest retained offset is known to the store's reader, which reports what it skipped.
    return { start: 0, end: this.#record.outputBytes, closed: this.ended };
  }

  async #send(command: ControlCommand): Promise<void> {
    if (!this.node) {
      throw new Error(`Cannot reach session "${this.id}": its node is not known`);
    }
    try {
      await this.#store.bus.publish(controlTopic(this.node), command);
    } catch (error) {
      throw new Error(
        `Cannot reach session "${this.id}" on node "${this.node}": the cluster store is unavailable (${
          (error as Error).message
        })`,
      );
    }
  }

  /** Sends stdin to the process on its node. */
  write(data: Uint8Array | string): Promise<void> {
    if (this.ended) return Promise.reject(new TypeError("Cannot write: the session has ended"));
    if (this.#inputClosed) return Promise.reject(new TypeError("Cannot write: input is closed"));
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    this.#inputOffset += bytes.byteLength;
    return this.#send({ op: "write", id: this.id, data: toBase64(bytes) });
  }

  /** Closes the process's input. */
  closeInput(): Promise<void> {
    this.#inputClosed = true;
    return this.#send({ op: "closeInput", id: this.id });
  }

  /** Cancels it. */
  cancel(reason = "client requested cancellation"): void {
    void this.#send({ op: "cancel", id: this.id, reason }).catch(() => {});
  }

  /** Sends a signal. */
  signal(signal: Deno.Signal): void {
    void this.#send({ op: "signal", id: this.id, signal }).catch(() => {});
  }

  /** Resizes its terminal. */
  resize(cols: number, rows: number): void {
    void this.#send({ op: "resize", id: this.id, cols, rows }).catch(() => {});
  }

  /** Reads its output from the store. */
  reader(options?: ReaderOptions): OutputReader {
    return this.#store.remoteReader(this.id, options);
  }

  /** Counts this handle as an attached client on the owner node until the returned function runs. */
  attach(): () => void {
    void this.#send({ op: "attach", id: this.id, handle: this.#handle }).catch(() => {});
    let done = false;
    return () => {
      if (done) return;
      done = true;
      void this.#send({ op: "detach", id: this.id, handle: this.#handle }).catch(() => {});
    };
  }

  /** Keeps it from being reaped. */
  touch(): void {
    void this.#send({ op: "touch", id: this.id }).catch(() => {});
  }

  /** Stops following its events. */
  dispose(): void {
    this.#subscription.close();
  }

  /** A JSON-friendly summary. */
  toJSON(): SessionRecord {
    return { ...this.#record };
  }
}
