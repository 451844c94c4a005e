/**
 * Scoped Deno permissions for a configuration: what `main.ts permissions` prints and what the
 * server checks at startup. Note that `--allow-run` limits which programs the server may start;
 * it does not sandbox them: a started program has the full rights of its OS user.
 *
 * @module
 */

import type { PowConfig } from "./config.ts";
import { frontEnds } from "./front_ends.ts";
import { defaultStateDir } from "./process_ledger.ts";
import { canEnter, SETSID } from "./runner.ts";

/** Options for {@linkcode permissionFlags}. */
export interface PermissionFlagsOptions {
  /** The config file the server reads. */
  configFile?: string;
  /** Files served or read besides the config (e.g. TLS certificates). */
  readFiles?: string[];
}

/**
 * The programs a configuration runs.
 *
 * @param config The configuration.
 * @returns Program names or paths, sorted, without duplicates.
 */
export function configuredPrograms(config: PowConfig): string[] {
  const programs = new Set<string>();
  for (const definition of Object.values(config.processes)) {
    if (definition.kind === "command") programs.add(definition.command[0]);
  }
  return [...programs].sort();
}

/**
 * The Deno permission flags a configuration needs, and no more.
 *
 * @example
 * ```ts
 * import { permissionFlags } from "./permissions.ts";
 * import { parseConfig } from "./config.ts";
 * import assert from "node:assert/strict";
 *
 * const config = parseConfig(
 *   "server: { stateDir: /run/pow }\nprocesses:\n  count: { command: [seq, '1', '{1}'], params: [{ name: n }] }\n",
 * );
 * assert.deepEqual(permissionFlags(config, { configFile: "pow.yaml" }), [
 *   "--allow-net=127.0.0.1:8028",
 *   "--allow-read=pow.yaml,node_modules,/proc,/run/pow",
 *   "--allow-env=PATH,HOME,LANG,LOG_TOKENS,LOG_STREAM",
 *   "--allow-write=/run/pow",
 *   "--allow-sys=uid",
 *   "--allow-run=kill,ps,seq",
 * ]);
 * ```
 *
 * @param config The configuration.
 * @param options Files it reads.
 * @returns The flags, one per element.
 */
export function permissionFlags(config: PowConfig, options: PermissionFlagsOptions = {}): string[] {
  const { host, port, tls } = config.server;
  const reads = [
    ...(options.configFile ? [options.configFile] : []),
    ...(tls ? [tls.cert, tls.key] : []),
    ...(options.readFiles ?? []),
    // The startup check looks at every working directory.
    ...new Set(
      Object.values(config.processes).flatMap((d) => d.kind === "command" && d.cwd ? [d.cwd] : []),
    ),
    "node_modules",
  ];
  // What each front end needs beyond the host (e.g. a directory it reads and writes).
  const needs = frontEnds.flatMap((frontEnd) => frontEnd.permissions?.(config) ?? []);
  const frontEndWrites = [...new Set(needs.flatMap((need) => need.write ?? []))];
  reads.push(...new Set(needs.flatMap((need) => need.read ?? [])));
  // Running as another user: the config reads the account database, the startup check the
  // server's own uid.
  const commands = Object.values(config.processes).filter((d) => d.kind === "command");
  const accounts = commands.some((d) => d.uid !== undefined || d.gid !== undefined);
  if (accounts) reads.push("/etc/passwd", "/etc/group");
  // Warm launchers (server/warm_pool.ts) are spawned through setsid(1), found by reading it, and
  // exec their program by its path, found in PATH's directories as execvp would.
  const warm = commands.some((d) => d.warm);
  if (warm) reads.push(SETSID, ...searchPath());
  // The process ledger (server/process_ledger.ts): its directory, and /proc for the sweep (read
  // only with --allow-all in Deno 2.9: with a list, the ledger runs ps instead).
  const stateDir = config.server.stateDir === false
    ? undefined
    : config.server.stateDir ?? defaultStateDir();
  if (stateDir) reads.push("/proc", stateDir);
  const writes = [...frontEndWrites, ...(stateDir ? [stateDir] : [])];
  // Pseudo-terminals: node-pty is a native addon, and Deno 2.9 opens its terminal's file
  // descriptor (node:tty) only with the whole --allow-read and --allow-write.
  const pty = needsPty(config);
  const nets = [`${host.includes(":") ? `[${host}]` : host}${port ? `:${port}` : ""}`];
  // A cluster connects to Redis; its client (ioredis, through its debug dependency) reads the
  // whole environment when it loads.
  const cluster = config.cluster;
  if (cluster) nets.push(redisAddress(cluster.redis));
  const flags = [
    `--allow-net=${[...new Set(nets)].join(",")}`,
    pty ? "--allow-read" : `--allow-read=${reads.join(",")}`,
    cluster ? "--allow-env" : "--allow-env=PATH,HOME,LANG,LOG_TOKENS,LOG_STREAM",
  ];
  if (pty) flags.push("--allow-write", "--allow-ffi=node_modules");
  else if (writes.length > 0) flags.push(`--allow-write=${writes.join(",")}`);
  if (accounts || stateDir) flags.push("--allow-sys=uid");
  const programs = configuredPrograms(config);
  // kill(1) signals the process groups of commands (cancel, timeouts, what they leave behind):
  // Deno.kill needs the whole --allow-run (server/signals.ts). ps(1) is how the process ledger
  // reads processes: Deno reads /proc only with --allow-all (server/process_ledger.ts).
  if (programs.length > 0) {
    const helpers = stateDir ? ["kill", "ps"] : ["kill"];
    // Warm launchers are shells in their own session: setsid(1) runs sh(1), which waits to exec
    // the call's program (server/warm_pool.ts). pow still checks each program against the list.
    if (warm) helpers.push("setsid", "sh");
    flags.push(`--allow-run=${[...new Set([...programs, ...helpers])].sort().join(",")}`);
  }
  return flags;
}

