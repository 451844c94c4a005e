import assert from "node:assert/strict";
import { type RunOptions, spawnMode, startCommand } from "./runner.ts";
import { defineCommand } from "./process.ts";

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

Deno.test("runner signal sent right after the start still ends the command", async () => {
  const process = startCommand(defineCommand(["sleep", "30"]), options());
  process.kill("SIGTERM");
  assert.deepEqual(await process.exited, { signal: "SIGTERM" });
});
