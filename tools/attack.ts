/**
 * `deno task attack`: the attacks of issue 10 that this branch defends against, run against
 * real server subprocesses, with a Markdown table of what was tried and what happened (the
 * table at the end of docs/security.md comes from this tool).
 *
 * ```sh
 * deno task attack              # every attack, default counts
 * deno task attack --scale 0.1  # a tenth of the counts, for a quick look
 * ```
 *
 * Exits 1 when any attack got an answer other than the defended one.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { hashToken } from "../server/auth.ts";
import { Authenticator } from "../server/auth.ts";
import { fuzz } from "./fuzz.ts";
import { startServerProcess } from "./_server_process.ts";

/** One row of the table. */
export interface AttackResult {
  /** What was tried. */
  kind: string;
  /** How many times. */
  count: number;
  /** What happened. */
  result: string;
  /** Whether every attempt was defended. */
  ok: boolean;
}

const TOKEN = "attack-token-0123456789";

async function raw(url: URL, head: string): Promise<{ status: number; body: string }> {
  const conn = await Deno.connect({ hostname: url.hostname, port: Number(url.port) });
  try {
    await conn.write(new TextEncoder().encode(`${head}\r\nConnection: close\r\n\r\n`));
    let text = "";
    const buffer = new Uint8Array(65536);
    const decoder = new TextDecoder();
    for (let n; (n = await conn.read(buffer)) !== null;) {
      text += decoder.decode(buffer.subarray(0, n), { stream: true });
    }
    return { status: Number(text.slice(9, 12)), body: text.slice(text.indexOf("\r\n\r\n") + 4) };
  } finally {
    conn.close();
  }
}

function tally(statuses: number[]): string {
  const counts = new Map<number, number>();
  for (const s of statuses) counts.set(s, (counts.get(s) ?? 0) + 1);
  return [...counts].sort().map(([s, n]) => `${n}× ${s}`).join(", ");
}

/** Ends (SIGKILL) this tool's escaped processes: those whose argv includes `arg`. */
function killByArg(arg: string): void {
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const argv = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).split("\0");
      if (argv.includes(arg)) Deno.kill(Number(entry.name), "SIGKILL");
    } catch {
      // gone
    }
  }
}

function members(pgid: number): number {
  let n = 0;
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[2]) === pgid && fields[0] !== "Z") n++;
    } catch {
      // gone
    }
  }
  return n;
}

/**
 * Runs every attack.
 *
 * @param scale Multiplies the counts.
 * @returns One row per attack.
 */
