/**
 * The YAML configuration: its schema, defaults and validation. Every error names the file, the
 * key path (e.g. `processes.count.params[0].pattern`), the line, and what is wrong.
 * The whole schema is documented in `docs/config.md`.
 *
 * @module
 */

import { LineCounter, parseDocument } from "./_yaml.ts";
import type { AuthConfig, TokenSpec } from "./auth.ts";
import type { ParamSpec } from "./params.ts";
import { highestPlaceholder } from "./params.ts";
import type { CommandProcess, ProcessDefinition } from "./process.ts";
import { parseDuration, parseSize } from "./units.ts";
import { MAX_WARM } from "./warm_pool.ts";
import { frontEnds, type FrontEndSettings } from "./front_ends.ts";

/** Server settings. */
export interface ServerConfig {
  /** The address to listen on. @default {"127.0.0.1"} */
  host: string;
  /** The port; 0 picks a free one. @default {8028} */
  port: number;
  /** The path every route is served under. @default {"/"} */
  basePath: string;
  /** TLS certificate and key files (PEM); both or neither. */
  tls?: { cert: string; key: string };
  /** Origins allowed to open WebSockets besides same-origin and no-Origin requests. */
  origins: string[];
  /**
   * Host names served without tokens besides IP addresses and `localhost` (DNS-rebinding
   * guard; `"*"` allows every name).
   */
  hosts: string[];
  /**
   * WebSocket keep-alive, in milliseconds, for every front end's sockets: a socket that received
   * nothing for half of it is pinged, and closed (1001) when the other half passes without an
   * answer, so a silent peer is dropped after this long (0: no pings). A front end may read an
   * older key of its own as this when this is not set (see docs/config.md). @default {54 s}
   */
  keepAlive?: number;
  /**
   * Where the server records the process groups it runs, so that the next start after a crash
   * ends what is left (`false`: off). @default {"/tmp/pow-<uid>"}
   */
  stateDir?: string | false;
}

/** Limits that protect the server from any one caller. */
export interface LimitsConfig {
  /** Open WebSocket connections in total. @default {10000} */
  connections: number;
  /** Open WebSocket connections per client address. @default {1000} */
  connectionsPerAddress: number;
  /** Sessions one connection may run or attach at once. @default {256} */
  sessionsPerConnection: number;
  /** Process starts per minute per caller. @default {6000} */
  startsPerMinute: number;
  /** Milliseconds a connection may stay idle (no session, no message) before it is closed. @default {0, never} */
  idleTimeout: number;
  /**
   * The largest JSON request body (a start, a signal, a resize, a pow-1 call, an upload), in
   * bytes; a larger one is answered 413. Input bodies are streamed and not limited. @default {1 MiB}
   */
  maxBody: number;
  /**
   * The largest WebSocket message a front end accepts, in bytes, where its own section does not
   * set one (a front end may read an older key of its own as this, see docs/config.md).
   * @default {1 MiB}
   */
  maxMessage: number;
  /**
   * Milliseconds a request body may stall (no bytes arrive) before the request is answered 408;
   * 0: never. @default {30 s}
   */
  bodyTimeout: number;
  /**
   * Output bytes held in memory by all sessions together above which new sessions are refused
   * (pow.v2 `limit_reached`, REST 503, pow-1 `limit reached`). @default {1 GiB}
   */
  outputBudget: number;
}

/** Session defaults. */
export interface SessionsConfig {
  /** Output bytes retained per session. @default {4 MiB} */
  retention: number;
  /** Milliseconds an unattached session is kept. @default {60 s} */
  linger: number;
  /** Milliseconds between SIGTERM and SIGKILL. @default {5 s} */
  killGrace: number;
  /** Pending stdin bytes allowed per session. @default {8 MiB} */
  maxPendingInput: number;
  /** The most sessions alive at once. @default {1000} */
  max: number;
  /** The most sessions one caller (token name) may have alive at once. @default {500} */
  maxPerCaller: number;
  /**
   * Output bytes a pow.v2 channel may have sent but not had confirmed (credit granted back),
   * whatever credit its client claims; the log keeps them on top of `retention`. @default {4 MiB}
   */
  maxHeld: number;
  /** The most params in one call. @default {64} */
  maxParams: number;
  /** The longest param, in characters. @default {4096} */
  maxParamLength: number;
  /** Token names or roles that may see and control every caller's sessions (`"*"`: all). @default {[]} */
  viewers: string[];
}

