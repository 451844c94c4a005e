// `server.keepAlive` on the wire: a raw WebSocket peer sees the pings, answers them or not.
import assert from "node:assert/strict";
import { startServer, type TestServer, withTimeout } from "./_helpers.ts";
import { RawWebSocket } from "../tools/_raw_ws.ts";

const PING = 0x9;
const CLOSE = 0x8;

/**
 * The default config with `keepAlive: 2s`: a ping after 1 s without traffic, and a peer gets 1 s
 * to answer it (room for a loaded machine; the answering peer answers at once).
 */
function keepAliveServer(): Promise<TestServer> {
  return startServer({
    configure: (config) => {
      config.server.keepAlive = 2000;
      // A pow-1 peer that sends no call is otherwise closed after a second.
      config.pow1.callDeadline = 60_000;
    },
  });
}

for (const protocol of ["pow.v2", "pow-1"]) {
  Deno.test(`keepAlive (${protocol}): a peer that answers the pings stays connected`, async () => {
    await using server = await keepAliveServer();
    const ws = await RawWebSocket.connect(server.wsUrl, { protocols: [protocol] });
    try {
      assert.equal(ws.status, 101);
      const pings = () => ws.frames.filter((f) => f.opcode === PING).length;
      await ws.waitFor(() => pings() >= 3, 10_000);
      assert.equal(pings(), 3, "three pings, each answered");
      assert.ok(
        !ws.frames.some((f) => f.opcode === CLOSE),
        "a peer that answers its pings was closed",
      );
    } finally {
      ws.abort();
    }
  });

  Deno.test(`keepAlive (${protocol}): a peer silent after a ping is closed with 1001`, async () => {
    await using server = await keepAliveServer();
    const ws = await RawWebSocket.connect(server.wsUrl, {
      protocols: [protocol],
      answerPings: false,
    });
    assert.equal(ws.status, 101);
    const close = await withTimeout(ws.closed, 10_000, "a ping, then the close");
    assert.deepEqual(close, { code: 1001, reason: "No response from ping frame." });
    // pow.v2 greets with a text message; only control frames matter here. One ping,
    // unanswered, then the close: not a second ping.
    assert.deepEqual(ws.frames.map((f) => f.opcode).filter((op) => op >= CLOSE), [PING, CLOSE]);
  });
}
