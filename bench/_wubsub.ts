/**
 * Workload 7: wubsub. One publisher to many subscribers (messages/s delivered, p99 latency from
 * publish to receipt), and the restpie round trip `pie-do` → `pie-recv` (p50) next to the
 * plainest round trip on the same socket: a message the server answers at once with `error`.
 *
 * The clients are written from the wubsub JSON alone (see docs/wubsub.md), like the tests'.
 * Subscribers are `sizes.live` connections (1,000 at full size), messages `sizes.calls`.
 *
 * @module
 */

import { num, type Row } from "./_report.ts";
import { quantile } from "./_util.ts";
import type { BenchContext } from "./_workloads.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

/** A wubsub socket whose messages go to one handler. */
async function open(url: string, onMessage: (m: Json) => void): Promise<WebSocket> {
  const ws = new WebSocket(url);
  ws.onmessage = (e) => onMessage(JSON.parse(e.data));
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error(`cannot open ${url}`));
  });
  return ws;
}

async function close(sockets: WebSocket[]): Promise<void> {
  await Promise.all(sockets.map((ws) =>
    new Promise<void>((resolve) => {
      if (ws.readyState === WebSocket.CLOSED) return resolve();
      ws.onclose = () => resolve();
      ws.close();
    })
  ));
}

/** Waits for `done()` to be true, checking whenever `wake` is called; fails after `ms`. */
function until(done: () => boolean, ms: number, what: string) {
  const { promise, resolve, reject } = Promise.withResolvers<void>();
  const timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms);
  const check = () => {
    if (done()) {
      clearTimeout(timer);
      resolve();
    }
  };
  check();
  return { promise, check };
}

function failed(base: Omit<Row, "ok">, error: unknown): Row {
  return { ...base, ok: false, check: error instanceof Error ? error.message : String(error) };
}

/**
 * Runs workload 7.
 *
 * @param ctx The servers and sizes.
 * @returns Its rows.
 */
