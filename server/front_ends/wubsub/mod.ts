/**
 * wubsub for pow: the wubsub JSON protocol (channels with a single publisher, pub/sub topics and
 * restpie requests) served over WebSocket at `/wubsub`, its topics on pow's event bus, and the
 * methods clients provide as processes in pow's catalogue (`<channel>/<method>`).
 *
 * - {@linkcode wubsub}: the front end factory.
 * - {@linkcode WubsubHub}: channels, subscriptions and requests, without sockets.
 * - {@linkcode parseClientMessage}: the wire format.
 *
 * See `docs/wubsub.md`.
 *
 * @module
 */

export { wubsub } from "./front_end.ts";
export {
  busTopic,
  type Catalogue,
  type ChannelInfo,
  type Connection,
  WubsubHub,
  type WubsubHubOptions,
  type WubsubPeer,
} from "./hub.ts";
export * from "./messages.ts";
export { wubsubPaths } from "./openapi.ts";
export { providedProcess, type ProvidedProcessOptions, requestData } from "./provided.ts";
export { topicRoutes, type TopicRoutesOptions } from "./topics.ts";
export { type WubsubConfig, wubsubConfigSection } from "./config.ts";
