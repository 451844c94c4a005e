/**
 * The session manager: looks processes up by name, checks the caller and the params, starts
 * sessions, keeps them in the registry and reaps the ones nobody needs any more.
 *
 * @module
 */

import { CallError, CapacityError } from "./errors.ts";
import { type ParamLimits, validateParams } from "./params.ts";
import type { Caller, ProcessDefinition } from "./process.ts";
import { type EventBus, MemoryEventBus } from "./bus.ts";
import { MemorySessionStore, type SessionRecord, type SessionStore } from "./store.ts";
import { isClusterStore, NODE_LOST_TOPIC, RemoteSession, serveControl } from "./remote_session.ts";
import { MemorySessionRegistry, type SessionRegistry } from "./registry.ts";
import { type RejectionKind, Session, type TraceContext } from "./session.ts";
import { formatDuration } from "./units.ts";
import { closeWarmPool } from "./runner.ts";
import { traceSession } from "./_tracing.ts";

/** The bus topic of each registry event (one string each, not one built per event). */
const SESSION_TOPICS = {
  created: "session.created",
  state: "session.state",
  removed: "session.removed",
} as const;

/** Options for {@linkcode SessionManager}. */
export interface SessionManagerOptions {
  /** The processes clients may call, by name. */
  processes: Record<string, ProcessDefinition>;
  /** Where sessions live. @default {a new MemorySessionRegistry} */
  registry?: SessionRegistry;
  /**
   * Where session records, output logs and events are kept. Session lifecycle events are
   * published on its bus (`session.created`, `session.state`, `session.removed`, each with the
   * session's {@linkcode SessionRecord}). @default {a new MemorySessionStore}
   */
  store?: SessionStore;
  /** Default milliseconds between SIGTERM and SIGKILL. @default {5000} */
  killGrace?: number;
  /** Default milliseconds an unattached session is kept. @default {60000} */
  linger?: number;
  /** Default output bytes retained per session. @default {4194304} */
  retention?: number;
  /** Pending stdin bytes allowed per session. @default {8388608} */
  maxPendingInput?: number;
  /**
   * The most sessions alive at once (running or lingering). At the limit, the ended session
   * that ended first among those whose result was delivered and that no client is attached to
   * gives way to a new one; without such a session the call is refused. @default {1000}
   */
  maxSessions?: number;
  /**
   * The most sessions one caller (by `Caller.id`) may have alive at once; at the limit, as
   * `maxSessions`, among the caller's own sessions. @default {Infinity}
   */
  maxPerCaller?: number;
  /**
   * Output bytes held in memory by all sessions together (their logs' retained bytes) at or
   * above which new sessions are refused, once delivered ended sessions (as for `maxSessions`)
   * no longer free enough. @default {Infinity}
   */
  outputBudget?: number;
  /**
   * Token names or roles that may see and control every caller's sessions (`"*"`: everyone).
   * Otherwise sessions are visible only to the identity that started them. @default {[]}
   */
  viewers?: readonly string[];
  /** Process starts allowed per minute per caller. @default {Infinity} */
  startsPerMinute?: number;
  /** Limits on params. */
  paramLimits?: ParamLimits;
  /** Milliseconds between sweeps for expired sessions. @default {1000} */
  reapInterval?: number;
  /** Cluster timing, used with a cluster store (e.g. Redis). */
  cluster?: ClusterTiming;
  /**
   * The clock for session activity and reaping (epoch milliseconds): tests pass a fake one and
   * move it instead of sleeping. @default {Date.now}
   */
  now?: () => number;
}

/** How a node of a cluster says it is alive, and when others count it lost. */
export interface ClusterTiming {
  /** Milliseconds between heartbeats. @default {1000} */
  heartbeat?: number;
  /** Milliseconds without a heartbeat after which a node is lost. @default {5000} */
  lostAfter?: number;
}

/** The data of a session lifecycle event on the bus. */
export type SessionEvent = SessionRecord;

/** Options for {@linkcode SessionManager.rejected}. */
export interface RejectedOptions {
  /**
   * Count the failed call against `startsPerMinute` (when it failed before it was counted, e.g.
   * an unknown process). @default {false}
   */
  countStart?: boolean;
}

