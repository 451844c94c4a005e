/**
 * Workload 8: cluster mode. Two pow nodes on one `redis-server` (started here on a free port):
 * bulk output read on the other node next to the same read on the node that runs the process,
 * attach latency across nodes next to a local attach, and the lag of an end event across nodes
 * (a cancel on node A until the `exit` reaches a client attached on node B) next to the same on A.
 *
 * Rows are skipped when `redis-server` is not installed.
 *
 * @module
 */

import { PowClient } from "../client/mod.ts";
import { num, type Row } from "./_report.ts";
import { startPow } from "./_servers.ts";
import { quantile } from "./_util.ts";
import type { BenchContext } from "./_workloads.ts";
import { hasRedis, startRedis } from "../tests/_redis.ts";

const workload = "8. cluster";

/** Measured reads per bulk-output row (after one that is not counted); the row is their median. */
const BULK_READS = 3;

async function sha256(parts: Uint8Array[]): Promise<string> {
  const bytes = new Uint8Array(await new Blob(parts as BlobPart[]).arrayBuffer());
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

function httpUrl(ws: string): string {
  return ws.replace(/^ws/, "http");
}

async function startSession(node: string, name: string, params: string[]): Promise<string> {
  const response = await fetch(new URL("api/v2/sessions", httpUrl(node)), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name, params }),
  });
  if (response.status !== 201) {
    throw new Error(`start ${name} on ${node}: ${response.status} ${await response.text()}`);
  }
  return (await response.json()).session;
}

async function readAll(client: PowClient, session: string) {
  const proc = client.attach(session, { offset: 0 });
  const parts: Uint8Array[] = [];
  const t0 = performance.now();
  for await (const chunk of proc.stdout) parts.push(chunk);
  const ms = performance.now() - t0;
  const result = await proc.result;
  const bytes = parts.reduce((n, p) => n + p.byteLength, 0);
  // Bytes the server said it no longer had (`gap`): none here, where retention holds it all.
  return { ms, bytes, skipped: proc.skipped, hash: await sha256(parts), result };
}

/**
 * Runs workload 8.
 *
 * @param ctx The sizes and the log.
 * @returns Its rows.
 */
