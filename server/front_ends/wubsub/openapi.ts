/**
 * The OpenAPI path items of the wubsub front end.
 *
 * @module
 */

/**
 * Describes the wubsub WebSocket and the topic routes.
 *
 * @example
 * ```ts
 * import { wubsubPaths } from "./openapi.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(Object.keys(wubsubPaths("/wubsub")), ["/wubsub", "/wubsub/topics/{name}"]);
 * ```
 *
 * @param path The WebSocket path (`wubsub.path`).
 * @returns Path items keyed by path relative to the base path.
 */
export function wubsubPaths(path: string): Record<string, unknown> {
  const tags = ["wubsub"];
  const plain = (description: string) => ({
    description,
    content: { "text/plain": { schema: { type: "string" } } },
  });
  const name = {
    name: "name",
    in: "path",
    required: true,
    description:
      "A user topic: dot-separated names (`news`, `sample_channel.responses`); the bus topic is `topic.{name}`",
    schema: { type: "string" },
  };
  return {
    [path]: {
      get: {
        summary: "wubsub WebSocket",
        description:
          "A WebSocket without subprotocol speaking wubsub's JSON protocol (`register`, `ps-pub`, " +
          "`ps-sub`, `ps-unsub`, `pie-do`, `pie-resp`; `ps-recv`, `pie-ack`, `pie-req`, `pie-recv`, " +
          "`error`). See docs/wubsub.md.",
        tags,
        responses: {
          "101": { description: "Switching to the WebSocket protocol" },
          "426": plain("Not a WebSocket upgrade"),
        },
      },
    },
    [`${path}/topics/{name}`]: {
      post: {
        summary: "Publish to a user topic",
        description:
          "Publishes the JSON body to the bus topic `topic.{name}`. A registered wubsub channel " +
          "(`{channel}.{topic}`) has its owner as its only publisher.",
        tags,
        parameters: [name],
        requestBody: { required: true, content: { "application/json": {} } },
        responses: {
          "200": {
            description: "Published",
            content: {
              "application/json": {
                schema: {
                  type: "object",
                  properties: { id: { type: "integer" }, topic: { type: "string" } },
                },
              },
            },
          },
          "400": plain("Invalid topic, or a body that is not JSON"),
          "403": plain("The topic belongs to a wubsub channel"),
          "413": plain("The body is larger than wubsub.maxMessage"),
        },
      },
      get: {
        summary: "Follow a user topic (server-sent events)",
        description:
          "Streams `message` events (`{topic, data}`, id = bus event id) and `gap` events " +
          "(`{missed, reason}`). `{name}` may be a pattern with `*` or a final `>`; " +
          "`Last-Event-ID` resumes from the bus history.",
        tags,
        parameters: [name],
        responses: {
          "200": { description: "The event stream", content: { "text/event-stream": {} } },
          "400": plain("Invalid topic pattern"),
        },
      },
    },
  };
}
