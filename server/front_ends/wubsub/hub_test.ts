import assert from "node:assert/strict";
import { MemoryEventBus } from "../../bus.ts";
import type { ProcessDefinition } from "../../process.ts";
import { type Catalogue, WubsubHub, type WubsubHubOptions } from "./hub.ts";
import type { ServerMessage } from "./messages.ts";

/** A peer that records what it is sent; `hold()` makes it stop reading published messages. */
class Peer {
  readonly sent: ServerMessage[] = [];
  readonly caller: { id: string; roles?: string[] };
  #gate: PromiseWithResolvers<void> | undefined;
  #wake: (() => void) | undefined;

  constructor(id: string, roles: string[] = []) {
    this.caller = { id, roles };
  }

  send(message: ServerMessage): void {
    this.sent.push(message);
    this.#wake?.();
  }

  ready(): Promise<void> {
    return this.#gate?.promise ?? Promise.resolve();
  }

  hold(): void {
    this.#gate = Promise.withResolvers();
  }

  release(): void {
    this.#gate?.resolve();
    this.#gate = undefined;
  }

  async waitFor(count: number): Promise<ServerMessage[]> {
    while (this.sent.length < count) {
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    return this.sent;
  }
}

function catalogue(): Catalogue & { processes: Record<string, ProcessDefinition> } {
  const processes: Record<string, ProcessDefinition> = {};
  return {
    processes,
    setProcess: (name, definition) => processes[name] = definition,
    removeProcess: (name) => delete processes[name],
  };
}

function hubWith(options: Partial<WubsubHubOptions> = {}) {
  return new WubsubHub({ bus: new MemoryEventBus(), ...options });
}

const json = JSON.stringify;
const register = (channel: string, topics: string[], methods: string[]) =>
  json({ type: "register", channel, data: { pubsub: { topics }, restpie: { methods } } });

Deno.test("hub: a subscriber that does not read is told how many messages it missed", async () => {
  const hub = hubWith({ subscriberQueue: 4 });
  const owner = hub.connect(new Peer("owner"));
  const slow = new Peer("slow");
  const reader = hub.connect(slow);
  owner.receive(register("news", ["today"], []));
  reader.receive(json({ type: "ps-sub", channel: "news", topic: "today" }));
  slow.hold();
  owner.receive(json({ type: "ps-pub", channel: "news", topic: "today", data: 0 }));
  // The pump took message 0 and waits for the peer; 1..10 overflow the queue of 4.
  await Promise.resolve();
  for (let n = 1; n <= 10; n++) {
    owner.receive(json({ type: "ps-pub", channel: "news", topic: "today", data: n }));
  }
  slow.release();
  owner.receive(json({ type: "ps-pub", channel: "news", topic: "today", data: 11 }));
  const sent = await slow.waitFor(3);
  assert.deepEqual(sent.slice(0, 3), [
    { type: "ps-recv", channel: "news", topic: "today", data: 0 },
    {
      type: "error",
      data: 'Missed 10 messages on "news/today": they were published faster than you read them',
      channel: "news",
      topic: "today",
      missed: 10,
    },
    { type: "ps-recv", channel: "news", topic: "today", data: 11 },
  ]);
  hub.close();
});

Deno.test("hub: requests one owner must answer are bounded", () => {
  const hub = hubWith({ maxPendingPerOwner: 2 });
  const owner = hub.connect(new Peer("owner"));
  owner.receive(register("svc", [], ["m"]));
  const peers = [new Peer("a"), new Peer("b"), new Peer("c")];
  for (const peer of peers) {
    hub.connect(peer).receive(json({ type: "pie-do", channel: "svc", topic: "m" }));
  }
  assert.equal(peers[0].sent[0].type, "pie-ack");
  assert.equal(peers[1].sent[0].type, "pie-ack");
  assert.deepEqual(peers[2].sent, [{
    type: "error",
    data:
      'Too many pending requests: the owner of "svc" has 2 requests to answer (wubsub.maxPendingPerOwner)',
    channel: "svc",
    topic: "m",
  }]);
  assert.equal(hub.pending, 2);
  hub.close();
  assert.equal(hub.pending, 0);
});

Deno.test("hub: an answer to a caller that left is dropped quietly", () => {
  const hub = hubWith();
  const ownerPeer = new Peer("owner");
  const owner = hub.connect(ownerPeer);
  owner.receive(register("svc", [], ["m"]));
  const callerPeer = new Peer("caller");
  const caller = hub.connect(callerPeer);
  caller.receive(json({ type: "pie-do", channel: "svc", topic: "m" }));
  const req = ownerPeer.sent[0] as { reqid: string };
  caller.close();
  owner.receive(json({ type: "pie-resp", reqid: req.reqid, data: 1 }));
  assert.equal(ownerPeer.sent.length, 1); // no error for the owner
  assert.equal(callerPeer.sent.length, 1); // only the ack
  assert.equal(hub.pending, 0);
  hub.close();
});

Deno.test("hub: methods become processes and go with their channel", async () => {
  const processes = catalogue();
  const hub = hubWith({ catalogue: processes, allow: ["ops"] });
  const ownerPeer = new Peer("owner");
  const owner = hub.connect(ownerPeer);
  owner.receive(register("svc", [], ["a", "b"]));
  assert.deepEqual(Object.keys(processes.processes), ["svc/a", "svc/b"]);
  assert.deepEqual(processes.processes["svc/a"].allow, ["ops"]);
  // request(): what a process does.
  const answer = hub.request("svc", "a", ["x"], { id: "u", roles: ["ops"] });
  const req = ownerPeer.sent[0] as { reqid: string; data: unknown };
  assert.deepEqual(req.data, ["x"]);
  owner.receive(json({ type: "pie-resp", reqid: req.reqid, data: { ok: 1 } }));
  assert.deepEqual(await answer, { ok: 1 });
  await assert.rejects(hub.request("svc", "a", [], { id: "u" }), {
    message: 'Not authorized to call "svc/a": caller "u" is not in wubsub.allow',
  });
  // An aborted call is forgotten.
  const abort = new AbortController();
  const aborted = hub.request("svc", "b", undefined, { id: "u", roles: ["ops"] }, abort.signal);
  abort.abort(new Error("cancelled"));
  await assert.rejects(aborted, { message: "cancelled" });
  assert.equal(hub.pending, 0);
  owner.close();
  assert.deepEqual(Object.keys(processes.processes), []);
  await assert.rejects(hub.request("svc", "a", [], { id: "u" }), {
    message: 'Unknown channel "svc"',
  });
});

Deno.test("hub: a connection owns at most maxChannels channels", () => {
  const hub = hubWith({ maxChannels: 1 });
  const peer = new Peer("owner");
  const owner = hub.connect(peer);
  owner.receive(register("one", [], []));
  owner.receive(register("two", [], []));
  assert.deepEqual(peer.sent, [{
    type: "error",
    data:
      'Cannot register channel "two": this connection already owns 1 channels (wubsub.maxChannels)',
    channel: "two",
  }]);
  assert.deepEqual(hub.channels().map((c) => c.name), ["one"]);
  hub.close();
});
