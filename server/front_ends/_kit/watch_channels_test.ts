import assert from "node:assert/strict";
import { defineProcess } from "../../process.ts";
import { SessionManager, sessionRecord } from "../../session_manager.ts";
import { type BusChannel, ChannelError, openChannel } from "./watch_channels.ts";

function setup(viewers: string[] = []) {
  const manager = new SessionManager({
    viewers,
    processes: {
      open: defineProcess({ run: () => 1 }),
      secret: defineProcess({ allow: ["ops"], run: () => 2 }),
    },
  });
  return { bus: manager.bus, manager, context: { manager, admins: ["admin"] } };
}

Deno.test("monorail processes channel lists only what the caller may run, and maps changes", async () => {
  const { manager, context } = setup();
  const bob = openChannel("processes", context, { id: "bob" }) as BusChannel;
  const ops = openChannel("processes", context, { id: "x", roles: ["ops"] }) as BusChannel;
  assert.deepEqual((await bob.list({})).map((p) => (p as { name: string }).name), ["open"]);
  assert.deepEqual((await ops.list({})).map((p) => (p as { name: string }).name), [
    "open",
    "secret",
  ]);
  assert.equal(bob.get({ name: "secret" }), undefined);
  const event = { id: 1, topic: "process.changed", time: 0, data: { name: "secret" } };
  assert.deepEqual(bob.change(event), { key: "secret", item: undefined });
  assert.equal((ops.change(event)?.item as { name: string }).name, "secret");
  assert.throws(() => bob.check("get", {}), ChannelError);
  assert.throws(() => bob.check("query", { name: 1 }), {
    message: 'Invalid params of "query": "name" must be a string',
  });
  await manager.close();
});

Deno.test("monorail sessions channel hides other callers' sessions unless the caller is a viewer", async () => {
  const { manager, context } = setup(["auditor"]);
  const session = manager.start("open", [], { caller: { id: "alice" } });
  await session.result;
  const bob = openChannel("sessions", context, { id: "bob" }) as BusChannel;
  const auditor = openChannel("sessions", context, { id: "a", roles: ["auditor"] }) as BusChannel;
  assert.deepEqual(await bob.list({}), []);
  assert.deepEqual((await auditor.list({ owner: "alice" })).length, 1);
  assert.deepEqual(await auditor.list({ owner: "bob" }), []);
  const data = sessionRecord(session);
  const event = { id: 9, topic: "session.state", time: 0, data };
  assert.equal(bob.change(event), undefined);
  assert.deepEqual(auditor.change(event), { key: session.id, item: data });
  assert.deepEqual(auditor.change({ ...event, topic: "session.removed" }), {
    key: session.id,
    item: undefined,
  });
  await manager.close();
});

Deno.test("monorail server channel is for admins, topics take bus topic names", async () => {
  const { bus, manager, context } = setup();
  assert.throws(() => openChannel("server", context, { id: "bob" }), {
    message: 'Cannot watch channel "server": caller "bob" is not an admin',
  });
  assert.equal(openChannel("server", context, { id: "root", roles: ["admin"] })?.kind, "bus");
  assert.equal(openChannel("topics/a..b", context, { id: "bob" }), undefined);
  assert.equal(openChannel("elsewhere", context, { id: "bob" }), undefined);
  const news = openChannel("topics/news.*", context, { id: "bob" }) as BusChannel;
  assert.equal(news.pattern, "topic.news.*");
  await bus.publish("topic.news.eu", 1);
  await bus.publish("topic.other", 2);
  assert.deepEqual(
    (await news.list({})).map((i) => (i as { topic: string }).topic),
    ["topic.news.eu"],
  );
  assert.throws(() => news.check("get", {}), { name: "Error", message: /Cannot "get"/ });
  await manager.close();
});
