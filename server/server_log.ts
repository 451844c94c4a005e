/**
 * The server's own log lines (lifecycle and warnings), published on the event bus under
 * {@linkcode SERVER_LOG_TOPIC} so that admins can watch them (the MonoRail `server` channel).
 *
 * @example
 * ```ts
 * import { MemoryEventBus } from "./bus.ts";
 * import { logServer, SERVER_LOG_TOPIC } from "./server_log.ts";
 * import assert from "node:assert/strict";
 *
 * const bus = new MemoryEventBus();
 * const lines = bus.subscribe(SERVER_LOG_TOPIC);
 * logServer(bus, "info", "config reloaded");
 * const { value } = await lines.next();
 * assert.equal(value.type === "event" && (value.event.data as { text: string }).text, "config reloaded");
 * lines.close();
 * ```
 *
 * @module
 */

import type { EventBus } from "./bus.ts";

/** The bus topic of server log lines. */
export const SERVER_LOG_TOPIC = "server.log";

/** How serious a log line is. */
export type ServerLogLevel = "info" | "warn" | "error";

/** One server log line, the data of a {@linkcode SERVER_LOG_TOPIC} event. */
export interface ServerLogLine {
  /** How serious it is. */
  level: ServerLogLevel;
  /** The text. */
  text: string;
}

/**
 * Publishes a server log line on the bus (never throws, never waits).
 *
 * @param bus The server's bus.
 * @param level How serious it is.
 * @param text The text.
 */
export function logServer(bus: EventBus, level: ServerLogLevel, text: string): void {
  const line: ServerLogLine = { level, text };
  void bus.publish(SERVER_LOG_TOPIC, line).catch(() => {});
}
