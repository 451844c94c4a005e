/**
 * wubsub: JSON messages on `/wubsub`. wubsub starts no configured process: a client calls a
 * method another client provides (`pie-do {channel, topic}`), so of the conformance scenarios
 * only the refusal of an unknown one applies.
 *
 * @module
 */

import type { Driver } from "./driver.ts";
import { Signal } from "./driver.ts";

/** The wubsub driver: `name` is `<channel>/<method>`. */
export const wubsubDriver: Driver = {
  name: "wubsub",
  start() {
    return Promise.reject(new TypeError("wubsub starts no configured process"));
  },
  async startError(server, name) {
    const [channel, topic = "run"] = name.split("/");
    const ws = new WebSocket(new URL("wubsub", server.wsUrl));
    const signal = new Signal();
    const received: unknown[] = [];
    let closed = false;
    ws.onmessage = ({ data }) => {
      received.push(JSON.parse(data));
      signal.wake();
    };
    ws.onclose = () => {
      closed = true;
      signal.wake();
    };
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = () => reject(new Error("wubsub WebSocket failed to open"));
    });
    ws.send(JSON.stringify({ type: "pie-do", channel, topic }));
    const answer = await signal.until(() => received[0], () => "an answer");
    ws.close();
    await signal.until(() => closed || undefined, () => "the close");
    return answer;
  },
};
