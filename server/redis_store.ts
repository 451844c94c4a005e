/**
 * A {@linkcode SessionStore} on Redis, for running several pow nodes as one cluster.
 *
 * Keys (all under the `prefix`, default `pow`):
 *
 * | key                  | type       | holds                                                      |
 * | -------------------- | ---------- | ---------------------------------------------------------- |
 * | `P:sessions`         | hash       | session id → its {@linkcode SessionRecord} as JSON          |
 * | `P:order`            | sorted set | session ids by insertion, for listing oldest first         |
 * | `P:log:<id>`         | stream     | output chunks, entry id `<offset>-1`, fields `s` and `d`   |
 * | `P:events`           | stream     | bus events, entry id `0-<event id>`, fields `t` and `d`     |
 * | `P:events:seq`       | string     | the last event id                                          |
 *
 * **Output logs.** The node that runs a process writes to a local {@linkcode MemoryOutputLog}
 * (backpressure and local readers work as on a single node) and a mirror reader copies every
 * chunk into the session's stream, trimmed to the session's retention by offset
 * (`XTRIM MINID`), and ends it with an entry `e` at the end offset. Readers on other nodes read
 * the stream from any offset and are told how many bytes they skipped when it no longer holds
 * them. While Redis is unreachable the mirror lets go of the log (the process is never held up
 * by Redis) and resumes from where it stopped once Redis is back; bytes evicted meanwhile are
 * missing from the stream, and remote readers are told so through `skipped`.
 *
 * **Events.** Every event is published with one Lua script (`INCR` of the sequence, then `XADD`
 * with the id `0-<seq>`), so every node sees every event in one global order with ids that
 * increase by one. Each store reads the stream with one blocking connection and fans events
 * out to its local subscriptions with the same bounded queues as the in-memory bus.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { Redis } from "ioredis";
import {
  type BusEvent,
  checkTopic,
  type EventBus,
  QueuedSubscription,
  type SubscribeOptions,
  type Subscription,
} from "./bus.ts";
import {
  MemoryOutputLog,
  type OutputChunk,
  type OutputLog,
  type OutputReader,
  type OutputStream,
  type ReaderOptions,
  type ReadOptions,
} from "./output_log.ts";
import type { CreateLogOptions, SessionRecord } from "./store.ts";
import type { SharedTickets } from "./auth.ts";
import type { ClusterStore, SharedMap } from "./remote_session.ts";

type RedisClient = InstanceType<typeof Redis>;

/** Options for {@linkcode RedisSessionStore.connect}. */
export interface RedisStoreOptions {
  /** The Redis URL, e.g. `redis://127.0.0.1:6379`. */
  url: string;
  /** The prefix of every key. @default {"pow"} */
  prefix?: string;
  /** This node's name. @default {a random name} */
  node?: string;
  /** Bus events kept for resuming subscribers. @default {4096} */
  history?: number;
  /** Milliseconds a blocking read waits before it looks again. @default {2000} */
  blockMs?: number;
}

const PUBLISH = `local id = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '0-' .. id, 't', ARGV[1], 'd', ARGV[2])
return id`;

const PUT = `if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[3]), ARGV[1])
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1`;

const decoder = new TextDecoder();

function fields(list: unknown[]): Map<string, Uint8Array> {
  const map = new Map<string, Uint8Array>();
  for (let i = 0; i + 1 < list.length; i += 2) {
    map.set(decoder.decode(list[i] as Uint8Array), list[i + 1] as Uint8Array);
  }
  return map;
}

/**
 * Waits for a command at most `ms` milliseconds. A blocking read issued just as the connection
 * drops can stay pending in the client until it reconnects; the reader goes on without it.
 */
function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from Redis within ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

function offsetOf(id: string): number {
  return Number(id.slice(0, id.indexOf("-")));
}

/** A local subscription fed by the store's stream reader, in the bus's one order. */
class FanOutSubscription<T> extends QueuedSubscription<T> {
  /** While replaying history, live events wait here. */
  replaying: BusEvent<T>[] | undefined;
  /** The last event id delivered (live events at or below it are dropped). */
  delivered = 0;

  live(event: BusEvent<T>): void {
    if (this.replaying) this.replaying.push(event);
    else this.deliver(event);
  }

  deliver(event: BusEvent<T>): void {
    if (event.id <= this.delivered) return;
    this.delivered = event.id;
    this.push({ type: "event", event });
  }
}

