/**
 * The open connections of a front end, so that shutting the server down can end them all.
 *
 * @module
 */

/** What a connection must offer to be ended at shutdown. */
export interface Endable {
  /** Ends the connection (the server is shutting down). */
  abort(): void;
}

/**
 * A front end's open connections: added when a WebSocket opens, removed when it closes, all
 * ended by {@linkcode ConnectionSet.close} when the server shuts down.
 *
 * @example
 * ```ts
 * import { ConnectionSet } from "./connections.ts";
 * import assert from "node:assert/strict";
 *
 * const ended: string[] = [];
 * const connections = new ConnectionSet<{ name: string; abort(): void }>();
 * connections.add({ name: "a", abort: () => ended.push("a") });
 * connections.close();
 * assert.deepEqual([ended, connections.size], [["a"], 0]);
 * ```
 */
export class ConnectionSet<T extends Endable> {
  #connections = new Set<T>();

  /**
   * Adds a connection; with `socket`, it leaves the set when the socket closes.
   *
   * @param connection The connection.
   * @param socket Its WebSocket, when the set should follow it.
   * @returns The connection.
   */
  add(connection: T, socket?: WebSocket): T {
    this.#connections.add(connection);
    socket?.addEventListener("close", () => this.#connections.delete(connection), { once: true });
    return connection;
  }

  /**
   * Removes a connection (it closed).
   *
   * @param connection The connection.
   */
  delete(connection: T): void {
    this.#connections.delete(connection);
  }

  /** How many connections are open. */
  get size(): number {
    return this.#connections.size;
  }

  /** Ends every connection and forgets them. */
  close(): void {
    const all = [...this.#connections];
    this.#connections.clear();
    for (const connection of all) connection.abort();
  }
}
