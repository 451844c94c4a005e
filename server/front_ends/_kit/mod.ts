/**
 * The adapter kit: what every front end needs and none writes again. A front end translates
 * its wire format to calls on the core and back; the plumbing below is shared.
 *
 * - {@linkcode pumpOutput}: the output pump (drain, coalescing while the client is behind),
 *   with {@linkcode StreamDecoders}, {@linkcode coalesce} and {@linkcode incompleteTail}.
 * - {@linkcode drained}: waiting for a WebSocket's send queue.
 * - {@linkcode oversize} and {@linkcode utf8Length}: the one message-size check.
 * - {@linkcode callErrorStatus}: the one table from a refused start to an HTTP status.
 * - {@linkcode ConnectionSet}: open connections, all ended at shutdown.
 * - {@linkcode allowedProcesses} and {@linkcode listSessions}: the listings.
 * - {@linkcode sseResponse} and {@linkcode sseEvent}: server-sent events.
 * - {@linkcode readBody} and {@linkcode pipeBody}: request bodies with limits and timeouts.
 * - {@linkcode textResponse}, {@linkcode jsonBody}, {@linkcode pathParameter}: OpenAPI parts.
 *
 * Starting a session and waiting until it is spawned is the core's: `session.started`.
 *
 * @module
 */

export * from "./body.ts";
export * from "./call_errors.ts";
export * from "./connections.ts";
export * from "./drain.ts";
export * from "./listing.ts";
export * from "./openapi.ts";
export * from "./output.ts";
export * from "./pump.ts";
export * from "./size.ts";
export * from "./sse.ts";
