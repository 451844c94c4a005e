import assert from "node:assert/strict";
import {
  MIN_READ_SIZE,
  pumpOutput,
  type RunOptions,
  spawnMode,
  START_READ_SIZE,
  startCommand,
  startFunction,
} from "./runner.ts";
import { defineCommand, defineProcess, type ProcessContext } from "./process.ts";
import { headroom, OUTPUT_HEADROOM } from "./output_log.ts";
import { sessionMembers, waitSessionGone } from "../tests/_proc.ts";
import { evalWithGc } from "../tests/_gc.ts";

function options(output: string[] = []): RunOptions {
  const decoder = new TextDecoder();
  return {
    params: [],
    caller: { id: "test" },
    sessionId: "s1",
    killGrace: 1000,
    output: {
      write: (_stream, data) => {
        output.push(decoder.decode(data));
        return Promise.resolve();
      },
    },
  };
}

function statFields(pid: number): string[] {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

Deno.test("runner uses setsid(1) when the server may run it, and detached otherwise", () => {
  // The tests run with -A on Linux with util-linux installed.
  assert.equal(spawnMode(), "setsid");
});

Deno.test("runner starts a command as the leader of its own session and process group", async () => {
  const output: string[] = [];
  const command = defineCommand(["sh", "-c", "read line; echo $$"]);
  const process = startCommand(command, options(output));
  const pid = process.pid!;
  // Wait until the child is the shell (setsid(1) has run), then look at its ids.
  await process.write(new TextEncoder().encode("go\n"));
  await process.closeInput();
  const [, , pgrp, session] = statFields(pid);
  assert.equal(Number(pgrp), pid);
  assert.equal(Number(session), pid);
  assert.deepEqual(await process.exited, { code: 0 });
  assert.equal(output.join(""), `${pid}\n`);
});

Deno.test("runner: a group member that ignores SIGTERM is killed after the grace once the program exits", async () => {
  // The program exits at once; what it started in the background holds no pipe, ignores
  // SIGTERM (an ignored signal stays ignored across exec) and would sleep on.
  const output: string[] = [];
  const command = defineCommand([
    "sh",
    "-c",
    "trap '' TERM; sleep 30 </dev/null >/dev/null 2>&1 & echo started",
  ]);
  const process = startCommand(command, { ...options(output), killGrace: 200 });
  const pid = process.pid!;
  assert.deepEqual(await process.exited, { code: 0 });
  assert.equal(output.join(""), "started\n");
  assert.ok(sessionMembers(pid).length > 0, "the sleep outlived its shell");
  await waitSessionGone(pid, 5000);
});

Deno.test("runner signal sent right after the start still ends the command", async () => {
  const process = startCommand(defineCommand(["sleep", "30"]), options());
  process.kill("SIGTERM");
  assert.deepEqual(await process.exited, { signal: "SIGTERM" });
});

function byteStream(pieces: Uint8Array[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    type: "bytes",
    pull(controller) {
      const request = controller.byobRequest!;
      const view = request.view!;
      if (i === pieces.length) {
        controller.close();
        request.respond(0);
        return;
      }
      // Like a pipe: a read takes what fits, the rest waits for the next read.
      const piece = pieces[i];
      const n = Math.min(piece.byteLength, view.byteLength);
      new Uint8Array(view.buffer, view.byteOffset, n).set(piece.subarray(0, n));
      if (n === piece.byteLength) i++;
      else pieces[i] = piece.subarray(n);
      request.respond(n);
    },
  });
}

Deno.test("runner reads a pipe with a buffer that grows when reads fill it; small reads are copied", async () => {
  const sizes = [4096, 8192, 16384, 32768, 65536, 65536, 100, 10, 10, 10, 10];
  const pieces = sizes.map((n, i) => new Uint8Array(n).fill(i));
  const chunks: Uint8Array[] = [];
  await pumpOutput(byteStream([...pieces]), (data) => {
    chunks.push(data);
    return Promise.resolve();
  });
  // Reads start at 4 KiB and double while they fill the buffer: each piece is one read.
  assert.deepEqual(chunks.map((c) => c.byteLength), sizes);
  assert.deepEqual(chunks, pieces);
  // Small reads are copied into arrays of their own size (plus the headroom): they do not pin
  // the read buffer.
  for (const chunk of chunks.slice(-5)) {
    assert.equal(chunk.buffer.byteLength, OUTPUT_HEADROOM + chunk.byteLength);
  }
  assert.equal(chunks.at(-1)![0], 10);
  // Every chunk, read in place or copied, has scratch space in front for a frame header.
  for (const chunk of chunks) assert.equal(headroom(chunk), OUTPUT_HEADROOM);
});

