/**
 * pow server: the process session core and the server API.
 *
 * @example Serve a TypeScript process and a command
 * ```ts
 * import { createServer, defaultConfig, defineProcess } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const config = defaultConfig();
 * config.processes.hello = defineProcess({ run: ({ params }) => `hello ${params[0]}` });
 * const server = createServer(config);
 * const session = server.manager.start("hello", [], { caller: { id: "me" } });
 * assert.equal(session.name, "hello");
 * await server.close();
 * ```
 *
 * @module
 */

export * from "./auth.ts";
export * from "./bus.ts";
export * from "./config.ts";
export * from "./default_config.ts";
export * from "./errors.ts";
export * from "./front_end.ts";
export {
  broadcast,
  BROADCAST_TOPIC,
  type BroadcastRequest,
  type BroadcastSkip,
  type ConnectionInfo as MonoRailConnectionInfo,
  monorail,
  type MonoRailFrontEnd,
  monorailOf,
} from "./front_ends/monorail/mod.ts";
export * from "./front_ends.ts";
export * from "./log.ts";
export * from "./output_log.ts";
export * from "./params.ts";
export * from "./permissions.ts";
export * from "./process.ts";
export * from "./quiet_event_target.ts";
export * from "./programs.ts";
export * from "./registry.ts";
export * from "./reload.ts";
export type { RemoteSession } from "./remote_session.ts";
export * from "./runner.ts";
export * from "./server.ts";
export * from "./server_log.ts";
export * from "./session.ts";
export * from "./session_manager.ts";
export * from "./signals.ts";
export * from "./store.ts";
export * from "./units.ts";