/**
 * Settings of processes provided by `pow.v2` clients (`provide`, see docs/protocol.md).
 */
export interface ProvideConfig {
  /** Whether `provide` is accepted at all. @default {true} */
  enabled: boolean;
  /** Token names or roles that may provide processes (`"*"`: all). @default {["*"]} */
  providers: string[];
  /** Token names or roles that may call provided processes; unset means everyone. */
  allow?: string[];
  /** Calls one provider connection may be serving at once; more are rejected. @default {64} */
  maxPendingCalls: number;
  /** Processes one connection may provide. @default {64} */
  maxProcesses: number;
}

/** Cluster mode: several nodes share sessions, output, events and tickets through Redis. */
export interface ClusterConfig {
  /** The Redis URL, e.g. `redis://127.0.0.1:6379` (or the environment variable `POW_REDIS_URL`). */
  redis: string;
  /** This node's name. @default {a random name per process} */
  node?: string;
  /** The prefix of every Redis key. @default {"pow"} */
  prefix: string;
  /** Milliseconds between heartbeats. @default {1000} */
  heartbeat: number;
  /** Milliseconds without a heartbeat after which a node's sessions are reported lost. @default {5000} */
  lostAfter: number;
}

/** The WebSocket keep-alive (milliseconds) when `server.keepAlive` is not set. */
export const DEFAULT_KEEP_ALIVE = 54_000;

/**
 * The whole configuration: the host's sections, and one section per front end that has settings
 * ({@linkcode FrontEndSettings}, declared by the built-in front-end list).
 */
export interface PowConfig extends FrontEndSettings {
  /** Cluster mode (absent: one node, everything in memory). */
  cluster?: ClusterConfig;
  /** Server settings. */
  server: ServerConfig;
  /** Session defaults. */
  sessions: SessionsConfig;
  /** Authentication. */
  auth: AuthConfig;
  /** Limits. */
  limits: LimitsConfig;
  /** Processes provided by `pow.v2` clients. */
  provide: ProvideConfig;
  /** The processes, by name. */
  processes: Record<string, ProcessDefinition>;
}

/** A key path in the configuration, e.g. `["processes", "count", "params", 0]`. */
export type ConfigPath = (string | number)[];

/**
 * What a front end's section parser gets to read its raw YAML values with: each method returns
 * `undefined` for a missing value and fails with a {@linkcode ConfigError} naming the path and
 * line otherwise.
 */
export interface ConfigReader {
  /** Fails at `path` with `problem`. */
  fail(path: ConfigPath, problem: string): never;
  /** A mapping, with only `keys` allowed when given. */
  object(value: unknown, path: ConfigPath, keys?: string[]): Record<string, unknown>;
  /** A string. */
  string(value: unknown, path: ConfigPath): string | undefined;
  /** `true` or `false`. */
  boolean(value: unknown, path: ConfigPath): boolean | undefined;
  /** A whole number from `min` to `max`. */
  integer(value: unknown, path: ConfigPath, min: number, max?: number): number | undefined;
  /** A list of strings (numbers are read as strings). */
  stringList(value: unknown, path: ConfigPath): string[] | undefined;
  /** A duration such as `"30s"`, in milliseconds. */
  duration(value: unknown, path: ConfigPath): number | undefined;
  /** A size such as `"64KiB"`, in bytes, at least `min`. */
  size(value: unknown, path: ConfigPath, min: number): number | undefined;
  /** A path starting with `/`, returned with a trailing `/`. */
  basePath(value: unknown, path: ConfigPath): string | undefined;
}

/**
 * A front end's own section of the configuration: its key, the keys it allows, its defaults,
 * and how it is read. Declared by the front end ({@linkcode FrontEndFactory.config}); the
 * configuration loader knows no section by name.
 */
export interface ConfigSection<T = unknown> {
  /** The top-level key. */
  readonly key: string;
  /** The keys allowed in it (others are refused, naming these). */
  readonly keys: readonly string[];
  /** The settings when the section is absent. */
  readonly defaults: T;
  /**
   * Reads the section (an empty mapping when absent). Runs after the host's sections and the
   * processes were read.
   *
   * @param section The raw section.
   * @param reader Reads and checks raw values.
   * @param context The whole raw document (for settings read under an older key) and the
   * configuration read so far.
   * @returns The settings.
   */
  parse(
    section: Record<string, unknown>,
    reader: ConfigReader,
    context: { root: Record<string, unknown>; config: PowConfig },
  ): T;
}