Deno.test("runner: after a small read a quiet pipe's pending read holds the smallest buffer", async () => {
  const offered: number[] = [];
  const pieces = [new Uint8Array(10), new Uint8Array(10), new Uint8Array(3000)];
  let i = 0;
  const stream = new ReadableStream({
    type: "bytes",
    pull(controller) {
      const request = controller.byobRequest!;
      const view = request.view!;
      offered.push(view.byteLength);
      if (i === pieces.length) {
        controller.close();
        request.respond(0);
        return;
      }
      const n = Math.min(pieces[i].byteLength, view.byteLength);
      pieces[i] = pieces[i].subarray(n);
      if (pieces[i].byteLength === 0) i++;
      request.respond(n);
    },
  });
  const got: number[] = [];
  await pumpOutput(stream, (data) => {
    got.push(data.byteLength);
    return Promise.resolve();
  });
  // 4 KiB first; a 10-byte read shrinks it to the smallest at once; full reads double it.
  assert.deepEqual(offered.slice(0, 4), [
    START_READ_SIZE,
    MIN_READ_SIZE,
    MIN_READ_SIZE,
    MIN_READ_SIZE * 2,
  ]);
  assert.equal(got.reduce((a, b) => a + b, 0), 3020);
});

Deno.test("startFunction: the context is ProcessContext only, and every part destructures", async () => {
  const written: string[] = [];
  let seen: Record<string, unknown> = {};
  const process = startFunction(
    defineProcess({
      async run(ctx) {
        // Nothing of the runner's own controls reaches the function.
        for (const name of ["input", "abort", "closeInput", "endInput"]) assert.ok(!(name in ctx));
        const {
          params,
          paramsOmitted,
          stdin,
          stdout,
          stderr,
          signal,
          caller,
          sessionId,
          publish,
          write,
        } = ctx;
        assert.equal(ctx.write, write, "the same function on every read");
        await write("w");
        seen = { params, paramsOmitted, caller, sessionId, aborted: signal.aborted };
        const writer = stdout.getWriter();
        await writer.write(new TextEncoder().encode("out"));
        await stderr.getWriter().write(new TextEncoder().encode("err"));
        const input = await new Response(stdin).text();
        await assert.rejects(publish("t", 1), /no event bus/);
        return input;
      },
    }),
    {
      params: ["a"],
      caller: { id: "me" },
      sessionId: "s1",
      killGrace: 0,
      output: {
        write: (stream, data) => {
          written.push(`${stream}:${new TextDecoder().decode(data)}`);
          return Promise.resolve();
        },
      },
    },
  );
  await process.write(new TextEncoder().encode("in"));
  await process.closeInput();
  assert.deepEqual(await process.exited, { value: "in" });
  assert.deepEqual(seen, {
    params: ["a"],
    paramsOmitted: false,
    caller: { id: "me" },
    sessionId: "s1",
    aborted: false,
  });
  assert.deepEqual(written, ["stdout:w", "stdout:out", "stderr:err"]);
});

