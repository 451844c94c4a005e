/**
 * pow-1 REST: `POST /new` gives an id; `input`, `closeInput`, `cancel` and `status` act on it.
 * `status` shows the last `pow1.statusLines` lines of output, without the final newline, and
 * the result; there is no connection, so "disconnect" is to stop asking.
 *
 * @module
 */

import type { TestServer } from "../_helpers.ts";
import type { Driver, Ending, Run } from "./driver.ts";
import { poll, utf8 } from "./driver.ts";

interface Status {
  buffer?: string;
  result: { status: string; reason?: string; value?: unknown };
}

async function post(server: TestServer, path: string, body?: string): Promise<Response> {
  const response = await fetch(new URL(path, server.url), { method: "POST", body });
  await response.body?.cancel();
  if (response.status !== 200) throw new Error(`POST ${path}: ${response.status}`);
  return response;
}

async function status(server: TestServer, id: string): Promise<Status> {
  const response = await fetch(new URL(`status/${id}`, server.url));
  if (response.status !== 200) {
    throw new Error(`GET status/${id}: ${response.status} ${await response.text()}`);
  }
  return await response.json();
}

function ending(raw: Status["result"]): Ending {
  if (raw.status === "fulfilled") return { kind: "fulfilled", raw };
  if (raw.reason === "process returned error: client requested cancellation") {
    return { kind: "cancelled", raw };
  }
  return { kind: "other", raw };
}

async function newSession(server: TestServer, name: string, params?: string[]) {
  const response = await fetch(new URL("new", server.url), {
    method: "POST",
    body: JSON.stringify(params ? { call: name, params } : { call: name }),
  });
  const body = await response.text();
  if (response.status !== 200) throw new Error(`POST new: ${response.status} ${body}`);
  return JSON.parse(body) as string;
}

/** The pow-1 REST driver. */
export const pow1RestDriver: Driver = {
  name: "pow-1 REST",
  async start(server, name, params) {
    const id = await newSession(server, name, params);
    const run: Run = {
      session: id,
      write: async (text) => void await post(server, `input/${id}`, text),
      closeInput: async () => void await post(server, `closeInput/${id}`),
      cancel: async () => void await post(server, `cancel/${id}`),
      disconnect: () => Promise.resolve(),
      output: (check) =>
        poll(async () => {
          const out = utf8((await status(server, id)).buffer ?? "");
          return check(out) ? out : undefined;
        }, "output"),
      async end() {
        const last = await poll(async () => {
          const s = await status(server, id);
          return s.result.status === "pending" ? undefined : s;
        }, "the result");
        return { stdout: utf8(last.buffer ?? ""), ending: ending(last.result) };
      },
    };
    return run;
  },
  async startError(server, name, params) {
    const id = await newSession(server, name, params);
    return await poll(async () => {
      const s = await status(server, id);
      return s.result.status === "pending" ? undefined : s;
    }, "the result");
  },
};