/**
 * The sections of the built-in front ends (each once, in the order of the built-in list).
 *
 * @returns The sections.
 */
export function configSections(): ConfigSection[] {
  const byKey = new Map<string, ConfigSection>();
  for (const factory of frontEnds) {
    if (factory.config && !byKey.has(factory.config.key)) {
      byKey.set(factory.config.key, factory.config);
    }
  }
  return [...byKey.values()];
}

function frontEndDefaults(): FrontEndSettings {
  return Object.fromEntries(
    configSections().map((section) => [section.key, structuredClone(section.defaults)]),
  ) as unknown as FrontEndSettings;
}

/** Options for {@linkcode parseConfig}. */
export interface ParseConfigOptions {
  /** The file name, for error messages. @default {"<config>"} */
  file?: string;
}

/**
 * A configuration file is invalid.
 *
 * @example
 * ```ts
 * import { ConfigError, parseConfig } from "./config.ts";
 * import assert from "node:assert/strict";
 *
 * assert.throws(
 *   () => parseConfig("server:\n  port: high\n", { file: "pow.yaml" }),
 *   (e) => e instanceof ConfigError && e.path === "server.port" && e.line === 2,
 * );
 * ```
 */
export class ConfigError extends Error {
  /** The file. */
  readonly file: string;
  /** The key path, e.g. `processes.count.params[0].pattern`. */
  readonly path: string;
  /** The 1-based line, when known. */
  readonly line: number | undefined;

  /**
   * Creates a config error.
   *
   * @param file The file.
   * @param path The key path.
   * @param line The line, when known.
   * @param problem What is wrong.
   */
  constructor(file: string, path: string, line: number | undefined, problem: string) {
    super(
      `Invalid config "${file}"${path ? ` at ${path}` : ""}${
        line ? ` (line ${line})` : ""
      }: ${problem}`,
    );
    this.name = "ConfigError";
    this.file = file;
    this.path = path;
    this.line = line;
  }
}

type Path = ConfigPath;

const PROCESS_KEYS = [
  "description",
  "command",
  "params",
  "timeout",
  "killGrace",
  "retention",
  "cwd",
  "env",
  "pty",
  "allow",
  "user",
  "group",
  "warm",
];
const PARAM_KEYS = ["name", "description", "pattern", "enum", "optional", "variadic"];

/** The defaults of every setting but `processes`. */
export const DEFAULTS: Omit<PowConfig, "processes"> = {
  server: {
    host: "127.0.0.1",
    port: 8028,
    basePath: "/",
    origins: [],
    hosts: [],
  },
  sessions: {
    retention: 4 * 1024 * 1024,
    linger: 60_000,
    killGrace: 5000,
    maxPendingInput: 8 * 1024 * 1024,
    max: 1000,
    maxPerCaller: 500,
    maxHeld: 4 * 1024 * 1024,
    maxParams: 64,
    maxParamLength: 4096,
    viewers: [],
  },
  auth: { tokens: [], anonymous: false, ticketTtl: 30_000, ticketsPerCaller: 100 },
  limits: {
    connections: 10_000,
    connectionsPerAddress: 1000,
    sessionsPerConnection: 256,
    startsPerMinute: 6000,
    idleTimeout: 0,
    maxBody: 1024 * 1024,
    maxMessage: 1024 * 1024,
    bodyTimeout: 30_000,
    outputBudget: 1024 * 1024 * 1024,
  },
  ...frontEndDefaults(),
  provide: { enabled: true, providers: ["*"], maxPendingCalls: 64, maxProcesses: 64 },
};

/**
 * Parses and validates a YAML configuration.
 *
 * @example Parse a config with one command
 * ```ts
 * import { parseConfig } from "./config.ts";
 * import assert from "node:assert/strict";
 *
 * const config = parseConfig(`
 * processes:
 *   count:
 *     command: [seq, "1", "{1}"]
 *     params: [{ name: n, pattern: "[0-9]{1,7}" }]
 *     timeout: 30s
 * `);
 * assert.equal(config.server.port, 8028);
 * assert.equal(config.processes.count.timeout, 30_000);
 * ```
 *
 * @param text The YAML text.
 * @param options The file name for messages.
 * @returns The validated configuration with defaults filled in.
 * @throws {ConfigError} Naming the file, key path, line and problem.
 */