/** The event bus of a {@linkcode RedisSessionStore}. */
class RedisEventBus implements EventBus {
  #redis: RedisClient;
  #reader: RedisClient;
  #key: string;
  #seqKey: string;
  #history: number;
  #blockMs: number;
  #subscriptions = new Set<FanOutSubscription<unknown>>();
  #last = 0;
  #closed = false;
  #loop: Promise<void> | undefined;

  constructor(redis: RedisClient, prefix: string, history: number, blockMs: number) {
    this.#redis = redis;
    this.#reader = redis.duplicate();
    this.#reader.on("error", () => {}); // reported through the reads that fail
    this.#key = `${prefix}:events`;
    this.#seqKey = `${prefix}:events:seq`;
    this.#history = history;
    this.#blockMs = blockMs;
  }

  async start(): Promise<void> {
    await this.#reader.connect();
    this.#last = Number(await this.#redis.get(this.#seqKey) ?? 0);
    this.#loop = this.#read();
  }

  async #read(): Promise<void> {
    while (!this.#closed) {
      let result: [string, unknown[][]][] | null;
      try {
        result = await withDeadline(
          this.#reader.xreadBuffer(
            "COUNT",
            1000,
            "BLOCK",
            this.#blockMs,
            "STREAMS",
            this.#key,
            `0-${this.#last}`,
          ),
          this.#blockMs + 2000,
        ) as unknown as [string, unknown[][]][] | null;
      } catch {
        if (this.#closed) return;
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      for (const [, entries] of result ?? []) {
        for (const [rawId, list] of entries) {
          const id = Number(decoder.decode(rawId as Uint8Array).split("-")[1]);
          if (id <= this.#last) continue;
          this.#last = id;
          const event = this.#decode(id, list as unknown[]);
          for (const subscription of this.#subscriptions) {
            if (subscription.matches(event.topic)) subscription.live(event);
          }
        }
      }
    }
  }

  #decode(id: number, list: unknown[]): BusEvent {
    const f = fields(list);
    const [time, data] = JSON.parse(decoder.decode(f.get("d")!));
    return { id, topic: decoder.decode(f.get("t")!), time, data };
  }

  async publish<T>(topic: string, data: T): Promise<BusEvent<T>> {
    checkTopic(topic);
    const time = Date.now();
    const id = Number(
      await this.#redis.eval(
        PUBLISH,
        2,
        this.#key,
        this.#seqKey,
        topic,
        JSON.stringify([time, data]),
        String(this.#history),
      ),
    );
    return { id, topic, time, data };
  }

  subscribe<T = unknown>(pattern: string, options: SubscribeOptions = {}): Subscription<T> {
    const max = options.queue ?? 1024;
    if (!Number.isInteger(max) || max < 1) {
      throw new RangeError(`Invalid queue size ${max}: expected a whole number of at least 1`);
    }
    const subscription: FanOutSubscription<T> = new FanOutSubscription<T>(
      pattern,
      max,
      () => this.#subscriptions.delete(subscription as FanOutSubscription<unknown>),
    );
    subscription.delivered = this.#last;
    this.#subscriptions.add(subscription as FanOutSubscription<unknown>);
    if (options.after !== undefined && options.after < this.#last) {
      subscription.replaying = [];
      subscription.delivered = options.after;
      void this.#replay(subscription, options.after, this.#last);
    }
    if (options.signal) {
      if (options.signal.aborted) subscription.close();
      else options.signal.addEventListener("abort", () => subscription.close(), { once: true });
    }
    return subscription;
  }

