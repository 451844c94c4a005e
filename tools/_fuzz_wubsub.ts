/**
 * The fuzzer's wubsub lane. An owner socket registers channel `fz` (topic `t`, method `m`); a
 * subscriber socket follows `fz/t`; fuzz messages go on a third socket. Every fuzz message has
 * one defined `error` answer (the texts of docs/wubsub.md); a barrier (an unknown type) ends
 * each batch and the answers before its error must match one for one. The control: numbered
 * messages the owner publishes reach the subscriber complete and in order, and a `pie-do` from
 * the fuzz socket is answered by the owner.
 *
 * @module
 */

import {
  badJson,
  count,
  describe,
  type FuzzContext,
  type Lane,
  nonObjectJson,
  poll,
  violationRecorder,
  wrongValue,
} from "./_fuzz_common.ts";
import type { Rng } from "./_rng.ts";

interface Message {
  type: string;
  data?: unknown;
  reqid?: string;
}

interface Planned {
  cls: string;
  frame: string;
  /** The exact `data` of the expected `error`. */
  error: string;
}

const CHANNEL = "fz";
const TYPES = "expected register, ps-pub, ps-sub, ps-unsub, pie-do or pie-resp";
const NAME_RULE = 'use 1 to 64 letters, digits, "_", "-", ":", "+" or "@"';

/**
 * Creates the wubsub lane.
 *
 * @param context The run.
 * @param rng The lane's generator.
 * @returns The lane.
 */
