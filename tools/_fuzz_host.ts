/**
 * The fuzzer's Host lane: raw HTTP requests whose `Host` header is an IP address or
 * `localhost` in random case (served), another name in random case (403 on the fuzzed server,
 * which has no tokens: the DNS-rebinding guard), or text that makes no URL (`a b`, `x<y`,
 * unbalanced brackets: 400 `invalid Host header`). Each answer's status and exact body are
 * checked, and the server must log nothing for any of them (no stack trace per request).
 *
 * @module
 */

import { count, type FuzzContext, type Lane, violationRecorder } from "./_fuzz_common.ts";
import type { Rng } from "./_rng.ts";

const CONCURRENCY = 8;
const NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-";
/** Characters that make a host unparseable as a URL. */
const BAD_CHARS = [" ", "<", ">", "^", "|", "%", "[", "]", "\\", '"', "{", "}", "`"];

interface Plan {
  cls: string;
  host: string;
  status: number;
  body: string;
}

/**
 * Creates the Host lane.
 *
 * @param context The run.
 * @param rng The lane's generator.
 * @returns The lane.
 */
export function hostLane(context: FuzzContext, rng: Rng): Lane {
  const name = "host";
  const base = context.server.url;
  let frameNo = 0;
  let stderrAtOpen = "";
  const violation = violationRecorder(context, name);

  const randomCase = (text: string) =>
    [...text].map((c) => rng.chance(0.5) ? c.toUpperCase() : c.toLowerCase()).join("");
  const port = () => rng.chance(0.5) ? `:${rng.range(1, 65535)}` : "";

  function plan(): Plan {
    const r = rng.int(3);
    if (r === 0) {
      const host = rng.pick([
        () => randomCase("localhost"),
        () => `${randomCase(`app${rng.int(99)}`)}.${randomCase("localhost")}`,
        () => Array.from({ length: 4 }, () => rng.int(256)).join("."),
        () => "[::1]",
      ])() + port();
      return { cls: "served", host, status: 200, body: "" };
    }
    if (r === 1) {
      const labels = Array.from(
        { length: rng.range(1, 3) },
        () =>
          Array.from({ length: rng.range(1, 12) }, () => rng.pick([...NAME_CHARS])).join("")
            .replace(/^-+|-+$/g, "") || "x",
      );
      const hostname = `${labels.join(".")}.${rng.pick(["com", "EXAMPLE", "Internal", "test"])}`;
      const host = hostname + port();
      if (!URL.canParse(`http://${host}/`)) return plan(); // e.g. a bad xn-- label
      const lower = new URL(`http://${host}/`).hostname;
      return {
        cls: "foreign",
        host,
        status: 403,
        body:
          `host not allowed: ${lower} (without tokens, pow serves only IP addresses, localhost and the names in server.hosts)`,
      };
    }
    for (;;) {
      const chars = Array.from(
        { length: rng.range(1, 12) },
        () => rng.chance(0.3) ? rng.pick(BAD_CHARS) : rng.pick([...NAME_CHARS]),
      ).join("");
      const host = chars.trim();
      if (host === "" || URL.canParse(`http://${host}/api/v2/processes`)) continue;
      return { cls: "malformed", host, status: 400, body: "invalid Host header" };
    }
  }

  async function send(p: Plan, frame: number): Promise<void> {
    count(context, name, p.cls);
    const sent = JSON.stringify(p.host);
    let got: string;
    try {
      const conn = await Deno.connect({ hostname: base.hostname, port: Number(base.port) });
      try {
        const request = `GET ${base.pathname}api/v2/processes HTTP/1.1\r\nHost: ${p.host}\r\n` +
          "Connection: close\r\n\r\n";
        await conn.write(new TextEncoder().encode(request));
        let text = "";
        const buffer = new Uint8Array(16384);
        const decoder = new TextDecoder();
        for (let n; (n = await conn.read(buffer)) !== null;) {
          text += decoder.decode(buffer.subarray(0, n), { stream: true });
        }
        const split = text.indexOf("\r\n\r\n");
        const status = Number(text.slice(9, 12));
        const body = text.slice(split + 4);
        if (status !== p.status || (p.status !== 200 && body !== p.body)) {
          got = `${status} ${JSON.stringify(body.slice(0, 200))}`;
        } else return;
      } finally {
        conn.close();
      }
    } catch (error) {
      got = `error: ${(error as Error).message}`;
    }
    violation(frame, p.cls, sent, `${p.status} ${JSON.stringify(p.body)}`, got);
  }

  return {
    name,
    get controlBytes() {
      return 0;
    },
    open() {
      stderrAtOpen = context.server.stderr;
      return Promise.resolve();
    },
    async batch(frames: number) {
      const plans = Array.from({ length: frames }, () => [plan(), frameNo++] as const);
      for (let i = 0; i < plans.length; i += CONCURRENCY) {
        if (context.signal.aborted) return;
        await Promise.all(plans.slice(i, i + CONCURRENCY).map(([p, n]) => send(p, n)));
      }
    },
    check() {
      // Nothing logged per request: the server's stderr does not grow with these requests.
      const added = context.server.stderr.slice(stderrAtOpen.length);
      if (/Invalid URL|TypeError|at .*server\.ts/.test(added)) {
        violation(frameNo, "log", "(server stderr)", "nothing logged", added.slice(0, 300));
      }
      stderrAtOpen = context.server.stderr;
      return Promise.resolve();
    },
    close() {
      return Promise.resolve();
    },
  };
}
