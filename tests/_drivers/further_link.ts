/**
 * further-link: JSON messages on `/run` (`start` with a runner, `stdin` with text, `stop`),
 * answered by `started`, `stdout`/`stderr` text and `stopped` with an exit code. A runner is a
 * configured process named in `furtherLink.runners`; it takes no params from the client (its one
 * param is the path of the code sent), and there is no end-of-input message.
 *
 * @module
 */

import type { TestServer } from "../_helpers.ts";
import type { Driver, Ending, Run } from "./driver.ts";
import { Signal, utf8 } from "./driver.ts";

interface Message {
  type: string;
  process?: string;
  data?: Record<string, unknown>;
}

class FurtherLinkSocket {
  readonly ws: WebSocket;
  readonly messages: Message[] = [];
  readonly signal = new Signal();
  readonly opened: Promise<void>;
  closed = false;

  constructor(url: URL) {
    this.ws = new WebSocket(url);
    this.opened = new Promise((resolve, reject) => {
      this.ws.onopen = () => resolve();
      this.ws.onerror = () => reject(new Error("further-link WebSocket failed to open"));
    });
    this.ws.onmessage = ({ data }) => {
      this.messages.push(JSON.parse(data));
      this.signal.wake();
    };
    this.ws.onclose = () => {
      this.closed = true;
      this.signal.wake();
    };
  }

  static async open(server: TestServer): Promise<FurtherLinkSocket> {
    const socket = new FurtherLinkSocket(new URL("run", server.wsUrl));
    await socket.opened;
    return socket;
  }

  send(type: string, data?: Record<string, unknown>): void {
    this.ws.send(JSON.stringify({ type, process: "1", data }));
  }

  next(predicate: (m: Message) => boolean): Promise<Message> {
    return this.signal.until(
      () => this.messages.find(predicate),
      () => `a message; got ${JSON.stringify(this.messages.slice(-5))}`,
    );
  }

  stdout(): string {
    return this.messages.filter((m) => m.type === "stdout").map((m) => m.data!.output).join("");
  }

  async closeAndWait(): Promise<void> {
    this.ws.close();
    await this.signal.until(() => this.closed || undefined, () => "the close");
  }
}

function ending(raw: unknown): Ending {
  const { exitCode } = raw as { exitCode?: number };
  if (exitCode === 0) return { kind: "fulfilled", raw };
  if (exitCode === -15) return { kind: "cancelled", raw };
  return { kind: "other", raw };
}

/** The further-link driver; the process name is the runner name. */
export const furtherLinkDriver: Driver = {
  name: "further-link",
  async start(server, name, params) {
    if (params?.length) throw new TypeError("further-link runners take no params");
    const socket = await FurtherLinkSocket.open(server);
    socket.send("start", { runner: name });
    const first = await socket.next((m) => m.type === "started" || m.type === "error");
    if (first.type !== "started") throw new Error(`Cannot start: ${JSON.stringify(first)}`);
    const run: Run = {
      write: (text) => Promise.resolve(socket.send("stdin", { input: text })),
      cancel: () => Promise.resolve(socket.send("stop")),
      disconnect: () => socket.closeAndWait(),
      output: (check) =>
        socket.signal.until(() => {
          const out = utf8(socket.stdout());
          return check(out) ? out : undefined;
        }, () => `output; got ${socket.stdout().slice(-200)}`),
      async end() {
        const stopped = await socket.next((m) => m.type === "stopped");
        await socket.closeAndWait();
        return { stdout: utf8(socket.stdout()), ending: ending(stopped.data) };
      },
    };
    return run;
  },
  async startError(server, name, params) {
    if (params?.length) throw new TypeError("further-link runners take no params");
    const socket = await FurtherLinkSocket.open(server);
    socket.send("start", { runner: name });
    const answer = await socket.next((m) => m.type !== "started");
    await socket.closeAndWait();
    return answer;
  },
};
