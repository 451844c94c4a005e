/**
 * Cluster mode end to end: three `main.ts` nodes and a real `redis-server`. A process started
 * on one node is listed, attached, fed and signalled from another, byte for byte; a node killed
 * with SIGKILL has its sessions reported lost on the others; nothing is left running.
 */
import assert from "node:assert/strict";
import { PowClient } from "../client/mod.ts";
import { startServerProcess } from "../tools/_server_process.ts";
import { hasRedis, startRedis } from "./_redis.ts";
import { processAlive, waitUntil } from "./_helpers.ts";
import { hashToken } from "../server/auth.ts";

async function nodeConfig(
  dir: string,
  redis: string,
  node: string,
  extra = "",
): Promise<string> {
  const file = `${dir}/${node}.yaml`;
  await Deno.writeTextFile(
    file,
    `${extra}cluster:
  redis: "${redis}"
  node: ${node}
  heartbeat: 100ms
  lostAfter: 1s
sessions:
  linger: 1s
processes:
  seq:
    command: [seq, "1", "{1}"]
    params: [{ name: n, pattern: "[0-9]{1,7}" }]
  cat:
    command: [cat]
  ticks:
    command: [sh, -c, 'i=0; while [ $i -lt "$0" ]; do i=$((i+1)); echo "tick $i"; sleep 0.05; done', "{1}"]
    params: [{ name: n, pattern: "[0-9]{1,4}" }]
  sleep:
    command: [sleep, "{1}"]
    params: [{ name: s, pattern: "[0-9]{1,4}" }]
`,
  );
  return file;
}

/** A test cluster: a real `redis-server` and `main.ts` nodes on it, stopped by `close()`. */
async function startCluster(names: string[], extra = "") {
  const redis = await startRedis();
  const dir = await Deno.makeTempDir();
  const nodes = await Promise.all(
    names.map(async (n) => startServerProcess(await nodeConfig(dir, redis.url, n, extra))),
  );
  return {
    redis,
    nodes,
    async close() {
      await Promise.allSettled(nodes.map((node) => node.stop()));
      await redis.stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function collect(stream: ReadableStream<Uint8Array>): Promise<string> {
  return await new Response(stream).text();
}

Deno.test({
  name: "cluster: three nodes on one Redis share sessions byte for byte, stdin, signals, node loss",
  ignore: !hasRedis,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const cluster = await startCluster(["a", "b", "c"]);
    const { redis } = cluster;
    const [a, b, c] = cluster.nodes;
    const clientA = new PowClient(a.wsUrl.href);
    const clientB = new PowClient(b.wsUrl.href);
    const clientC = new PowClient(c.wsUrl.href);
    try {
      // A fast producer on A, read from offset 0 on B: exactly the bytes, then the exit.
      const n = 100_000;
      const expected = Array.from({ length: n }, (_, i) => `${i + 1}\n`).join("");
      const producer = clientA.start("seq", [String(n)]);
      const { session } = await producer.started;
      const attached = clientB.attach(session, { offset: 0 });
      const [local, remote] = await Promise.all([
        collect(producer.stdout),
        collect(attached.stdout),
      ]);
      assert.equal(local.length, expected.length);
      assert.equal(remote.length, expected.length);
      assert.equal(remote, expected);
      assert.equal((await attached.result).status, "fulfilled");
      // From an offset in the middle, on the third node.
      const tail = clientC.attach(session, { offset: expected.length - 7 });
      assert.equal(await collect(tail.stdout), expected.slice(-7));

      // Every node lists it.
      for (const client of [clientA, clientB, clientC]) {
        assert.ok((await client.list()).some((s) => s.session === session));
      }

      // stdin and end of input sent through C reach cat on A; output comes back to C.
      const cat = clientA.start("cat");
      const catSession = (await cat.started).session;
      const viewer = clientC.attach(catSession);
      await viewer.write("through node c\n");
      await viewer.closeInput();
      assert.equal(await collect(viewer.stdout), "through node c\n");
      assert.equal((await viewer.result).status, "fulfilled");
      assert.equal(await collect(cat.stdout), "through node c\n");

      // A signal sent through B ends sleep on A.
      const sleeper = clientA.start("sleep", ["600"]);
      const sleepStarted = await sleeper.started;
      const control = clientB.attach(sleepStarted.session);
      await control.signal("kill");
      const killed = await sleeper.result;
      assert.equal(killed.status === "rejected" && killed.signal, "SIGKILL");
      assert.deepEqual(await control.result, killed);

      // Node A is killed with SIGKILL while a session runs: B reports it lost.
      const doomed = clientA.start("sleep", ["600"]);
      const doomedStarted = await doomed.started;
      const watcher = clientB.attach(doomedStarted.session);
      await watcher.started; // B has attached
      Deno.kill(a.pid, "SIGKILL");
      const lost = await watcher.result;
      assert.equal(lost.status, "rejected");
      assert.equal(lost.status === "rejected" && lost.reason, "node a lost");
      // The orphaned child of the killed node: end it, as a restart's sweep would.
      if (doomedStarted.pid && processAlive(doomedStarted.pid)) {
        Deno.kill(-doomedStarted.pid, "SIGKILL");
        await waitUntil(() => !processAlive(doomedStarted.pid!), 5000);
      }
      // Nothing of the sessions stays in Redis once they are gone, the lost node's included.
      await Promise.allSettled([clientA.close(), clientB.close(), clientC.close()]);
      await waitUntil(
        async () =>
          (await redis.cli("KEYS", "pow:log:*")) === "" &&
          (await redis.cli("HLEN", "pow:sessions")) === "0",
        20_000,
        "no session keys left in Redis",
      );
    } finally {
      await Promise.allSettled([clientA.close(), clientB.close(), clientC.close()]);
      await cluster.close();
    }
  },
});

/** Reads a stream in the background; `text` grows as bytes arrive. */
function follow(stream: ReadableStream<Uint8Array>) {
  const state = { text: "", done: Promise.resolve() };
  state.done = stream.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (t) => void (state.text += t) }),
  );
  return state;
}