  async #replay<T>(subscription: FanOutSubscription<T>, after: number, upTo: number) {
    try {
      const entries = await this.#redis.xrangeBuffer(this.#key, `0-${after + 1}`, `0-${upTo}`);
      const first = entries.length > 0
        ? Number(decoder.decode(entries[0][0] as unknown as Uint8Array).split("-")[1])
        : upTo + 1;
      if (first > after + 1) {
        subscription.push({ type: "gap", missed: first - after - 1, reason: "history" });
      }
      for (const [rawId, list] of entries) {
        const id = Number(decoder.decode(rawId as unknown as Uint8Array).split("-")[1]);
        const event = this.#decode(id, list as unknown[]) as BusEvent<T>;
        if (subscription.matches(event.topic)) subscription.deliver(event);
        else subscription.delivered = id;
      }
    } catch {
      subscription.push({ type: "gap", missed: upTo - after, reason: "history" });
    }
    subscription.delivered = Math.max(subscription.delivered, upTo);
    const waiting = subscription.replaying ?? [];
    subscription.replaying = undefined;
    for (const event of waiting) subscription.deliver(event);
  }

  /** After Redis came back without its data: the sequence never goes below what was seen. */
  async repair(): Promise<void> {
    await this.#redis.eval(
      "if tonumber(redis.call('GET', KEYS[1]) or '0') < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end return 1",
      1,
      this.#seqKey,
      String(this.#last),
    );
  }

  async lastId(): Promise<number> {
    return Number(await this.#redis.get(this.#seqKey) ?? 0);
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const subscription of [...this.#subscriptions]) subscription.close();
    this.#reader.disconnect();
    await withDeadline(this.#loop ?? Promise.resolve(), this.#blockMs + 2000).catch(() => {});
  }
}

/** Most bytes in one stream entry. */
const ENTRY_BYTES = 1024 * 1024;

/** Joins adjacent chunks of the same stream into entries of up to `ENTRY_BYTES`. */
function coalesce(chunks: OutputChunk[]): { stream: string; offset: number; data: Buffer }[] {
  const entries: { stream: string; offset: number; data: Buffer }[] = [];
  let run: OutputChunk[] = [];
  let size = 0;
  const flush = () => {
    if (run.length === 0) return;
    const data = run.length === 1
      ? Buffer.from(run[0].data.buffer, run[0].data.byteOffset, run[0].data.byteLength)
      : Buffer.concat(run.map((c) => c.data));
    entries.push({ stream: run[0].stream, offset: run[0].offset, data });
    run = [];
    size = 0;
  };
  for (const chunk of chunks) {
    if (
      run.length > 0 && (chunk.stream !== run[0].stream || size + chunk.data.length > ENTRY_BYTES)
    ) {
      flush();
    }
    run.push(chunk);
    size += chunk.data.length;
  }
  flush();
  return entries;
}

/** Copies a local log's chunks into its Redis stream. */
class Mirror {
  #redis: RedisClient;
  #key: string;
  #log: MemoryOutputLog;
  #retention: number;
  #mirrored = 0;
  #reader: OutputReader | undefined;
  #stopped = false;
  #restart = false;
  #reset = false;
  #finished = false;
  done: Promise<void>;

  constructor(redis: RedisClient, key: string, log: MemoryOutputLog, retention: number) {
    this.#redis = redis;
    this.#key = key;
    this.#log = log;
    this.#retention = retention;
    this.done = this.#run();
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      try {
        this.#restart = false;
        if (this.#reset) {
          // Write the stream anew from the oldest byte held here: entries written meanwhile
          // would otherwise make Redis refuse the older ones.
          await this.#redis.del(this.#key);
          this.#reset = false;
          this.#mirrored = this.#log.start;
        }
        this.#reader = this.#log.reader({ offset: this.#mirrored });
        for (;;) {
          const chunks = await this.#reader.read();
          if (this.#stopped) return;
          if (this.#restart) break; // resync: read again from the new offset
          if (chunks === null) {
            await this.#redis.xadd(this.#key, `${this.#log.end}-1`, "e", "1")
              .catch((error: Error) => {
                if (!/equal or smaller/.test(error.message)) throw error;
              });
            this.#finished = true;
            return;
          }
          if (chunks.length === 0) continue;
          const pipeline = this.#redis.pipeline();
          for (const entry of coalesce(chunks)) {
            pipeline.xadd(this.#key, `${entry.offset}-1`, "s", entry.stream, "d", entry.data);
          }
          const end = chunks[chunks.length - 1].offset + chunks[chunks.length - 1].data.length;
          pipeline.xtrim(this.#key, "MINID", String(Math.max(0, end - this.#retention)));
          const results = await pipeline.exec();
          const failed = results?.find(([error]) =>
            error && !/equal or smaller/.test(error.message)
          );
          if (failed) throw failed[0];
          // (A resync meanwhile starts over: keep its offset.)
          if (!this.#restart && !this.#reset) this.#mirrored = end;
        }
      } catch {
        // Redis is away: let go of the log so the process is never held up, and try again.
        this.#reader?.close();
        this.#reader = undefined;
        if (this.#stopped) return;
        await new Promise((r) => setTimeout(r, 500));
      } finally {
        this.#reader?.close();
      }
    }
  }

  /**
   * Mirrors again from the oldest byte the local log still holds (after Redis came back: it may
   * have lost the stream). Entries Redis still has are refused as duplicates and skipped.
   */
  resync(): void {
    if (this.#stopped) return;
    this.#reset = true;
    if (this.#finished) {
      this.#finished = false;
      this.done = this.#run();
      return;
    }
    this.#restart = true;
    this.#reader?.close(); // the loop reopens at the new offset
  }

  stop(): void {
    this.#stopped = true;
    this.#reader?.close();
  }
}

/**
 * Reads a session's output stream on Redis.
 *
 * A fetch takes whole entries (up to 1 MiB each, up to 1,000 at a time) into a buffer that
 * reads then hand out up to their `maxBytes`. Two positions are kept apart: `offset` is where
 * the caller stands (the next byte a read returns, as the {@linkcode OutputReader} contract
 * says: front ends compare it with the end of the log to know whether everything was sent),
 * and the fetch position is where the buffer ends (where the next fetch reads from). Bytes
 * missing from the stream (trimmed, or lost while Redis was away) count as `skipped` when the
 * caller passes over them, not when they are fetched.
 */
class RedisReader implements OutputReader {
  #redis: RedisClient;
  #key: string;
  #blockMs: number;
  /** The next byte a read returns. */
  #offset: number;
  /** Where the next fetch reads from: the end of what was fetched (`#offset` plus the buffer). */
  #fetched: number;
  /** The end offset of the stream's end entry, once fetched. */
  #endAt: number | undefined;
  #skipped = 0;
  #buffer: OutputChunk[] = [];
  #ended = false;
  #closed = false;
  #started = false;
  #blocking: RedisClient | undefined;
  #inflight: Promise<void> | undefined;

  constructor(redis: RedisClient, key: string, offset: number, blockMs: number) {
    this.#redis = redis;
    this.#key = key;
    this.#offset = offset;
    this.#fetched = offset;
    this.#blockMs = blockMs;
  }

  get offset(): number {
    return this.#offset;
  }

  get skipped(): number {
    return this.#skipped;
  }

  get held(): number {
    return this.#offset;
  }

  hold(_offset: number): void {}

  #take(entries: [unknown, unknown[]][]): void {
    for (const [rawId, list] of entries) {
      const offset = offsetOf(decoder.decode(rawId as Uint8Array));
      const f = fields(list);
      if (f.has("e")) {
        this.#fetched = Math.max(this.#fetched, offset);
        this.#endAt = this.#fetched;
        this.#ended = true;
        return;
      }
      let data = f.get("d")!;
      if (offset + data.length <= this.#fetched) continue;
      const start = Math.max(offset, this.#fetched);
      data = data.subarray(start - offset);
      const stream = decoder.decode(f.get("s")!) as OutputStream;
      this.#buffer.push({ stream, offset: start, data });
      this.#fetched = start + data.length;
    }
  }

  /** Passes over bytes missing before `offset` (counted as skipped). */
  #skipTo(offset: number): void {
    if (offset <= this.#offset) return;
    this.#skipped += offset - this.#offset;
    this.#offset = offset;
  }

  /** One fetch from Redis: the first reads what is there, later ones wait for more. */
  async #fetch(): Promise<void> {
    try {
      if (!this.#started) {
        // The chunk that holds the start offset, then everything after it, read in one
        // transaction: an entry the node running the process adds between two separate reads
        // (the first one, when the stream was still empty) would be in neither.
        const replies = await this.#redis.multi()
          .xrevrangeBuffer(this.#key, `${this.#fetched}-1`, "-", "COUNT", 1)
          .xrangeBuffer(this.#key, `(${this.#fetched}-1`, "+", "COUNT", 1000)
          .exec();
        const [[beforeError, before], [afterError, after]] = replies ?? [[null, []], [null, []]];
        if (beforeError || afterError) throw beforeError ?? afterError;
        this.#started = true;
        this.#take([...before as never[], ...after as never[]]);
        return;
      }
      // One blocking connection per reader, for as long as it reads live output.
      if (!this.#blocking) {
        this.#blocking = this.#redis.duplicate();
        this.#blocking.on("error", () => {}); // reported through the reads that fail
        await this.#blocking.connect();
      }
      const result = await withDeadline(
        this.#blocking.xreadBuffer(
          "COUNT",
          1000,
          "BLOCK",
          this.#blockMs,
          "STREAMS",
          this.#key,
          // Every entry id is `<offset>-1`: the next chunk starts where the fetched bytes end.
          `${this.#fetched}-0`,
        ),
        this.#blockMs + 2000,
      ) as unknown as [string, [unknown, unknown[]][]][] | null;
      for (const [, entries] of result ?? []) {
        const first = entries[0];
        if (first && offsetOf(decoder.decode(first[0] as Uint8Array)) > this.#fetched) {
          // A gap: after a resync the stream was written anew with other entry boundaries, and
          // the bytes at this reader's offset may sit inside an entry that starts before it.
          const covering = await this.#redis.xrevrangeBuffer(
            this.#key,
            `${this.#fetched}-1`,
            "-",
            "COUNT",
            1,
          );
          this.#take(covering as never);
        }
        this.#take(entries);
      }
    } catch {
      // Redis is away: wait a little and try again (until this reader is closed).
      if (!this.#closed) await new Promise((r) => setTimeout(r, 200));
    }
  }

  async read(options: ReadOptions = {}): Promise<OutputChunk[] | null> {
    const { signal } = options;
    while (this.#buffer.length === 0 && !this.#ended && !this.#closed) {
      // (The first fetch reads what is there without waiting: it runs even for an aborted read.)
      if (signal?.aborted && this.#started) return [];
      // A fetch in flight is kept when a read is aborted: the next read takes it over.
      this.#inflight ??= this.#fetch().finally(() => this.#inflight = undefined);
      if (!signal || !this.#started) {
        await this.#inflight;
        continue;
      }
      let onAbort!: () => void;
      const aborted = new Promise<void>((r) => onAbort = r);
      signal.addEventListener("abort", onAbort, { once: true });
      try {
        await Promise.race([this.#inflight, aborted]);
      } finally {
        signal.removeEventListener("abort", onAbort);
      }
    }
    if (this.#buffer.length === 0) {
      if (!this.#ended && !this.#closed) return [];
      if (this.#endAt !== undefined) this.#skipTo(this.#endAt);
      this.close();
      return null;
    }
    return this.readAvailable(options.maxBytes);
  }

  readAvailable(maxBytes = Infinity): OutputChunk[] {
    const out: OutputChunk[] = [];
    let bytes = 0;
    while (this.#buffer.length > 0 && bytes < maxBytes) {
      let chunk = this.#buffer[0];
      // A hole ends the read: what comes after it is returned (and counted) on its own.
      if (out.length > 0 && chunk.offset !== this.#offset) break;
      if (bytes + chunk.data.length <= maxBytes) {
        this.#buffer.shift();
      } else {
        const room = maxBytes - bytes;
        this.#buffer[0] = {
          stream: chunk.stream,
          offset: chunk.offset + room,
          data: chunk.data.subarray(room),
        };
        chunk = { stream: chunk.stream, offset: chunk.offset, data: chunk.data.subarray(0, room) };
      }
      this.#skipTo(chunk.offset);
      out.push(chunk);
      bytes += chunk.data.length;
      this.#offset = chunk.offset + chunk.data.length;
    }
    // Bytes missing at the end of the stream are passed over once everything before them is.
    if (this.#buffer.length === 0 && this.#endAt !== undefined) this.#skipTo(this.#endAt);
    return out;
  }

  close(): void {
    this.#closed = true;
    this.#blocking?.disconnect();
    this.#blocking = undefined;
  }
}

/**
 * The Redis {@linkcode SessionStore}.
 *
 * @example Connect (needs a running Redis)
 * ```ts ignore
 * import { RedisSessionStore } from "./redis_store.ts";
 *
 * const store = await RedisSessionStore.connect({ url: "redis://127.0.0.1:6379", node: "a" });
 * await store.close();
 * ```
 */
export class RedisSessionStore implements ClusterStore {
  /** The event bus. */
  readonly bus: EventBus;
  /** This node's name. */
  readonly node: string;
  /** The key prefix. */
  readonly prefix: string;
  #redis: RedisClient;
  #options: RedisStoreOptions;
  #logs = new Map<string, { log: MemoryOutputLog; mirror: Mirror }>();
  #reconnectListeners = new Set<() => void>();

  /**
   * Calls `listener` each time the connection to Redis comes back after a loss.
   *
   * @param listener What to do (e.g. write this node's records again).
   */
  onReconnect(listener: () => void): void {
    this.#reconnectListeners.add(listener);
  }

  private constructor(redis: RedisClient, options: RedisStoreOptions) {
    this.#redis = redis;
    this.#options = options;
    this.prefix = options.prefix ?? "pow";
    this.node = options.node ?? `node-${crypto.randomUUID().slice(0, 8)}`;
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(this.node)) {
      throw new TypeError(
        `Invalid node name ${
          JSON.stringify(this.node)
        }: expected 1 to 64 letters, digits, "_" or "-"`,
      );
    }
    this.bus = new RedisEventBus(
      redis,
      this.prefix,
      options.history ?? 4096,
      options.blockMs ?? 2000,
    );
  }

  /**
   * Connects to Redis and starts reading events.
   *
   * @param options Where Redis is, and this node's name.
   * @returns The store.
   */
  static async connect(options: RedisStoreOptions): Promise<RedisSessionStore> {
    const redis = new Redis(options.url, {
      lazyConnect: true,
      maxRetriesPerRequest: 1,
      // While Redis is away, commands fail at once with a clear error instead of queueing.
      enableOfflineQueue: false,
      // A command in flight when the connection drops fails instead of waiting to be resent.
      autoResendUnfulfilledCommands: false,
      retryStrategy: (times: number) => Math.min(50 * times, 1000),
    });
    redis.on("error", () => {}); // reported through the commands that fail
    await redis.connect();
    const store = new RedisSessionStore(redis, options);
    let ready = true;
    redis.on("close", () => ready = false);
    redis.on("ready", () => {
      if (ready) return;
      ready = true;
      // Mirrors first, in this turn: before any of them writes to the new connection.
      for (const { mirror } of store.#logs.values()) mirror.resync();
      void (async () => {
        await (store.bus as RedisEventBus).repair().catch(() => {});
        for (const listener of store.#reconnectListeners) listener();
      })();
    });
    await (store.bus as RedisEventBus).start();
    return store;
  }

  #key(kind: string, id?: string): string {
    return id === undefined ? `${this.prefix}:${kind}` : `${this.prefix}:${kind}:${id}`;
  }

  /** Makes the output log of a new session on this node and mirrors it to Redis. */
  createLog(id: string, options: CreateLogOptions): OutputLog {
    if (this.#logs.has(id)) {
      throw new TypeError(`Cannot create the output log of session "${id}": it already exists`);
    }
    const log = new MemoryOutputLog({ retention: options.retention });
    const mirror = new Mirror(this.#redis, this.#key("log", id), log, options.retention);
    this.#logs.set(id, { log, mirror });
    return log;
  }

  /** Opens a reader: local for a session of this node, on the Redis stream otherwise. */
  async openReader(id: string, options: ReaderOptions = {}): Promise<OutputReader | undefined> {
    const local = this.#logs.get(id);
    if (local) return local.log.reader(options);
    const key = this.#key("log", id);
    if (
      await this.#redis.exists(key) === 0 &&
      await this.#redis.hexists(this.#key("sessions"), id) === 0
    ) {
      return undefined;
    }
    return new RedisReader(this.#redis, key, options.offset ?? 0, this.#options.blockMs ?? 2000);
  }

  /** Opens a reader on the Redis stream of a session of any node; it starts when first read. */
  remoteReader(id: string, options: ReaderOptions = {}): OutputReader {
    const local = this.#logs.get(id);
    if (local) return local.log.reader(options);
    return new RedisReader(
      this.#redis,
      this.#key("log", id),
      options.offset ?? 0,
      this.#options.blockMs ?? 2000,
    );
  }

  /**
   * Ends a session's output stream where it stands (for a session whose node was lost), so
   * readers on other nodes finish instead of waiting.
   *
   * @param id The session id.
   */
  async endLog(id: string): Promise<void> {
    const key = this.#key("log", id);
    const [last] = await this.#redis.xrevrangeBuffer(key, "+", "-", "COUNT", 1);
    let end = 0;
    if (last) {
      const offset = offsetOf(decoder.decode(last[0] as unknown as Uint8Array));
      const f = fields(last[1] as unknown[]);
      if (f.has("e")) return;
      end = offset + f.get("d")!.length;
    }
    await this.#redis.xadd(key, `${end}-1`, "e", "1").catch(() => {});
  }

  /** Browser tickets in Redis: `P:ticket:<ticket>` with the ticket's TTL, taken with GETDEL. */
  readonly tickets: SharedTickets = {
    put: async (ticket, caller, ttl) => {
      await this.#redis.set(this.#key("ticket", ticket), JSON.stringify(caller), "PX", ttl);
    },
    take: async (ticket) => {
      if (!/^[A-Za-z0-9_-]{1,128}$/.test(ticket)) return undefined;
      const json = await this.#redis.getdel(this.#key("ticket", ticket));
      return json === null ? undefined : JSON.parse(json);
    },
  };

  /** Says this node is alive for `ttl` milliseconds. */
  async heartbeat(ttl: number): Promise<void> {
    await this.#redis.multi()
      .set(this.#key("node", this.node), String(Date.now()), "PX", ttl)
      .sadd(this.#key("nodes"), this.node)
      .exec();
  }

  /** Every node that beat and was not forgotten. */
  async knownNodes(): Promise<Set<string>> {
    return new Set(await this.#redis.smembers(this.#key("nodes")));
  }

  /** Forgets a lost node. */
  async forgetNode(node: string): Promise<void> {
    await this.#redis.srem(this.#key("nodes"), node);
  }

  /** A hash `P:map:<name>` of JSON values. */
  sharedMap(name: string): SharedMap {
    const key = this.#key("map", name);
    return {
      setIfAbsent: async (field, value) =>
        (await this.#redis.hsetnx(key, field, JSON.stringify(value))) === 1,
      delete: async (field) => {
        await this.#redis.hdel(key, field);
      },
      entries: async () =>
        Object.entries(await this.#redis.hgetall(key)).map(([k, v]) => [k, JSON.parse(v)]),
    };
  }

  /** The nodes whose heartbeat has not expired. */
  async aliveNodes(): Promise<Set<string>> {
    const alive = new Set<string>();
    let cursor = "0";
    do {
      const [next, keys] = await this.#redis.scan(
        cursor,
        "MATCH",
        `${this.prefix}:node:*`,
        "COUNT",
        1000,
      );
      cursor = next;
      for (const key of keys) alive.add(key.slice(`${this.prefix}:node:`.length));
    } while (cursor !== "0");
    return alive;
  }

  /** Takes a one-time claim. */
  async claim(key: string, ttl: number): Promise<boolean> {
    const result = await this.#redis.set(this.#key("claim", key), this.node, "PX", ttl, "NX");
    return result === "OK";
  }

  /** Adds or replaces a record. */
  async put(record: SessionRecord): Promise<void> {
    await this.#redis.eval(
      PUT,
      3,
      this.#key("sessions"),
      this.#key("order"),
      this.#key("order:seq"),
      record.id,
      JSON.stringify(record),
    );
  }

  /** Finds a record. */
  async get(id: string): Promise<SessionRecord | undefined> {
    const json = await this.#redis.hget(this.#key("sessions"), id);
    return json === null ? undefined : JSON.parse(json);
  }

  /** Every record, oldest first. */
  async list(): Promise<SessionRecord[]> {
    const ids = await this.#redis.zrange(this.#key("order"), "0", "-1");
    if (ids.length === 0) return [];
    const values = await this.#redis.hmget(this.#key("sessions"), ...ids);
    return values.filter((v): v is string => v !== null).map((v) => JSON.parse(v));
  }

  /** Forgets a session, its record and its stream. */
  async delete(id: string): Promise<boolean> {
    const local = this.#logs.get(id);
    if (local) {
      if (!local.log.closed) local.log.close();
      local.mirror.stop();
      this.#logs.delete(id);
    }
    const [[, removed]] = await this.#redis.multi()
      .hdel(this.#key("sessions"), id)
      .zrem(this.#key("order"), id)
      .del(this.#key("log", id))
      .exec() as [[Error | null, number]];
    return removed > 0 || local !== undefined;
  }

  /** Stops mirroring, closes the bus and the connection. */
  async close(): Promise<void> {
    for (const { mirror } of this.#logs.values()) mirror.stop();
    await this.bus.close();
    this.#redis.disconnect();
  }
}