export async function cluster(ctx: BenchContext): Promise<Row[]> {
  const bytes = Math.max(100_000, Math.floor(ctx.sizes.bulkBytes / 10));
  const calls = ctx.sizes.calls;
  const labels = {
    bulkSingle: `cluster: bulk output ${
      num(bytes / 1e6)
    } MB, one node without a cluster (reference)`,
    bulkLocal: `cluster: bulk output ${num(bytes / 1e6)} MB, reader on the node running it`,
    bulkRemote: `cluster: bulk output ${num(bytes / 1e6)} MB, reader on another node`,
    attachLocal: "cluster: attach, on the node running it",
    attachRemote: "cluster: attach, from another node",
    endLocal: "cluster: end event (cancel until exit), client on the node running it",
    endRemote: "cluster: end event (cancel until exit), client on another node",
  };
  const base = (label: string, unit: string, higherIsBetter: boolean) => ({
    workload,
    subject: "pow.v2" as const,
    label,
    unit,
    higherIsBetter,
  });
  if (!hasRedis) {
    return Object.values(labels).map((label) => ({
      ...base(label, "", true),
      ok: true,
      skipped: "redis-server not installed",
    }));
  }
  ctx.log(`${workload}: two nodes on one redis-server`);
  const redis = await startRedis();
  const dir = await Deno.makeTempDir();
  const config = async (node: string) => {
    const file = `${dir}/${node}.yaml`;
    await Deno.writeTextFile(
      file,
      `${
        node === "single" ? "" : `cluster: { redis: "${redis.url}", node: ${node} }\n`
      }sessions: { retention: 64MiB, linger: 1s, max: 100000, maxPerCaller: 100000 }
processes:
  gen:
    command: [head, -c, "{1}", ${JSON.stringify(ctx.data.path)}]
    params: [{ name: n, pattern: "[0-9]{1,10}" }]
  cat:
    command: [cat]
`,
    );
    return file;
  };
  const [a, b, single] = await Promise.all([
    startPow({ config: await config("a") }),
    startPow({ config: await config("b") }),
    startPow({ config: await config("single") }),
  ]);
  const onA = new PowClient(a.url);
  const onB = new PowClient(b.url);
  const onSingle = new PowClient(single.url);
  const rows: Row[] = [];
  try {
    // 1. Bulk output: started without a reader (REST), then read from offset 0. One read each
    // first that is not counted (a fresh server's and client's first transfer runs before the
    // JIT has compiled their paths), then the median of three; any read that fails fails the row.
    type Read = Awaited<ReturnType<typeof readAll>>;
    const problem = (r: Read) =>
      r.bytes === bytes && r.skipped === 0 && r.result.status === "fulfilled"
        ? ""
        : `${r.bytes} of ${bytes} B (${r.skipped} B reported skipped), ${JSON.stringify(r.result)}`;
    // `again`: the same session read again on node a, right after (a session lingers 1 s).
    const read = async (client: PowClient, node: string, again?: PowClient) => {
      await readAll(client, await startSession(node, "gen", [String(bytes)]));
      const reads: Read[] = [];
      let bad = "";
      for (let i = 0; i < BULK_READS; i++) {
        const session = await startSession(node, "gen", [String(bytes)]);
        const r = await readAll(client, session);
        reads.push(r);
        bad ||= problem(r);
        // The same bytes on both nodes: compared with the stream's own hash on node a.
        if (again && !bad && (await readAll(again, session)).hash !== r.hash) {
          bad = "sha256 differs from the read on node a";
        }
      }
      const median = reads.sort((x, y) => x.ms - y.ms)[reads.length >> 1];
      return { median, bad };
    };
    const bulk = [
      [labels.bulkSingle, await read(onSingle, single.url)],
      [labels.bulkLocal, await read(onA, a.url)],
      [labels.bulkRemote, await read(onB, a.url, onA)],
    ] as const;
    for (const [label, { median, bad }] of bulk) {
      const value = median.bytes / 1e6 / (median.ms / 1000);
      rows.push({
        ...base(label, "MB/s", true),
        value,
        shown: `${num(value)} MB/s, median of ${BULK_READS} reads`,
        ok: bad === "",
        check: bad || `each of ${BULK_READS} reads: ${median.bytes} B, fulfilled`,
      });
    }

    // 2. Attach latency.
    const catSession = await startSession(a.url, "cat", []);
    for (
      const [label, client] of [[labels.attachLocal, onA], [labels.attachRemote, onB]] as const
    ) {
      const samples: number[] = [];
      for (let i = 0; i < calls; i++) {
        const t0 = performance.now();
        const proc = client.attach(catSession, { offset: 0 });
        await proc.started;
        samples.push(performance.now() - t0);
        await proc.cancel().catch(() => {}); // detaches the channel; the session goes on
      }
      const p50 = quantile(samples, 0.5);
      rows.push({
        ...base(label, "ms", false),
        value: p50,
        shown: `p50 ${num(p50)} ms, p99 ${num(quantile(samples, 0.99))} ms`,
        ok: true,
        check: `${samples.length} attaches`,
      });
    }

    // 3. End event lag.
    for (const [label, client] of [[labels.endLocal, onA], [labels.endRemote, onB]] as const) {
      const samples: number[] = [];
      let failures = 0;
      for (let i = 0; i < calls; i++) {
        const id = await startSession(a.url, "cat", []);
        const proc = client.attach(id);
        await proc.started;
        const t0 = performance.now();
        await fetch(new URL(`api/v2/sessions/${id}/signal`, httpUrl(a.url)), {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ signal: "cancel" }),
        }).then((r) => r.body?.cancel());
        const result = await proc.result;
        samples.push(performance.now() - t0);
        if (result.status !== "rejected") failures++;
      }
      const p99 = quantile(samples, 0.99);
      rows.push({
        ...base(label, "ms", false),
        value: p99,
        shown: `p50 ${num(quantile(samples, 0.5))} ms, p99 ${num(p99)} ms`,
        ok: failures === 0,
        check: `${samples.length} cancels, ${failures} not rejected`,
      });
    }
  } catch (error) {
    rows.push({
      ...base("cluster", "", true),
      ok: false,
      check: error instanceof Error ? error.message : String(error),
    });
  } finally {
    await Promise.allSettled([onA.close(), onB.close(), onSingle.close()]);
    await Promise.allSettled([a.stop(), b.stop(), single.stop()]);
    await redis.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  for (const row of rows) ctx.log(`  ${row.label}: ${row.shown ?? row.check}`);
  return rows;
}