export function wubsubLane(context: FuzzContext, rng: Rng): Lane {
  const name = "wubsub";
  const violation = violationRecorder(context, name);
  let owner: WebSocket;
  let subscriber: WebSocket;
  let fuzz: WebSocket;
  let closed = true;
  const answers: Message[] = [];
  const received: unknown[] = [];
  let published = 0;
  let verified = 0;
  let frameNo = 0;
  let barrier = 0;
  let pieAnswered = 0;

  /** A valid name other than the lane's own. */
  const other = () => `x${rng.int(1e6)}`;
  /** A name the server refuses: it has a ".", "/" or a space, or is too long. */
  const badName = () =>
    rng.pick([
      `${other()}.${rng.int(9)}`,
      `a/${rng.int(9)}`,
      `has space`,
      "",
      "x".repeat(65),
      `${rng.text(3)}.`,
    ]);

  function plan(): Planned {
    const r = rng.int(100);
    if (r < 12) {
      return { cls: "not_json", frame: badJson(rng), error: "Invalid message: not valid JSON" };
    }
    if (r < 20) {
      return {
        cls: "not_object",
        frame: nonObjectJson(rng),
        error: 'Invalid message: expected a JSON object with a "type"',
      };
    }
    if (r < 26) {
      const type = wrongValue(rng, ["string"]);
      return {
        cls: "no_type",
        frame: JSON.stringify(type === null ? { channel: CHANNEL } : { type, channel: CHANNEL }),
        error: 'Invalid message: expected a JSON object with a "type"',
      };
    }
    if (r < 34) {
      let type = rng.pick(["ps-recv", "pie-ack", "error", "subscribe", rng.text(rng.range(0, 10))]);
      if (["register", "ps-pub", "ps-sub", "ps-unsub", "pie-do", "pie-resp"].includes(type)) {
        type = `x${type}`;
      }
      return {
        cls: "unknown_type",
        frame: JSON.stringify({ type, channel: CHANNEL }),
        error: `Unknown message type ${JSON.stringify(type)}: ${TYPES}`,
      };
    }
    if (r < 46) {
      const type = rng.pick(["ps-sub", "ps-pub", "pie-do"]);
      const channel = other();
      return {
        cls: `${type}_unknown_channel`,
        frame: JSON.stringify({ type, channel, topic: "t", data: 1 }),
        error: `Unknown channel "${channel}"`,
      };
    }
    if (r < 54) {
      const type = rng.pick(["ps-sub", "ps-pub", "pie-do", "register"]);
      const channel = badName();
      return {
        cls: `${type}_bad_channel`,
        frame: JSON.stringify({ type, channel, topic: "t" }),
        error: `Invalid channel name ${JSON.stringify(channel)}: ${NAME_RULE}`,
      };
    }
    if (r < 60) {
      const type = rng.pick(["ps-sub", "ps-pub", "pie-do"]);
      return {
        cls: `${type}_no_topic`,
        frame: JSON.stringify({ type, channel: CHANNEL }),
        error: 'Missing "topic"',
      };
    }
    if (r < 66) {
      return {
        cls: "ps_pub_not_owner",
        frame: JSON.stringify({ type: "ps-pub", channel: CHANNEL, topic: "t", data: rng.int(9) }),
        error: "Tried to publish to channel you aren't a publisher for.",
      };
    }
    if (r < 72) {
      const topic = other();
      return {
        cls: "ps_sub_unknown_topic",
        frame: JSON.stringify({ type: "ps-sub", channel: CHANNEL, topic }),
        error: `Unknown topic "${topic}" on channel "${CHANNEL}"`,
      };
    }
    if (r < 78) {
      const method = other();
      return {
        cls: "pie_do_unknown_method",
        frame: JSON.stringify({ type: "pie-do", channel: CHANNEL, topic: method }),
        error: `Unknown method "${method}" on channel "${CHANNEL}"`,
      };
    }
    if (r < 84) {
      return {
        cls: "register_taken",
        frame: JSON.stringify({ type: "register", channel: CHANNEL, data: {} }),
        error: `Channel "${CHANNEL}" is already registered`,
      };
    }
    if (r < 92) {
      const reqid = rng.chance(0.5) ? crypto.randomUUID() : rng.text(rng.range(1, 40));
      return {
        cls: "pie_resp_unknown",
        frame: JSON.stringify({ type: "pie-resp", reqid, data: 1 }),
        error: `Unknown request "${reqid}": it was answered, timed out, or was not sent to you`,
      };
    }
    const reqid = wrongValue(rng, ["string"]);
    return {
      cls: "pie_resp_no_reqid",
      frame: JSON.stringify(reqid === null ? { type: "pie-resp" } : { type: "pie-resp", reqid }),
      error: 'Missing "reqid"',
    };
  }

  async function socket(onMessage: (m: Message) => void): Promise<WebSocket> {
    const ws = new WebSocket(new URL("wubsub", context.server.wsUrl));
    ws.onerror = () => {};
    ws.onmessage = ({ data }) => onMessage(JSON.parse(data as string));
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      setTimeout(() => reject(new Error("wubsub: cannot connect")), 10_000);
    });
    ws.onclose = () => closed = true;
    return ws;
  }

  async function connect(): Promise<void> {
    closed = false;
    answers.length = received.length = 0;
    published = 0;
    const ready = Promise.withResolvers<void>();
    owner = await socket((m) => {
      if (m.type === "pie-req") {
        owner.send(JSON.stringify({ type: "pie-resp", reqid: m.reqid, data: m.data }));
      } else if (m.type === "error") ready.resolve();
    });
    owner.send(JSON.stringify({
      type: "register",
      channel: CHANNEL,
      data: { pubsub: { topics: ["t"] }, restpie: { methods: ["m"] } },
    }));
    owner.send(JSON.stringify({ type: "ready?" })); // answered once registered
    await ready.promise;
    const subscribed = Promise.withResolvers<void>();
    subscriber = await socket((m) => {
      if (m.type === "ps-recv") received.push(m.data);
      else subscribed.resolve();
    });
    subscriber.send(JSON.stringify({ type: "ps-sub", channel: CHANNEL, topic: "t" }));
    subscriber.send(JSON.stringify({ type: "ready?" }));
    await subscribed.promise;
    fuzz = await socket((m) => {
      if (m.type === "pie-ack") return;
      if (m.type === "pie-recv") return void pieAnswered++;
      answers.push(m);
    });
  }

  return {
    name,
    get controlBytes() {
      return verified;
    },
    open: connect,
    async batch(frames: number) {
      if (closed) {
        violation(frameNo, "connection", "", "the sockets stay open", "one closed");
        await connect();
      }
      const planned: { no: number; p: Planned }[] = [];
      for (let i = 0; i < frames; i++) {
        const p = plan();
        count(context, name, p.cls);
        planned.push({ no: frameNo++, p });
        fuzz.send(p.frame);
      }
      const mark = `barrier-${barrier++}`;
      const end = `Unknown message type "${mark}": ${TYPES}`;
      fuzz.send(JSON.stringify({ type: mark }));
      const done = await poll(
        () => answers.some((m) => m.data === end) || closed ? true : undefined,
        20_000,
      );
      if (!done || closed) {
        violation(frameNo, "barrier", mark, end, closed ? "a socket closed" : "no answer in 20 s");
        answers.length = 0;
        return;
      }
      const got = answers.splice(0).filter((m) => m.data !== end);
      for (let i = 0; i < Math.max(planned.length, got.length); i++) {
        const item = planned[i];
        const answer = got[i];
        if (!item || !answer || answer.type !== "error" || answer.data !== item.p.error) {
          violation(
            item?.no ?? frameNo,
            item?.p.cls ?? "extra answer",
            item ? describe(item.p.frame) : "",
            item ? JSON.stringify({ type: "error", data: item.p.error }) : "nothing",
            JSON.stringify(answer) ?? "no answer",
          );
          break;
        }
      }
    },
    async check() {
      const n = rng.range(1, 50);
      const first = published;
      for (let i = 0; i < n; i++) {
        owner.send(JSON.stringify({
          type: "ps-pub",
          channel: CHANNEL,
          topic: "t",
          data: { n: published++, text: rng.text(rng.range(0, 200)) },
        }));
      }
      const before = pieAnswered;
      fuzz.send(JSON.stringify({ type: "pie-do", channel: CHANNEL, topic: "m", data: first }));
      const done = await poll(
        () => (received.length >= published && pieAnswered > before) || closed ? true : undefined,
        10_000,
      );
      const inOrder = received.every((d, i) => (d as { n: number }).n === i);
      if (!done || received.length !== published || !inOrder) {
        violation(
          frameNo,
          "control",
          "ps-pub to a subscriber, pie-do to the owner",
          `${published} messages in order and an answer`,
          `${received.length} messages${inOrder ? "" : " out of order"}, ${
            pieAnswered - before
          } answers`,
        );
        received.length = published = 0;
        return;
      }
      verified += new TextEncoder().encode(JSON.stringify(received.slice(first))).byteLength;
    },
    async close() {
      for (const ws of [fuzz, subscriber, owner]) {
        if (ws?.readyState !== WebSocket.OPEN) continue;
        const gone = new Promise<void>((resolve) => ws.addEventListener("close", () => resolve()));
        ws.close();
        await gone;
      }
    },
  };
}
