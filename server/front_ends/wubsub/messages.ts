/**
 * The wubsub wire format: JSON text messages with a `type`, exactly as the original wubsub
 * server (github.com/premiering/wubsub) defines them, plus the few extensions pow adds in types
 * and fields the original never uses (`ps-unsub`; `channel`, `topic`, `reqid` and `missed` on
 * `error`). A client that only knows the original messages can parse everything it is sent.
 *
 * @module
 */

/** `register`: the sender becomes the owner of a channel. */
export interface RegisterMessage {
  /** Discriminates messages. */
  readonly type: "register";
  /** The channel's name. */
  readonly channel: string;
  /** What the channel offers. */
  readonly data: {
    /** A display name (the original sends the channel's name again). */
    readonly name?: string;
    /** What the channel is for, shown in process listings. */
    readonly description?: string;
    /** The topics the owner publishes to. */
    readonly pubsub: { readonly topics: readonly string[] };
    /** The methods the owner answers (restpie). */
    readonly restpie: { readonly methods: readonly string[] };
  };
}

/** `ps-pub`: the owner publishes to one of its topics. */
export interface PublishMessage {
  /** Discriminates messages. */
  readonly type: "ps-pub";
  /** The channel. */
  readonly channel: string;
  /** The topic. */
  readonly topic: string;
  /** What is published (any JSON). */
  readonly data?: unknown;
}

/** `ps-sub` (original) or `ps-unsub` (pow extension): start or stop receiving a topic. */
export interface SubscribeMessage {
  /** Discriminates messages. */
  readonly type: "ps-sub" | "ps-unsub";
  /** The channel. */
  readonly channel: string;
  /** The topic. */
  readonly topic: string;
}

/** `pie-do`: a caller asks the owner of a channel to run a method. */
export interface DoMessage {
  /** Discriminates messages. */
  readonly type: "pie-do";
  /** The channel. */
  readonly channel: string;
  /** The method (the original calls it the topic). */
  readonly topic: string;
  /** The request data (any JSON). */
  readonly data?: unknown;
}

/** `pie-resp`: the owner answers a request. */
export interface RespondMessage {
  /** Discriminates messages. */
  readonly type: "pie-resp";
  /** The request's id, from `pie-req`. */
  readonly reqid: string;
  /** The answer (any JSON). */
  readonly data?: unknown;
}

/** A message a wubsub client sends. */
export type ClientMessage =
  | RegisterMessage
  | PublishMessage
  | SubscribeMessage
  | DoMessage
  | RespondMessage;

/** A message the server sends. */
export type ServerMessage =
  | { type: "ps-recv"; channel: string; topic: string; data: unknown }
  | { type: "pie-ack"; channel: string; topic: string; reqid: string }
  | { type: "pie-req"; channel: string; topic: string; reqid: string; data?: unknown }
  | { type: "pie-recv"; channel: string; reqid: string; topic: string; data: unknown }
  | ErrorMessage;

/** `error`: a refusal; `data` says why. The other fields are pow extensions. */
export interface ErrorMessage {
  /** Discriminates messages. */
  type: "error";
  /** Why, in plain words. */
  data: string;
  /** The channel concerned (pow extension). */
  channel?: string;
  /** The topic or method concerned (pow extension). */
  topic?: string;
  /** The request concerned (pow extension). */
  reqid?: string;
  /** How many published messages a slow subscriber missed (pow extension). */
  missed?: number;
}

const NAME = /^[A-Za-z0-9_:+@-]{1,64}$/;

/**
 * Checks a channel, topic or method name: 1 to 64 letters, digits, `_`, `-`, `:`, `+` or `@`
 * (no `.` or `/`, so that `<channel>/<method>` and the bus topic `topic.<channel>.<topic>` are
 * unambiguous).
 *
 * @example
 * ```ts
 * import { nameProblem } from "./messages.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(nameProblem("channel", "sample_channel"), undefined);
 * assert.match(nameProblem("channel", "a.b")!, /^Invalid channel name "a.b"/);
 * ```
 *
 * @param what `"channel"`, `"topic"` or `"method"`.
 * @param name The name.
 * @returns `undefined` when valid, else the error text.
 */
