/**
 * The listings every front end answers alike: the processes a caller may start, and the
 * caller's sessions on this node and, in a cluster, on every other.
 *
 * @module
 */

import type { Caller, ProcessDefinition } from "../../process.ts";
import type { SessionHandle } from "../../session.ts";
import type { SessionManager } from "../../session_manager.ts";
import type { SessionRecord } from "../../store.ts";

/**
 * The processes a caller may start, in catalogue order.
 *
 * @param manager The session manager.
 * @param caller Who asks.
 * @returns Name and definition of each.
 */
export function allowedProcesses(
  manager: SessionManager,
  caller: Caller,
): [string, ProcessDefinition][] {
  return Object.entries(manager.processes)
    .filter(([, definition]) => manager.allowed(definition, caller));
}

/**
 * The sessions a caller may see: local ones described from their handles, in a cluster those
 * of other nodes from their stored records.
 *
 * @param manager The session manager.
 * @param caller Who asks.
 * @param describe How a protocol describes a local session and a stored record.
 * @returns The descriptions.
 */
export async function listSessions<T>(
  manager: SessionManager,
  caller: Caller,
  describe: { local(session: SessionHandle): T; stored(record: SessionRecord): T },
): Promise<T[]> {
  if (manager.node === undefined) return manager.list(caller).map(describe.local);
  const local = new Map(manager.list(caller).map((s) => [s.id, describe.local(s)]));
  return (await manager.listAll(caller)).map((r) => local.get(r.id) ?? describe.stored(r));
}