/** The `host:port` of a Redis URL (port 6379 when it has none). */
function redisAddress(url: string): string {
  const { hostname, port } = new URL(url);
  return `${hostname}:${port || "6379"}`;
}

/**
 * Whether a configuration may start pseudo-terminals: a process with `pty: true`, or a front
 * end that declares it (further-link's `?pty=1`). They need `--allow-ffi` for node-pty and, in
 * Deno 2.9, the whole `--allow-read` and `--allow-write`.
 *
 * @param config The configuration.
 * @returns Whether it may.
 */
export function needsPty(config: PowConfig): boolean {
  return Object.values(config.processes).some((d) => d.kind === "command" && d.pty === true) ||
    frontEnds.some((frontEnd) => frontEnd.permissions?.(config).pty === true);
}

/**
 * Whether the server has what pseudo-terminals need (see {@linkcode needsPty}).
 *
 * @returns Whether it has.
 */
export function ptyAllowed(): boolean {
  try {
    const granted = (descriptor: Deno.PermissionDescriptor) =>
      Deno.permissions.querySync(descriptor).state === "granted";
    return granted({ name: "read" }) && granted({ name: "write" }) &&
      granted({ name: "ffi", path: "node_modules" });
  } catch {
    return false;
  }
}

/**
 * Checks that the server may run every configured program.
 *
 * @param config The configuration.
 * @returns The programs it may not run (empty when all is well).
 */
export async function missingRunPermissions(config: PowConfig): Promise<string[]> {
  const missing: string[] = [];
  for (const program of configuredPrograms(config)) {
    const status = await Deno.permissions.query({ name: "run", command: program });
    if (status.state !== "granted") missing.push(program);
  }
  return missing;
}

/**
 * Checks what the configuration needs from the machine: the TLS files can be read, every `cwd`
 * exists and is a directory, and the server has the rights to run processes as their configured
 * user and group.
 *
 * @param config The configuration.
 * @returns One message per problem (empty when all is well).
 */
export function runtimeProblems(config: PowConfig): string[] {
  const problems: string[] = [];
  let uid: number | null = null;
  try {
    uid = Deno.uid();
  } catch {
    uid = null;
  }
  for (const [what, file] of Object.entries(config.server.tls ?? {})) {
    try {
      Deno.readFileSync(file);
    } catch (error) {
      problems.push(`TLS ${what} "${file}" cannot be read: ${(error as Error).message}`);
    }
  }
  for (const [name, definition] of Object.entries(config.processes)) {
    if (definition.kind !== "command") continue;
    if (definition.cwd !== undefined) {
      let isDirectory = false;
      try {
        isDirectory = Deno.statSync(definition.cwd).isDirectory;
      } catch {
        isDirectory = false;
      }
      if (!isDirectory) {
        problems.push(
          `process "${name}": working directory "${definition.cwd}" does not exist or is not a directory`,
        );
      } else if (
        definition.uid !== undefined &&
        canEnter(definition.cwd, definition.uid, definition.gid) === false
      ) {
        problems.push(
          `process "${name}": user ${definition.uid} cannot enter the working directory "${definition.cwd}"`,
        );
      }
    }
    const switches = (definition.uid !== undefined && definition.uid !== uid) ||
      definition.gid !== undefined;
    if (switches && uid !== 0) {
      problems.push(
        `process "${name}": running as ${
          definition.uid !== undefined ? `uid ${definition.uid}` : ""
        }${definition.uid !== undefined && definition.gid !== undefined ? " and " : ""}${
          definition.gid !== undefined ? `gid ${definition.gid}` : ""
        } needs the server to run as root (it runs as uid ${uid ?? "unknown"})`,
      );
    }
  }
  return problems;
}

/** The absolute directories of the server's `PATH`, where commands' programs are looked up. */
function searchPath(): string[] {
  let path: string | undefined;
  try {
    path = Deno.env.get("PATH");
  } catch {
    // no permission to read it: the programs' own directories are not known
  }
  return [...new Set((path ?? "").split(":").filter((dir) => dir.startsWith("/")))];
}
