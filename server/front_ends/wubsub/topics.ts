/**
 * Bus topics over HTTP: `POST {prefix}/{name}` publishes a JSON body to the bus topic
 * `topic.{name}`, and `GET {prefix}/{name}` follows it as server-sent events (`{name}` may be a
 * pattern with `*` for one segment or a final `>`). Each event's id is its bus id, so a client
 * that reconnects with `Last-Event-ID` resumes where it left off, and is told with a `gap`
 * event when it missed some.
 *
 * A channel registered by a wubsub client has a single publisher: publishing to
 * `{channel}.{topic}` over REST is refused while the channel is registered.
 *
 * @module
 */

import type { Context, Hono } from "hono";
import type { EventBus } from "../../bus.ts";
import { checkTopic, topicMatcher } from "../../bus.ts";
import type { PowEnv } from "../../front_end.ts";
import type { WubsubHub } from "./hub.ts";
import { sseComment, sseEvent, sseResponse } from "../_kit/mod.ts";

/** Options for {@linkcode topicRoutes}. */
export interface TopicRoutesOptions {
  /** The bus. */
  bus: EventBus;
  /** The hub, to keep wubsub channels single-publisher. */
  hub?: WubsubHub;
  /** The largest body accepted, in bytes. @default {1048576} */
  maxMessage?: number;
  /** Events queued per SSE subscriber before it is told it missed some. @default {1024} */
  queue?: number;
}

function problem(c: Context<PowEnv>, status: 400 | 403 | 413, text: string): Response {
  return c.text(text, status, { "content-type": "text/plain; charset=utf-8" });
}

/**
 * Adds the topic routes.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { MemoryEventBus } from "../../bus.ts";
 * import type { PowEnv } from "../../front_end.ts";
 * import { topicRoutes } from "./topics.ts";
 * import assert from "node:assert/strict";
 *
 * const bus = new MemoryEventBus();
 * const app = new Hono<PowEnv>();
 * topicRoutes(app, "/topics", { bus });
 * const subscription = bus.subscribe("topic.news");
 * const response = await app.request("/topics/news", { method: "POST", body: '{"a":1}' });
 * assert.equal(response.status, 200);
 * const { value } = await subscription.next();
 * assert.deepEqual(value.type === "event" && value.event.data, { a: 1 });
 * subscription.close();
 * ```
 *
 * @param app The routes of the server.
 * @param prefix Where the routes go, e.g. `/wubsub/topics`.
 * @param options The bus and limits.
 */
export function topicRoutes(app: Hono<PowEnv>, prefix: string, options: TopicRoutesOptions): void {
  const { bus, hub } = options;
  const maxMessage = options.maxMessage ?? 1024 * 1024;
  app.post(`${prefix}/:name`, async (c) => {
    const name = c.req.param("name");
    try {
      checkTopic(`topic.${name}`);
    } catch {
      return problem(
        c,
        400,
        `Invalid topic "${name}": expected dot-separated names without spaces, "*" or ">"`,
      );
    }
    const channel = name.split(".")[0];
    if (hub?.has(channel) && name.includes(".")) {
      return problem(
        c,
        403,
        `Cannot publish to "${name}": channel "${channel}" belongs to a wubsub client, which is its only publisher`,
      );
    }
    const body = await c.req.text();
    if (body.length > maxMessage) {
      return problem(
        c,
        413,
        `Message too big: ${body.length} bytes, at most ${maxMessage} allowed`,
      );
    }
    let data: unknown;
    try {
      data = JSON.parse(body);
    } catch {
      return problem(c, 400, "Invalid body: not valid JSON");
    }
    const event = await bus.publish(`topic.${name}`, data);
    return c.json({ id: event.id, topic: name });
  });
  app.get(`${prefix}/:name`, (c) => {
    const name = c.req.param("name");
    const pattern = `topic.${name}`;
    try {
      topicMatcher(pattern);
    } catch {
      return problem(
        c,
        400,
        `Invalid topic pattern "${name}": expected dot-separated names, "*" for one name, a final ">" for the rest`,
      );
    }
    const last = c.req.header("last-event-id")?.trim();
    const after = last && /^\d+$/.test(last) ? Number(last) : undefined;
    const subscription = bus.subscribe(pattern, { after, queue: options.queue ?? 1024 });
    return sseResponse({
      // A comment first, so that clients see the stream open before any event.
      start: sseComment("subscribed"),
      async pull() {
        const { value, done } = await subscription.next();
        if (done) return { text: "", done: true };
        if (value.type === "gap") {
          const data = JSON.stringify({ missed: value.missed, reason: value.reason });
          return { text: sseEvent({ event: "gap", data }) };
        }
        const event = value.event;
        const data = JSON.stringify({ topic: event.topic.slice(6), data: event.data });
        return { text: sseEvent({ id: String(event.id), event: "message", data }) };
      },
      cancel() {
        subscription.close();
      },
    });
  });
}
