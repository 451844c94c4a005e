import assert from "node:assert/strict";
import { SessionManager } from "./session_manager.ts";
import { defineProcess } from "./process.ts";
import { CallError } from "./errors.ts";
import { MemorySessionStore, type SessionRecord } from "./store.ts";

const processes = {
  write: defineProcess({
    params: [{ name: "bytes", pattern: "[0-9]+" }],
    async run({ params, stdout }) {
      const writer = stdout.getWriter();
      await writer.write(new Uint8Array(Number(params[0])));
      writer.releaseLock();
    },
  }),
  wait: defineProcess({
    async run({ signal, stdout }) {
      const writer = stdout.getWriter();
      await writer.write(new Uint8Array(100));
      await new Promise((resolve) => signal.addEventListener("abort", resolve));
    },
  }),
};

/** What the counts must equal: every session of the registry, summed now. */
function scanned(m: SessionManager): number {
  let bytes = 0;
  for (const session of m.registry.values()) bytes += session.log.end - session.log.start;
  return bytes;
}

Deno.test("outputBytes and the per-caller count follow sessions as they start, end and go", async () => {
  const m = new SessionManager({ processes, maxPerCaller: 3, retention: 1 << 20 });
  try {
    const a = { id: "a" };
    const ended = [
      m.start("write", ["1000"], { caller: a }),
      m.start("write", ["20"], { caller: a }),
    ];
    await Promise.all(ended.map((s) => s.result));
    const live = m.start("wait", [], { caller: a });
    await live.started;
    const reader = live.reader();
    await reader.read();
    reader.close();
    assert.equal(m.outputBytes(), scanned(m));
    assert.equal(m.outputBytes(), 1120);
    // Three sessions for "a": a fourth is refused, another caller is not.
    assert.throws(
      () => m.start("write", ["1"], { caller: a }),
      (e: unknown) =>
        e instanceof CallError && /caller "a" already has 3 sessions alive/.test(e.message),
    );
    const b = m.start("write", ["5"], { caller: { id: "b" } });
    await b.result;
    // One of "a"'s sessions goes: "a" may start again, and its bytes no longer count.
    m.registry.delete(ended[0].id);
    assert.equal(m.outputBytes(), scanned(m));
    assert.equal(m.outputBytes(), 125);
    const again = m.start("write", ["1"], { caller: a });
    await again.result;
    live.cancel();
    await live.result;
    assert.equal(m.outputBytes(), scanned(m));
  } finally {
    await m.close();
  }
});

Deno.test("startsPerMinute: a window per caller, by the clock", () => {
  const m = new SessionManager({ processes, startsPerMinute: 2, maxSessions: 100 });
  const real = Date.now;
  let now = 1_000_000;
  Date.now = () => now;
  try {
    const a = { id: "a" };
    m.start("write", ["1"], { caller: a });
    now += 30_000;
    m.start("write", ["1"], { caller: a });
    assert.throws(() => m.start("write", ["1"], { caller: a }), /already started 2 processes/);
    m.start("write", ["1"], { caller: { id: "b" } });
    now += 30_000; // the first start is a minute old now
    m.start("write", ["1"], { caller: a });
    assert.throws(() => m.start("write", ["1"], { caller: a }), /already started 2 processes/);
  } finally {
    Date.now = real;
  }
  return m.close();
});

Deno.test("sessions.max counts ended sessions whose result nobody saw until their linger has passed", async () => {
  let now = 1_000_000;
  const m = new SessionManager({ processes, maxSessions: 2, linger: 60_000, now: () => now });
  try {
    const caller = { id: "poller" };
    for (
      const session of [m.start("write", ["1"], { caller }), m.start("write", ["1"], { caller })]
    ) {
      await session.result;
    }
    // Both ended unread, and both linger for a late reader: a third quick call is refused.
    assert.throws(
      () => m.start("write", ["1"], { caller }),
      (e: unknown) =>
        e instanceof CallError && e.code === "limit_reached" &&
        e.message === 'Cannot start process "write": 2 sessions are already alive',
    );
    now += 59_999;
    m.reap(now);
    assert.throws(() => m.start("write", ["1"], { caller }), CallError);
    now += 1;
    m.reap(now);
    await m.start("write", ["1"], { caller }).result;
  } finally {
    await m.close();
  }
});