export async function attack(scale = 1): Promise<AttackResult[]> {
  const n = (count: number) => Math.max(1, Math.round(count * scale));
  const rows: AttackResult[] = [];
  const dir = await Deno.makeTempDir({ prefix: "pow-attack-" });
  const config = `${dir}/pow.yaml`;
  const root = Deno.uid() === 0;
  // The escaped processes are found (and ended) by this argument afterwards.
  const marker = `600.${Deno.pid}`;
  Deno.writeTextFileSync(
    config,
    `server: { stateDir: ${dir}/state }
auth:
  tokens:
    - { name: alice, hash: "${hashToken(TOKEN)}" }
    - { name: bob, hash: "${hashToken(`${TOKEN}-bob`)}" }
  ticketsPerCaller: 100
sessions: { killGrace: 300ms }
processes:
  tree: { command: [sh, -c, 'sleep 600 & sleep 600'] }
  escape:
    command:
      - sh
      - -c
      - d=$(mktemp -d); mkfifo "$d/f"; setsid sh -c "echo > '$d/f'; exec sleep ${marker}" & read _ < "$d/f"; rm -r "$d"; echo started
${root ? "  gid: { command: [id, -g], user: 65534, cwd: / }\n" : ""}`,
  );
  const bearer = { authorization: `Bearer ${TOKEN}` };
  try {
    // 1. Malformed Host on a server with tokens.
    {
      const server = await startServerProcess(config);
      try {
        const before = server.stderr.length;
        const statuses: number[] = [];
        let bodies = 0;
        for (let i = 0; i < n(1000); i++) {
          const answer = await raw(
            server.url,
            `GET /api/v2/processes HTTP/1.1\r\nHost: ${
              ["a b", "x<y", "[::", "a|b"][i % 4]
            }\r\nAuthorization: Bearer ${TOKEN}`,
          );
          statuses.push(answer.status);
          if (answer.body === "invalid Host header") bodies++;
        }
        const logged = server.stderr.length - before;
        rows.push({
          kind: "malformed `Host` (`a b`, `x<y`, `[::`, `a|b`), server with tokens",
          count: statuses.length,
          result: `${tally(statuses)} \`invalid Host header\`; ${logged} bytes logged`,
          ok: bodies === statuses.length && logged === 0,
        });
        // 2. OpenAPI servers with an arbitrary Host.
        let echoed = 0;
        for (let i = 0; i < n(200); i++) {
          const answer = await raw(
            server.url,
            `GET /openapi.json HTTP/1.1\r\nHost: evil${i}.example`,
          );
          if (answer.body.includes(`evil${i}`)) echoed++;
        }
        rows.push({
          kind: "`/openapi.json` with a foreign `Host`",
          count: n(200),
          result: `Host echoed in \`servers\` ${echoed} times`,
          ok: echoed === 0,
        });
        // 3. Tickets: minting, REST routes, the per-caller bound.
        const ticket = async () =>
          (await (await fetch(new URL("tickets", server.url), { method: "POST", headers: bearer }))
            .json()).ticket as string;
        const minted: number[] = [];
        const rest: number[] = [];
        for (let i = 0; i < n(50); i++) {
          const a = await fetch(new URL(`tickets?ticket=${await ticket()}`, server.url), {
            method: "POST",
          });
          minted.push(a.status);
          await a.body?.cancel();
          const b = await fetch(new URL(`api/v2/sessions?ticket=${await ticket()}`, server.url));
          rest.push(b.status);
          await b.body?.cancel();
        }
        rows.push({
          kind: "a ticket used to mint a ticket",
          count: minted.length,
          result: tally(minted),
          ok: minted.every((s) => s === 401),
        });
        rows.push({
          kind: "a ticket used on a REST route (`GET sessions`)",
          count: rest.length,
          result: tally(rest),
          ok: rest.every((s) => s === 401),
        });
        const issued: number[] = [];
        for (let i = 0; i < 150; i++) {
          const r = await fetch(new URL("tickets", server.url), {
            method: "POST",
            headers: { authorization: `Bearer ${TOKEN}-bob` },
          });
          issued.push(r.status);
          await r.body?.cancel();
        }
        rows.push({
          kind: "150 tickets requested by one caller (`ticketsPerCaller: 100`)",
          count: 150,
          result: tally(issued),
          ok: issued.filter((s) => s === 200).length <= 100 && issued.includes(429),
        });
        // A numeric user gets its own primary group.
        if (root) {
          const created = await (await fetch(new URL("api/v2/sessions", server.url), {
            method: "POST",
            headers: bearer,
            body: JSON.stringify({ name: "gid", params: [] }),
          })).json();
          const events = await (await fetch(
            new URL(`api/v2/sessions/${created.session}/events`, server.url),
            { headers: bearer },
          )).text();
          const gid = /"data":"(\d+)\\n"/.exec(events)?.[1];
          rows.push({
            kind: "`user: 65534` (numeric), server running as root: the child's `id -g`",
            count: 1,
            result: `gid ${gid}`,
            ok: gid !== undefined && gid !== "0",
          });
        }
        // 4. A descendant that escapes with setsid and holds the pipe.
        const times: number[] = [];
        for (let i = 0; i < n(5); i++) {
          const start = performance.now();
          const created = await (await fetch(new URL("api/v2/sessions", server.url), {
            method: "POST",
            headers: bearer,
            body: JSON.stringify({ name: "escape", params: [] }),
          })).json();
          await (await fetch(
            new URL(`api/v2/sessions/${created.session}/events`, server.url),
            { headers: bearer },
          )).text();
          times.push(performance.now() - start);
        }
        rows.push({
          kind: "a child's `setsid` descendant holds the output pipe (killGrace 300 ms)",
          count: times.length,
          result: `every session ended, after ${Math.round(Math.min(...times))}–${
            Math.round(Math.max(...times))
          } ms`,
          ok: times.every((t) => t < 10_000),
        });
      } finally {
        await server.stop();
      }
    }
    // 5. kill -9 of the server: what is left after a restart.
    {
      const first = await startServerProcess(config);
      const pgids: number[] = [];
      for (let i = 0; i < 3; i++) {
        const created = await (await fetch(new URL("api/v2/sessions", first.url), {
          method: "POST",
          headers: bearer,
          body: JSON.stringify({ name: "tree", params: [] }),
        })).json();
        pgids.push(created.pid);
      }
      while (pgids.reduce((sum, g) => sum + members(g), 0) < 9) {
        await new Promise((r) => setTimeout(r, 20));
      }
      Deno.kill(first.pid, "SIGKILL");
      await first.stop();
      const orphaned = pgids.reduce((sum, g) => sum + members(g), 0);
      const second = await startServerProcess(config);
      let left = pgids.reduce((sum, g) => sum + members(g), 0);
      for (let i = 0; i < 100 && left > 0; i++) {
        await new Promise((r) => setTimeout(r, 20));
        left = pgids.reduce((sum, g) => sum + members(g), 0);
      }
      await second.stop();
      rows.push({
        kind: "`kill -9` of the server with 3 sessions (9 processes), then a restart",
        count: 1,
        result: `${orphaned} processes orphaned after the kill, ${left} running after the restart`,
        ok: left === 0,
      });
    }
    // 6. Ticket issue cost with 60,000 outstanding (in process).
    {
      const auth = new Authenticator({ tokens: [], anonymous: false, ticketTtl: 30_000 });
      for (let i = 0; i < 60_000; i++) auth.issueTicket({ id: `c${i}` });
      const start = performance.now();
      for (let i = 0; i < 10_000; i++) auth.issueTicket({ id: `d${i}` });
      const perSecond = Math.round(10_000 / ((performance.now() - start) / 1000));
      rows.push({
        kind: "ticket issuing with 60,000 outstanding",
        count: 10_000,
        result: `${perSecond.toLocaleString("en")} tickets/s`,
        ok: perSecond > 3000,
      });
    }
    // 7. The fuzzer's Host and upload lanes.
    for (const [lane, frames] of [["host", n(20_000)], ["upload", n(5000)]] as const) {
      const report = await fuzz({ lane, frames, seed: 1 });
      const classes = Object.entries(report.classes)
        .map(([key, value]) => `${key.split("/")[1]} ${value}`).join(", ");
      rows.push({
        kind: `fuzz lane \`${lane}\` (seed 1): ${classes}`,
        count: report.frames,
        result: `${report.violations.length} violations`,
        ok: report.violations.length === 0,
      });
    }
  } finally {
    killByArg(marker);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  return rows;
}

if (import.meta.main) {
  const { values } = parseArgs({ args: Deno.args, options: { scale: { type: "string" } } });
  const rows = await attack(values.scale ? Number(values.scale) : 1);
  console.log("| attack | count | result | defended |");
  console.log("| --- | --- | --- | --- |");
  for (const row of rows) {
    console.log(`| ${row.kind} | ${row.count} | ${row.result} | ${row.ok ? "yes" : "**no**"} |`);
  }
  Deno.exit(rows.every((r) => r.ok) ? 0 : 1);
}