export function parseConfig(text: string, options: ParseConfigOptions = {}): PowConfig {
  const file = options.file ?? "<config>";
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true });
  const lineOf = (path: Path): number | undefined => {
    // deno-lint-ignore no-explicit-any
    const node = path.length ? doc.getIn(path, true) as any : doc.contents;
    const offset = node?.range?.[0] ?? node?.key?.range?.[0];
    return typeof offset === "number" ? lineCounter.linePos(offset).line : undefined;
  };
  const fail = (path: Path, problem: string): never => {
    throw new ConfigError(file, formatPath(path), lineOf(path), problem);
  };
  if (doc.errors.length > 0) {
    const error = doc.errors[0];
    const line = error.linePos?.[0].line;
    throw new ConfigError(file, "", line, `not valid YAML: ${error.message.split("\n")[0]}`);
  }
  const root = doc.toJS() ?? {};
  const v = new Validator(fail);
  const sections = configSections();
  v.object(root, [], [
    "server",
    "sessions",
    "auth",
    "limits",
    ...sections.map((section) => section.key),
    "provide",
    "processes",
    "cluster",
  ]);

  const server = v.section(root, "server", [
    "host",
    "port",
    "basePath",
    "tls",
    "origins",
    "hosts",
    "stateDir",
    "keepAlive",
  ]);
  const auth = v.section(root, "auth", [
    "tokens",
    "anonymous",
    "ticketTtl",
    "ticketsPerCaller",
  ]);
  const limits = v.section(root, "limits", [
    "connections",
    "connectionsPerAddress",
    "sessionsPerConnection",
    "startsPerMinute",
    "idleTimeout",
    "maxBody",
    "maxMessage",
    "bodyTimeout",
    "outputBudget",
  ]);
  const sessions = v.section(root, "sessions", [
    "retention",
    "linger",
    "killGrace",
    "maxPendingInput",
    "max",
    "maxPerCaller",
    "maxHeld",
    "maxParams",
    "maxParamLength",
    "viewers",
  ]);
  const provide = v.section(root, "provide", [
    "enabled",
    "providers",
    "allow",
    "maxPendingCalls",
    "maxProcesses",
  ]);
  const D = DEFAULTS;
  const P = (key: string): ConfigPath => ["provide", key];
  const config: PowConfig = {
    server: {
      host: v.string(server.host, ["server", "host"]) ?? D.server.host,
      port: v.integer(server.port, ["server", "port"], 0, 65535) ?? D.server.port,
      basePath: v.basePath(server.basePath, ["server", "basePath"]) ?? D.server.basePath,
      origins: v.stringList(server.origins, ["server", "origins"]) ?? [],
      hosts: v.stringList(server.hosts, ["server", "hosts"]) ?? [],
    },
    auth: {
      tokens: parseTokens(v, auth.tokens),
      anonymous: v.boolean(auth.anonymous, ["auth", "anonymous"]) ?? D.auth.anonymous,
      ticketTtl: v.duration(auth.ticketTtl, ["auth", "ticketTtl"]) ?? D.auth.ticketTtl,
      ticketsPerCaller: v.integer(auth.ticketsPerCaller, ["auth", "ticketsPerCaller"], 1) ??
        D.auth.ticketsPerCaller,
    },
    limits: {
      connections: v.integer(limits.connections, ["limits", "connections"], 1) ??
        D.limits.connections,
      connectionsPerAddress:
        v.integer(limits.connectionsPerAddress, ["limits", "connectionsPerAddress"], 1) ??
          D.limits.connectionsPerAddress,
      sessionsPerConnection:
        v.integer(limits.sessionsPerConnection, ["limits", "sessionsPerConnection"], 1) ??
          D.limits.sessionsPerConnection,
      startsPerMinute: v.integer(limits.startsPerMinute, ["limits", "startsPerMinute"], 1) ??
        D.limits.startsPerMinute,
      idleTimeout: v.duration(limits.idleTimeout, ["limits", "idleTimeout"]) ??
        D.limits.idleTimeout,
      maxBody: v.size(limits.maxBody, ["limits", "maxBody"], 1) ?? D.limits.maxBody,
      maxMessage: v.size(limits.maxMessage, ["limits", "maxMessage"], 1) ?? D.limits.maxMessage,
      bodyTimeout: v.duration(limits.bodyTimeout, ["limits", "bodyTimeout"]) ??
        D.limits.bodyTimeout,
      outputBudget: v.size(limits.outputBudget, ["limits", "outputBudget"], 1) ??
        D.limits.outputBudget,
    },
    sessions: {
      retention: v.size(sessions.retention, ["sessions", "retention"], 1) ?? D.sessions.retention,
      linger: v.duration(sessions.linger, ["sessions", "linger"]) ?? D.sessions.linger,
      killGrace: v.duration(sessions.killGrace, ["sessions", "killGrace"]) ??
        D.sessions.killGrace,
      maxPendingInput: v.size(sessions.maxPendingInput, ["sessions", "maxPendingInput"], 1) ??
        D.sessions.maxPendingInput,
      max: v.integer(sessions.max, ["sessions", "max"], 1) ?? D.sessions.max,
      maxPerCaller: v.integer(sessions.maxPerCaller, ["sessions", "maxPerCaller"], 1) ??
        D.sessions.maxPerCaller,
      maxHeld: v.size(sessions.maxHeld, ["sessions", "maxHeld"], 1) ?? D.sessions.maxHeld,
      maxParams: v.integer(sessions.maxParams, ["sessions", "maxParams"], 0) ??
        D.sessions.maxParams,
      maxParamLength: v.integer(sessions.maxParamLength, ["sessions", "maxParamLength"], 1) ??
        D.sessions.maxParamLength,
      viewers: v.stringList(sessions.viewers, ["sessions", "viewers"]) ?? [],
    },
    provide: {
      enabled: v.boolean(provide.enabled, P("enabled")) ?? D.provide.enabled,
      providers: v.stringList(provide.providers, P("providers")) ?? [...D.provide.providers],
      maxPendingCalls: v.integer(provide.maxPendingCalls, P("maxPendingCalls"), 1) ??
        D.provide.maxPendingCalls,
      maxProcesses: v.integer(provide.maxProcesses, P("maxProcesses"), 1) ??
        D.provide.maxProcesses,
    },
    processes: {},
  } as PowConfig;
  if (provide.allow !== undefined) config.provide.allow = v.stringList(provide.allow, P("allow"));
  if (config.auth.anonymous) {
    const i = config.auth.tokens.findIndex((t) => t.name === "anonymous");
    if (i !== -1) {
      fail(
        ["auth", "tokens", i, "name"],
        'token name "anonymous" is what callers without a token are called (auth.anonymous is true): choose another name',
      );
    }
  }
  const keepAlive = v.duration(server.keepAlive, ["server", "keepAlive"]);
  if (keepAlive !== undefined) config.server.keepAlive = keepAlive;
  if (server.stateDir !== undefined && server.stateDir !== null) {
    if (server.stateDir === false) config.server.stateDir = false;
    else {
      const dir = typeof server.stateDir === "string" ? server.stateDir : undefined;
      if (!dir || !dir.startsWith("/")) {
        fail(["server", "stateDir"], "must be an absolute directory path, or false");
      }
      config.server.stateDir = dir;
    }
  }
  if (server.tls !== undefined) {
    const tls = v.object(server.tls, ["server", "tls"], ["cert", "key"]);
    const cert = v.string(tls.cert, ["server", "tls", "cert"]);
    const key = v.string(tls.key, ["server", "tls", "key"]);
    if (!cert || !key) fail(["server", "tls"], "both cert and key are required");
    config.server.tls = { cert: cert!, key: key! };
  }
  const processes = root.processes === undefined || root.processes === null
    ? {}
    : v.object(root.processes, ["processes"]);
  for (const [name, raw] of Object.entries(processes)) {
    config.processes[name] = parseProcess(v, name, raw, fail);
  }
  // Each front end's section, once the processes are known (a section may name them).
  const settings = config as unknown as Record<string, unknown>;
  for (const section of sections) {
    const raw = v.section(root, section.key, [...section.keys]);
    settings[section.key] = section.parse(raw, v, { root, config });
  }
  if (root.cluster !== undefined && root.cluster !== null) {
    const cluster = v.section(root, "cluster", [
      "redis",
      "node",
      "prefix",
      "heartbeat",
      "lostAfter",
    ]);
    const redis = v.string(cluster.redis, ["cluster", "redis"]);
    if (redis === undefined) {
      fail(["cluster"], 'missing key "redis": the Redis URL, e.g. "redis://127.0.0.1:6379"');
    }
    if (!/^rediss?:\/\/[^\s]+$/.test(redis!)) {
      fail(
        ["cluster", "redis"],
        `must be a redis:// or rediss:// URL, got ${JSON.stringify(redis)}`,
      );
    }
    const node = v.string(cluster.node, ["cluster", "node"]);
    if (node !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(node)) {
      fail(
        ["cluster", "node"],
        `must be 1 to 64 letters, digits, "_" or "-", got ${JSON.stringify(node)}`,
      );
    }
    const prefix = v.string(cluster.prefix, ["cluster", "prefix"]) ?? "pow";
    if (!/^[A-Za-z0-9_:-]{1,64}$/.test(prefix)) {
      fail(
        ["cluster", "prefix"],
        `must be 1 to 64 letters, digits, "_", ":" or "-", got ${JSON.stringify(prefix)}`,
      );
    }
    const heartbeat = v.duration(cluster.heartbeat, ["cluster", "heartbeat"]) ?? 1000;
    const lostAfter = v.duration(cluster.lostAfter, ["cluster", "lostAfter"]) ?? 5000;
    if (lostAfter <= heartbeat) {
      fail(["cluster", "lostAfter"], "must be longer than cluster.heartbeat");
    }
    config.cluster = { redis: redis!, prefix, heartbeat, lostAfter };
    if (node !== undefined) config.cluster.node = node;
  }
  return config;
}

