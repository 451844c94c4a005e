import assert from "node:assert/strict";
import {
  closeLedger,
  flushGroups,
  openLedger,
  processStartTime,
  recordGroup,
} from "./process_ledger.ts";

function sleeper(): Deno.ChildProcess {
  return new Deno.Command("sleep", { args: ["30"], stdout: "null", stderr: "null" }).spawn();
}

function ledgerText(dir: string): string {
  const file = [...Deno.readDirSync(dir)].find((e) => e.name === `${Deno.pid}.ledger`);
  return file ? Deno.readTextFileSync(`${dir}/${file.name}`) : "";
}

Deno.test("recordGroup: groups are written in batches, with their start time; a quick one never", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pow-ledger-" });
  openLedger(dir);
  const child = sleeper();
  try {
    const ended = recordGroup(child.pid);
    const quick = recordGroup(2147483001); // no such process: ends before the batch is written
    quick();
    assert.doesNotMatch(ledgerText(dir), new RegExp(`\\+${child.pid} `));
    flushGroups();
    const start = processStartTime(child.pid);
    assert.ok(start);
    const text = ledgerText(dir);
    assert.match(text, new RegExp(`\\n\\+${child.pid} ${start}\\n$`));
    assert.doesNotMatch(text, /2147483001/);
    ended();
    ended(); // twice is once
    flushGroups();
    assert.match(ledgerText(dir), new RegExp(`\\n\\+${child.pid} ${start}\\n-${child.pid}\\n$`));
  } finally {
    child.kill("SIGKILL");
    await child.status;
    closeLedger();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("recordGroup: the batch is written by itself soon after the spawn", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pow-ledger-" });
  openLedger(dir);
  const child = sleeper();
  try {
    const ended = recordGroup(child.pid);
    while (!ledgerText(dir).includes(`+${child.pid} `)) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    ended();
    while (!ledgerText(dir).includes(`-${child.pid}`)) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  } finally {
    child.kill("SIGKILL");
    await child.status;
    closeLedger();
    // Closed with no group left: the ledger file is gone.
    assert.equal(ledgerText(dir), "");
    await Deno.remove(dir, { recursive: true });
  }
});