Deno.test("sessions.max: a delivered ended session gives way, the one that ended first", async () => {
  const m = new SessionManager({ processes, maxSessions: 3, linger: 60_000 });
  try {
    const caller = { id: "dashboard" };
    const first = m.start("write", ["1"], { caller });
    const second = m.start("write", ["1"], { caller });
    const unread = m.start("write", ["1"], { caller });
    await Promise.all([first.result, second.result, unread.result]);
    // Marking before the end records nothing: only a result can be delivered.
    let release!: () => void;
    const held = new Promise<void>((resolve) => release = resolve);
    const live = new SessionManager({ processes: { hold: defineProcess({ run: () => held }) } });
    const running = live.start("hold", [], { caller });
    await running.started;
    running.markDelivered();
    release();
    await running.result;
    assert.equal(running.delivered, false);
    await live.close();
    second.markDelivered();
    first.markDelivered();
    assert.equal(first.delivered, true);
    assert.equal(unread.delivered, false);
    const removed: string[] = [];
    m.registry.observe((type, session) => void (type === "removed" && removed.push(session.id)));
    // Full: the delivered session that ended first gives way, then the other one.
    const fourth = m.start("write", ["1"], { caller });
    assert.deepEqual(removed, [first.id]);
    assert.equal(m.get(first.id, caller), undefined);
    await fourth.result;
    m.start("write", ["1"], { caller });
    assert.deepEqual(removed, [first.id, second.id]);
    // What is left ended unread (or is not delivered yet): nothing gives way.
    assert.throws(
      () => m.start("write", ["1"], { caller }),
      (e: unknown) =>
        e instanceof CallError && e.code === "limit_reached" &&
        e.message === 'Cannot start process "write": 3 sessions are already alive',
    );
    assert.ok(m.get(unread.id, caller));
  } finally {
    await m.close();
  }
});

Deno.test("sessions.max: a delivered session a client is attached to stays", async () => {
  const m = new SessionManager({ processes, maxSessions: 1 });
  try {
    const caller = { id: "a" };
    const session = m.start("write", ["1"], { caller });
    await session.result;
    session.markDelivered();
    const detach = session.attach();
    assert.throws(() => m.start("write", ["1"], { caller }), /1 sessions are already alive/);
    detach();
    m.start("write", ["1"], { caller });
    assert.equal(m.get(session.id, caller), undefined);
  } finally {
    await m.close();
  }
});

Deno.test("maxPerCaller: only the caller's own delivered sessions give way", async () => {
  const m = new SessionManager({ processes, maxPerCaller: 1, maxSessions: 100 });
  try {
    const a = { id: "a" }, b = { id: "b" };
    const ofB = m.start("write", ["1"], { caller: b });
    const ofA = m.start("write", ["1"], { caller: a });
    await Promise.all([ofA.result, ofB.result]);
    ofB.markDelivered();
    // b's delivered session is older, but a is at its own limit: only a's own may go.
    assert.throws(
      () => m.start("write", ["1"], { caller: a }),
      /caller "a" already has 1 sessions alive/,
    );
    ofA.markDelivered();
    m.start("write", ["1"], { caller: a });
    assert.equal(m.get(ofA.id, a), undefined);
    assert.ok(m.get(ofB.id, b));
  } finally {
    await m.close();
  }
});

