/**
 * Workload 9: MonoRail watchers. Many connections watch the `sessions` channel of one server
 * while sessions start and end as fast as the machine allows. Measures events delivered per
 * second (all watchers together), the lag from a state change to its delivery (for the states
 * whose time the item carries: `starting` from `createdAt`, the end from `endedAt`), and the
 * server's RSS. Checks that every watcher's final view equals the server's session list.
 *
 * @module
 */

import { num, type Row } from "./_report.ts";
import { startPow } from "./_servers.ts";
import { pool, quantile, rss, within } from "./_util.ts";
import type { BenchContext } from "./_workloads.ts";

/** CPU seconds a process has used (user and system), from `/proc/<pid>/stat`. */
function cpuSeconds(pid: number): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

interface Watcher {
  socket: WebSocket;
  view: Map<string, string>;
  messages: number;
  ended: number;
  lags: number[];
  done: PromiseWithResolvers<void>;
}

/**
 * MonoRail: watchers of `sessions` while sessions start and end.
 *
 * @param ctx The context.
 * @returns The rows.
 */
export async function watchers(ctx: BenchContext): Promise<Row[]> {
  const { log } = ctx;
  const { watchers: count, watchedSessions: sessions } = ctx.sizes;
  const workload = "9. watchers";
  const label = `MonoRail: ${count} watchers of \`sessions\` while ${sessions} sessions ` +
    "(`ticker 0`) start and end, events delivered per second";
  const base = { workload, subject: "monorail" as const, label, unit: "events/s" };
  log(`${workload}: ${count} watchers, ${sessions} sessions`);
  const t0 = performance.now();
  let server;
  try {
    // The demo config (for `ticker`) with the bench's limits: 1,000 watchers and the
    // connections that start sessions all come from 127.0.0.1.
    server = await startPow({ script: "bench/demo_server.ts" });
  } catch (error) {
    return [{ ...base, higherIsBetter: true, ok: false, check: (error as Error).message }];
  }
  const http = server.url.replace(/^ws/, "http");
  const all: Watcher[] = [];
  try {
    await pool(Array.from({ length: count }, (_, i) => i), 50, async () => {
      const socket = new WebSocket(new URL("events/sessions", server.url));
      const watcher: Watcher = {
        socket,
        view: new Map(),
        messages: 0,
        ended: 0,
        lags: [],
        done: Promise.withResolvers(),
      };
      all.push(watcher);
      const listed = Promise.withResolvers<void>();
      socket.onmessage = (event) => {
        const now = Date.now();
        const message = JSON.parse(event.data);
        watcher.messages++;
        if (message.handler === "list") {
          for (const item of message.items) watcher.view.set(item.id, item.state);
          listed.resolve();
        } else if (message.handler === "item") {
          const { id, state, createdAt, endedAt } = message.data;
          watcher.view.set(id, state);
          if (state === "starting") watcher.lags.push(now - createdAt);
          if (state === "fulfilled" || state === "rejected") {
            watcher.lags.push(now - endedAt);
            if (++watcher.ended === sessions) watcher.done.resolve();
          }
        } else if (message.handler === "remove") {
          watcher.view.delete(message.params.id);
        }
      };
      socket.onopen = () => socket.send(JSON.stringify({ handler: "watch" }));
      socket.onerror = () => listed.reject(new Error("a watcher failed to connect"));
      await within(listed.promise, 30_000, "watcher list");
    });
    const rssBefore = rss(server.pid);
    const cpuBefore = cpuSeconds(server.pid);
    const start = performance.now();
    await pool(Array.from({ length: sessions }, (_, i) => i), 4, async () => {
      const response = await fetch(new URL("api/v2/sessions", http), {
        method: "POST",
        body: JSON.stringify({ name: "ticker", params: ["0", "0"] }),
      });
      if (response.status !== 201) {
        throw new Error(`start answered ${response.status}: ${await response.text()}`);
      }
      await response.body?.cancel();
    });
    await within(Promise.all(all.map((w) => w.done.promise)), ctx.stepTimeout, "every end seen");
    const ms = performance.now() - start;
    const rssAfter = rss(server.pid);
    const cpu = cpuSeconds(server.pid) - cpuBefore;
    const listing = await (await fetch(new URL("api/v2/sessions", http))).json();
    const truth = new Map<string, string>(
      listing.sessions.map((s: { session: string; state: string }) => [s.session, s.state]),
    );
    const differs = all.findIndex((w) =>
      w.view.size !== truth.size || [...truth].some(([id, state]) => w.view.get(id) !== state)
    );
    const delivered = all.reduce((n, w) => n + w.messages, 0) - count; // minus the first lists
    const lags = all.flatMap((w) => w.lags);
    const value = delivered / (ms / 1000);
    const shown = `${num(value)} events/s (${delivered} in ${num(ms / 1000)} s); lag p50 ` +
      `${num(quantile(lags, 0.5))} ms, p99 ${num(quantile(lags, 0.99))} ms; server RSS ` +
      `${num(rssBefore / 1e6)} → ${num(rssAfter / 1e6)} MB, server CPU ${num(cpu)} s`;
    log(`  ${label}: ${shown} (${num((performance.now() - t0) / 1000)} s in all)`);
    return [{
      ...base,
      higherIsBetter: true,
      value,
      shown,
      ok: differs === -1,
      check: differs === -1
        ? `${count} watchers × ${truth.size} sessions: every final view equals the server's`
        : `watcher ${differs}'s final view differs from the server's`,
    }];
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    log(`  ${label}: FAILED: ${message}`);
    return [{ ...base, higherIsBetter: true, ok: false, check: message }];
  } finally {
    for (const watcher of all) watcher.socket.close();
    await server.stop();
  }
}