export async function wubsub(ctx: BenchContext): Promise<Row[]> {
  const workload = "7. wubsub";
  const url = new URL("wubsub", ctx.pow.url).href;
  const subscribers = ctx.sizes.live;
  const messages = ctx.sizes.calls;
  ctx.log(`${workload}: 1 publisher → ${subscribers} subscribers × ${messages} messages`);
  const rows: Row[] = [];

  // 1. Fan-out.
  const fanLabel =
    `wubsub: 1 publisher → ${subscribers} subscribers, a burst of ${messages} messages, delivered`;
  const fanBase = {
    workload,
    subject: "wubsub" as const,
    label: fanLabel,
    unit: "msg/s",
    higherIsBetter: true,
  };
  const sockets: WebSocket[] = [];
  try {
    const latencies: number[] = [];
    const paced: number[] = [];
    let sink = latencies;
    const received = new Array<number>(subscribers).fill(0);
    let outOfOrder = 0;
    let errors = 0;
    let delivered = 0;
    const all = subscribers * messages;
    let wake = () => {};
    const owner = await open(url, () => {});
    sockets.push(owner);
    owner.send(JSON.stringify({
      type: "register",
      channel: "bench",
      data: { name: "bench", pubsub: { topics: ["fan"] }, restpie: { methods: ["rtt"] } },
    }));
    let subscribed = 0;
    const ready = until(() => subscribed === subscribers, ctx.stepTimeout, "subscriptions");
    for (let i = 0; i < subscribers; i++) {
      const ws = await open(url, (m) => {
        if (m.type === "error" && /^Unknown message type "barrier"/.test(m.data)) {
          subscribed++;
          return ready.check();
        }
        if (m.type !== "ps-recv") return void errors++;
        const now = performance.now();
        if (m.data.n !== received[i]) outOfOrder++;
        received[i]++;
        sink.push(now - m.data.t);
        delivered++;
        wake();
      });
      sockets.push(ws);
      // The barrier's answer comes after the subscription took effect.
      ws.send(JSON.stringify({ type: "ps-sub", channel: "bench", topic: "fan" }));
      ws.send(JSON.stringify({ type: "barrier" }));
    }
    await ready.promise;
    const done = until(() => delivered === all, ctx.stepTimeout, `${all} deliveries`);
    wake = done.check;
    const t0 = performance.now();
    for (let n = 0; n < messages; n++) {
      owner.send(JSON.stringify({
        type: "ps-pub",
        channel: "bench",
        topic: "fan",
        data: { n, t: performance.now() },
      }));
    }
    await done.promise;
    const ms = performance.now() - t0;
    const value = all / (ms / 1000);
    const ok = outOfOrder === 0 && errors === 0 && received.every((r) => r === messages);
    const row: Row = {
      ...fanBase,
      value,
      shown: `${num(value)} msg/s (${num(ms / 1000)} s); latency p50 ${
        num(quantile(latencies, 0.5))
      } ms, p99 ${num(quantile(latencies, 0.99))} ms`,
      ok,
      check: ok
        ? `${subscribers} subscribers × ${messages} messages, each in order`
        : `${outOfOrder} out of order, ${errors} errors`,
    };
    ctx.log(`  ${fanLabel}: ${row.shown}`);
    rows.push(row);

    // One message at a time: the latency of a single publish to every subscriber.
    const singles = Math.min(messages, 50);
    const pacedLabel =
      `wubsub: 1 publisher → ${subscribers} subscribers, one message at a time, latency p99`;
    sink = paced;
    for (let k = 0; k < singles; k++) {
      const target = all + (k + 1) * subscribers;
      const one = until(() => delivered === target, ctx.stepTimeout, `message ${k}`);
      wake = one.check;
      owner.send(JSON.stringify({
        type: "ps-pub",
        channel: "bench",
        topic: "fan",
        data: { n: messages + k, t: performance.now() },
      }));
      await one.promise;
    }
    const p99 = quantile(paced, 0.99);
    const pacedOk = outOfOrder === 0 && errors === 0 &&
      received.every((r) => r === messages + singles);
    const pacedRow: Row = {
      workload,
      subject: "wubsub",
      label: pacedLabel,
      unit: "ms",
      higherIsBetter: false,
      value: p99,
      shown: `p50 ${num(quantile(paced, 0.5))} ms, p99 ${num(p99)} ms (to each subscriber)`,
      ok: pacedOk,
      check: pacedOk
        ? `${singles} messages × ${subscribers} subscribers, each in order`
        : `${outOfOrder} out of order, ${errors} errors`,
    };
    ctx.log(`  ${pacedLabel}: ${pacedRow.shown}`);
    rows.push(pacedRow);
  } catch (error) {
    rows.push(failed(fanBase, error));
  } finally {
    await close(sockets.splice(0));
  }

  // 2. Round trips: pie-do → pie-recv, and an error echo on the same socket.
  const rttBase = { workload, subject: "wubsub" as const, unit: "ms", higherIsBetter: false };
  const pieLabel = "wubsub: pie-do → pie-recv round trip (owner on its own socket), p50";
  const pingLabel = "wubsub: ping (a message answered at once with error, same socket), p50";
  try {
    const registered = Promise.withResolvers<void>();
    const owner = await open(url, (m) => {
      if (m.type === "pie-req") {
        owner.send(JSON.stringify({ type: "pie-resp", reqid: m.reqid, data: m.data }));
      } else if (m.type === "error" && /^Unknown message type "barrier"/.test(m.data)) {
        registered.resolve();
      }
    });
    sockets.push(owner);
    owner.send(JSON.stringify({
      type: "register",
      channel: "rtt",
      data: { restpie: { methods: ["echo"] } },
    }));
    // Answered after the registration took effect.
    owner.send(JSON.stringify({ type: "barrier" }));
    await registered.promise;
    let answer: ((m: Json) => void) | undefined;
    const caller = await open(url, (m) => {
      if (m.type !== "pie-ack") answer?.(m);
    });
    sockets.push(caller);
    const roundTrip = async (message: Json, expect: (m: Json) => boolean) => {
      const { promise, resolve } = Promise.withResolvers<Json>();
      answer = resolve;
      const t0 = performance.now();
      caller.send(JSON.stringify(message));
      const m = await promise;
      const ms = performance.now() - t0;
      if (!expect(m)) throw new Error(`unexpected answer ${JSON.stringify(m)}`);
      return ms;
    };
    const pie: number[] = [];
    const ping: number[] = [];
    const warmup = Math.max(2, Math.round(messages / 20));
    for (let i = 0; i < messages + warmup; i++) {
      const a = await roundTrip(
        { type: "pie-do", channel: "rtt", topic: "echo", data: i },
        (m) => m.type === "pie-recv" && m.data === i,
      );
      const b = await roundTrip(
        { type: "ping" },
        (m) => m.type === "error" && /^Unknown message type "ping"/.test(m.data),
      );
      if (i >= warmup) {
        pie.push(a);
        ping.push(b);
      }
    }
    for (const [label, samples] of [[pieLabel, pie], [pingLabel, ping]] as const) {
      const p50 = quantile(samples, 0.5);
      const row: Row = {
        ...rttBase,
        label,
        value: p50,
        shown: `p50 ${num(p50)} ms, p90 ${num(quantile(samples, 0.9))} ms`,
        ok: samples.length === messages,
        check: `${samples.length} round trips, every answer checked`,
      };
      ctx.log(`  ${label}: ${row.shown}`);
      rows.push(row);
    }
  } catch (error) {
    rows.push(failed({ ...rttBase, label: pieLabel }, error));
  } finally {
    await close(sockets.splice(0));
  }
  return rows;
}