/** Options for {@linkcode SessionManager.start}. */
export interface StartOptions {
  /** Who is calling. */
  caller: Caller;
  /** Run in a pseudo-terminal of this size (the process must allow it). */
  pty?: { cols: number; rows: number };
  /** Milliseconds the session is kept while no client is attached. */
  linger?: number;
  /** The W3C trace context of the caller's span. */
  trace?: TraceContext;
}

/**
 * Starts and keeps track of sessions.
 *
 * @example Start a session and wait for its result
 * ```ts
 * import { SessionManager } from "./session_manager.ts";
 * import { defineProcess } from "./process.ts";
 * import assert from "node:assert/strict";
 *
 * const manager = new SessionManager({
 *   processes: { echo: defineProcess({ params: [{ name: "p", variadic: true }], run: ({ params }) => params }) },
 * });
 * const session = manager.start("echo", ["a", "b"], { caller: { id: "me" } });
 * assert.deepEqual(await session.result, { status: "fulfilled", value: ["a", "b"] });
 * await manager.close();
 * ```
 */
export class SessionManager {
  /** The processes clients may call. */
  readonly processes: Record<string, ProcessDefinition>;
  /** Where sessions live. */
  readonly registry: SessionRegistry;
  /** Where records, output logs and events are kept. */
  readonly store: SessionStore;
  /** Where lifecycle events are published (the store's bus). */
  readonly bus: EventBus;
  #options: SessionManagerOptions;
  #reaper: ReturnType<typeof setInterval>;
  #cluster: { stop: AbortController; timer: ReturnType<typeof setInterval> } | undefined;
  /** Nodes this node has seen without a heartbeat, and since when. */
  #missingSince = new Map<string, number>();
  #closing = false;
  /** Per caller: start times of the last minute, oldest first, from `head` on. */
  #starts = new Map<string, { times: number[]; head: number }>();
  /** Sessions in the registry per caller. */
  #perCaller = new Map<string, number>();
  /** Sessions in the registry that have not ended: their output may still grow. */
  #live = new Set<Session>();
  /** Output bytes that ended sessions in the registry held when they ended, by session. */
  #endedHeld = new Map<Session, number>();
  #endedBytes = 0;
  /** Output bytes held when the budget was last counted, and added to the logs since. */
  #counted = 0;
  #added = 0;
  #onOutput = (bytes: number): void => {
    this.#added += bytes;
  };

  /**
   * Creates a manager and starts its reaper.
   *
   * @param options Processes and defaults.
   */
  constructor(options: SessionManagerOptions) {
    this.processes = options.processes;
    this.registry = options.registry ?? new MemorySessionRegistry();
    this.store = options.store ?? new MemorySessionStore();
    this.bus = this.store.bus;
    const { store, bus } = this;
    // In memory, a change is recorded and announced in the same call, without promises: the
    // manager does it three or four times for every session, on the path of a quick call. Only
    // for these classes themselves: a subclass's own `put`, `delete` and `publish` are called.
    const inMemory = store instanceof MemorySessionStore && bus instanceof MemoryEventBus &&
      Object.getPrototypeOf(store) === MemorySessionStore.prototype &&
      Object.getPrototypeOf(bus) === MemoryEventBus.prototype;
    this.registry.observe((type, session) => {
      this.#account(type, session);
      const record = sessionRecord(session, this.node);
      // Recorded first, then announced: a watcher that reads the store sees the event's state.
      if (inMemory) {
        if (type === "removed") store.deleteNow(session.id);
        else store.putNow(record);
        bus.publishNow(SESSION_TOPICS[type], record);
        return;
      }
      const stored = type === "removed" ? store.delete(session.id) : store.put(record);
      void stored.then(() => bus.publish(SESSION_TOPICS[type], record)).catch(() => {});
    });
    this.#options = options;
    this.#reaper = setInterval(() => this.reap(), options.reapInterval ?? 1000);
    Deno.unrefTimer(this.#reaper);
    if (isClusterStore(this.store)) this.#joinCluster();
  }

  /**
   * Looks up a process the caller may run.
   *
   * @param name The process name.
   * @param caller Who is calling.
   * @returns The definition.
   * @throws {CallError} `unknown_process` or `not_allowed`.
   */
  lookup(name: string, caller: Caller): ProcessDefinition {
    const definition = Object.hasOwn(this.processes, name) ? this.processes[name] : undefined;
    if (!definition) {
      throw new CallError("unknown_process", `Cannot start process "${name}": no such process`);
    }
    if (!this.allowed(definition, caller)) {
      throw new CallError(
        "not_allowed",
        `Cannot start process "${name}": caller "${caller.id}" is not allowed to run it`,
      );
    }
    return definition;
  }

  /**
   * Whether a caller may run a process.
   *
   * @param definition The process.
   * @param caller Who is calling.
   * @returns `true` when the process has no `allow` list or it names the caller or a role.
   */
  allowed(definition: ProcessDefinition, caller: Caller): boolean {
    const allow = definition.allow;
    if (!allow) return true;
    return allow.includes(caller.id) || (caller.roles ?? []).some((r) => allow.includes(r));
  }

  /**
   * Validates a call and starts a session for it.
   *
   * @param name The process name.
   * @param params The params.
   * @param options Who is calling, and how.
   * @returns The started session, already in the registry.
   * @throws {CallError} When the process is unknown, not allowed, the params are invalid or a
   * limit is reached. Nothing was started.
   */
  start(name: string, params: unknown, options: StartOptions): Session {
    const definition = this.lookup(name, options.caller);
    const valid = validateParams(name, definition.params ?? [], params, this.#options.paramLimits);
    if (this.#closing) {
      throw new CallError(
        "limit_reached",
        `Cannot start process "${name}": the server is shutting down`,
      );
    }
    this.#countStart(name, options.caller);
    if (options.pty && !(definition.kind === "command" && definition.pty)) {
      throw new CallError(
        "not_allowed",
        `Cannot start process "${name}": it does not allow a pseudo-terminal`,
      );
    }
    // Last: the limits, which may let delivered sessions give way. They only name them; they
    // are removed once every limit passed, for a call that starts.
    const room = this.#checkCapacity(name, options.caller);
    this.#checkBudget(name, room);
    for (const session of room) this.registry.delete(session.id);
    const session = new Session({
      ...this.#sessionOptions(name, valid, options, definition),
      pty: options.pty,
      paramsOmitted: params === undefined || params === null,
    });
    this.registry.add(session);
    traceSession(session);
    session.start();
    return session;
  }

  /**
   * Registers a session that is already rejected, for front ends that must give an id to every
   * call, even one that fails (the pow-1 REST API).
   *
   * @param name The process name.
   * @param params The params.
   * @param options Who called.
   * @param reason Why it failed.
   * @param kind What kind of failure.
   * @returns The rejected session, in the registry.
   * @param rejectedOptions Whether the failed call counts as a start.
   * @throws {CallError} `limit_reached` when `maxSessions` sessions are alive, the caller has
   * `maxPerCaller`, or (with `countStart`) it is over `startsPerMinute`: failed calls count
   * against the limits too, so they cannot grow the registry without bound.
   */
  rejected(
    name: string,
    params: unknown,
    options: StartOptions,
    reason: string,
    kind: RejectionKind = "spawn",
    rejectedOptions: RejectedOptions = {},
  ): Session {
    if (rejectedOptions.countStart) this.#countStart(name, options.caller);
    for (const session of this.#checkCapacity(name, options.caller)) {
      this.registry.delete(session.id);
    }
    const list = Array.isArray(params) ? params.map(String) : [];
    const session = Session.rejected(
      this.#sessionOptions(name, list, options, { kind: "function", run: () => null }),
      reason,
      kind,
    );
    this.registry.add(session);
    return session;
  }

  /**
   * Finds a session the caller may see.
   *
   * @param id The session id.
   * @param caller Who is asking; sessions are visible only to the identity that started them,
   * and to the configured `viewers`.
   * @returns The session, or `undefined`.
   */
  get(id: string, caller?: Caller): Session | undefined {
    const session = this.registry.get(id);
    if (!session || (caller && !this.visible(session, caller))) return undefined;
    return session;
  }

  /**
   * Whether a caller may see a session: its owner, or one of the configured `viewers`.
   *
   * @param session The session.
   * @param caller Who is asking.
   * @returns `true` when the caller may see it.
   */
  visible(session: Pick<Session, "caller">, caller: Caller): boolean {
    if (session.caller.id === caller.id) return true;
    const viewers = this.#options.viewers ?? [];
    return viewers.includes("*") || viewers.includes(caller.id) ||
      (caller.roles ?? []).some((role) => viewers.includes(role));
  }

  /** This node's name in a cluster (`undefined` on a single node). */
  get node(): string | undefined {
    return isClusterStore(this.store) ? this.store.node : undefined;
  }

  /**
   * Whether a caller may see a session of any node, by its record.
   *
   * @param record The session's record.
   * @param caller Who is asking.
   * @returns `true` when the caller may see it.
   */
  visibleRecord(record: SessionRecord, caller: Caller): boolean {
    if (record.owner === caller.id) return true;
    const viewers = this.#options.viewers ?? [];
    return viewers.includes("*") || viewers.includes(caller.id) ||
      (caller.roles ?? []).some((role) => viewers.includes(role));
  }

  /**
   * Finds a session on this node or, with a cluster store, on any node.
   *
   * @param id The session id.
   * @param caller Who is asking (as for {@linkcode SessionManager.get}).
   * @returns The local session, a handle on a remote one, or `undefined`.
   */
  async find(id: string, caller?: Caller): Promise<Session | RemoteSession | undefined> {
    const local = this.registry.get(id);
    if (local) return !caller || this.visible(local, caller) ? local : undefined;
    if (!isClusterStore(this.store)) return undefined;
    const record = await this.store.get(id);
    if (!record || (caller && !this.visibleRecord(record, caller))) return undefined;
    return new RemoteSession(record, this.store);
  }

  /**
   * Lists the records of the sessions a caller may see on every node (the store's view).
   *
   * @param caller Who is asking.
   * @returns Their records, oldest first.
   */
  async listAll(caller: Caller): Promise<SessionRecord[]> {
    return (await this.store.list()).filter((r) => this.visibleRecord(r, caller));
  }

  /**
   * Lists the sessions a caller may see.
   *
   * @param caller Who is asking.
   * @returns Their sessions, oldest first.
   */
  list(caller: Caller): Session[] {
    return [...this.registry.values()].filter((s) => this.visible(s, caller));
  }

  /**
   * Ends unattached sessions whose linger time has passed: running ones are cancelled, ended
   * ones removed. Runs periodically; call it directly to sweep now.
   *
   * @param now The current time (epoch milliseconds). @default {the manager's clock}
   */
  reap(now: number = (this.#options.now ?? Date.now)()): void {
    for (const session of [...this.registry.values()]) {
      if (session.attached > 0 || now - session.lastActive < session.linger) continue;
      if (session.ended) {
        this.registry.delete(session.id);
      } else {
        session.cancel(
          `session abandoned: no client attached for ${formatDuration(session.linger)}`,
        );
      }
    }
  }

  /**
   * Adds or replaces a process in the catalogue at run time and publishes `process.added` or
   * `process.changed` with `{name}` on the bus. Running sessions keep the definition they
   * started with.
   *
   * @param name The name clients call it by.
   * @param definition The definition.
   */
  setProcess(name: string, definition: ProcessDefinition): void {
    if (typeof name !== "string" || name === "" || name.length > 256) {
      throw new TypeError(
        `Cannot add process ${JSON.stringify(name)}: a name is 1 to 256 characters`,
      );
    }
    const type = Object.hasOwn(this.processes, name) ? "changed" : "added";
    const old = this.processes[name];
    this.processes[name] = definition;
    if (type === "changed" && old !== definition) void closeWarmPool(old);
    void this.bus.publish(`process.${type}`, { name }).catch(() => {});
  }

  /**
   * Removes a process from the catalogue and publishes `process.removed` with `{name}`.
   * Running sessions of it go on.
   *
   * @param name The process name.
   * @returns Whether it was in the catalogue.
   */
  removeProcess(name: string): boolean {
    if (!Object.hasOwn(this.processes, name)) return false;
    void closeWarmPool(this.processes[name]);
    delete this.processes[name];
    void this.bus.publish("process.removed", { name }).catch(() => {});
    return true;
  }

  /**
   * Stops accepting calls, cancels every running session and waits until their processes
   * have ended.
   *
   * @param reason The rejection reason given to running sessions.
   */
  async close(reason = "server shutting down"): Promise<void> {
    this.#closing = true;
    clearInterval(this.#reaper);
    const running = [...this.registry.values()].filter((s) => !s.ended);
    for (const session of running) session.cancel(reason);
    await Promise.all([
      ...running.map((s) => s.result),
      ...Object.values(this.processes).map(closeWarmPool),
    ]);
    if (this.#cluster) {
      clearInterval(this.#cluster.timer);
      this.#cluster.stop.abort();
    }
    if (!this.#options.store) await this.store.close();
  }

  #joinCluster(): void {
    const store = this.store;
    if (!isClusterStore(store)) return;
    const heartbeat = this.#options.cluster?.heartbeat ?? 1000;
    const lostAfter = this.#options.cluster?.lostAfter ?? 5000;
    const stop = new AbortController();
    void serveControl(store.bus, store.node, (id) => this.registry.get(id), {
      signal: stop.signal,
    });
    // Other nodes are judged only after a full lostAfter of this node's own view: after a
    // (re)connect to a store that lost its data, their heartbeats have to come back first.
    let judgeFrom = Date.now() + lostAfter;
    const beat = async () => {
      try {
        await store.heartbeat(lostAfter);
        if (Date.now() >= judgeFrom) await this.#sweepLostNodes(store.node);
      } catch {
        // Redis is away: local sessions go on; the next beat tries again.
      }
    };
    void beat();
    const timer = setInterval(beat, heartbeat);
    Deno.unrefTimer(timer);
    // After a loss of the store, write this node's records again: they may be stale.
    // and announce them again: what ended meanwhile could not be published.
    store.onReconnect(() => {
      judgeFrom = Date.now() + lostAfter;
      for (const session of this.registry.values()) {
        const record = sessionRecord(session, store.node);
        void store.put(record).then(() => this.bus.publish("session.state", record))
          .catch(() => {});
      }
    });
    this.#cluster = { stop, timer };
  }

  async #sweepLostNodes(self: string): Promise<void> {
    const store = this.store;
    if (!isClusterStore(store)) return;
    const now = Date.now();
    const lostAfter = this.#options.cluster?.lostAfter ?? 5000;
    const alive = await store.aliveNodes();
    alive.add(self);
    // A node counts as lost only once this node has seen it missing for a whole lostAfter
    // (its heartbeat key may be missing because Redis came back empty, not because it died).
    const missing = this.#missingSince;
    for (const node of missing.keys()) if (alive.has(node)) missing.delete(node);
    const known = await store.knownNodes();
    for (const record of await store.list()) if (record.node) known.add(record.node);
    for (const node of known) if (!alive.has(node) && !missing.has(node)) missing.set(node, now);
    for (const [node, since] of missing) if (now - since < lostAfter) alive.add(node);
    for (const node of known) {
      if (alive.has(node) || !(await store.claim(`lost-node:${node}`, 60_000))) continue;
      missing.delete(node);
      await store.forgetNode(node);
      await this.bus.publish(NODE_LOST_TOPIC, { node });
    }
    const linger = this.#options.linger ?? 60_000;
    for (const record of await store.list()) {
      if (!record.node || alive.has(record.node)) continue;
      if (record.result) {
        // Nobody is left to reap the sessions of a lost node: after their linger, remove them
        // (record and output) as their node would have.
        if (now - (record.endedAt ?? now) >= linger) await store.delete(record.id);
        continue;
      }
      // One node reports each lost session.
      if (!(await store.claim(`lost:${record.id}`, 60_000))) continue;
      const lost: SessionRecord = {
        ...record,
        state: "rejected",
        endedAt: Date.now(),
        result: { status: "rejected", reason: `node ${record.node} lost`, kind: "crash" },
      };
      await store.put(lost);
      await store.endLog(record.id);
      await this.bus.publish("session.state", lost);
    }
  }

  /**
   * Keeps the counts the limits are checked against as the registry changes, so that a start
   * never scans every session (a busy server keeps thousands of ended ones while they linger).
   */
  #account(type: string, session: Session): void {
    const id = session.caller.id;
    if (type === "created") {
      this.#perCaller.set(id, (this.#perCaller.get(id) ?? 0) + 1);
      if (session.ended) this.#ended(session);
      else this.#live.add(session);
    } else if (type === "state") {
      if (session.ended && this.#live.delete(session)) this.#ended(session);
    } else if (type === "removed") {
      const left = (this.#perCaller.get(id) ?? 1) - 1;
      if (left > 0) this.#perCaller.set(id, left);
      else this.#perCaller.delete(id);
      this.#live.delete(session);
      const held = this.#endedHeld.get(session);
      if (held !== undefined) {
        this.#endedHeld.delete(session);
        this.#endedBytes -= held;
      }
    }
  }

  #ended(session: Session): void {
    // An ended session's log no longer grows: what it holds is counted once.
    const held = session.log.end - session.log.start;
    this.#endedHeld.set(session, held);
    this.#endedBytes += held;
  }

  /**
   * Refuses a session over `maxSessions` in total or `maxPerCaller` for the caller, unless a
   * delivered ended session can give way to it: returns the session that would (none, or one),
   * which the caller removes once the call goes ahead. A caller at its own limit can only make
   * room with one of its own sessions, which makes room under `maxSessions` as well.
   */
  #checkCapacity(name: string, caller: Caller): Session[] {
    const perCaller = this.#options.maxPerCaller ?? Infinity;
    if ((this.#perCaller.get(caller.id) ?? 0) >= perCaller) {
      const own = this.#givesWay(caller.id);
      if (own) return [own];
      throw new CallError(
        "limit_reached",
        `Cannot start process "${name}": caller "${caller.id}" already has ${perCaller} sessions alive`,
      );
    }
    const maxSessions = this.#options.maxSessions ?? 1000;
    if (this.registry.size >= maxSessions) {
      const any = this.#givesWay();
      if (any) return [any];
      throw new CallError(
        "limit_reached",
        `Cannot start process "${name}": ${maxSessions} sessions are already alive`,
      );
    }
    return [];
  }

  /**
   * The session that gives way to a new one: the ended session that ended first among those
   * whose result was delivered ({@linkcode Session.markDelivered}) and that no client is
   * attached to, as the reaper removes one whose linger has passed. Sessions whose result no
   * client has seen never give way: a client that lost its connection may still come for it.
   *
   * @param callerId Only a session of this caller.
   * @returns The session, or `undefined`.
   */
  #givesWay(callerId?: string): Session | undefined {
    // Ended sessions in the order they ended; the scan stops at the first that may go.
    for (const session of this.#endedHeld.keys()) {
      if (!session.delivered || session.attached > 0) continue;
      if (callerId !== undefined && session.caller.id !== callerId) continue;
      return session;
    }
    return undefined;
  }

  /**
   * Output bytes all sessions hold in memory now: what their logs retain (unread, held and
   * kept for late readers). Sessions that ended count with what they held when they ended.
   *
   * @returns The bytes.
   */
  outputBytes(): number {
    let bytes = this.#endedBytes;
    for (const session of this.#live) bytes += session.log.end - session.log.start;
    return bytes;
  }

  /**
   * Refuses new work once the sessions' output fills `outputBudget`, unless delivered ended
   * sessions that hold output can give way: adds them to `room` (what the capacity check
   * chose), and only when, with `room`, they bring the output under the budget.
   */
  #checkBudget(name: string, room: Session[]): void {
    const budget = this.#options.outputBudget ?? Infinity;
    if (budget === Infinity) return;
    // What is held never exceeds the last count plus what was added since (logs dropping old
    // output and sessions leaving only lower it): sessions are counted again, one by one, only
    // once that bound reaches the budget, not on every start.
    if (this.#counted + this.#added < budget) return;
    const held = this.outputBytes();
    this.#added = 0;
    let left = held;
    for (const session of room) left -= this.#endedHeld.get(session) ?? 0;
    const more: Session[] = [];
    for (const [session, bytes] of this.#endedHeld) {
      if (left < budget) break;
      if (bytes === 0 || !session.delivered || session.attached > 0) continue;
      if (room.includes(session)) continue;
      more.push(session);
      left -= bytes;
    }
    if (left >= budget) {
      this.#counted = held;
      throw new CapacityError(
        `Cannot start process "${name}": the server is out of output memory (${held} bytes held, the budget is ${budget})`,
      );
    }
    room.push(...more);
    this.#counted = left;
  }

  #countStart(name: string, caller: Caller): void {
    const limit = this.#options.startsPerMinute ?? Infinity;
    if (limit === Infinity) return;
    const now = Date.now();
    let window = this.#starts.get(caller.id);
    if (!window) this.#starts.set(caller.id, window = { times: [], head: 0 });
    const { times } = window;
    while (window.head < times.length && now - times[window.head] >= 60_000) window.head++;
    if (window.head > 1024 && window.head * 2 > times.length) {
      times.splice(0, window.head);
      window.head = 0;
    }
    if (times.length - window.head >= limit) {
      throw new CallError(
        "limit_reached",
        `Cannot start process "${name}": caller "${caller.id}" already started ${limit} processes in the last minute`,
      );
    }
    times.push(now);
  }

  #sessionOptions(
    name: string,
    params: string[],
    options: StartOptions,
    definition: ProcessDefinition,
  ) {
    const o = this.#options;
    const id = newSessionId();
    return {
      id,
      name,
      params,
      caller: options.caller,
      definition,
      killGrace: definition.killGrace ?? o.killGrace,
      linger: options.linger ?? o.linger,
      maxPendingInput: o.maxPendingInput,
      log: this.store.createLog(id, {
        retention: definition.retention ?? o.retention ?? 4 * 1024 * 1024,
      }),
      trace: options.trace,
      bus: this.bus,
      publish: this.#publish,
      now: o.now,
      onOutput: this.#onOutput,
    };
  }

  #publish = async (name: string, data: unknown): Promise<void> => {
    if (typeof name !== "string" || name === "") {
      throw new TypeError(`Invalid topic ${JSON.stringify(name)}: expected a non-empty name`);
    }
    await this.bus.publish(`topic.${name}`, data);
  };
}