Deno.test("outputBudget: delivered ended sessions give way before new work is refused", async () => {
  const m = new SessionManager({ processes, outputBudget: 1500, retention: 1 << 20 });
  try {
    const caller = { id: "a" };
    const big = m.start("write", ["1000"], { caller });
    const other = m.start("write", ["1000"], { caller });
    await Promise.all([big.result, other.result]);
    assert.throws(() => m.start("write", ["1"], { caller }), /out of output memory \(2000 bytes/);
    big.markDelivered();
    m.start("write", ["1"], { caller });
    assert.equal(m.get(big.id, caller), undefined);
    assert.ok(m.get(other.id, caller));
  } finally {
    await m.close();
  }
});

Deno.test("outputBudget: a start counts the sessions' output only once what was added since the last count could reach the budget", async () => {
  const m = new SessionManager({ processes, outputBudget: 1500, retention: 1 << 20 });
  let counts = 0;
  const count = m.outputBytes.bind(m);
  m.outputBytes = () => (counts++, count());
  try {
    const caller = { id: "a" };
    const first = m.start("write", ["600"], { caller });
    await first.result;
    const second = m.start("write", ["600"], { caller });
    await second.result;
    // 1,200 bytes added since the start: under the budget without counting.
    assert.equal(counts, 0);
    const third = m.start("write", ["600"], { caller });
    await third.result;
    // 1,800 could be held: counted, and refused.
    assert.throws(() => m.start("write", ["1"], { caller }), /out of output memory \(1800 bytes/);
    assert.equal(counts, 1);
    // Counted again at every start while the count itself is at the budget.
    assert.throws(() => m.start("write", ["1"], { caller }), /out of output memory/);
    assert.equal(counts, 2);
    // Once delivered sessions gave way, the new count is the base: the next starts count none.
    first.markDelivered();
    second.markDelivered();
    const fourth = m.start("write", ["1"], { caller });
    await fourth.result;
    const after = counts;
    m.start("write", ["1"], { caller });
    assert.equal(counts, after);
    assert.equal(m.get(first.id, caller), undefined);
  } finally {
    await m.close();
  }
});

Deno.test("in memory, each change is in the store and on the bus when the call that made it returns", async () => {
  const manager = new SessionManager({ processes });
  const events = manager.bus.subscribe("session.>");
  try {
    const session = manager.start("write", ["3"], { caller: { id: "me" } });
    // Recorded and announced in the same turn: no promise stands between the change and them,
    // so an event published right after start() comes after the session's first two.
    void manager.bus.publish("session.marker", { state: "marker" });
    const record = await manager.store.get(session.id);
    assert.equal(record?.state, "running");
    await session.result;
    assert.equal((await manager.store.get(session.id))?.state, "fulfilled");
    manager.registry.delete(session.id);
    assert.equal(await manager.store.get(session.id), undefined);
    const seen: string[] = [];
    for (let i = 0; i < 5; i++) {
      const { value } = await events.next();
      if (value.type === "event") {
        const data = value.event.data as { state: string };
        seen.push(`${value.event.topic}:${data.state}`);
      }
    }
    assert.deepEqual(seen, [
      "session.created:starting",
      "session.state:running",
      "session.marker:marker",
      "session.state:fulfilled",
      "session.removed:fulfilled",
    ]);
  } finally {
    events.close();
    await manager.close();
  }
});

Deno.test("a function that returns without waiting ends in the start call; unawaited writes are taken first", async () => {
  const manager = new SessionManager({
    processes: {
      sync: defineProcess({ run: ({ params }) => params.length + 1 }),
      throws: defineProcess({
        run: () => {
          throw new Error("no");
        },
      }),
      // Writes it did not await are taken before the session ends, in order.
      unawaited: defineProcess({
        run: ({ write }) => {
          void write("a");
          void write("b", { stream: "stderr" });
          void write("c");
          return 2;
        },
      }),
      later: defineProcess({
        async run({ write }) {
          await Promise.resolve();
          void write("x");
          void write("y");
          return 3;
        },
      }),
    },
  });
  const output = (session: { log: { retained(): { stream: string; data: Uint8Array }[] } }) =>
    session.log.retained().map((c) => `${c.stream}:${new TextDecoder().decode(c.data)}`);
  try {
    const sync = manager.start("sync", [], { caller: { id: "me" } });
    assert.equal(sync.state, "fulfilled");
    assert.deepEqual(sync.outcome, { status: "fulfilled", value: 1 });
    const throws = manager.start("throws", [], { caller: { id: "me" } });
    assert.deepEqual(throws.outcome, { status: "rejected", reason: "no", kind: "error" });
    const unawaited = manager.start("unawaited", [], { caller: { id: "me" } });
    assert.deepEqual(await unawaited.result, { status: "fulfilled", value: 2 });
    assert.deepEqual(output(unawaited), ["stdout:a", "stderr:b", "stdout:c"]);
    const later = manager.start("later", [], { caller: { id: "me" } });
    assert.deepEqual(await later.result, { status: "fulfilled", value: 3 });
    assert.deepEqual(output(later), ["stdout:x", "stdout:y"]);
  } finally {
    await manager.close();
  }
});

Deno.test("write() after the session ended rejects, and an ignored rejection is no unhandled error", async () => {
  const late = Promise.withResolvers<unknown>();
  const manager = new SessionManager({
    processes: {
      stubborn: defineProcess({
        async run({ write, signal }) {
          await write("before\n");
          // Ignores the abort: keeps writing after the session was cancelled.
          await new Promise((resolve) =>
            signal.aborted ? resolve(null) : signal.addEventListener("abort", resolve)
          );
          await new Promise((resolve) => setTimeout(resolve, 10));
          void write("ignored\n"); // nobody looks at this one
          late.resolve(await write("late\n").catch((error) => error));
        },
      }),
    },
    killGrace: 0,
  });
  try {
    const session = manager.start("stubborn", [], { caller: { id: "me" } });
    while (session.log.end === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    session.cancel("stop");
    assert.deepEqual(await session.result, {
      status: "rejected",
      reason: "stop",
      kind: "cancelled",
    });
    const error = await late.promise;
    assert.ok(error instanceof TypeError);
    assert.match(
      error.message,
      /^Cannot write to the output of session "[\w-]{22}": it has ended$/,
    );
    assert.deepEqual(
      session.log.retained().map((c) => new TextDecoder().decode(c.data)),
      ["before\n"],
    );
  } finally {
    await manager.close();
  }
});

Deno.test("records are shared, never changed: a result's reader or an event's subscriber cannot alter the store's", async () => {
  const manager = new SessionManager({
    processes: { obj: defineProcess({ run: () => ({ a: 1, list: [1] }) }) },
  });
  const events = manager.bus.subscribe("session.>");
  try {
    const session = manager.start("obj", [], { caller: { id: "me" } });
    const result = await session.result;
    assert.deepEqual(result, { status: "fulfilled", value: { a: 1, list: [1] } });
    const value = (result as { value: { a: number; list: number[] } }).value;
    assert.throws(() => {
      value.a = 2;
    }, TypeError);
    assert.throws(() => value.list.push(2), TypeError);
    assert.throws(() => {
      (result as { status: string }).status = "rejected";
    }, TypeError);
    const { value: next } = await events.next();
    assert.equal(next.type, "event");
    const data = (next as { event: { data: SessionRecord } }).event.data;
    assert.throws(() => {
      delete (data as Partial<SessionRecord>).owner; // a subscriber that redacts in place
    }, TypeError);
    assert.throws(() => (data.params as string[]).push("x"), TypeError);
    const stored = await manager.store.get(session.id);
    assert.equal(stored?.owner, "me");
    assert.deepEqual(stored?.result, { status: "fulfilled", value: { a: 1, list: [1] } });
    // What get() hands out is the caller's own copy.
    (stored!.result as { value: { a: number } }).value.a = 3;
    assert.equal(
      ((await manager.store.get(session.id))?.result as { value: { a: number } }).value.a,
      1,
    );
    assert.equal((await manager.listAll({ id: "me" })).length, 1);
  } finally {
    events.close();
    await manager.close();
  }
});

Deno.test("a store that extends MemorySessionStore has its own put and delete called", async () => {
  const calls: string[] = [];
  class CountingStore extends MemorySessionStore {
    override put(record: SessionRecord): Promise<void> {
      calls.push(`put:${record.state}`);
      return super.put(record);
    }
    override delete(id: string): Promise<boolean> {
      calls.push("delete");
      return super.delete(id);
    }
  }
  const manager = new SessionManager({ processes, store: new CountingStore() });
  try {
    const session = manager.start("write", ["1"], { caller: { id: "me" } });
    await session.result;
    manager.registry.delete(session.id);
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.deepEqual(calls, ["put:starting", "put:running", "put:fulfilled", "delete"]);
  } finally {
    await manager.close();
  }
});

Deno.test("a refused call removes no session: sessions give way only to a call that starts", async () => {
  const removed: string[] = [];
  const m = new SessionManager({ processes, maxSessions: 2, maxPerCaller: 1, linger: 60_000 });
  try {
    m.registry.observe((type, session) => void (type === "removed" && removed.push(session.id)));
    const alice = { id: "alice" }, bob = { id: "bob" };
    const ofBob = m.start("write", ["1"], { caller: bob });
    await ofBob.result;
    ofBob.markDelivered();
    const ofAlice = m.start("wait", [], { caller: alice });
    await ofAlice.started;
    // Both limits are reached; alice is at her own, and her only session is running: refused,
    // and bob's delivered session (which would have made room under sessions.max) stays.
    assert.throws(
      () => m.start("write", ["1"], { caller: alice }),
      /caller "alice" already has 1 sessions alive/,
    );
    assert.deepEqual(removed, []);
    assert.ok(m.get(ofBob.id, bob));
    // Once alice's own session ended delivered, it alone gives way: one slot, one removal.
    ofAlice.cancel();
    await ofAlice.result;
    ofAlice.markDelivered();
    m.start("write", ["1"], { caller: alice });
    assert.deepEqual(removed, [ofAlice.id]);
    assert.ok(m.get(ofBob.id, bob));
  } finally {
    await m.close();
  }
});

Deno.test("outputBudget: a refused call removes no session, and only sessions holding output give way", async () => {
  const removed: string[] = [];
  const m = new SessionManager({ processes, outputBudget: 150, retention: 1 << 20 });
  try {
    m.registry.observe((type, session) => void (type === "removed" && removed.push(session.id)));
    const caller = { id: "a" };
    const empty = [];
    for (let i = 0; i < 3; i++) {
      const session = m.start("write", ["0"], { caller });
      await session.result;
      session.markDelivered();
      empty.push(session);
    }
    const running = [m.start("wait", [], { caller }), m.start("wait", [], { caller })];
    await Promise.all(running.map((s) => s.started));
    await new Promise((resolve) => setTimeout(resolve, 0));
    // 200 bytes held by running sessions: nothing that may go would bring it under 150.
    assert.throws(() => m.start("write", ["1"], { caller }), /out of output memory \(200 bytes/);
    assert.deepEqual(removed, [], "the delivered sessions holding nothing stay");
    running[0].cancel();
    await running[0].result;
    running[0].markDelivered();
    // It holds 100 bytes: it alone gives way, not the empty ones before it.
    m.start("write", ["1"], { caller });
    assert.deepEqual(removed, [running[0].id]);
  } finally {
    await m.close();
  }
});
