/**
 * The fuzzer's `pow.v2` WebSocket lane. One fuzz connection carries a control channel (a `cat`
 * session fed with seeded bytes) beside the fuzz frames; a second connection carries another
 * control channel. Fuzz frames are sent in batches followed by a `ping` barrier: every frame
 * has exactly one defined, synchronous answer, so the answers before the barrier's `pong` must
 * match the expected ones one for one (code, `id`, `ref`). A few frames start real `count`
 * sessions on fresh channels, whose output is checked byte for byte. An oversized message ends
 * a batch: the answer is close 1009 `message too big`, after which the lane reconnects and
 * reattaches its control channel from the last offset it received.
 *
 * @module
 */

import {
  decodeDataFrame,
  encodeDataFrame,
  parseServerMessage,
  type ServerMessage,
  SIGNAL_NAMES,
} from "@pow/protocol";
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

/** What a fuzz frame must be answered with. */
type Expect =
  | { kind: "error"; code: string; id?: number; ref?: string | number }
  | { kind: "reply"; type: string; ref: string | number }
  | { kind: "close"; code: number; reason: string };

interface Planned {
  cls: string;
  frame: string | Uint8Array<ArrayBuffer>;
  expect: Expect;
  /** A `count` start on a fresh channel: the expected output. */
  count?: { id: number; n: number };
}

const KNOWN_TYPES = [
  "start",
  "attach",
  "detach",
  "eof",
  "signal",
  "resize",
  "credit",
  "list",
  "processes",
  "ping",
];
/** The control channel's id on the fuzz connection; fuzz frames never touch it destructively. */
const CONTROL_ID = 1;
/** Fresh channels for real `count` sessions are taken from here up. */
const COUNT_IDS = 1_000_000;
const TWO_32 = 2 ** 32;

/** One connection with a control channel: a `cat` session that echoes seeded bytes. */
class V2Socket {
  ws!: WebSocket;
  readonly answers: ServerMessage[] = [];
  readonly serverErrors: string[] = [];
  /** Messages for `count` channels, by id. */
  readonly counts = new Map<
    number,
    { out: string; next: number; started: boolean; exit?: ServerMessage }
  >();
  closed: Promise<CloseEvent> = Promise.resolve(new CloseEvent("close"));
  isClosed = true;
  session = "";
  /** Control output received (the next expected offset). */
  next = 0;
  /** Control bytes written; `expected` holds those not yet echoed. */
  written = 0;
  expected: Uint8Array[] = [];
  verified = 0;
  mismatch: string | undefined;
  stdinCredit = 0;

  constructor(readonly url: URL, readonly controlId: number) {}

