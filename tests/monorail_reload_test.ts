/**
 * SIGHUP reloads the process catalogue of a real `main.ts` server: MonoRail watchers of
 * `processes` see the changes, and a bad config is refused with its key-path message.
 */

import assert from "node:assert/strict";
import { Rail } from "./_monorail.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** Reads a child's output line by line. */
class Lines {
  #reader: ReadableStreamDefaultReader<string>;
  #buffer = "";
  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  }
  /** The next line that starts with `prefix` (the server also logs other lines). */
  async find(prefix: string): Promise<string> {
    while (true) {
      const line = await this.next();
      if (line.startsWith(prefix)) return line;
    }
  }
  async next(): Promise<string> {
    while (!this.#buffer.includes("\n")) {
      const { value, done } = await this.#reader.read();
      if (done) throw new Error(`Output ended; rest: ${JSON.stringify(this.#buffer)}`);
      this.#buffer += value;
    }
    const at = this.#buffer.indexOf("\n");
    const line = this.#buffer.slice(0, at);
    this.#buffer = this.#buffer.slice(at + 1);
    return line;
  }
  async cancel(): Promise<void> {
    await this.#reader.cancel();
  }
}

Deno.test("monorail watchers see a SIGHUP reload of the catalogue, and a bad reload is refused", async () => {
  const file = await Deno.makeTempFile({ suffix: ".yaml" });
  await Deno.writeTextFile(
    file,
    "processes:\n  a: { command: [echo, a] }\n  b: { command: [echo, b] }\n",
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "--config", file, "--port", "0"],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout = new Lines(child.stdout);
  const stderr = new Lines(child.stderr);
  try {
    const listening = /^Listening on (http:\/\/127\.0\.0\.1:\d+\/)$/.exec(await stdout.next());
    assert.ok(listening);
    const base = new URL(listening[1].replace("http", "ws"));
    const rail = await new Rail(base, "processes").open();
    rail.send({ handler: "watch" });
    assert.deepEqual((await rail.next()).items.map((p: { name: string }) => p.name), ["a", "b"]);

    await Deno.writeTextFile(
      file,
      "processes:\n  a: { command: [echo, a], description: changed }\n  c: { command: [echo, c] }\n",
    );
    child.kill("SIGHUP");
    assert.equal(
      await stderr.find("pow: config"),
      "pow: config reloaded: 1 added, 1 changed, 1 removed",
    );
    const changes = [await rail.next(), await rail.next(), await rail.next()];
    assert.deepEqual(changes.map(({ seq: _, ...m }) => m), [
      { handler: "remove", params: { name: "b" } },
      { handler: "item", data: { name: "a", description: "changed", params: [], pty: false } },
      { handler: "item", data: { name: "c", params: [], pty: false } },
    ]);

    await Deno.writeTextFile(file, "processes:\n  d:\n    command: []\n");
    child.kill("SIGHUP");
    assert.equal(
      await stderr.find("pow: config"),
      `pow: config reload refused: Invalid config "${file}" at processes.d.command (line 3): must name a program`,
    );
    // The old catalogue stays, and watchers saw nothing.
    rail.send({ handler: "all" });
    const all = await rail.next();
    assert.equal(all.handler, "list");
    assert.deepEqual(all.items.map((p: { name: string }) => p.name), ["a", "c"]);
    await rail.close();
  } finally {
    child.kill("SIGTERM");
    assert.equal((await child.status).code, 0);
    await stdout.cancel();
    await stderr.cancel();
    await Deno.remove(file);
  }
});