Deno.test("runner: a quiet pipe pins only its pending read's buffer, not the last read's", async () => {
  // 200 pumps that each read one short line and then wait: after a full garbage collection,
  // the ArrayBuffers alive (`external` memory) are each pump's pending 256-byte read and its
  // copied line, not also the 4 KiB buffer of the first read, which a suspended async
  // function could keep in a dead register. Run in a subprocess for `gc()`.
  const script = `
    import { pumpOutput } from ${JSON.stringify(new URL("./runner.ts", import.meta.url).href)};
    const pumps = 200;
    const kept = [];
    gc();
    await new Promise((resolve) => setTimeout(resolve, 0));
    const before = Deno.memoryUsage().external;
    let lines = 0;
    const read = Promise.withResolvers();
    for (let i = 0; i < pumps; i++) {
      let first = true;
      const stream = new ReadableStream({
        type: "bytes",
        pull(controller) {
          if (!first) return new Promise(() => {});
          first = false;
          const request = controller.byobRequest;
          request.view.set(new TextEncoder().encode("line " + i + "\\n"));
          request.respond(String(i).length + 6);
        },
      });
      kept.push(stream);
      pumpOutput(stream, (data) => {
        kept.push(data);
        if (++lines === pumps) read.resolve();
        return Promise.resolve();
      });
    }
    await read.promise;
    await new Promise((resolve) => setTimeout(resolve, 0));
    gc();
    gc();
    await new Promise((resolve) => setTimeout(resolve, 0));
    console.log(JSON.stringify({ perPump: (Deno.memoryUsage().external - before) / pumps }));
  `;
  const { perPump } = await evalWithGc(script) as { perPump: number };
  // The pending read (256 bytes and the headroom) and the line's copy: well under 1 KiB. The
  // first read's buffer alone would be 4 KiB more.
  assert.ok(perPump < 1024, `${perPump} bytes of ArrayBuffers per quiet pump`);
  assert.ok(perPump >= MIN_READ_SIZE, `${perPump} bytes per pump: the measurement saw nothing`);
});

/** Runs `body` as a function process whose output sink is `write`; answers its result. */
async function withOutput(
  write: (stream: string, data: Uint8Array) => Promise<void>,
  body: (ctx: ProcessContext) => Promise<unknown>,
): Promise<unknown> {
  const process = startFunction(defineProcess({ run: (ctx) => body(ctx) }), {
    ...options(),
    output: { write },
  });
  const exit = await process.exited;
  if (exit.failed) throw exit.error;
  return exit.value;
}

Deno.test("function output: writes are taken one at a time, in order, with backpressure", async () => {
  const taken: string[] = [];
  const waiting: (() => void)[] = [];
  const sink = (_stream: string, data: Uint8Array) => {
    taken.push(new TextDecoder().decode(data));
    return new Promise<void>((resolve) => waiting.push(resolve));
  };
  await withOutput(sink, async ({ stdout }) => {
    const writer = stdout.getWriter();
    assert.ok(writer instanceof WritableStreamDefaultWriter);
    assert.equal(writer.desiredSize, 1);
    const bytes = new TextEncoder().encode("a");
    const writes = [writer.write(bytes), writer.write(new TextEncoder().encode("b"))];
    bytes[0] = 0x7a; // the writer may reuse its buffer: what was written was copied
    writes.push(writer.write(new TextEncoder().encode("c")));
    let ready = false;
    void writer.ready.then(() => ready = true);
    await Promise.resolve();
    assert.deepEqual(taken, ["a"], "the next write waits until the sink took the last one");
    assert.equal(writer.desiredSize, 0);
    waiting.shift()!();
    await writes[0];
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.deepEqual(taken, ["a", "b"]);
    assert.equal(ready, false, "ready waits for every pending write");
    waiting.shift()!();
    await new Promise((resolve) => setTimeout(resolve, 0));
    waiting.shift()!();
    await Promise.all(writes);
    await writer.ready;
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.equal(ready, true);
    assert.equal(writer.desiredSize, 1);
    assert.deepEqual(taken, ["a", "b", "c"]);
    // close waits for a pending write; a write after close is refused.
    const last = writer.write(new TextEncoder().encode("d"));
    const closed = writer.close();
    await assert.rejects(writer.write(new Uint8Array(1)), TypeError);
    waiting.shift()!();
    await last;
    await closed;
    await writer.closed;
    assert.deepEqual(taken, ["a", "b", "c", "d"]);
  });
});

Deno.test("function output: a bad chunk or a failed write errors the stream", async () => {
  const ok = () => Promise.resolve();
  await withOutput(ok, async ({ stdout }) => {
    const writer = stdout.getWriter();
    await assert.rejects(
      writer.write("text" as unknown as Uint8Array),
      new TypeError("Cannot write to a function's output: expected a Uint8Array chunk, got string"),
    );
    await assert.rejects(writer.write(new Uint8Array(1)), TypeError);
    await assert.rejects(writer.closed, TypeError);
  });
  const gone = new Error("the session ended");
  await withOutput(() => Promise.reject(gone), async ({ stdout }) => {
    const writer = stdout.getWriter();
    await assert.rejects(writer.write(new Uint8Array(1)), gone);
    await assert.rejects(writer.write(new Uint8Array(1)), gone);
    await assert.rejects(writer.closed, gone);
  });
  const taken: number[] = [];
  await withOutput((_stream, data) => {
    taken.push(data.length);
    return Promise.resolve();
  }, async ({ stdout }) => {
    const writer = stdout.getWriter();
    await writer.write(new Uint8Array(1));
    const reason = new Error("stop");
    await writer.abort(reason);
    await assert.rejects(writer.write(new Uint8Array(2)), reason);
    await assert.rejects(writer.closed, reason);
  });
  assert.deepEqual(taken, [1], "nothing is written after an abort");
});