  async connect(): Promise<void> {
    const ws = this.ws = new WebSocket(this.url, ["pow.v2"]);
    ws.binaryType = "arraybuffer";
    this.isClosed = false;
    this.closed = new Promise((resolve) => {
      ws.onclose = (event) => {
        this.isClosed = true;
        resolve(event);
      };
    });
    ws.onerror = () => {};
    ws.onmessage = ({ data }) => this.#message(data);
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      this.closed.then(() => reject(new Error("pow.v2 connection failed")));
    });
    const hello = await poll(() => this.answers.find((m) => m.type === "hello"), 5000);
    if (!hello) throw new Error("pow.v2: no hello");
    this.stdinCredit = hello.type === "hello" ? hello.stdinCredit : 0;
    this.answers.length = 0;
  }

  /** Starts or reattaches the control channel. */
  async bindControl(): Promise<void> {
    const message = this.session
      ? { type: "attach", id: this.controlId, ref: "ctl", session: this.session, offset: this.next }
      : { type: "start", id: this.controlId, ref: "ctl", name: "cat", credit: 1 << 30 };
    this.ws.send(JSON.stringify(message));
    const answer = await poll(
      () => this.answers.find((m) => "ref" in m && m.ref === "ctl"),
      10_000,
    );
    this.answers.length = 0;
    if (answer?.type === "started") this.session = answer.session;
    else if (answer?.type === "attached") {
      if (answer.offset !== this.next || answer.skipped !== 0) {
        this.mismatch =
          `reattached at ${answer.offset} (skipped ${answer.skipped}), wanted ${this.next}`;
      }
    } else {
      // Reported as a broken control session; a fresh one takes over.
      this.mismatch = `cannot bind the control channel: ${JSON.stringify(answer) ?? "no answer"}`;
      if (this.session) {
        this.session = "";
        this.next = this.written = 0;
        this.expected = [];
        await this.bindControl();
      }
    }
  }

  /** Writes seeded bytes to the control session and waits until they come back. */
  async roundTrip(bytes: Uint8Array<ArrayBuffer>): Promise<string | undefined> {
    if (bytes.byteLength > this.stdinCredit) bytes = bytes.subarray(0, this.stdinCredit);
    this.stdinCredit -= bytes.byteLength;
    this.expected.push(bytes.slice());
    const target = this.written + bytes.byteLength;
    this.ws.send(
      encodeDataFrame({ kind: "stdin", id: this.controlId, offset: this.written, data: bytes }),
    );
    this.written = target;
    const done = await poll(
      () => this.next >= target || this.mismatch || this.isClosed ? true : undefined,
      10_000,
    );
    if (this.mismatch) return this.mismatch;
    if (!done) return `control output stuck at ${this.next} of ${target} bytes`;
    if (this.isClosed && this.next < target) return "the control connection closed";
    return undefined;
  }

  #message(data: unknown): void {
    if (typeof data !== "string") {
      const frame = decodeDataFrame(data as ArrayBuffer, { from: "server" });
      if (!frame.ok) return void this.serverErrors.push(`bad data frame: ${frame.error.message}`);
      const { id, offset, data: bytes } = frame.value;
      if (id === this.controlId) return this.#control(offset, bytes);
      const counted = this.counts.get(id);
      if (!counted) return void this.serverErrors.push(`data frame for channel ${id}`);
      if (offset !== counted.next) {
        this.serverErrors.push(`count channel ${id}: frame at ${offset}, expected ${counted.next}`);
      }
      counted.next = offset + bytes.byteLength;
      counted.out += new TextDecoder().decode(bytes);
      return;
    }
    const parsed = parseServerMessage(data);
    if (!parsed.ok) {
      return void this.serverErrors.push(`bad server message ${data}: ${parsed.error.message}`);
    }
    const message = parsed.value;
    const id = "id" in message ? message.id : undefined;
    const counted = id === undefined ? undefined : this.counts.get(id);
    if (counted && (message.type === "started" || message.type === "exit")) {
      if (message.type === "exit") counted.exit = message;
      else counted.started = true;
      return;
    }
    if (id === this.controlId && (message.type === "credit" || message.type === "ok")) {
      if (message.type === "credit") this.stdinCredit += message.bytes;
      return;
    }
    if (id === this.controlId && message.type === "exit") {
      this.mismatch = `the control session ended: ${data}`;
      return;
    }
    this.answers.push(message);
  }

  #control(offset: number, bytes: Uint8Array): void {
    if (offset !== this.next) {
      this.mismatch ??= `control frame at ${offset}, expected ${this.next}`;
      return;
    }
    this.next += bytes.byteLength;
    let at = 0;
    while (at < bytes.byteLength && !this.mismatch) {
      const head = this.expected[0];
      if (!head) {
        this.mismatch = `control output beyond its input at ${offset + at}`;
        return;
      }
      const n = Math.min(head.byteLength, bytes.byteLength - at);
      for (let i = 0; i < n; i++) {
        if (head[i] !== bytes[at + i]) {
          this.mismatch = `control output differs at offset ${offset + at + i}`;
          return;
        }
      }
      at += n;
      this.verified += n;
      if (n === head.byteLength) this.expected.shift();
      else this.expected[0] = head.subarray(n);
    }
  }

  async close(): Promise<void> {
    if (!this.isClosed) {
      this.ws.send(JSON.stringify({ type: "signal", id: this.controlId, signal: "kill" }));
      this.ws.close(1000);
    }
    await this.closed;
  }
}

/**
 * Creates the `pow.v2` lane.
 *
 * @param context The run.
 * @param rng The lane's generator.
 * @returns The lane.
 */
