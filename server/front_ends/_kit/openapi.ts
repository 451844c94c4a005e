/**
 * Small builders for the OpenAPI fragments front ends declare, so that each fragment says only
 * what is its own.
 *
 * @module
 */

/**
 * A `text/plain` response.
 *
 * @example
 * ```ts
 * import { textResponse } from "./openapi.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(textResponse("Not found", "process not found"), {
 *   description: "Not found",
 *   content: { "text/plain": { schema: { type: "string", examples: ["process not found"] } } },
 * });
 * ```
 *
 * @param description What it means.
 * @param example An example body.
 * @returns The response object.
 */
export function textResponse(description: string, example: string): Record<string, unknown> {
  return {
    description,
    content: { "text/plain": { schema: { type: "string", examples: [example] } } },
  };
}

/**
 * A required JSON request body.
 *
 * @param schema Its schema.
 * @returns The request body object.
 */
export function jsonBody(schema: Record<string, unknown>): Record<string, unknown> {
  return { required: true, content: { "application/json": { schema } } };
}

/**
 * The headers of a WebSocket upgrade: `Upgrade: websocket` and the `Sec-WebSocket-Protocol`
 * offer.
 *
 * @param offer What the client must offer in `Sec-WebSocket-Protocol`.
 * @param example An example offer.
 * @returns The parameter objects.
 */
export function upgradeParameters(offer: string, example: string): Record<string, unknown>[] {
  return [
    {
      name: "Upgrade",
      in: "header",
      required: true,
      schema: { type: "string", enum: ["websocket"] },
    },
    {
      name: "Sec-WebSocket-Protocol",
      in: "header",
      required: true,
      description: offer,
      schema: { type: "string", example },
    },
  ];
}

/**
 * A required string path parameter.
 *
 * @param name Its name.
 * @param description What it is.
 * @returns The parameter object.
 */
export function pathParameter(name: string, description: string): Record<string, unknown> {
  return { name, in: "path", required: true, description, schema: { type: "string" } };
}
