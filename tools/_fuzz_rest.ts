/**
 * The fuzzer's REST lane: the pow-1 REST routes (`/new`, `/status`, `/input`, `/closeInput`,
 * `/cancel`) and the native REST API under `/api/v2/`, plus random paths and methods. Each
 * request's status (and error code or body) must be the documented one. The control session is
 * a `cat` started over the native REST API: seeded bytes posted as input must come back from
 * `GET output` byte for byte.
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

const CONCURRENCY = 16;
/** `limits.maxBody` of the fuzzed server (`fuzzConfig()`). */
export const FUZZ_MAX_BODY = 64 * 1024;
const ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

interface Request {
  cls: string;
  method: string;
  path: string;
  body?: string | Uint8Array<ArrayBuffer>;
  headers?: Record<string, string>;
  /** The status and, when given, the JSON error code or the exact text body. */
  status: number;
  code?: string;
  text?: string;
  /** For `POST /new` of an unknown process: the status must then say so. */
  followUnknown?: boolean;
}

/**
 * Creates the REST lane.
 *
 * @param context The run.
 * @param rng The lane's generator.
 * @returns The lane.
 */
export function restLane(context: FuzzContext, rng: Rng): Lane {
  const name = "rest";
  const base = context.server.url;
  let frameNo = 0;
  let control = "";
  let written = 0;
  let verified = 0;
  const expected: number[] = [];
  const violation = violationRecorder(context, name);

  const randomId = () =>
    rng.chance(0.8)
      ? Array.from({ length: rng.pick([1, 8, 22, 40]) }, () => rng.pick([...ID_CHARS])).join("")
      : encodeURIComponent(rng.text(rng.range(1, 30), false)).replaceAll("%2F", "x").replace(
        /^\.\.?$/,
        "x",
      ) || "x";

  /** An oversized body (refused with 413) or a deeply nested one within the limit (400). */
  function bodyBound(): Request {
    const nested = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`;
    if (rng.chance(0.5)) {
      // Over the limit: announced whole, made of nested arrays or of plain bytes.
      const size = FUZZ_MAX_BODY + rng.pick([1, 100, FUZZ_MAX_BODY * 3]);
      const depth = Math.floor(size / 2);
      const body = rng.chance(0.5)
        ? new TextEncoder().encode(`{"name":"count","params":${nested(depth)}}`)
        : rng.bytes(size);
      const message = `Cannot read the request body: it is larger than ${FUZZ_MAX_BODY} bytes`;
      const route = rng.pick(["api/v2/sessions", "new", "upload"]);
      return route === "api/v2/sessions"
        ? {
          cls: "body_too_large",
          method: "POST",
          path: route,
          body,
          status: 413,
          code: "limit_reached",
        }
        : { cls: "body_too_large", method: "POST", path: route, body, status: 413, text: message };
    }
    // Within the limit but deeply nested: refused as a bad field, never re-serialized.
    const depth = rng.range(1000, Math.floor(FUZZ_MAX_BODY / 2) - 100);
    return rng.chance(0.5)
      ? {
        cls: "body_nested",
        method: "POST",
        path: "api/v2/sessions",
        body: `{"name":"count","params":[${nested(depth - 1)}]}`,
        status: 400,
        code: "bad_message",
      }
      : {
        cls: "body_nested",
        method: "POST",
        path: "new",
        body: `{"call":"count","params":${nested(depth)}}`,
        status: 400,
        text: "failed to decode call message",
      };
  }

  function plan(): Request {
    const r = rng.int(100);
    const id = randomId();
    if (rng.chance(0.02)) return bodyBound();
    if (r < 8) {
      const body = rng.pick([
        () => badJson(rng),
        () => nonObjectJson(rng),
        () => JSON.stringify({ call: wrongValue(rng, ["string", "null"]) }),
        () => JSON.stringify({ call: "cat", params: wrongValue(rng, ["array", "null"]) }),
        () => JSON.stringify({ call: "cat", params: [rng.int(9)] }),
      ])();
      // "null" is a call of "" (an unknown process): not a decoding error.
      if (body === "null") {
        return {
          cls: "pow1_new_unknown",
          method: "POST",
          path: "new",
          body,
          status: 200,
          followUnknown: true,
        };
      }
      return {
        cls: "pow1_new_bad",
        method: "POST",
        path: "new",
        body,
        status: 400,
        text: "failed to decode call message",
      };
    }
    if (r < 11) {
      const body = JSON.stringify({
        call: `nope-${rng.int(1e6)}`,
        params: rng.chance(0.5) ? null : [],
      });
      return {
        cls: "pow1_new_unknown",
        method: "POST",
        path: "new",
        body,
        status: 200,
        followUnknown: true,
      };
    }
    if (r < 24) {
      const [method, route] = rng.pick([["GET", "status"], ["POST", "input"], [
        "POST",
        "closeInput",
      ], ["POST", "cancel"]]);
      return {
        cls: `pow1_${route}_unknown`,
        method,
        path: `${route}/${id}`,
        body: method === "POST" ? rng.bytes(rng.range(0, 100)) : undefined,
        status: 404,
        text: /^[A-Za-z0-9_-]+$/.test(id) ? "process not found" : undefined,
      };
    }
    if (r < 40) {
      const body = rng.pick([
        () => badJson(rng),
        () => nonObjectJson(rng),
        () => JSON.stringify({ name: wrongValue(rng, ["string"]) }),
        () => JSON.stringify({ name: "count", params: wrongValue(rng, ["array"]) }),
        () => JSON.stringify({ name: "count", params: ["1"], pty: wrongValue(rng, ["boolean"]) }),
        () => JSON.stringify({ name: "count", params: ["1"], cols: 80 }),
        () => JSON.stringify({ name: "count", params: ["1"], ref: -1 }),
        () => JSON.stringify({ name: "" }),
      ])();
      let code = "bad_message";
      try {
        if (body.trim() !== "") JSON.parse(body);
      } catch {
        code = "bad_json";
      }
      return {
        cls: `v2_start_${code}`,
        method: "POST",
        path: "api/v2/sessions",
        body,
        status: 400,
        code,
      };
    }
    if (r < 45) {
      const unknown = rng.chance(0.5);
      const body = unknown ? JSON.stringify({ name: `nope-${rng.int(1e6)}` }) : JSON.stringify({
        name: "count",
        params: rng.pick([[], ["x"], ["1", "2"], ["123456789"]]),
      });
      return {
        cls: unknown ? "v2_start_unknown_process" : "v2_start_bad_params",
        method: "POST",
        path: "api/v2/sessions",
        body,
        status: unknown ? 404 : 400,
        code: unknown ? "unknown_process" : "bad_params",
      };
    }
    if (r < 60) {
      const [method, route] = rng.pick([
        ["GET", ""],
        ["GET", "/output"],
        ["GET", "/events"],
        ["POST", "/input"],
        ["POST", "/eof"],
        ["POST", "/signal"],
        ["POST", "/resize"],
      ]);
      return {
        cls: `v2_unknown_session${route.replace("/", "_")}`,
        method,
        path: `api/v2/sessions/${id}${route}`,
        body: method === "POST" ? JSON.stringify({ signal: "kill" }) : undefined,
        status: 404,
        code: "unknown_session",
      };
    }
    if (r < 63) {
      // A cross-origin request is refused before anything else (docs/security.md).
      const origin = rng.pick(["http://evil.example", "null", "https://127.0.0.1.example"]);
      const [method, path] = rng.pick([["POST", "api/v2/sessions"], ["POST", "new"], [
        "GET",
        "api/v2/sessions",
      ]]);
      return {
        cls: "foreign_origin",
        method,
        path,
        body: method === "POST" ? '{"name":"cat","call":"cat"}' : undefined,
        headers: { origin },
        status: 403,
        text: `origin not allowed: ${origin}`,
      };
    }
    if (r < 80 && control) {
      // Bad input on the control session: none of it may disturb it.
      const s = `api/v2/sessions/${control}`;
      const which = rng.int(7);
      if (which === 0) {
        const offset = rng.pick([
          "abc",
          "-1",
          "1.5",
          "99999999999999999",
          "",
          "1e3",
          "0x10",
          String(2 ** 50),
        ]);
        return {
          cls: "v2_bad_offset",
          method: "GET",
          path: `${s}${rng.pick(["", "/output"])}?offset=${offset}`,
          status: 400,
          code: "bad_offset",
        };
      }
      if (which === 1) {
        return {
          cls: "v2_bad_stream",
          method: "GET",
          path: `${s}/output?stream=${rng.pick(["bogus", "STDOUT", "stdin", "1"])}`,
          status: 400,
          code: "bad_message",
        };
      }
      if (which === 2) {
        return {
          cls: "v2_bad_max",
          method: "GET",
          path: `${s}?offset=0&max=${
            rng.pick(["0", "-1", "abc", "16777217", "1e6", "9999999999"])
          }`,
          status: 400,
          code: "bad_message",
        };
      }
      if (which === 3) {
        return {
          cls: "v2_bad_last_event_id",
          method: "GET",
          path: `${s}/events`,
          headers: {
            "last-event-id": rng.pick(["abc", "-5", "1.5", "exit2", "99999999999999999"]),
          },
          status: 400,
          code: "bad_offset",
        };
      }
      if (which === 4) {
        const body = rng.pick([
          badJson(rng),
          nonObjectJson(rng),
          JSON.stringify({ signal: rng.pick(["stop", "", 9, null, "SIGKILL"]) }),
        ]);
        let code = "bad_message";
        try {
          if (body.trim() !== "") JSON.parse(body);
        } catch {
          code = "bad_json";
        }
        return {
          cls: `v2_signal_${code}`,
          method: "POST",
          path: `${s}/signal`,
          body,
          status: 400,
          code,
        };
      }
      if (which === 5) {
        const body = JSON.stringify({ cols: rng.pick([0, 65536, 1.5, "80", null]), rows: 24 });
        return {
          cls: "v2_resize_bad",
          method: "POST",
          path: `${s}/resize`,
          body,
          status: 400,
          code: "bad_message",
        };
      }
      return {
        cls: "v2_resize_not_pty",
        method: "POST",
        path: `${s}/resize`,
        body: '{"cols":80,"rows":24}',
        status: 409,
        code: "not_pty",
      };
    }
    // A path nobody serves, or a method a route does not take.
    const method = rng.pick(["GET", "POST", "PUT", "DELETE", "PATCH"]);
    const path = rng.chance(0.5)
      ? `fz-${randomId()}/${randomId()}`
      : rng.pick(["new", "input", "api/v2", "api/v2/nothing", "api/v2/sessions/x/y/z"]);
    const wrongMethod = rng.chance(0.5) && path === "new" ? "PUT" : method;
    if (path === "new" && wrongMethod === "POST") {
      return {
        cls: "pow1_new_bad",
        method: "POST",
        path,
        body: "{",
        status: 400,
        text: "failed to decode call message",
      };
    }
    return {
      cls: "not_found",
      method: wrongMethod,
      path,
      body: wrongMethod === "GET" ? undefined : rng.bytes(rng.range(0, 50)),
      status: 404,
    };
  }

  async function run(no: number, request: Request): Promise<void> {
    const sent = `${request.method} /${request.path}${
      request.body ? ` ${describe(request.body)}` : ""
    }`;
    let response: Response;
    try {
      response = await fetch(new URL(request.path, base), {
        method: request.method,
        body: request.body,
        headers: request.headers,
        signal: AbortSignal.timeout(10_000),
      });
    } catch (error) {
      return violation(
        no,
        request.cls,
        sent,
        `${request.status}`,
        `request failed: ${(error as Error).message}`,
      );
    }
    const body = await response.text();
    let got = `${response.status} ${body.slice(0, 200)}`;
    let ok = response.status === request.status;
    if (ok && request.code) {
      try {
        const parsed = JSON.parse(body);
        ok = parsed.code === request.code && typeof parsed.message === "string";
      } catch {
        ok = false;
      }
    }
    if (ok && request.text !== undefined) ok = body === request.text;
    if (ok && request.followUnknown) {
      const id = JSON.parse(body) as string;
      const want = JSON.stringify({
        status: "rejected",
        reason: "failed to get process: unknown process",
      });
      let status = "";
      await poll(async () => {
        const r = await fetch(new URL(`status/${id}`, base));
        status = JSON.stringify((await r.json()).result);
        return status === want || status !== '{"status":"pending"}' ? true : undefined;
      }, 2000);
      ok = status === want;
      got = `status ${status}`;
    }
    if (!ok) {
      violation(
        no,
        request.cls,
        sent,
        `${request.status} ${request.code ?? request.text ?? ""}`,
        got,
      );
    }
  }

  async function startControl(): Promise<void> {
    const response = await fetch(new URL("api/v2/sessions", base), {
      method: "POST",
      body: '{"name":"cat"}',
    });
    const info = await response.json();
    control = info.session;
    written = 0;
    expected.length = 0;
  }

  return {
    name,
    get controlBytes() {
      return verified;
    },
    async open() {
      await startControl();
    },
    async batch(frames: number) {
      const running = new Set<Promise<void>>();
      for (let i = 0; i < frames; i++) {
        const request = plan();
        count(context, name, request.cls);
        const task = run(frameNo++, request).finally(() => running.delete(task));
        running.add(task);
        if (running.size >= CONCURRENCY) await Promise.race(running);
      }
      await Promise.all(running);
    },
    async check() {
      const bytes = rng.bytes(rng.range(1, 8192));
      const input = await fetch(new URL(`api/v2/sessions/${control}/input`, base), {
        method: "POST",
        body: bytes,
      });
      await input.body?.cancel();
      if (input.status !== 204) {
        violation(frameNo, "control", "POST input", "204", `${input.status}`);
        return await startControl();
      }
      const target = written + bytes.byteLength;
      let got = new Uint8Array(0);
      await poll(async () => {
        const r = await fetch(new URL(`api/v2/sessions/${control}/output?offset=${written}`, base));
        got = new Uint8Array(await r.arrayBuffer());
        return written + got.byteLength >= target ? true : undefined;
      }, 10_000);
      const same = got.byteLength === bytes.byteLength && got.every((b, i) => b === bytes[i]);
      if (!same) {
        violation(
          frameNo,
          "control",
          `POST input of ${bytes.byteLength} bytes at ${written}`,
          "echoed byte for byte",
          `${got.byteLength} bytes, ${same ? "same" : "different"}`,
        );
        return await startControl();
      }
      written = target;
      verified += bytes.byteLength;
    },
    async close() {
      if (control) {
        const r = await fetch(new URL(`api/v2/sessions/${control}/signal`, base), {
          method: "POST",
          body: '{"signal":"kill"}',
        });
        await r.body?.cancel();
      }
    },
  };
}
