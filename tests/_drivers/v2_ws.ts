/**
 * pow.v2 over WebSocket: JSON control messages (`start`, `eof`, `signal`, answered by `started`,
 * `ok`, `error`, `exit`) and binary data frames with offsets; output flows against credit the
 * client grants back as it reads.
 *
 * @module
 */

import { decodeDataFrame, encodeDataFrame } from "@pow/protocol";
import type { TestServer } from "../_helpers.ts";
import type { Driver, Ending, Run } from "./driver.ts";
import { concat, Signal, utf8 } from "./driver.ts";

const WINDOW = 1024 * 1024;

type Message = Record<string, unknown> & { type: string };

class V2Socket {
  readonly ws: WebSocket;
  readonly messages: Message[] = [];
  readonly stdout: Uint8Array[] = [];
  readonly signal = new Signal();
  closed = false;
  #refs = 0;
  #consumed = 0;

  constructor(url: URL) {
    this.ws = new WebSocket(url, ["pow.v2"]);
    this.ws.binaryType = "arraybuffer";
    this.ws.onmessage = ({ data }) => {
      if (typeof data === "string") {
        this.messages.push(JSON.parse(data));
      } else {
        const frame = decodeDataFrame(data as ArrayBuffer, { from: "server" });
        if (!frame.ok) throw new Error(frame.error.message);
        const { id, kind, data: bytes } = frame.value;
        if (kind === "stdout") this.stdout.push(bytes.slice());
        this.#consumed += bytes.byteLength;
        if (this.#consumed >= WINDOW / 4) {
          this.ws.send(JSON.stringify({ type: "credit", id, bytes: this.#consumed }));
          this.#consumed = 0;
        }
      }
      this.signal.wake();
    };
    this.ws.onerror = () => {};
    this.ws.onclose = () => {
      this.closed = true;
      this.signal.wake();
    };
  }

  static async open(server: TestServer): Promise<V2Socket> {
    const socket = new V2Socket(server.wsUrl);
    await socket.next((m) => m.type === "hello");
    return socket;
  }

  next(predicate: (m: Message) => boolean, from = 0): Promise<Message> {
    return this.signal.until(
      () => this.messages.slice(from).find(predicate),
      () => `a message; got ${JSON.stringify(this.messages.slice(-5))}`,
    );
  }

  async request(message: Record<string, unknown>): Promise<Message> {
    const ref = `r${++this.#refs}`;
    this.ws.send(JSON.stringify({ ...message, ref }));
    return await this.next((m) => m.ref === ref);
  }

  async closeAndWait(): Promise<void> {
    this.ws.close(1000);
    await this.signal.until(() => this.closed || undefined, () => "the close");
  }
}

function ending(raw: unknown): Ending {
  const result = raw as { status?: string; kind?: string };
  if (result?.status === "fulfilled") return { kind: "fulfilled", raw };
  if (result?.status === "rejected" && result.kind === "cancelled") {
    return { kind: "cancelled", raw };
  }
  return { kind: "other", raw };
}

async function ok(answer: Promise<Message>): Promise<void> {
  const message = await answer;
  if (message.type !== "ok") throw new Error(`Expected ok: ${JSON.stringify(message)}`);
}

/** The pow.v2 WebSocket driver. */
export const v2WsDriver: Driver = {
  name: "pow.v2 WS",
  async start(server, name, params = []) {
    const socket = await V2Socket.open(server);
    const started = await socket.request({ type: "start", id: 1, name, params, credit: WINDOW });
    if (started.type !== "started") throw new Error(`Cannot start: ${JSON.stringify(started)}`);
    const run: Run = {
      session: started.session as string,
      write: (text) =>
        Promise.resolve(
          socket.ws.send(encodeDataFrame({ kind: "stdin", id: 1, offset: -1, data: utf8(text) })),
        ),
      closeInput: () => ok(socket.request({ type: "eof", id: 1 })),
      cancel: () => ok(socket.request({ type: "signal", id: 1, signal: "cancel" })),
      disconnect: () => socket.closeAndWait(),
      output: (check) =>
        socket.signal.until(() => {
          const out = concat(socket.stdout);
          return check(out) ? out : undefined;
        }, () => `output; got ${new TextDecoder().decode(concat(socket.stdout)).slice(-200)}`),
      async end() {
        const exit = await socket.next((m) => m.type === "exit" && m.id === 1);
        await socket.closeAndWait();
        return { stdout: concat(socket.stdout), ending: ending(exit.result) };
      },
    };
    return run;
  },
  async startError(server, name, params = []) {
    const socket = await V2Socket.open(server);
    const answer = await socket.request({ type: "start", id: 1, name, params });
    await socket.closeAndWait();
    return answer;
  },
};