/** A test on two nodes, `a` and `b`, with a client on each. */
function twoNodeTest(
  name: string,
  fn: (nodes: {
    redis: Awaited<ReturnType<typeof startCluster>>["redis"];
    clientA: PowClient;
    clientB: PowClient;
    /** Node b's WebSocket URL. */
    urlB: URL;
  }) => Promise<void>,
): void {
  Deno.test({
    name,
    ignore: !hasRedis,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async () => {
      const cluster = await startCluster(["a", "b"]);
      const [a, b] = cluster.nodes;
      const clientA = new PowClient(a.wsUrl.href);
      const clientB = new PowClient(b.wsUrl.href);
      try {
        await fn({ redis: cluster.redis, clientA, clientB, urlB: b.wsUrl });
      } finally {
        await Promise.allSettled([clientA.close(), clientB.close()]);
        await cluster.close();
      }
    },
  });
}

twoNodeTest(
  "cluster: Redis stopped and restarted mid-session: the node serves on, nothing retained is lost",
  async ({ redis, clientA, clientB }) => {
    const n = 60;
    const expected = Array.from({ length: n }, (_, i) => `tick ${i + 1}\n`).join("");
    const producer = clientA.start("ticks", [String(n)]);
    const { session } = await producer.started;
    const onA = follow(producer.stdout);
    const viewer = clientB.attach(session);
    const onB = follow(viewer.stdout);
    await waitUntil(() => onB.text.includes("tick 5\n"), 20_000, "tick 5 on node b");
    await redis.stop();
    // Node A goes on serving its own session while Redis is away.
    const before = onA.text.length;
    await waitUntil(() => onA.text.length > before + 40, 20_000, "output on node a");
    await redis.restart();
    await onA.done;
    assert.equal(onA.text, expected);
    assert.equal((await producer.result).status, "fulfilled");
    // The viewer on B resumes and gets every byte; so does a fresh attach from offset 0.
    await onB.done;
    assert.equal(onB.text, expected);
    assert.equal((await viewer.result).status, "fulfilled");
    const again = clientB.attach(session, { offset: 0 });
    assert.equal(await collect(again.stdout), expected);
  },
);