/**
 * Describes a session as the store's record: its summary and its owner.
 *
 * @param session The session.
 * @param node The node that runs it (cluster stores).
 * @returns Its record (plain data).
 */
export function sessionRecord(session: Session, node?: string): SessionRecord {
  const record: SessionRecord = {
    id: session.id,
    name: session.name,
    // Shared, not copied: a session's params are frozen when it is made.
    params: session.params,
    owner: session.caller.id,
    state: session.state,
    createdAt: session.createdAt,
    outputBytes: session.log.end,
    attached: session.attached,
  };
  const { pid, endedAt, outcome } = session;
  if (pid !== undefined) record.pid = pid;
  if (session.pty) record.pty = true;
  if (node !== undefined) record.node = node;
  if (endedAt !== undefined) record.endedAt = endedAt;
  if (outcome !== undefined) record.result = outcome as SessionRecord["result"];
  // Shared by the store and every event: nobody may change it.
  return Object.freeze(record);
}

/**
 * Makes a random session id: 22 URL-safe characters (128 bits).
 *
 * @returns The id.
 */
export function newSessionId(): string {
  for (;;) {
    // 16 random bytes as 22 base64url characters (the last one carries 2 bits).
    if (randomAt + 16 > random.length) {
      crypto.getRandomValues(random);
      randomAt = 0;
    }
    let k = 0;
    for (let i = 0; i < 15; i += 3) {
      const n = (random[randomAt + i] << 16) | (random[randomAt + i + 1] << 8) |
        random[randomAt + i + 2];
      idCodes[k++] = BASE64URL_CODES[n >> 18];
      idCodes[k++] = BASE64URL_CODES[(n >> 12) & 63];
      idCodes[k++] = BASE64URL_CODES[(n >> 6) & 63];
      idCodes[k++] = BASE64URL_CODES[n & 63];
    }
    const last = random[randomAt + 15];
    idCodes[k++] = BASE64URL_CODES[last >> 2];
    idCodes[k] = BASE64URL_CODES[(last & 3) << 4];
    randomAt += 16; // each random byte is used once
    // Never one that starts with "-": on a command line it would read as an option.
    if (idCodes[0] === DASH) continue;
    // One flat string: built by `+=`, it would be a tree of 22 pieces that every map the
    // session goes into (registry, store, log) first has to flatten.
    return String.fromCharCode.apply(null, idCodes);
  }
}

const BASE64URL_CODES: Uint8Array = new TextEncoder().encode(
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
);
const DASH = 0x2d;
/** The character codes of the id being made. */
const idCodes: number[] = new Array(22).fill(0);
/** Random bytes for ids, drawn from the system's generator 4 KiB at a time. */
const random = new Uint8Array(4096);
let randomAt = random.length;
