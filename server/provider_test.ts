// Copyright the pow authors. MIT license.
import assert from "node:assert/strict";
import { DEFAULT_CREDIT, encodeDataFrame, MAX_CHANNEL_ID, type ServerMessage } from "@pow/protocol";
import type { ProcessContext, ProcessDefinition } from "./process.ts";
import { ProviderConnection } from "./provider.ts";

const encoder = new TextEncoder();

function setup(options: { maxPendingCalls?: number; outputCredit?: number } = {}) {
  const processes: Record<string, ProcessDefinition> = {};
  const sent: ServerMessage[] = [];
  const frames: Uint8Array[] = [];
  const provider = new ProviderConnection({
    caller: { id: "p" },
    send: (message) => sent.push(message),
    sendBinary: (bytes) => frames.push(bytes),
    drained: () => Promise.resolve(),
    isBound: (id) => id === MAX_CHANNEL_ID,
  }, {
    catalogue: {
      processes,
      setProcess: (name, definition) => void (processes[name] = definition),
      removeProcess: (name) => delete processes[name],
    },
    reserved: new Set(),
    config: {
      enabled: true,
      providers: ["*"],
      maxPendingCalls: options.maxPendingCalls ?? 64,
      maxProcesses: 64,
    },
    outputCredit: options.outputCredit,
  });
  return { processes, sent, frames, provider };
}

/** A process context whose output is collected; writes resolve when `release` is called. */
function context(stdin: string[] = []) {
  const output: string[] = [];
  const held: (() => void)[] = [];
  let hold = false;
  const sink = (stream: string) =>
    new WritableStream<Uint8Array>({
      write: (chunk) => {
        output.push(`${stream}:${new TextDecoder().decode(chunk)}`);
        return hold ? new Promise<void>((resolve) => held.push(resolve)) : undefined;
      },
    });
  const abort = new AbortController();
  const ctx: ProcessContext = {
    params: ["a"],
    paramsOmitted: false,
    stdin: ReadableStream.from(stdin.map((s) => encoder.encode(s))),
    stdout: sink("stdout"),
    stderr: sink("stderr"),
    signal: abort.signal,
    caller: { id: "caller" },
    sessionId: "s1",
    publish: () => Promise.resolve(),
    write: () => Promise.reject(new Error("a provided process writes through its streams")),
  };
  return {
    ctx,
    output,
    abort,
    holdWrites: () => hold = true,
    release: () => held.splice(0).forEach((resolve) => resolve()),
  };
}

function run(definition: ProcessDefinition, ctx: ProcessContext): Promise<unknown> {
  if (definition.kind !== "function") throw new Error("not a function");
  return Promise.resolve(definition.run(ctx));
}

Deno.test("a served call gets serve on a server-chosen id, stdin within credit, then eof", async () => {
  const { processes, sent, frames, provider } = setup();
  provider.provide({ type: "provide", name: "upper", params: [] });
  const { ctx, output } = context(["hi"]);
  const result = run(processes.upper, ctx);
  // The highest id is bound to an ordinary channel: the next one down is chosen.
  const id = MAX_CHANNEL_ID - 1;
  assert.deepEqual(sent.slice(1, 2), [{
    type: "serve",
    id,
    name: "upper",
    params: ["a"],
    session: "s1",
    caller: "caller",
    credit: DEFAULT_CREDIT,
  }]);
  while (!sent.some((m) => m.type === "eof")) await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(frames, [
    encodeDataFrame({ kind: "stdin", id, offset: 0, data: encoder.encode("hi") }),
  ]);
  provider.output({ kind: "stdout", id, offset: 0, data: encoder.encode("HI") });
  // A resend of bytes already taken is ignored.
  provider.output({ kind: "stdout", id, offset: 0, data: encoder.encode("HI") });
  provider.output({ kind: "stderr", id, offset: 2, data: encoder.encode("!") });
  assert.equal(
    provider.exit({ type: "exit", id, result: { status: "fulfilled", value: 3 } }),
    true,
  );
  assert.equal(await result, 3);
  assert.deepEqual(output, ["stdout:HI", "stderr:!"]);
  assert.equal(provider.has(id), false);
});

Deno.test("provider output beyond its credit is refused and rejects the call", async () => {
  const { processes, sent, provider } = setup({ outputCredit: 4 });
  provider.provide({ type: "provide", name: "p", params: [] });
  const { ctx, output, holdWrites, release } = context();
  holdWrites();
  const result = run(processes.p, ctx);
  const id = MAX_CHANNEL_ID - 1;
  provider.output({ kind: "stdout", id, offset: 0, data: encoder.encode("abcd") });
  // Credit comes back only once the log has taken the bytes.
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(sent.some((m) => m.type === "credit"), false);
  release();
  while (!sent.some((m) => m.type === "credit")) await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(sent.find((m) => m.type === "credit"), { type: "credit", id, bytes: 4 });
  provider.output({ kind: "stdout", id, offset: 4, data: encoder.encode("efghi") });
  assert.deepEqual(sent.at(-1), {
    type: "error",
    code: "credit_exceeded",
    message: `Cannot take 5 output bytes on channel ${id}: only 4 granted; the call is rejected`,
    id,
  });
  await assert.rejects(result, { message: 'Provider of "p" sent more output than it was granted' });
  assert.deepEqual(output, ["stdout:abcd"]);
});

Deno.test("provider output that would leave a hole is refused with bad_offset", () => {
  const { processes, sent, provider } = setup();
  provider.provide({ type: "provide", name: "p", params: [] });
  const { ctx } = context();
  void run(processes.p, ctx).catch(() => {});
  const id = MAX_CHANNEL_ID - 1;
  provider.output({ kind: "stdout", id, offset: 5, data: encoder.encode("x") });
  assert.deepEqual(sent.at(-1), {
    type: "error",
    code: "bad_offset",
    message: `Cannot take output at offset 5: channel ${id} has received 0 bytes`,
    id,
  });
  provider.close();
});

Deno.test("cancelling a served call sends cancel; closing the provider rejects it and empties the catalogue", async () => {
  const { processes, sent, provider } = setup();
  provider.provide({ type: "provide", name: "p", params: [] });
  const { ctx, abort } = context();
  const result = run(processes.p, ctx);
  abort.abort(new DOMException("Received SIGTERM", "AbortError"));
  const id = MAX_CHANNEL_ID - 1;
  assert.deepEqual(sent.find((m) => m.type === "cancel"), {
    type: "cancel",
    id,
    reason: "Received SIGTERM",
  });
  provider.close();
  await assert.rejects(result, { message: 'Provider of "p" disconnected' });
  assert.deepEqual(Object.keys(processes), []);
});
