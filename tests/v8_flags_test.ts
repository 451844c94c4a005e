/**
 * The README promises that `deno task start`'s `--max-semi-space-size=4` (or the same flag in
 * `DENO_V8_FLAGS`) bounds V8's young generation: checked on a Deno subprocess that churns
 * short-lived objects, by the size of its `new_space`.
 */
import assert from "node:assert/strict";

const CHURN = `
import v8 from "node:v8";
let keep = [];
for (let i = 0; i < 2_000_000; i++) { keep.push({ i }); if (keep.length > 100_000) keep = []; }
console.log(v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space").space_size);
`;

async function newSpace(args: string[], env: Record<string, string> = {}): Promise<number> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", ...args, CHURN],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return Number(new TextDecoder().decode(out.stdout).trim());
}

Deno.test("deno task start's V8 flag (and DENO_V8_FLAGS) keep the young generation at 8 MiB", async () => {
  const tasks = JSON.parse(Deno.readTextFileSync(new URL("../deno.json", import.meta.url))).tasks;
  const flag = /--v8-flags=(\S+)/.exec(tasks.start)?.[1];
  assert.equal(flag, "--max-semi-space-size=4");
  const limit = 8 * 1024 * 1024;
  // Without it, the same churn grows the young generation past the bound: the check can fail.
  assert.ok(await newSpace([]) > limit);
  assert.ok(await newSpace([`--v8-flags=${flag}`]) <= limit);
  assert.ok(await newSpace([], { DENO_V8_FLAGS: flag }) <= limit);
});