function parseTokens(v: Validator, raw: unknown): TokenSpec[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) v.fail(["auth", "tokens"], "must be a list of tokens");
  const names = new Set<string>();
  return (raw as unknown[]).map((item, i) => {
    const at = ["auth", "tokens", i];
    const o = v.object(item, at, ["name", "hash", "roles"]);
    const name = v.string(o.name, [...at, "name"]) ?? v.fail(at, 'missing key "name"');
    if (names.has(name)) v.fail([...at, "name"], `duplicate token name "${name}"`);
    names.add(name);
    const hash = v.string(o.hash, [...at, "hash"]) ??
      v.fail(at, 'missing key "hash": run "main.ts hash-token" to make one');
    if (!/^sha256:[0-9a-f]{64}$/.test(hash)) {
      v.fail(
        [...at, "hash"],
        'must be "sha256:" and 64 lowercase hex digits (run "main.ts hash-token"); never put a token itself in the config',
      );
    }
    const spec: TokenSpec = { name, hash };
    if (o.roles !== undefined) spec.roles = v.stringList(o.roles, [...at, "roles"]);
    return spec;
  });
}

function parseProcess(
  v: Validator,
  name: string,
  raw: unknown,
  fail: (path: Path, problem: string) => never,
): CommandProcess {
  const at = ["processes", name];
  if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(name)) {
    fail(at, `invalid process name "${name}": use 1 to 64 letters, digits, "_", ".", ":" or "-"`);
  }
  const p = v.object(raw, at, PROCESS_KEYS);
  if (p.command === undefined) {
    fail(at, 'missing key "command": a list of the program and its arguments');
  }
  const command = v.stringList(p.command, [...at, "command"]);
  if (command!.length === 0) fail([...at, "command"], "must name a program");
  command!.forEach((part, i) => {
    if (/\{(\d+|\*)\}/.test(part) && !/^\{(\d+|\*)\}$/.test(part)) {
      fail(
        [...at, "command", i],
        `placeholder inside "${part}": params are substituted as whole arguments only, write the placeholder as its own list item`,
      );
    }
  });
  command!.forEach((part, i) => {
    if (/^\{0\d*\}$/.test(part)) {
      fail(
        [...at, "command", i],
        `placeholder "${part}" names no param: params are numbered from {1}`,
      );
    }
  });
  if (/^\{(\d+|\*)\}$/.test(command![0])) {
    fail([...at, "command", 0], "the program must not be a parameter");
  }
  const params: ParamSpec[] = [];
  const rawParams = p.params === undefined ? [] : p.params;
  if (!Array.isArray(rawParams)) fail([...at, "params"], "must be a list of params");
  (rawParams as unknown[]).forEach((rp, i) => {
    const pp = [...at, "params", i];
    const o = v.object(rp, pp, PARAM_KEYS);
    const spec: ParamSpec = {
      name: v.string(o.name, [...pp, "name"]) ?? fail(pp, 'missing key "name"'),
    };
    if (o.description !== undefined) {
      spec.description = v.string(o.description, [...pp, "description"]);
    }
    if (o.pattern !== undefined) {
      spec.pattern = v.string(o.pattern, [...pp, "pattern"]);
      try {
        new RegExp(spec.pattern!, "u");
      } catch (error) {
        fail([...pp, "pattern"], `invalid regular expression: ${(error as Error).message}`);
      }
    }
    if (o.enum !== undefined) spec.enum = v.stringList(o.enum, [...pp, "enum"]);
    if (o.optional !== undefined) spec.optional = v.boolean(o.optional, [...pp, "optional"]);
    if (o.variadic !== undefined) spec.variadic = v.boolean(o.variadic, [...pp, "variadic"]);
    params.push(spec);
  });
  params.forEach((spec, i) => {
    const pp = [...at, "params", i];
    if (spec.variadic && i !== params.length - 1) fail(pp, "only the last param can be variadic");
    if (!spec.optional && !spec.variadic && params.slice(0, i).some((s) => s.optional)) {
      fail(pp, "a required param cannot follow an optional one");
    }
  });
  const highest = highestPlaceholder(command!);
  if (highest > params.length) {
    fail([...at, "command"], `uses {${highest}} but only ${params.length} params are declared`);
  }
  if (command!.includes("{*}") && !params.at(-1)?.variadic) {
    params.push({ name: "args", variadic: true });
  }
  const definition: CommandProcess = { kind: "command", command: command!, params };
  if (p.description !== undefined) {
    definition.description = v.string(p.description, [...at, "description"]);
  }
  if (p.timeout !== undefined) definition.timeout = v.duration(p.timeout, [...at, "timeout"]);
  if (p.killGrace !== undefined) {
    definition.killGrace = v.duration(p.killGrace, [...at, "killGrace"]);
  }
  if (p.retention !== undefined) {
    definition.retention = v.size(p.retention, [...at, "retention"], 1);
  }
  if (p.cwd !== undefined) definition.cwd = v.string(p.cwd, [...at, "cwd"]);
  if (p.pty !== undefined) definition.pty = v.boolean(p.pty, [...at, "pty"]);
  if (p.allow !== undefined) definition.allow = v.stringList(p.allow, [...at, "allow"]);
  if (p.user !== undefined) {
    const [uid, gid] = v.account(p.user, [...at, "user"], "/etc/passwd", "user", {
      groupGiven: p.group !== undefined,
    });
    definition.uid = uid;
    // The user's primary group, unless a group is given.
    if (gid !== undefined && p.group === undefined) definition.gid = gid;
  }
  if (p.group !== undefined) {
    definition.gid = v.account(p.group, [...at, "group"], "/etc/group", "group")[0];
  }
  if (p.warm !== undefined) {
    definition.warm = v.integer(p.warm, [...at, "warm"], 0, MAX_WARM);
    if (definition.warm && (p.user !== undefined || p.group !== undefined)) {
      fail(
        [...at, "warm"],
        "a command that runs as another user or group cannot be kept warm (its launchers would run as the server)",
      );
    }
  }
  if (p.env !== undefined) {
    const env = v.object(p.env, [...at, "env"]);
    definition.env = {};
    for (const [key, value] of Object.entries(env)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) fail([...at, "env", key], "invalid variable name");
      if (key.startsWith("LD_")) {
        fail([...at, "env", key], "LD_* variables are never passed to processes");
      }
      if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") {
        fail([...at, "env", key], `must be a string, got ${describe(value)}`);
      }
      definition.env[key] = String(value);
    }
  }
  return definition;
}

