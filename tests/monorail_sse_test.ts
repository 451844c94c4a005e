/**
 * The MonoRail channels as server-sent events, resumed with `Last-Event-ID`.
 */

import assert from "node:assert/strict";
import { startServer, withTimeout } from "./_helpers.ts";

interface SseEvent {
  event: string;
  id?: string;
  // deno-lint-ignore no-explicit-any
  data: any;
}

/** Reads server-sent events one at a time. */
class EventReader {
  #reader: ReadableStreamDefaultReader<string>;
  #buffer = "";
  constructor(response: Response) {
    this.#reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  }
  async next(): Promise<SseEvent> {
    while (true) {
      const end = this.#buffer.indexOf("\n\n");
      if (end >= 0) {
        const block = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end + 2);
        if (block.startsWith(":")) continue;
        const event: SseEvent = { event: "message", data: undefined };
        for (const line of block.split("\n")) {
          const colon = line.indexOf(": ");
          const [key, value] = [line.slice(0, colon), line.slice(colon + 2)];
          if (key === "event") event.event = value;
          if (key === "id") event.id = value;
          if (key === "data") event.data = JSON.parse(value);
        }
        return event;
      }
      const { value, done } = await withTimeout(this.#reader.read(), 5000, "an event");
      if (done) throw new Error("Stream ended");
      this.#buffer += value;
    }
  }
  async cancel(): Promise<void> {
    await this.#reader.cancel();
  }
}

Deno.test("monorail sessions as server-sent events resume after Last-Event-ID without loss", async () => {
  await using server = await startServer();
  const manager = server.running.server.manager;
  const caller = { id: "anonymous" };
  const url = new URL("events/sessions", server.url);
  const first = new EventReader(
    await fetch(url, { headers: { accept: "text/event-stream" } }),
  );
  const list = await first.next();
  assert.equal(list.event, "list");
  assert.deepEqual(list.data.items, []);
  assert.equal(list.id, String(list.data.seq));
  const one = manager.start("count", ["1"], { caller });
  await one.result;
  const states: string[] = [];
  let last = list.id!;
  while (states.at(-1) !== "fulfilled") {
    const event = await first.next();
    assert.equal(event.event, "item");
    assert.equal(event.id, String(event.data.seq));
    states.push(event.data.data.state);
    last = event.id!;
  }
  assert.deepEqual(states, ["starting", "running", "fulfilled"]);
  await first.cancel();

  // Meanwhile: another session runs and ends; then the stream resumes after the last event.
  const two = manager.start("count", ["2"], { caller });
  await two.result;
  const resumed = new EventReader(
    await fetch(url, { headers: { accept: "text/event-stream", "last-event-id": last } }),
  );
  const replayed: string[] = [];
  while (replayed.at(-1) !== "fulfilled") {
    const event = await resumed.next();
    assert.equal(event.event, "item");
    assert.equal(event.data.data.id, two.id);
    replayed.push(event.data.data.state);
  }
  assert.deepEqual(replayed, ["starting", "running", "fulfilled"]);
  await resumed.cancel();
});

Deno.test("monorail logs as server-sent events resume at the offset of the last event", async () => {
  await using server = await startServer();
  const manager = server.running.server.manager;
  const echo = manager.start("echo", [], { caller: { id: "anonymous" } });
  await echo.write("one\n");
  const url = new URL(
    `events/logs?params=${encodeURIComponent(JSON.stringify({ session: echo.id }))}`,
    server.url,
  );
  const first = new EventReader(await fetch(url, { headers: { accept: "text/event-stream" } }));
  const list = await first.next();
  assert.deepEqual(list.data.items.map((i: { text: string }) => i.text), ["one\n"]);
  assert.equal(list.id, "4");
  await first.cancel();
  await echo.write("two\n");
  await echo.closeInput();
  await echo.result;
  const resumed = new EventReader(
    await fetch(url, { headers: { accept: "text/event-stream", "last-event-id": "4" } }),
  );
  const rest = await resumed.next();
  assert.deepEqual(rest.data.items, [
    { session: echo.id, stream: "stdout", offset: 4, next: 8, text: "two\n" },
  ]);
  assert.equal(rest.id, "8");
  const end = await resumed.next();
  assert.equal(end.event, "remove");
  assert.deepEqual(end.data.params, {
    session: echo.id,
    offset: 8,
    result: { status: "fulfilled", value: [] },
  });
  await resumed.cancel();

  const bad = await fetch(new URL("events/sessions?params=[1]", server.url), {
    headers: { accept: "text/event-stream" },
  });
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).code, "bad_params");
});
