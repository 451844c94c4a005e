import assert from "node:assert/strict";
import { SseSocket } from "./sse.ts";

Deno.test("monorail sse socket writes one event per message with the seq or offset as id", async () => {
  const socket = new SseSocket();
  const bytes = socket.body.getReader();
  const decoder = new TextDecoder();
  const reader = {
    read: async () => ({ value: decoder.decode((await bytes.read()).value) }),
    cancel: () => bytes.cancel(),
  };
  socket.send('{"handler":"list","items":[],"seq":3}');
  // Not read yet: counted as buffered, like a WebSocket's bufferedAmount.
  assert.equal(socket.bufferedAmount, 63);
  assert.equal(
    (await reader.read()).value,
    'event: list\nid: 3\ndata: {"handler":"list","items":[],"seq":3}\n\n',
  );
  socket.send('{"handler":"item","data":{"session":"s","next":9}}');
  assert.equal(
    (await reader.read()).value,
    'event: item\nid: 9\ndata: {"handler":"item","data":{"session":"s","next":9}}\n\n',
  );
  socket.send('{"handler":"notice"}');
  assert.equal((await reader.read()).value, 'event: notice\ndata: {"handler":"notice"}\n\n');
  let closed = 0;
  socket.addEventListener("close", () => closed++);
  await reader.cancel();
  assert.equal(socket.readyState, 3);
  assert.equal(closed, 1);
  socket.send('{"handler":"late"}'); // ignored once closed
});