class Validator implements ConfigReader {
  constructor(readonly fail: (path: Path, problem: string) => never) {}

  object(value: unknown, path: Path, keys?: string[]): Record<string, unknown> {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      this.fail(path, `must be a mapping, got ${describe(value)}`);
    }
    const record = value as Record<string, unknown>;
    if (keys) {
      for (const key of Object.keys(record)) {
        if (!keys.includes(key)) {
          this.fail([...path, key], `unknown key "${key}"; expected one of ${keys.join(", ")}`);
        }
      }
    }
    return record;
  }

  section(root: Record<string, unknown>, key: string, keys: string[]): Record<string, unknown> {
    return root[key] === undefined || root[key] === null ? {} : this.object(root[key], [key], keys);
  }

  string(value: unknown, path: Path): string | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== "string") this.fail(path, `must be a string, got ${describe(value)}`);
    return value as string;
  }

  boolean(value: unknown, path: Path): boolean | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== "boolean") {
      this.fail(path, `must be true or false, got ${describe(value)}`);
    }
    return value as boolean;
  }

  integer(
    value: unknown,
    path: Path,
    min: number,
    max = Number.MAX_SAFE_INTEGER,
  ): number | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
      this.fail(path, `must be a whole number from ${min} to ${max}, got ${describe(value)}`);
    }
    return value as number;
  }

  stringList(value: unknown, path: Path): string[] | undefined {
    if (value === undefined) return undefined;
    if (!Array.isArray(value)) this.fail(path, `must be a list of strings, got ${describe(value)}`);
    return (value as unknown[]).map((item, i) => {
      if (typeof item === "number") return String(item);
      if (typeof item !== "string") {
        this.fail([...path, i], `must be a string, got ${describe(item)}`);
      }
      return item as string;
    });
  }

  duration(value: unknown, path: Path): number | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== "string" && typeof value !== "number") {
      this.fail(path, `must be a duration such as "30s", got ${describe(value)}`);
    }
    try {
      return parseDuration(value as string | number);
    } catch (error) {
      this.fail(path, (error as Error).message);
    }
  }

  size(value: unknown, path: Path, min: number): number | undefined {
    if (value === undefined) return undefined;
    let size: number;
    try {
      if (typeof value !== "string" && typeof value !== "number") {
        throw new TypeError(`Invalid size ${describe(value)}`);
      }
      size = parseSize(value);
    } catch (error) {
      this.fail(path, (error as Error).message);
    }
    if (size! < min) this.fail(path, `must be at least ${min} bytes`);
    return size!;
  }

  /** A user or group given by name (looked up in `file`) or by number. */
  /**
   * A user or group given by name or by number. A user is looked up in `file` either way, for
   * its primary group: a numeric user must never keep the server's group (root's, 0).
   */
  account(
    value: unknown,
    path: Path,
    file: string,
    what: string,
    options: { groupGiven?: boolean } = {},
  ): [number, number?] {
    const numeric = typeof value === "number";
    const name = numeric ? String(this.integer(value, path, 0)) : this.string(value, path)!;
    const byNumber = /^\d+$/.test(name);
    // A numeric group, or a numeric user with its group given, needs no lookup.
    if (byNumber && (what === "group" || options.groupGiven)) return [Number(name)];
    let table = "";
    try {
      table = Deno.readTextFileSync(file);
    } catch {
      this.fail(path, `cannot look up ${what} "${name}": ${file} is not readable`);
    }
    for (const line of table.split("\n")) {
      const fields = line.split(":");
      if (fields[2] === undefined || fields[2] === "") continue;
      if (byNumber ? Number(fields[2]) === Number(name) : fields[0] === name) {
        if (what !== "user") return [Number(fields[2])];
        const gid = Number(fields[3]);
        if (!Number.isInteger(gid) || fields[3] === "") {
          this.fail(path, `user "${name}" has no primary group in ${file}: set "group"`);
        }
        return [Number(fields[2]), gid];
      }
    }
    if (byNumber) {
      this.fail(
        path,
        `user ${name} is not in ${file}, so its primary group is unknown: set "group" as well`,
      );
    }
    this.fail(path, `unknown ${what} "${name}" (not in ${file})`);
  }

  basePath(value: unknown, path: Path): string | undefined {
    const text = this.string(value, path);
    if (text === undefined) return undefined;
    if (!text.startsWith("/")) this.fail(path, `must start with "/", got "${text}"`);
    return text.endsWith("/") ? text : `${text}/`;
  }
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  if (typeof value === "string") return `"${value}"`;
  return `${typeof value} ${String(value)}`;
}

function formatPath(path: Path): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out ? `.${part}` : part;
  }
  return out;
}

/**
 * Reads and validates a configuration file.
 *
 * @param file The path of the YAML file.
 * @returns The validated configuration.
 * @throws {ConfigError} When the file cannot be read or is invalid.
 */
export async function loadConfig(file: string): Promise<PowConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    throw new ConfigError(file, "", undefined, `cannot read the file: ${(error as Error).message}`);
  }
  return parseConfig(text, { file });
}