twoNodeTest(
  "cluster: an ended session read on another node with a small credit window: every byte",
  async ({ redis, clientA, clientB }) => {
    const n = 100_000;
    const expected = Array.from({ length: n }, (_, i) => `${i + 1}\n`).join("");
    const producer = clientA.start("seq", [String(n)]);
    const { session } = await producer.started;
    assert.equal(await collect(producer.stdout), expected);
    assert.equal((await producer.result).status, "fulfilled");
    // The session has ended and its whole output is in Redis (the end entry is there): a
    // reader on B fetches all of it at once, while the client's window is one frame.
    await waitUntil(
      async () =>
        (await redis.cli("XREVRANGE", `pow:log:${session}`, "+", "-", "COUNT", "1"))
          .split("\n")[1] === "e",
      20_000,
      "the end of the output in Redis",
    );
    await waitUntil(
      async () => (await redis.cli("HGET", "pow:sessions", session)).includes('"result"'),
      20_000,
      "the ended record in Redis",
    );
    const reader = clientB.attach(session, { offset: 0, credit: 64 * 1024 });
    const text = await collect(reader.stdout);
    assert.equal(reader.skipped, 0);
    assert.equal(text.length, expected.length);
    assert.equal(text, expected);
    assert.equal((await reader.result).status, "fulfilled");
  },
);

Deno.test({
  name: "cluster: a ticket issued by one node opens a WebSocket on another, once",
  ignore: !hasRedis,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const auth = `auth:\n  tokens:\n    - { name: alice, hash: "${hashToken("s3cret")}" }\n`;
    const cluster = await startCluster(["a", "b", "c"], auth);
    const [a, b, c] = cluster.nodes;
    try {
      const issued = await fetch(new URL("tickets", a.url), {
        method: "POST",
        headers: { authorization: "Bearer s3cret" },
      });
      assert.equal(issued.status, 200);
      const { ticket } = await issued.json();
      const open = (url: URL) =>
        new Promise<string>((resolve) => {
          const ws = new WebSocket(`${url.href}?ticket=${ticket}`, ["pow.v2"]);
          ws.onmessage = (e) => {
            resolve(JSON.parse(e.data).type);
            ws.close();
          };
          ws.onerror = () => resolve("refused");
        });
      // Redeemed on C: pow.v2 says hello to alice.
      assert.equal(await open(c.wsUrl), "hello");
      // Used: refused on B, and back on A.
      assert.equal(await open(b.wsUrl), "refused");
      assert.equal(await open(a.wsUrl), "refused");
      const reuse = await fetch(new URL(`api/v2/sessions?ticket=${ticket}`, b.url));
      assert.equal(reuse.status, 401);
      await reuse.body?.cancel();
    } finally {
      await cluster.close();
    }
  },
});

/** A wubsub client from the seed's JSON: messages in order, awaited one by one. */
class Wub {
  readonly ws: WebSocket;
  #messages: unknown[] = [];
  #wake: (() => void) | undefined;
  readonly opened: Promise<void>;

  constructor(url: URL) {
    this.ws = new WebSocket(new URL("wubsub", url));
    this.opened = new Promise((resolve, reject) => {
      this.ws.onopen = () => resolve();
      this.ws.onerror = () => reject(new Error("cannot open wubsub"));
    });
    this.ws.onmessage = (e) => {
      this.#messages.push(JSON.parse(e.data));
      this.#wake?.();
    };
  }

  send(message: unknown): void {
    this.ws.send(JSON.stringify(message));
  }

  // deno-lint-ignore no-explicit-any
  async next(): Promise<any> {
    while (this.#messages.length === 0) await new Promise<void>((r) => this.#wake = r);
    return this.#messages.shift();
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.ws.onclose = () => resolve();
      this.ws.close();
    });
  }
}

