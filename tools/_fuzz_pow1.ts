/**
 * The fuzzer's pow-1 WebSocket lane. A pow-1 connection carries one call, and most bad frames
 * end it, so each scenario opens its own connection (several run at once): bad call frames,
 * unknown processes, refused params, bad control frames while running, cancels, oversized
 * messages, and well-formed calls whose output is checked (a `cat` fed random text before and
 * after the call, `count`). A long-lived `cat` call on another connection is the control
 * session: its echoed text must be exactly what was sent.
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

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const MAX_MESSAGE = 65536;
const CONCURRENCY = 32;

/** What a scenario's connection must end with. */
interface Ending {
  /** The result frame (exact JSON text), or `undefined` for none. */
  result: string | undefined;
  /** The close code and reason. */
  code: number;
  reason: string;
  /** The exact output, when it is known. */
  output?: string;
}

/** A pow-1 connection that records everything. */
class Pow1Socket {
  readonly ws: WebSocket;
  output = "";
  results: string[] = [];
  close: CloseEvent | undefined;
  readonly closed: Promise<CloseEvent>;
  readonly opened: Promise<boolean>;

  constructor(url: URL) {
    const ws = this.ws = new WebSocket(url, ["pow-1"]);
    ws.binaryType = "arraybuffer";
    this.closed = new Promise((resolve) => {
      ws.onclose = (event) => {
        this.close = event;
        resolve(event);
      };
    });
    this.opened = new Promise((resolve) => {
      ws.onopen = () => resolve(true);
      this.closed.then(() => resolve(false));
    });
    ws.onerror = () => {};
    ws.onmessage = ({ data }) => {
      if (typeof data === "string") this.output += data;
      else this.results.push(decoder.decode(data as ArrayBuffer));
    };
  }

  send(data: string | Uint8Array<ArrayBuffer>): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(data);
  }
}

const json = (value: unknown) => encoder.encode(JSON.stringify(value));
/** What a string becomes on the wire (lone surrogates turn into U+FFFD). */
const wire = (text: string) => decoder.decode(encoder.encode(text));
const fulfilled = '{"status":"fulfilled","value":null}';
const rejected = (reason: string) => JSON.stringify({ status: "rejected", reason });

/**
 * Creates the pow-1 lane.
 *
 * @param context The run.
 * @param rng The lane's generator.
 * @returns The lane.
 */
