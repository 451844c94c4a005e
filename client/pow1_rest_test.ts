// Copyright the pow authors. MIT license.
import { deepStrictEqual, rejects } from "node:assert/strict";
import { Pow1Error } from "./errors.ts";
import { Pow1RestSession } from "./pow1_rest.ts";

Deno.test("pow-1 REST session posts the call and input, and reports new lines once", async () => {
  const requests: string[] = [];
  const buffers = ["", "a\nb", "a\nb\nc", "b\nc\nd"];
  let poll = 0;
  const fakeFetch = (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(String(input));
    requests.push(`${init?.method ?? "GET"} ${url.pathname} ${init?.body ?? ""}`.trim());
    if (url.pathname === "/base/new") return Promise.resolve(Response.json("id 1"));
    if (url.pathname.startsWith("/base/status/")) {
      const buffer = buffers[Math.min(poll, buffers.length - 1)];
      const done = poll++ >= buffers.length - 1;
      return Promise.resolve(Response.json({
        ...(buffer ? { buffer } : {}),
        result: done ? { status: "fulfilled", value: 4 } : { status: "pending" },
      }));
    }
    return Promise.resolve(new Response("ok"));
  };
  const lines: string[] = [];
  const session = new Pow1RestSession("http://pow.test/base", {
    call: "count",
    params: ["4"],
    fetch: fakeFetch,
    pollInterval: 1,
    onLogLine: (line) => lines.push(line),
  });
  await session.connect();
  await session.sendText("input");
  await session.closeInput();
  deepStrictEqual(await session.wait(), { result: { status: "fulfilled", value: 4 } });
  deepStrictEqual(lines, ["a", "b", "c", "d"]);
  deepStrictEqual(requests.filter((r) => !r.startsWith("GET")), [
    'POST /base/new {"call":"count","params":["4"]}',
    "POST /base/input/id%201 input",
    "POST /base/closeInput/id%201",
  ]);
});

Deno.test("pow-1 REST session errors are Pow1Errors with the HTTP status", async () => {
  const session = new Pow1RestSession("http://pow.test/", {
    call: "x",
    fetch: () => Promise.resolve(new Response("failed to decode call message", { status: 400 })),
  });
  await rejects(session.connect(), (e) => e instanceof Pow1Error && e.status === 400);
  await rejects(session.wait(), Pow1Error);
  await rejects(session.sendText("x"), Pow1Error);
});