Deno.test({
  name: "cluster: a wubsub channel on node A is subscribed on B and its method called from C",
  ignore: !hasRedis,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const cluster = await startCluster(["a", "b", "c"]);
    const [a, b, c] = cluster.nodes;
    const owner = new Wub(a.wsUrl);
    const subscriber = new Wub(b.wsUrl);
    const caller = new Wub(c.wsUrl);
    const rival = new Wub(b.wsUrl);
    const clientC = new PowClient(c.wsUrl.href);
    try {
      await Promise.all([owner.opened, subscriber.opened, caller.opened, rival.opened]);
      owner.send({
        type: "register",
        channel: "svc",
        data: {
          name: "svc",
          description: "a service",
          pubsub: { topics: ["news"] },
          restpie: { methods: ["echo"] },
        },
      });
      // Known on C once its catalogue lists the provided process.
      await waitUntil(
        async () => (await clientC.processes()).some((p) => p.name === "svc/echo"),
        20_000,
        "svc/echo on node c",
      );
      // Unique across the cluster.
      rival.send({ type: "register", channel: "svc", data: { name: "svc" } });
      assert.deepEqual((await rival.next()).data, 'Channel "svc" is already registered');
      // Pub/sub from A to a subscriber on B.
      subscriber.send({ type: "ps-sub", channel: "svc", topic: "news" });
      subscriber.send({ type: "barrier" }); // answered once the subscription took effect
      assert.equal((await subscriber.next()).type, "error");
      owner.send({ type: "ps-pub", channel: "svc", topic: "news", data: { n: 1 } });
      assert.deepEqual(await subscriber.next(), {
        type: "ps-recv",
        channel: "svc",
        topic: "news",
        data: { n: 1 },
      });
      // RPC from C, answered by the owner on A, back to C only.
      caller.send({ type: "pie-do", channel: "svc", topic: "echo", data: "hi" });
      const ack = await caller.next();
      assert.equal(ack.type, "pie-ack");
      const request = await owner.next();
      assert.deepEqual(
        { type: request.type, channel: request.channel, topic: request.topic, data: request.data },
        { type: "pie-req", channel: "svc", topic: "echo", data: "hi" },
      );
      owner.send({ type: "pie-resp", reqid: request.reqid, data: "HI" });
      assert.deepEqual(await caller.next(), {
        type: "pie-recv",
        channel: "svc",
        reqid: ack.reqid,
        topic: "echo",
        data: "HI",
      });
      // The provided process, called through pow.v2 on C.
      const proc = clientC.start("svc/echo", ["x", "y"]);
      const served = await owner.next();
      assert.deepEqual(served.data, ["x", "y"]);
      owner.send({ type: "pie-resp", reqid: served.reqid, data: { ok: true } });
      assert.deepEqual(await proc.result, { status: "fulfilled", value: { ok: true } });

      // The owner leaves: B's subscriber is told, C's catalogue forgets the method.
      await owner.close();
      assert.deepEqual(await subscriber.next(), {
        type: "error",
        data: 'Channel "svc" is gone: its owner disconnected',
        channel: "svc",
      });
      await waitUntil(
        async () => !(await clientC.processes()).some((p) => p.name === "svc/echo"),
        20_000,
        "svc/echo gone on node c",
      );
    } finally {
      await Promise.allSettled([
        subscriber.close(),
        caller.close(),
        rival.close(),
        clientC.close(),
      ]);
      await cluster.close();
    }
  },
});

twoNodeTest(
  "cluster: a MonoRail watch of sessions on node B sees a session of node A start and end",
  async ({ clientA, urlB }) => {
    const ws = new WebSocket(new URL("events/sessions", urlB));
    // deno-lint-ignore no-explicit-any
    const messages: any[] = [];
    let wake = () => {};
    ws.onmessage = (e) => {
      messages.push(JSON.parse(e.data));
      wake();
    };
    const next = async () => {
      while (messages.length === 0) await new Promise<void>((r) => wake = r);
      return messages.shift();
    };
    try {
      await new Promise((resolve, reject) => {
        ws.onopen = resolve;
        ws.onerror = () => reject(new Error("cannot open /events/sessions on node b"));
      });
      ws.send(JSON.stringify({ handler: "watch", params: { name: "seq" } }));
      const first = await next();
      assert.equal(first.handler, "list");
      const proc = clientA.start("seq", ["3"]);
      const { session } = await proc.started;
      await proc.result;
      // Every state change of A's session, in order, on B.
      const states: string[] = [];
      while (!states.includes("fulfilled")) {
        const message = await next();
        if (message.handler === "item" && message.data.id === session) {
          assert.equal(message.data.node, "a");
          states.push(message.data.state);
        }
      }
      assert.deepEqual(states.filter((s, i) => states.indexOf(s) === i), [
        "starting",
        "running",
        "fulfilled",
      ]);
    } finally {
      ws.close();
    }
  },
);