export function pow1Lane(context: FuzzContext, rng: Rng): Lane {
  const name = "pow-1";
  let frameNo = 0;
  let control: Pow1Socket | undefined;
  let controlExpected = "";
  let verified = 0;
  const violation = violationRecorder(context, name);

  /** A scenario: its class, its frames (with a pause marker) and the ending it must get. */
  function plan(): {
    cls: string;
    frames: (string | Uint8Array<ArrayBuffer> | number)[];
    ending: Ending;
  } {
    const r = rng.int(100);
    if (r < 22) {
      const which = rng.int(6);
      const frame = which === 0
        ? encoder.encode(badJson(rng))
        : which === 1
        ? encoder.encode(nonObjectJson(rng).replace(/^null$/, "[]"))
        : which === 2
        ? json({ call: wrongValue(rng, ["string", "null"]), params: [] })
        : which === 3
        ? json({ call: "cat", params: wrongValue(rng, ["array", "null"]) })
        : which === 4
        ? json({ call: "cat", params: ["a", rng.pick([1, null, true, {}, []])] })
        : new Uint8Array([0xff, ...rng.bytes(rng.range(0, 40))]);
      return {
        cls: "bad_call",
        frames: [frame],
        ending: { result: rejected("protocol error occurred"), code: 1000, reason: "" },
      };
    }
    if (r < 32) {
      const call = rng.pick([
        json({ call: `nope-${rng.int(1e6)}` }),
        json({ call: rng.text(rng.range(1, 20), true) + "!" }),
        encoder.encode("null"),
        encoder.encode("{}"),
        json({ call: null, params: null }),
      ]);
      return {
        cls: "unknown_process",
        frames: [call],
        ending: {
          result: rejected("failed to get process: unknown process"),
          code: 1000,
          reason: "",
        },
      };
    }
    if (r < 40) {
      const params = rng.pick([[], ["x"], ["1", "2"], ["12345678"], [rng.text(5, true)]]);
      return {
        cls: "invalid_args",
        frames: [json({ call: "count", params })],
        ending: { result: rejected("failed to get process: invalid args"), code: 1000, reason: "" },
      };
    }
    if (r < 62) {
      // cat: text before and after the call, then close: the output is the input.
      const before = Array.from(
        { length: rng.range(0, 3) },
        () => rng.text(rng.range(0, 200), true),
      );
      const after = Array.from(
        { length: rng.range(0, 5) },
        () => rng.text(rng.range(1, 2000), true),
      );
      return {
        cls: "cat",
        frames: [
          ...before,
          json({ call: "cat", params: null, extra: rng.int(9) }),
          ...after,
          json({ signal: "close" }),
        ],
        ending: {
          result: fulfilled,
          code: 1000,
          reason: "",
          output: [...before, ...after].map(wire).join(""),
        },
      };
    }
    if (r < 68) {
      const n = rng.range(1, 3000);
      return {
        cls: "count",
        frames: [json({ call: "count", params: [String(n)] })],
        ending: {
          result: fulfilled,
          code: 1000,
          reason: "",
          output: Array.from({ length: n }, (_, k) => `${k + 1}\n`).join(""),
        },
      };
    }
    if (r < 82) {
      const bad = rng.pick([
        () => encoder.encode(badJson(rng)),
        () => json({ signal: rng.pick(["stop", "CLOSE", "", 1, null]) }),
        () => json({ call: "cat" }),
        () => encoder.encode(nonObjectJson(rng)),
        () => new Uint8Array([0xff, 0xfe, ...rng.bytes(rng.range(0, 10))]),
      ])();
      return {
        cls: "bad_signal",
        frames: [json({ call: "cat" }), rng.text(rng.range(0, 50)), bad],
        ending: {
          result: rejected("process returned error: protocol error occurred"),
          code: 1000,
          reason: "",
        },
      };
    }
    if (r < 90) {
      return {
        cls: "cancel",
        frames: [json({ call: "cat" }), rng.text(rng.range(0, 50)), 20, json({ signal: "cancel" })],
        ending: {
          result: rejected("process returned error: client requested cancellation"),
          code: 1000,
          reason: "",
        },
      };
    }
    if (r < 99) {
      const size = MAX_MESSAGE + rng.range(1, 30_000);
      const text = rng.chance(0.5);
      const big = text ? "é".repeat(Math.ceil(size / 2)) : new Uint8Array(size);
      const bytes = text ? encoder.encode(big as string).byteLength : size;
      const frames = rng.chance(0.5) ? [json({ call: "cat" }), big] : [big];
      return {
        cls: "oversized",
        frames,
        ending: {
          result: undefined,
          code: 1009,
          reason: `message too big: ${bytes} bytes, the limit is ${MAX_MESSAGE}`,
        },
      };
    }
    return {
      cls: "no_call",
      frames: [],
      ending: { result: rejected("timeout expired"), code: 1000, reason: "" },
    };
  }

  async function run(no: number, scenario: ReturnType<typeof plan>): Promise<void> {
    const socket = new Pow1Socket(context.server.wsUrl);
    if (!(await socket.opened)) {
      return violation(
        no,
        scenario.cls,
        "(connect)",
        "101",
        `connection failed: ${socket.close?.code}`,
      );
    }
    for (const frame of scenario.frames) {
      if (typeof frame === "number") await new Promise((r) => setTimeout(r, frame));
      else socket.send(frame);
    }
    const event = await Promise.race([
      socket.closed,
      new Promise<undefined>((r) => setTimeout(() => r(undefined), 20_000)),
    ]);
    const { ending } = scenario;
    const sent = scenario.frames.filter((f) => typeof f !== "number").map((f) =>
      describe(f as string)
    ).join(" ");
    const problems: string[] = [];
    if (!event) problems.push("still open after 20 s");
    else if (event.code !== ending.code || event.reason !== ending.reason) {
      problems.push(`close ${event.code} "${event.reason}"`);
    }
    const wantResults = ending.result === undefined ? [] : [ending.result];
    if (JSON.stringify(socket.results) !== JSON.stringify(wantResults)) {
      problems.push(`results ${JSON.stringify(socket.results)}`);
    }
    if (ending.output !== undefined && socket.output !== ending.output) {
      problems.push(
        `output of ${socket.output.length} characters differs from the ${ending.output.length} expected`,
      );
    }
    if (problems.length > 0) {
      violation(
        no,
        scenario.cls,
        sent,
        `${ending.result ?? "no result"}, close ${ending.code} "${ending.reason}"`,
        problems.join("; "),
      );
    }
    if (socket.ws.readyState !== WebSocket.CLOSED) {
      socket.ws.close();
      await socket.closed;
    }
  }

  async function openControl(): Promise<void> {
    control = new Pow1Socket(context.server.wsUrl);
    await control.opened;
    control.send(json({ call: "cat" }));
    controlExpected = "";
  }

  return {
    name,
    get controlBytes() {
      return verified;
    },
    async open() {
      await openControl();
    },
    async batch(frames: number) {
      let left = frames;
      const running = new Set<Promise<void>>();
      while (left > 0) {
        const scenario = plan();
        const n = Math.max(1, scenario.frames.filter((f) => typeof f !== "number").length);
        const no = frameNo;
        frameNo += n;
        left -= n;
        count(context, name, scenario.cls);
        const task = run(no, scenario).finally(() => running.delete(task));
        running.add(task);
        if (running.size >= CONCURRENCY) await Promise.race(running);
      }
      await Promise.all(running);
    },
    async check() {
      if (!control || control.close) {
        violation(
          frameNo,
          "control",
          "",
          "the control call still running",
          `closed: ${control?.close?.code}`,
        );
        await openControl();
      }
      const text = rng.text(rng.range(1, 4000), true);
      controlExpected += wire(text);
      control!.send(text);
      const done = await poll(
        () => control!.output.length >= controlExpected.length || control!.close ? true : undefined,
        10_000,
      );
      if (!done || control!.output !== controlExpected) {
        violation(
          frameNo,
          "control",
          "text to a pow-1 cat",
          `${controlExpected.length} characters echoed`,
          `${control!.output.length} characters, ${
            control!.output === controlExpected.slice(0, control!.output.length)
              ? "a prefix"
              : "different"
          }`,
        );
        control!.output = controlExpected = "";
      } else {
        verified += encoder.encode(text).byteLength;
      }
    },
    async close() {
      if (control && !control.close) {
        control.send(json({ signal: "close" }));
        await Promise.race([control.closed, new Promise((r) => setTimeout(r, 5000))]);
        if (!control.close) control.ws.close();
        await control.closed;
      }
    },
  };
}
