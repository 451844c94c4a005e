/**
 * The fuzzer's raw lane: what a well-behaved client library never sends, written on a raw TCP
 * connection. Text frames that are not UTF-8, reserved opcodes, a continuation without a first
 * frame and reserved bits end the connection (Deno answers 1007 or 1002, or drops the
 * connection without a close frame; the docs allow both); frames cut off in the middle of the
 * header or payload, followed by the TCP connection going away, must leave the server up; bad
 * handshakes get their documented HTTP refusal.
 *
 * @module
 */

import { count, describe, type FuzzContext, type Lane, violationRecorder } from "./_fuzz_common.ts";
import type { Rng } from "./_rng.ts";
import { RawWebSocket } from "./_raw_ws.ts";

const ENDPOINTS: [string, string[]][] = [["", ["pow.v2"]], ["", ["pow-1"]], ["run", []]];

/**
 * Creates the raw lane.
 *
 * @param context The run.
 * @param rng The lane's generator.
 * @returns The lane.
 */
export function rawLane(context: FuzzContext, rng: Rng): Lane {
  const name = "raw";
  let frameNo = 0;
  const violation = violationRecorder(context, name);

  async function one(no: number): Promise<void> {
    const r = rng.int(100);
    const [path, protocols] = rng.pick(ENDPOINTS);
    const url = new URL(path, context.server.wsUrl);
    if (r < 25) {
      // Handshakes refused before any WebSocket exists.
      const [cls, headers, status, body] = rng.pick<
        [string, Record<string, string>, number, string | undefined]
      >([
        [
          "unknown_version",
          { protocols: "pow.v3" },
          400,
          'Unsupported subprotocol "pow.v3": this endpoint speaks pow.v2, pow-1',
        ],
        [
          "no_subprotocol",
          { protocols: "" },
          403,
          "client does not support required pow-1 subprotocol",
        ],
        // docs/security.md: authentication comes before the subprotocol is looked at.
        ["bad_token", { protocols: "pow.v2, pow.token.!!" }, 401, "invalid token"],
        ["two_tokens", { protocols: "pow.v2, pow.token.YQ, pow.token.Yg" }, 401, "invalid token"],
        [
          "foreign_origin",
          { protocols: "pow.v2", origin: "http://evil.example" },
          403,
          "origin not allowed: http://evil.example",
        ],
      ]);
      count(context, name, cls);
      const socket = await RawWebSocket.connect(new URL("", context.server.wsUrl), {
        protocols: headers.protocols ? headers.protocols.split(", ") : [],
        headers: headers.origin ? { Origin: headers.origin } : {},
      });
      if (socket.status !== status || (body !== undefined && socket.body !== body)) {
        violation(
          no,
          cls,
          JSON.stringify(headers),
          `${status} ${body}`,
          `${socket.status} ${socket.body}`,
        );
      }
      socket.abort();
      return;
    }
    const socket = await RawWebSocket.connect(url, { protocols });
    if (socket.status !== 101) {
      violation(
        no,
        "upgrade",
        `${path || "/"} ${protocols}`,
        "101",
        `${socket.status} ${socket.body}`,
      );
      return;
    }
    if (r < 70) {
      const cls = rng.pick([
        "invalid_utf8",
        "reserved_opcode",
        "continuation_first",
        "reserved_bits",
      ]);
      count(context, name, cls);
      let frame: Uint8Array;
      if (cls === "invalid_utf8") {
        const bytes = new TextEncoder().encode(`{"type":"ping","ref":"${rng.text(5)}"}`);
        // A continuation byte in place of another one can still be valid: retry until it is not.
        do bytes[rng.int(bytes.length)] = rng.pick([0xff, 0xc0, 0xed, 0xf8, 0x80]); while (
          isUtf8(bytes)
        );
        await socket.send(1, bytes);
        frame = bytes;
      } else if (cls === "reserved_opcode") {
        frame = rng.bytes(rng.range(0, 20));
        await socket.send(rng.pick([3, 4, 5, 6, 7, 11, 12, 13, 14, 15]), frame);
      } else if (cls === "continuation_first") {
        frame = rng.bytes(rng.range(0, 20));
        await socket.send(0, frame);
      } else {
        frame = new Uint8Array([0x81 | (rng.range(1, 7) << 4), 0x80, 1, 2, 3, 4]);
        await socket.sendRaw(frame);
      }
      const close = await Promise.race([
        socket.closed,
        new Promise<undefined>((r) => setTimeout(() => r(undefined), 10_000)),
      ]);
      const allowed = cls === "invalid_utf8" ? [1007, undefined] : [1002, undefined];
      if (!close || !allowed.includes(close.code)) {
        violation(
          no,
          cls,
          `${path || "/"} ${protocols} ${describe(frame)}`,
          `close ${allowed.join(" or ")}`,
          close ? `close ${close.code} ${close.reason}` : "still open after 10 s",
        );
      }
    } else {
      // A frame cut off, then the TCP connection goes away: nothing to answer, no harm done.
      count(context, name, "truncated");
      const payload = new TextEncoder().encode(
        JSON.stringify({ type: "ping", pad: rng.text(rng.range(0, 300)) }),
      );
      const full = rng.range(1, payload.byteLength + 13);
      await socket.send(rng.pick([1, 2]), payload, { truncate: rng.range(1, full) });
    }
    socket.abort();
    await socket.closed;
  }

  return {
    name,
    controlBytes: 0,
    async open() {},
    async batch(frames: number) {
      const running = new Set<Promise<void>>();
      for (let i = 0; i < frames; i++) {
        const task = one(frameNo++).finally(() => running.delete(task));
        running.add(task);
        if (running.size >= 16) await Promise.race(running);
      }
      await Promise.all(running);
    },
    async check() {},
    async close() {},
  };
}

function isUtf8(bytes: Uint8Array): boolean {
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}