Deno.test("function output: one writer at a time; pipeTo and released writers behave as standard", async () => {
  const taken: string[] = [];
  const sink = (_stream: string, data: Uint8Array) => {
    taken.push(new TextDecoder().decode(data));
    return Promise.resolve();
  };
  await withOutput(sink, async ({ stdout }) => {
    const writer = stdout.getWriter();
    assert.equal(stdout.locked, true);
    assert.throws(() => stdout.getWriter(), TypeError);
    await assert.rejects(ReadableStream.from([new Uint8Array(1)]).pipeTo(stdout), TypeError);
    await writer.write(new TextEncoder().encode("1"));
    writer.releaseLock();
    await assert.rejects(writer.write(new Uint8Array(1)), TypeError);
    assert.equal(stdout.locked, false);
    const encoder = new TextEncoder();
    await ReadableStream.from(["2", "3"]).pipeThrough(new TextEncoderStream()).pipeTo(stdout, {
      preventClose: true,
    });
    await stdout.getWriter().write(encoder.encode("4"));
  });
  assert.deepEqual(taken, ["1", "2", "3", "4"]);
});

Deno.test("function output: write() takes a string as UTF-8 or a copy of bytes, to stdout or stderr", async () => {
  const taken: string[] = [];
  const decoder = new TextDecoder();
  await withOutput((stream, data) => {
    taken.push(`${stream}:${decoder.decode(data)}`);
    return Promise.resolve();
  }, async ({ write }) => {
    await write("héllo\n");
    const bytes = new TextEncoder().encode("abc");
    const written = write(bytes, { stream: "stderr" });
    bytes[0] = 0x7a; // the caller may reuse its buffer: what was written was copied
    await written;
    await write("", { stream: "stdout" });
  });
  assert.deepEqual(taken, ["stdout:héllo\n", "stderr:abc", "stdout:"]);
});

Deno.test("function output: write() refuses what is not text or bytes, and an unknown stream", async () => {
  const taken: number[] = [];
  await withOutput((_stream, data) => {
    taken.push(data.length);
    return Promise.resolve();
  }, async ({ write }) => {
    await assert.rejects(
      write(42 as unknown as string),
      new TypeError(
        "Cannot write to a function's output: expected a string or a Uint8Array, got number",
      ),
    );
    await assert.rejects(
      write(null as unknown as string),
      new TypeError(
        "Cannot write to a function's output: expected a string or a Uint8Array, got null",
      ),
    );
    await assert.rejects(
      write("x", { stream: "stdin" as "stdout" }),
      new TypeError(
        'Cannot write to a function\'s output: invalid stream "stdin", expected "stdout" or "stderr"',
      ),
    );
    // A refused write leaves the output usable.
    await write("ok");
  });
  assert.deepEqual(taken, [2]);
});

