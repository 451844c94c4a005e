/**
 * pow-1 over WebSocket: a call as a binary JSON frame, stdin as text frames, `{signal}` frames
 * for end of input and cancel, output as text frames, the result as the last binary frame.
 *
 * @module
 */

import type { Driver, Ending, Run } from "./driver.ts";
import { concat, Signal, utf8 } from "./driver.ts";

class Pow1Socket {
  readonly ws: WebSocket;
  readonly texts: Uint8Array[] = [];
  readonly binaries: unknown[] = [];
  readonly signal = new Signal();
  closed = false;
  readonly opened: Promise<void>;

  constructor(url: URL) {
    this.ws = new WebSocket(url, ["pow-1"]);
    this.ws.binaryType = "arraybuffer";
    this.opened = new Promise((resolve, reject) => {
      this.ws.onopen = () => resolve();
      this.ws.onerror = () => reject(new Error("pow-1 WebSocket failed to open"));
    });
    this.ws.onmessage = ({ data }) => {
      if (typeof data === "string") this.texts.push(utf8(data));
      else this.binaries.push(JSON.parse(new TextDecoder().decode(data as ArrayBuffer)));
      this.signal.wake();
    };
    this.ws.onclose = () => {
      this.closed = true;
      this.signal.wake();
    };
  }

  sendJson(message: unknown): void {
    this.ws.send(utf8(JSON.stringify(message)));
  }

  async waitClosed(): Promise<void> {
    await this.signal.until(() => this.closed || undefined, () => "the close");
  }
}

function ending(raw: unknown): Ending {
  const result = raw as { status?: string; reason?: string };
  if (result?.status === "fulfilled") return { kind: "fulfilled", raw };
  if (result?.reason === "process returned error: client requested cancellation") {
    return { kind: "cancelled", raw };
  }
  return { kind: "other", raw };
}

/** The pow-1 WebSocket driver. */
export const pow1WsDriver: Driver = {
  name: "pow-1 WS",
  async start(server, name, params) {
    const socket = new Pow1Socket(server.wsUrl);
    await socket.opened;
    socket.sendJson(params ? { call: name, params } : { call: name });
    const run: Run = {
      write: (text) => Promise.resolve(socket.ws.send(text)),
      closeInput: () => Promise.resolve(socket.sendJson({ signal: "close" })),
      cancel: () => Promise.resolve(socket.sendJson({ signal: "cancel" })),
      async disconnect() {
        socket.ws.close();
        await socket.waitClosed();
      },
      output: (check) =>
        socket.signal.until(() => {
          const out = concat(socket.texts);
          return check(out) ? out : undefined;
        }, () => `output; got ${new TextDecoder().decode(concat(socket.texts)).slice(-200)}`),
      async end() {
        await socket.waitClosed();
        return { stdout: concat(socket.texts), ending: ending(socket.binaries.at(-1)) };
      },
    };
    return run;
  },
  async startError(server, name, params) {
    const socket = new Pow1Socket(server.wsUrl);
    await socket.opened;
    socket.sendJson(params ? { call: name, params } : { call: name });
    await socket.waitClosed();
    return { texts: socket.texts.length, binaries: socket.binaries };
  },
};
