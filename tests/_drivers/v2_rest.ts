/**
 * pow.v2 REST: `POST /api/v2/sessions` starts a process (201), `input`, `eof` and `signal`
 * act on it, `GET …/output?offset=` gives raw output bytes, `GET /api/v2/sessions/{id}` the
 * state and result. There is no connection: "disconnect" is to stop asking.
 *
 * @module
 */

import type { TestServer } from "../_helpers.ts";
import type { Driver, Ending, Run } from "./driver.ts";
import { poll } from "./driver.ts";

function api(server: TestServer, path: string): URL {
  return new URL(`api/v2/${path}`, server.url);
}

async function post(server: TestServer, path: string, body?: string): Promise<void> {
  const response = await fetch(api(server, path), { method: "POST", body });
  const text = await response.text();
  if (response.status !== 204) throw new Error(`POST ${path}: ${response.status} ${text}`);
}

async function output(server: TestServer, id: string): Promise<Uint8Array> {
  const response = await fetch(api(server, `sessions/${id}/output?offset=0`));
  if (response.status !== 200) throw new Error(`GET output: ${response.status}`);
  if (response.headers.get("x-pow-skipped") !== "0") throw new Error("output was skipped");
  return new Uint8Array(await response.arrayBuffer());
}

function ending(raw: unknown): Ending {
  const result = raw as { status?: string; kind?: string };
  if (result?.status === "fulfilled") return { kind: "fulfilled", raw };
  if (result?.status === "rejected" && result.kind === "cancelled") {
    return { kind: "cancelled", raw };
  }
  return { kind: "other", raw };
}

async function start(server: TestServer, name: string, params: string[]) {
  const response = await fetch(api(server, "sessions"), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name, params }),
  });
  return { status: response.status, body: await response.json() };
}

/** The pow.v2 REST driver. */
export const v2RestDriver: Driver = {
  name: "pow.v2 REST",
  async start(server, name, params = []) {
    const started = await start(server, name, params);
    if (started.status !== 201) throw new Error(`Cannot start: ${JSON.stringify(started)}`);
    const id = started.body.session as string;
    const run: Run = {
      session: id,
      write: (text) => post(server, `sessions/${id}/input`, text),
      closeInput: () => post(server, `sessions/${id}/eof`),
      cancel: () => post(server, `sessions/${id}/signal`, JSON.stringify({ signal: "cancel" })),
      disconnect: () => Promise.resolve(),
      output: (check) =>
        poll(async () => {
          const out = await output(server, id);
          return check(out) ? out : undefined;
        }, "output"),
      async end() {
        const result = await poll(async () => {
          const response = await fetch(api(server, `sessions/${id}`));
          return (await response.json()).result;
        }, "the result");
        return { stdout: await output(server, id), ending: ending(result) };
      },
    };
    return run;
  },
  startError: (server, name, params = []) => start(server, name, params),
};
