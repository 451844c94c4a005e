/**
 * The fuzzer's further-link lane: one `/run` socket carries a control process (`cat`, started
 * with the `shell` runner) beside the fuzz messages. Every fuzz message has one defined,
 * synchronous `error` (or `pong`) answer; a `ping` barrier ends each batch and the answers
 * before its `pong` must match one for one. The control process must echo its input exactly.
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
  process?: string | number;
  data?: { message?: string; output?: string; exitCode?: number };
}

interface Planned {
  cls: string;
  frame: string | Uint8Array<ArrayBuffer>;
  /** The expected answer: `error` with this exact message (and `process`), or `pong`. */
  type: "error" | "pong";
  message?: string;
  process?: string | number;
}

const CONTROL = "ctl";

/**
 * Creates the further-link lane.
 *
 * @param context The run.
 * @param rng The lane's generator.
 * @returns The lane.
 */
export function furtherLinkLane(context: FuzzContext, rng: Rng): Lane {
  const name = "further-link";
  let ws: WebSocket;
  let closed = true;
  const answers: Message[] = [];
  let output = "";
  let expected = "";
  let verified = 0;
  let frameNo = 0;
  let barrier = 0;
  const violation = violationRecorder(context, name);

  const unknownId = (): string | number =>
    rng.pick<string | number>([rng.int(1e6), `p${rng.int(1e6)}`, rng.text(rng.range(1, 12)), ""]);

  function plan(): Planned {
    const r = rng.int(100);
    if (r < 12) {
      return {
        cls: "not_json",
        frame: badJson(rng),
        type: "error",
        message: "Cannot parse message: not JSON",
      };
    }
    if (r < 18) {
      return {
        cls: "binary",
        frame: rng.bytes(rng.range(0, 200)),
        type: "error",
        message: "Cannot parse message: expected JSON text, got binary",
      };
    }
    if (r < 24) {
      return {
        cls: "not_object",
        frame: nonObjectJson(rng),
        type: "error",
        message: "Cannot parse message: not a JSON object",
      };
    }
    if (r < 30) {
      const frame = JSON.stringify(
        rng.chance(0.5) ? { process: 1 } : { type: wrongValue(rng, ["string"]), process: 1 },
      );
      return {
        cls: "no_type",
        frame,
        type: "error",
        message: 'Cannot parse message: "type" is missing',
      };
    }
    if (r < 36) {
      const frame = JSON.stringify({
        type: "ping",
        process: rng.pick([true, 1.5, {}, [], 2 ** 60]),
      });
      return {
        cls: "bad_process",
        frame,
        type: "error",
        message: 'Cannot parse message: "process" is not a string',
      };
    }
    if (r < 42) {
      const frame = JSON.stringify({
        type: "stdin",
        process: CONTROL,
        data: rng.pick([1, "x", [], true]),
      });
      return {
        cls: "bad_data",
        frame,
        type: "error",
        message: 'Cannot parse message: "data" is not an object',
      };
    }
    if (r < 52) {
      let type = rng.pick(["keyevent", "upload", "video", "keylisten", rng.text(rng.range(0, 10))]);
      if (["ping", "start", "stdin", "stop", "resize"].includes(type)) type = `x${type}`;
      const id = unknownId();
      return {
        cls: "unknown_type",
        frame: JSON.stringify({ type, process: id }),
        type: "error",
        message: `Unsupported message type "${type}"`,
        process: id,
      };
    }
    if (r < 68) {
      const type = rng.pick(["stdin", "stop", "resize"]);
      const id = unknownId();
      return {
        cls: `${type}_unknown`,
        frame: JSON.stringify({ type, process: id, data: { input: "x", rows: 1, cols: 1 } }),
        type: "error",
        message: `Cannot ${type} process "${id}": no such process`,
        process: id,
      };
    }
    if (r < 72) {
      return {
        cls: "start_in_use",
        frame: JSON.stringify({ type: "start", process: CONTROL, data: { runner: "shell" } }),
        type: "error",
        message: `Cannot start process "${CONTROL}": the id is already in use`,
        process: CONTROL,
      };
    }
    if (r < 80) {
      const id = `s${rng.int(1e6)}`;
      const runner = wrongValue(rng, []);
      if (typeof runner === "string") {
        const known = runner === "shell" || runner === "python3";
        return {
          cls: "start_unknown_runner",
          frame: JSON.stringify({
            type: "start",
            process: id,
            data: { runner: known ? `${runner}x` : runner },
          }),
          type: "error",
          message: `Cannot start process "${id}": unknown runner "${
            known ? `${runner}x` : runner
          }"; this server has "shell", "python3"`,
          process: id,
        };
      }
      return {
        cls: "start_no_runner",
        frame: JSON.stringify({
          type: "start",
          process: id,
          data: runner === null ? {} : { runner },
        }),
        type: "error",
        message: `Cannot start process "${id}": "runner" is missing`,
        process: id,
      };
    }
    if (r < 84) {
      return {
        cls: "stdin_not_string",
        frame: JSON.stringify({
          type: "stdin",
          process: CONTROL,
          data: { input: wrongValue(rng, ["string"]) },
        }),
        type: "error",
        message: `Cannot stdin process "${CONTROL}": "input" is not a string`,
        process: CONTROL,
      };
    }
    if (r < 90) {
      return {
        cls: "resize_bad",
        frame: JSON.stringify({
          type: "resize",
          process: CONTROL,
          data: { rows: rng.pick([0, 65536, 1.5, "24", null]), cols: 80 },
        }),
        type: "error",
        message:
          `Cannot resize process "${CONTROL}": "rows" and "cols" must be whole numbers from 1 to 65535`,
        process: CONTROL,
      };
    }
    const id = rng.chance(0.5) ? rng.int(1e9) : rng.text(rng.range(1, 20), true);
    return {
      cls: "ping",
      frame: JSON.stringify({ type: "ping", process: id }),
      type: "pong",
      process: id,
    };
  }

  async function connect(): Promise<void> {
    ws = new WebSocket(new URL("run", context.server.wsUrl));
    closed = false;
    ws.onclose = () => closed = true;
    ws.onerror = () => {};
    ws.onmessage = ({ data }) => {
      const message = JSON.parse(data as string) as Message;
      if (
        message.process === CONTROL && (message.type === "stdout" || message.type === "started")
      ) {
        output += message.data?.output ?? "";
        return;
      }
      answers.push(message);
    };
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      setTimeout(() => reject(new Error("further-link: cannot connect")), 10_000);
    });
    ws.send(JSON.stringify({ type: "start", process: CONTROL, data: { runner: "shell" } }));
    output = expected = "";
  }

  return {
    name,
    get controlBytes() {
      return verified;
    },
    open: connect,
    async batch(frames: number) {
      if (closed) {
        violation(frameNo, "connection", "", "the socket stays open", "it closed");
        await connect();
      }
      const planned: { no: number; p: Planned }[] = [];
      for (let i = 0; i < frames; i++) {
        const p = plan();
        count(context, name, p.cls);
        planned.push({ no: frameNo++, p });
        ws.send(p.frame);
      }
      const ref = `barrier-${barrier++}`;
      ws.send(JSON.stringify({ type: "ping", process: ref }));
      const done = await poll(
        () =>
          answers.some((m) => m.type === "pong" && m.process === ref) || closed ? true : undefined,
        20_000,
      );
      if (!done || closed) {
        violation(
          frameNo,
          "barrier",
          ref,
          "pong",
          closed ? "the socket closed" : "no pong in 20 s",
        );
        answers.length = 0;
        return;
      }
      const got = answers.splice(0).filter((m) => !(m.type === "pong" && m.process === ref));
      for (let i = 0; i < Math.max(planned.length, got.length); i++) {
        const item = planned[i];
        const answer = got[i];
        const ok = item && answer && answer.type === item.p.type &&
          (item.p.message === undefined || answer.data?.message === item.p.message) &&
          answer.process === item.p.process;
        if (!ok) {
          violation(
            item?.no ?? frameNo,
            item?.p.cls ?? "extra answer",
            item ? describe(item.p.frame) : "",
            item
              ? JSON.stringify({
                type: item.p.type,
                message: item.p.message,
                process: item.p.process,
              })
              : "nothing",
            JSON.stringify(answer) ?? "no answer",
          );
          break;
        }
      }
    },
    async check() {
      const text = rng.text(rng.range(1, 3000), true);
      expected += wire(text);
      ws.send(JSON.stringify({ type: "stdin", process: CONTROL, data: { input: text } }));
      const done = await poll(
        () => output.length >= expected.length || closed ? true : undefined,
        10_000,
      );
      if (!done || output !== expected) {
        violation(
          frameNo,
          "control",
          "stdin to a further-link cat",
          `${expected.length} characters echoed`,
          `${output.length} characters`,
        );
        output = expected = "";
      } else {
        verified += new TextEncoder().encode(wire(text)).byteLength;
      }
    },
    async close() {
      if (!closed) {
        ws.send(JSON.stringify({ type: "stop", process: CONTROL }));
        await poll(
          () => answers.some((m) => m.type === "stopped") || closed ? true : undefined,
          5000,
        );
        ws.close();
        await poll(() => closed ? true : undefined, 5000);
      }
    },
  };
}

/** What a string becomes after a round trip through UTF-8 (lone surrogates turn into U+FFFD). */
function wire<T>(value: T): T {
  if (typeof value !== "string") return value;
  return new TextDecoder().decode(new TextEncoder().encode(value)) as T;
}
