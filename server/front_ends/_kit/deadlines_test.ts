import assert from "node:assert/strict";
import { Deadlines } from "./deadlines.ts";

Deno.test("Deadlines: expire in the order set, cancelled ones never, by the injected clock", async () => {
  let now = 1_000;
  const expired: number[] = [];
  let done = () => {};
  const deadlines = new Deadlines<number>(5, (n) => {
    expired.push(n);
    if (n === 99) done();
  }, { now: () => now });
  const handles = Array.from({ length: 3000 }, (_, i) => deadlines.add(i));
  for (const [i, handle] of handles.entries()) if (i % 3 === 1) handle.cancel();
  assert.equal(deadlines.size, 3000);
  // The clock has not moved: the timer finds nothing due and waits again.
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(expired, []);
  now += 5;
  const finished = new Promise<void>((resolve) => (done = resolve));
  deadlines.add(99); // due at now + 5: after all of the others
  now += 5;
  await finished;
  assert.deepEqual(expired, [...handles.keys()].filter((i) => i % 3 !== 1).concat(99));
  assert.equal(deadlines.size, 0);
});

Deno.test("Deadlines: clear() stops every deadline set so far", async () => {
  const expired: string[] = [];
  const deadlines = new Deadlines<string>(1, (name) => expired.push(name));
  deadlines.add("a");
  deadlines.clear();
  const later = new Deadlines<string>(10, () => {});
  const { promise, resolve } = Promise.withResolvers<void>();
  const sentinel = new Deadlines<string>(10, () => resolve());
  sentinel.add("after a's time");
  await promise;
  assert.deepEqual(expired, []);
  later.clear();
});