Deno.test("function output: write(), writers and pipeTo share one order, and write() waits for room", async () => {
  const taken: string[] = [];
  const waiting: (() => void)[] = [];
  const decoder = new TextDecoder();
  const sink = (stream: string, data: Uint8Array) => {
    taken.push(`${stream}:${decoder.decode(data)}`);
    return new Promise<void>((resolve) => waiting.push(resolve));
  };
  const release = async (until: number) => {
    while (taken.length < until || waiting.length > 0) {
      waiting.shift()?.();
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  };
  await withOutput(sink, async ({ stdout, stderr, write }) => {
    const out = stdout.getWriter();
    const err = stderr.getWriter();
    let firstDone = false;
    const writes = [out.write(new TextEncoder().encode("1")), write("2")];
    void writes[1].then(() => firstDone = true);
    writes.push(err.write(new TextEncoder().encode("3")), write("4", { stream: "stderr" }));
    writes.push(out.write(new TextEncoder().encode("5")));
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.deepEqual(taken, ["stdout:1"], "each write waits until the output took the one before");
    assert.equal(firstDone, false);
    assert.equal(out.desiredSize, 0, "a writer sees the queue as full while writes wait");
    await release(5);
    await Promise.all(writes);
    assert.equal(out.desiredSize, 1);
    out.releaseLock();
    // A pipe's write is made when the pipe has read its chunk; a write() made after that waits.
    const piped = ReadableStream.from([new TextEncoder().encode("6")]).pipeTo(stdout, {
      preventClose: true,
    });
    while (taken.length < 6) await new Promise((resolve) => setTimeout(resolve, 0));
    const after = write("7");
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.equal(taken.length, 6, "write() waits for the pipe's write to be taken");
    await release(7);
    await Promise.all([piped, after]);
  });
  assert.deepEqual(taken, [
    "stdout:1",
    "stdout:2",
    "stderr:3",
    "stderr:4",
    "stdout:5",
    "stdout:6",
    "stdout:7",
  ]);
});

Deno.test("function output: a failed write() rejects without breaking the writes after it", async () => {
  const gone = new Error("the log is full of holes");
  let fail = true;
  const taken: string[] = [];
  await withOutput((_stream, data) => {
    if (fail) {
      fail = false;
      return Promise.reject(gone);
    }
    taken.push(new TextDecoder().decode(data));
    return Promise.resolve();
  }, async ({ write }) => {
    const first = write("a");
    const second = write("b");
    await assert.rejects(first, gone);
    await second;
  });
  assert.deepEqual(taken, ["b"]);
});

Deno.test("function output: a bad chunk fails in its turn, after the writes queued before it", async () => {
  const taken: string[] = [];
  const waiting: (() => void)[] = [];
  await withOutput((_stream, data) => {
    taken.push(new TextDecoder().decode(data));
    return new Promise<void>((resolve) => waiting.push(resolve));
  }, async ({ stdout }) => {
    const writer = stdout.getWriter();
    const encoder = new TextEncoder();
    const first = writer.write(encoder.encode("1"));
    const second = writer.write(encoder.encode("5"));
    const bad = writer.write(42 as unknown as Uint8Array);
    const after = writer.write(encoder.encode("never"));
    while (waiting.length > 0 || taken.length < 2) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      waiting.shift()?.();
    }
    await first;
    await second;
    await assert.rejects(
      bad,
      new TypeError("Cannot write to a function's output: expected a Uint8Array chunk, got number"),
    );
    await assert.rejects(after, TypeError);
    await assert.rejects(writer.closed, TypeError);
  });
  assert.deepEqual(taken, ["1", "5"], "what was written before the bad chunk is not lost");
});

Deno.test("function output: refused writes nobody awaits are no unhandled errors", async () => {
  // An unhandled rejection would fail this test (and take a server down): every refusal of
  // `write` and of a writer is left unawaited here.
  const taken: string[] = [];
  const result = await withOutput((_stream, data) => {
    taken.push(new TextDecoder().decode(data));
    return Promise.resolve();
  }, async ({ write, stdout, stderr }) => {
    void write(42 as unknown as string);
    void write("x", { stream: "stdxxx" as "stdout" });
    const writer = stdout.getWriter();
    void writer.write("text" as unknown as Uint8Array); // errors stdout
    void writer.write(new Uint8Array(1)); // refused: the stream has errored
    writer.releaseLock();
    void writer.write(new Uint8Array(1)); // refused: released
    const err = stderr.getWriter();
    void err.close();
    void err.write(new Uint8Array(1)); // refused: closing
    await write("still here");
    return "done";
  });
  assert.equal(result, "done");
  assert.deepEqual(taken, ["still here"]);
});

Deno.test("startFunction: a function's params are its own, and a `then` that throws fails it", async () => {
  const params = Object.freeze(["a", "b"]);
  const shifted = startFunction(
    defineProcess({ run: ({ params }) => (params as string[]).shift() }),
    { ...options(), params },
  );
  assert.deepEqual(await shifted.exited, { value: "a" });
  assert.deepEqual(params, ["a", "b"]);
  const boom = new Error("no then for you");
  const odd = startFunction(
    defineProcess({
      run: () => ({
        get then(): unknown {
          throw boom;
        },
      }),
    }),
    options(),
  );
  const exit = await odd.exited;
  assert.equal(exit.failed, true);
  assert.equal(exit.error, boom);
});
