import assert from "node:assert/strict";
import {
  closeLedger,
  flushGroups,
  lstartSeconds,
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

Deno.test("with ps instead of /proc, every reading of a process's start is the same second", async () => {
  // A server with a scoped --allow-run list reads start times with ps (Deno 2.9 reads /proc
  // only with --allow-all). Six readings 300 ms apart must agree exactly: the sweep compares
  // readings taken by two servers to tell a crashed server's groups from reused pids. (Start
  // times worked out from the age ps prints changed between readings.)
  const dir = await Deno.makeTempDir({ prefix: "pow-ps-start-" });
  try {
    const script = `${dir}/read.ts`;
    await Deno.writeTextFile(
      script,
      `import { processStartTime } from ${
        JSON.stringify(new URL("./process_ledger.ts", import.meta.url).href)
      };
      const pid = Number(Deno.args[0]);
      const readings = [];
      for (let i = 0; i < 6; i++) {
        readings.push(processStartTime(pid));
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      console.log(JSON.stringify([readings, processStartTime(1)]));`,
    );
    const child = sleeper();
    try {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-run=ps", script, String(child.pid)],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(out.success, new TextDecoder().decode(out.stderr));
      const [readings, init] = JSON.parse(new TextDecoder().decode(out.stdout));
      const first = readings[0];
      assert.match(first, /^s\d{10}$/, "read with ps (s<seconds>), not from /proc");
      assert.deepEqual(readings, Array(6).fill(first));
      assert.match(init, /^s\d{10}$/);
      // And it is the process's start: within a few seconds of now, since it just started.
      assert.ok(Math.abs(Number(first.slice(1)) - Date.now() / 1000) < 30);
    } finally {
      child.kill();
      await child.status;
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ps start times: lstart in UTC and the C locale, single-digit days padded", () => {
  assert.equal(lstartSeconds("Fri Nov 27 06:18:24 2026"), Date.UTC(2026, 10, 27, 6, 18, 24) / 1000);
  assert.equal(lstartSeconds("Tue Dec  1 00:00:00 2026"), Date.UTC(2026, 11, 1) / 1000);
  for (const bad of ["", "Fri Nov 27 2026", "Fri Foo 27 06:18:24 2026", "27 Nov 06:18:24 2026"]) {
    assert.equal(lstartSeconds(bad), undefined, bad);
  }
});
