// Copyright the pow authors. MIT license.
// End-to-end tests of processes provided by pow.v2 clients (`provide`): a provider written with
// `@pow/client` serves calls made on every front end.

import assert from "node:assert/strict";
import { PowClient, type ProvidedCall, RemoteError } from "../client/mod.ts";
import { hashToken, type PowConfig } from "../mod.ts";
import { startServer, type TestServer } from "./_helpers.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Uppercases stdin to stdout, notes the params on stderr, returns how many bytes it read. */
async function upper(call: ProvidedCall): Promise<unknown> {
  const err = call.stderr.getWriter();
  await err.write(encoder.encode(`params: ${call.params.join(",")}\n`));
  err.releaseLock();
  const out = call.stdout.getWriter();
  let bytes = 0;
  for await (const chunk of call.stdin) {
    bytes += chunk.byteLength;
    await out.write(encoder.encode(decoder.decode(chunk).toUpperCase()));
  }
  out.releaseLock();
  return { bytes, caller: call.caller };
}

async function text(stream: ReadableStream<Uint8Array>): Promise<string> {
  return await new Response(stream).text();
}

async function provider(
  server: TestServer,
  options: { token?: string } = {},
): Promise<PowClient> {
  const client = new PowClient(server.wsUrl, { token: options.token, reconnect: false });
  await client.provide("upper", upper, {
    description: "Uppercases stdin",
    params: [{ name: "tag", optional: true, variadic: true }],
  });
  return client;
}

Deno.test("provide: a provided process is listed and streams stdin, stdout, stderr and a result over pow.v2", async () => {
  await using server = await startServer();
  await using served = await provider(server);
  const listing = await (await fetch(new URL("api/v2/processes", server.url))).json();
  assert.deepEqual(listing.processes.find((p: Json) => p.name === "upper"), {
    name: "upper",
    description: "Uppercases stdin",
    params: [{ name: "tag", optional: true, variadic: true }],
    pty: false,
  });

  await using caller = new PowClient(server.wsUrl);
  const proc = caller.start("upper", ["a", "b"]);
  const stdout = text(proc.stdout);
  const stderr = text(proc.stderr);
  await proc.write("hello ");
  await proc.write("world\n");
  await proc.closeInput();
  assert.deepEqual(await proc.result, {
    status: "fulfilled",
    value: { bytes: 12, caller: "anonymous" },
  });
  assert.equal(await stdout, "HELLO WORLD\n");
  assert.equal(await stderr, "params: a,b\n");
  void served;
});