export function v2Lane(context: FuzzContext, rng: Rng): Lane {
  const name = "pow.v2";
  const fuzz = new V2Socket(context.server.wsUrl, CONTROL_ID);
  const other = new V2Socket(context.server.wsUrl, 7);
  let frameNo = 0;
  let barrier = 0;
  let nextCountId = COUNT_IDS;
  const maxMessage = 65536;

  const violation = violationRecorder(context, name);

  /** A channel id that is never bound on the fuzz connection. */
  const unboundId = () =>
    rng.pick([2, 3, 42, 999_999, 2 ** 31, 4_294_967_295, rng.range(2, COUNT_IDS - 1)]);
  const ref = () => rng.chance(0.3) ? rng.int(1e9) : `r${rng.int(1e6)}`;

  function plan(): Planned {
    const r = rng.int(100);
    const id = unboundId();
    const rf = ref();
    if (r < 8) {
      return { cls: "bad_json", frame: badJson(rng), expect: { kind: "error", code: "bad_json" } };
    }
    if (r < 13) {
      return {
        cls: "not_object",
        frame: nonObjectJson(rng),
        expect: { kind: "error", code: "bad_message" },
      };
    }
    if (r < 18) {
      const type = wrongValue(rng, ["string"]);
      const message = { type, id, ref: rf };
      return {
        cls: "type_not_string",
        frame: JSON.stringify(rng.chance(0.3) ? { id, ref: rf } : message),
        expect: { kind: "error", code: "bad_message", ref: rf },
      };
    }
    if (r < 24) {
      let type = rng.chance(0.5) ? rng.text(rng.range(1, 20), true) : rng.pick([
        "Start",
        "stdin",
        "launch",
        "",
        "__proto__",
        "constructor",
        "hasOwnProperty",
        "toString",
      ]);
      if (KNOWN_TYPES.includes(type)) type += "x";
      return {
        cls: "unknown_type",
        frame: JSON.stringify({ type, id, ref: rf }),
        expect: { kind: "error", code: "unknown_type", ref: rf },
      };
    }
    if (r < 50) return badField(id, rf);
    if (r < 60) {
      const type = rng.pick(["detach", "eof", "signal", "resize", "credit"]);
      const message: Record<string, unknown> = { type, id, ref: rf };
      if (type === "signal") message.signal = rng.pick(SIGNAL_NAMES);
      if (type === "resize") {
        Object.assign(message, { cols: rng.range(1, 65535), rows: rng.range(1, 65535) });
      }
      if (type === "credit") message.bytes = rng.pick([1, 65536, 2 ** 53 - 1]);
      return {
        cls: "unknown_id",
        frame: JSON.stringify(message),
        expect: { kind: "error", code: "unknown_id", id, ref: rf },
      };
    }
    if (r < 63) {
      const session = Array.from(
        { length: 22 },
        () => rng.pick([..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"]),
      ).join("");
      return {
        cls: "unknown_session",
        frame: JSON.stringify({
          type: "attach",
          id,
          ref: rf,
          session,
          offset: rng.pick([0, 2 ** 53 - 1]),
        }),
        expect: { kind: "error", code: "unknown_session", id, ref: rf },
      };
    }
    if (r < 66) {
      let name = rng.chance(0.5) ? `nope-${rng.int(1e6)}` : rng.text(rng.range(1, 30));
      if (["count", "cat", "sleep"].includes(name)) name = `nope-${name}`;
      return {
        cls: "unknown_process",
        frame: JSON.stringify({ type: "start", id, ref: rf, name }),
        expect: { kind: "error", code: "unknown_process", id, ref: rf },
      };
    }
    if (r < 69) {
      const params = rng.pick([
        [],
        ["x"],
        ["-1"],
        ["12345678"],
        ["1", "2"],
        [rng.text(10)],
        Array(65).fill("1"),
      ]);
      return {
        cls: "bad_params",
        frame: JSON.stringify({ type: "start", id, ref: rf, name: "count", params }),
        expect: { kind: "error", code: "bad_params", id, ref: rf },
      };
    }
    if (r < 72) {
      // Non-destructive errors on the bound control channel.
      const which = rng.int(3);
      const frame = which === 0
        ? JSON.stringify({
          type: rng.pick(["start", "attach"]),
          id: CONTROL_ID,
          ref: rf,
          name: "cat",
          session: "AAAA",
        })
        : which === 1
        ? JSON.stringify({ type: "resize", id: CONTROL_ID, ref: rf, cols: 80, rows: 24 })
        : encodeDataFrame({
          kind: "stdin",
          id: CONTROL_ID,
          offset: 2 ** 52 + rng.int(1e6),
          data: rng.bytes(rng.range(0, 64)),
        });
      // The server takes the payload from the channel's stdin credit and grants it back.
      if (which === 2) fuzz.stdinCredit -= (frame as Uint8Array).byteLength - 13;
      const code = which === 0 ? "duplicate_id" : which === 1 ? "not_pty" : "bad_offset";
      return {
        cls: `control_${code}`,
        frame,
        expect: { kind: "error", code, id: CONTROL_ID, ...(which === 2 ? {} : { ref: rf }) },
      };
    }
    if (r < 88) return badBinary(id);
    if (r < 94) {
      const type = rng.pick(["ping", "list", "processes"]);
      const reply = type === "ping" ? "pong" : type === "list" ? "sessions" : "processes";
      return {
        cls: type,
        frame: JSON.stringify({ type, ref: rf, extra: rng.text(8), id: rng.chance(0.5) ? 0 : "x" }),
        expect: { kind: "reply", type: reply, ref: rf },
      };
    }
    if (r < 97) {
      // A real process on a fresh channel: started, "1\n..n\n", exit.
      const n = rng.range(1, 2000);
      const cid = nextCountId++;
      return {
        cls: "count",
        frame: JSON.stringify({
          type: "start",
          id: cid,
          ref: `s${cid}`,
          name: "count",
          params: [String(n)],
        }),
        expect: { kind: "reply", type: "started", ref: `s${cid}` },
        count: { id: cid, n },
      };
    }
    // Oversized, text or binary: close 1009.
    const size = maxMessage + rng.range(1, 70_000);
    const frame = rng.chance(0.5)
      ? JSON.stringify({ type: "ping", pad: "x".repeat(size) })
      : encodeDataFrame({ kind: "stdin", id, offset: 0, data: new Uint8Array(size) });
    return {
      cls: "oversized",
      frame,
      expect: { kind: "close", code: 1009, reason: "message too big" },
    };
  }

  /** A known message type with one field of the wrong type or out of range. */
  function badField(id: number, rf: string | number): Planned {
    const type = rng.pick([
      "start",
      "attach",
      "detach",
      "eof",
      "signal",
      "resize",
      "credit",
      "ping",
      "list",
    ]);
    const base: Record<string, unknown> = { type, id, ref: rf };
    if (type === "start") Object.assign(base, { name: "count", params: ["1"] });
    if (type === "attach") base.session = "AAAAAAAAAAAAAAAAAAAAAA";
    if (type === "signal") base.signal = "interrupt";
    if (type === "resize") Object.assign(base, { cols: 80, rows: 24 });
    if (type === "credit") base.bytes = 1;
    const fields: [string, () => unknown][] = [
      ["ref", () => rng.pick([-1, 1.5, 2 ** 53, "x".repeat(129), null, true, [], {}])],
    ];
    if (type !== "ping" && type !== "list") {
      fields.push([
        "id",
        () => rng.pick([0, -1, 1.5, TWO_32, 1e300, "2", null, [], {}, true, undefined]),
      ]);
    }
    if (type === "start") {
      fields.push(
        ["name", () => rng.pick([undefined, "", "x".repeat(257), 5, null, [], {}])],
        ["params", () => rng.pick([null, "1", 1, {}, [1], ["1", null], [[]], [{}]])],
        ["pty", () => wrongValue(rng, ["boolean"])],
        ["cols", () => rng.pick([0, 65536, 1.5, "80", 80])],
        ["credit", () => rng.pick([-1, 1.5, 2 ** 53, "1", null])],
        [
          "traceparent",
          () =>
            rng.pick([
              "",
              "00-0-0-01",
              "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
              "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
              5,
            ]),
        ],
        ["tracestate", () => "a=b"],
      );
    }
    if (type === "attach") {
      fields.push(
        ["session", () => rng.pick([undefined, "", "a b", "x".repeat(129), "é", "a/b", 1, null])],
        ["offset", () => rng.pick([-1, 1.5, 2 ** 53, "0", null])],
        ["credit", () => rng.pick([-1, 0.5, 2 ** 60, "x"])],
      );
    }
    if (type === "signal") {
      fields.push(["signal", () => rng.pick([undefined, "", "SIGKILL", "Kill", "stop", 9, null])]);
    }
    if (type === "resize") {
      fields.push(
        [rng.pick(["cols", "rows"]), () => rng.pick([undefined, 0, -1, 65536, 1.5, "80", null])],
      );
    }
    if (type === "credit") {
      fields.push(["bytes", () => rng.pick([undefined, 0, -1, 1.5, 2 ** 53, "1", null])]);
    }
    const [field, value] = rng.pick(fields);
    const v = value();
    if (v === undefined) delete base[field];
    else base[field] = v;
    // `tracestate` without `traceparent` is the error there.
    const echoRef = field === "ref" ? undefined : rf;
    return {
      cls: `bad_${type}_${field}`,
      frame: JSON.stringify(base),
      expect: { kind: "error", code: "bad_message", ref: echoRef },
    };
  }

  /** A binary frame that is not a valid stdin frame, or a valid one for an unbound id. */
  function badBinary(id: number): Planned {
    const r = rng.int(7);
    const payload = rng.bytes(rng.range(0, 200));
    const frame = encodeDataFrame({
      kind: "stdin",
      id,
      offset: rng.pick([0, 5, 2 ** 53 - 1]),
      data: payload,
    });
    if (r === 0) {
      const cut = frame.slice(0, rng.range(0, 12));
      const cutId = cut.byteLength >= 5
        ? new DataView(cut.buffer).getUint32(1) || undefined
        : undefined;
      return {
        cls: "short_header",
        frame: cut,
        expect: { kind: "error", code: "bad_frame", id: cutId },
      };
    }
    if (r === 1) {
      frame[0] = rng.pick([1, 2, 3, 4, 127, 255]);
      return { cls: "bad_kind", frame, expect: { kind: "error", code: "bad_frame", id } };
    }
    if (r === 2) {
      new DataView(frame.buffer).setUint32(1, 0);
      return { cls: "channel_0", frame, expect: { kind: "error", code: "bad_frame" } };
    }
    if (r === 3) {
      const view = new DataView(frame.buffer);
      view.setUint32(5, rng.range(0x200000, 0xfffffffe));
      view.setUint32(9, rng.u32());
      return { cls: "offset_2^53", frame, expect: { kind: "error", code: "bad_frame", id } };
    }
    if (r === 4) {
      // Text where binary is expected: a data frame sent as a text frame is not JSON.
      const text = new TextDecoder().decode(frame);
      let code = "bad_json";
      try {
        JSON.parse(text);
        code = "bad_message";
      } catch { /* not JSON */ }
      return { cls: "frame_as_text", frame: text, expect: { kind: "error", code } };
    }
    if (r === 5) {
      // Binary where text is expected: a control message sent as a binary frame.
      const bytes = new TextEncoder().encode(JSON.stringify({ type: "ping", ref: 1 }));
      const decoded = decodeDataFrame(bytes, { from: "client" });
      return {
        cls: "json_as_binary",
        frame: bytes,
        expect: decoded.ok
          ? { kind: "error", code: "unknown_id", id: decoded.value.id }
          : { kind: "error", code: "bad_frame", id: decoded.error.id },
      };
    }
    return { cls: "stdin_unknown_id", frame, expect: { kind: "error", code: "unknown_id", id } };
  }

  function matches(expect: Expect, got: ServerMessage | undefined): boolean {
    if (!got) return false;
    if (expect.kind === "reply") {
      return got.type === expect.type && "ref" in got && got.ref === expect.ref;
    }
    if (expect.kind !== "error" || got.type !== "error" || got.code !== expect.code) return false;
    if (expect.ref !== undefined && got.ref !== expect.ref) return false;
    if (expect.ref === undefined && got.ref !== undefined) return false;
    if (expect.id !== undefined && got.id !== expect.id) return false;
    return true;
  }

  async function reconnect(): Promise<void> {
    await fuzz.connect();
    await fuzz.bindControl();
  }

  return {
    name,
    get controlBytes() {
      return fuzz.verified + other.verified;
    },
    async open() {
      await fuzz.connect();
      await fuzz.bindControl();
      await other.connect();
      await other.bindControl();
    },
    async batch(frames: number) {
      if (fuzz.isClosed) await reconnect();
      const planned: { no: number; p: Planned }[] = [];
      let closing: { no: number; p: Planned } | undefined;
      for (let i = 0; i < frames; i++) {
        const p = plan();
        const no = frameNo++;
        count(context, name, p.cls);
        if (p.expect.kind === "close") {
          closing = { no, p };
          break;
        }
        planned.push({ no, p });
      }
      const counts: { no: number; p: Planned }[] = [];
      for (const item of planned) {
        if (item.p.count) {
          fuzz.counts.set(item.p.count.id, { out: "", next: 0, started: false });
          counts.push(item);
        }
        fuzz.ws.send(item.p.frame);
      }
      const ref = `barrier-${barrier++}`;
      fuzz.ws.send(JSON.stringify({ type: "ping", ref }));
      const pong = await poll(
        () =>
          fuzz.answers.find((m) => m.type === "pong" && m.ref === ref) ??
            (fuzz.isClosed ? null : undefined),
        20_000,
      );
      if (!pong) {
        violation(
          frameNo,
          "barrier",
          ref,
          "pong",
          fuzz.isClosed ? "connection closed" : "no answer in 20 s",
        );
        fuzz.answers.length = 0;
        return;
      }
      const rest = fuzz.answers.splice(0).filter((m) => !(m.type === "pong" && m.ref === ref));
      const expected = planned.filter((item) => !item.p.count);
      for (let i = 0; i < Math.max(expected.length, rest.length); i++) {
        const item = expected[i];
        const got = rest[i];
        if (!item) {
          violation(frameNo, "extra answer", "", "nothing", JSON.stringify(got));
          continue;
        }
        if (!matches(item.p.expect, got)) {
          violation(
            item.no,
            item.p.cls,
            describe(item.p.frame),
            JSON.stringify(item.p.expect),
            JSON.stringify(got) ?? "no answer",
          );
          break; // the rest would be shifted
        }
      }
      for (const item of counts) {
        const { id, n } = item.p.count!;
        const ok = await poll(
          () => fuzz.counts.get(id)!.exit ?? (fuzz.isClosed ? null : undefined),
          20_000,
        );
        const record = fuzz.counts.get(id)!;
        fuzz.counts.delete(id);
        const want = Array.from({ length: n }, (_, k) => `${k + 1}\n`).join("");
        const gotStarted = record.started;
        const exit = ok && ok.type === "exit" ? ok : undefined;
        if (
          !exit || !gotStarted || record.out !== want || exit.result.status !== "fulfilled" ||
          exit.offset !== want.length
        ) {
          violation(
            item.no,
            "count",
            describe(item.p.frame),
            `started, ${want.length} bytes, exit fulfilled`,
            `started ${gotStarted}, ${record.out.length} bytes, exit ${JSON.stringify(exit)}`,
          );
        }
      }
      for (const error of fuzz.serverErrors.splice(0)) {
        violation(frameNo, "server message", "", "a valid message", error);
      }
      if (closing) {
        fuzz.ws.send(closing.p.frame);
        const event = await Promise.race([
          fuzz.closed,
          new Promise<undefined>((r) => setTimeout(() => r(undefined), 10_000)),
        ]);
        const expect = closing.p.expect as Extract<Expect, { kind: "close" }>;
        if (!event || event.code !== expect.code || event.reason !== expect.reason) {
          violation(
            closing.no,
            closing.p.cls,
            describe(closing.p.frame),
            `close ${expect.code} "${expect.reason}"`,
            event ? `close ${event.code} "${event.reason}"` : "still open after 10 s",
          );
          fuzz.ws.close();
          await fuzz.closed;
        }
      }
    },
    async check() {
      if (fuzz.isClosed) await reconnect();
      for (const socket of [fuzz, other]) {
        const problem = await socket.roundTrip(rng.bytes(rng.range(1, 16384)));
        if (problem) {
          violation(
            frameNo,
            "control",
            `channel ${socket.controlId}`,
            "its input echoed byte for byte",
            problem,
          );
          socket.mismatch = undefined;
        }
      }
    },
    async close() {
      await fuzz.close();
      await other.close();
    },
  };
}