export function nameProblem(what: string, name: unknown): string | undefined {
  if (typeof name === "string" && NAME.test(name)) return undefined;
  if (name === undefined) return `Missing "${what === "method" ? "topic" : what}"`;
  return `Invalid ${what} name ${
    JSON.stringify(name)
  }: use 1 to 64 letters, digits, "_", "-", ":", "+" or "@"`;
}

/** The result of {@linkcode parseClientMessage}: a message, or the text of an `error`. */
export type ParseResult =
  | { readonly ok: true; readonly message: ClientMessage }
  | { readonly ok: false; readonly error: ErrorMessage };

function refuse(data: string, extra: Partial<ErrorMessage> = {}): ParseResult {
  return { ok: false, error: { type: "error", data, ...extra } };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function nameList(value: unknown, what: string, key: string): string[] | string {
  if (value === undefined) return [];
  if (!Array.isArray(value)) return `"${key}" must be a list of ${what} names`;
  for (const item of value) {
    const problem = nameProblem(what, item);
    if (problem) return problem;
  }
  if (new Set(value).size !== value.length) return `"${key}" names a ${what} twice`;
  return value as string[];
}

/**
 * Parses and checks one message from a wubsub client.
 *
 * @example
 * ```ts
 * import { parseClientMessage } from "./messages.ts";
 * import assert from "node:assert/strict";
 *
 * const ok = parseClientMessage('{"type":"ps-sub","channel":"news","topic":"today"}');
 * assert.equal(ok.ok && ok.message.type, "ps-sub");
 * const bad = parseClientMessage("{nope");
 * assert.equal(!bad.ok && bad.error.data, "Invalid message: not valid JSON");
 * ```
 *
 * @param text The message text.
 * @returns The message, or the `error` to answer with.
 */
export function parseClientMessage(text: string): ParseResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return refuse("Invalid message: not valid JSON");
  }
  if (!isObject(value)) return refuse('Invalid message: expected a JSON object with a "type"');
  const type = value.type;
  if (typeof type !== "string") {
    return refuse('Invalid message: expected a JSON object with a "type"');
  }
  const channel = value.channel;
  const topic = value.topic;
  switch (type) {
    case "register": {
      const problem = nameProblem("channel", channel);
      if (problem) return refuse(problem);
      const data = value.data === undefined ? {} : value.data;
      if (!isObject(data)) {
        return refuse(`Cannot register channel "${channel}": "data" must be an object`);
      }
      const pubsub = data.pubsub === undefined ? {} : data.pubsub;
      const restpie = data.restpie === undefined ? {} : data.restpie;
      if (!isObject(pubsub) || !isObject(restpie)) {
        return refuse(
          `Cannot register channel "${channel}": "pubsub" and "restpie" must be objects`,
        );
      }
      const topics = nameList(pubsub.topics, "topic", "pubsub.topics");
      const methods = nameList(restpie.methods, "method", "restpie.methods");
      for (const list of [topics, methods]) {
        if (typeof list === "string") {
          return refuse(`Cannot register channel "${channel}": ${list}`, {
            channel: channel as string,
          });
        }
      }
      const description = typeof data.description === "string" ? data.description : undefined;
      return {
        ok: true,
        message: {
          type,
          channel: channel as string,
          data: {
            name: typeof data.name === "string" ? data.name : undefined,
            description,
            pubsub: { topics: topics as string[] },
            restpie: { methods: methods as string[] },
          },
        },
      };
    }
    case "ps-pub":
    case "ps-sub":
    case "ps-unsub":
    case "pie-do": {
      const problem = nameProblem("channel", channel) ??
        nameProblem(type === "pie-do" ? "method" : "topic", topic);
      if (problem) return refuse(problem);
      const base = { channel: channel as string, topic: topic as string };
      if (type === "ps-sub" || type === "ps-unsub") return { ok: true, message: { type, ...base } };
      return { ok: true, message: { type, ...base, data: value.data } };
    }
    case "pie-resp": {
      if (typeof value.reqid !== "string" || value.reqid === "") return refuse('Missing "reqid"');
      return { ok: true, message: { type, reqid: value.reqid, data: value.data } };
    }
    default:
      return refuse(
        `Unknown message type ${
          JSON.stringify(type)
        }: expected register, ps-pub, ps-sub, ps-unsub, pie-do or pie-resp`,
      );
  }
}
