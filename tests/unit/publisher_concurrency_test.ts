/**
 * A publication writes its worker keys concurrently, every shrinking key before any other (see
 * `Publisher.publish`). Found by the gray-failure fault test: keys were written one after another,
 * so a leader whose every request took 0.6-1.6 s (a slowed link) needed about a second per worker
 * for each publication, and a hand-off through it took tens of seconds. On a fake clock, with a
 * store that takes 100 ms per operation: a publication to six workers takes three operations
 * (shrinking keys, the others, `_meta`), and no partition is in a growing key before every
 * shrinking key has been written.
 */
import assert from "node:assert/strict";
import { Publisher } from "../../src/leader/publisher.ts";
import type { Partition } from "../../src/partition.ts";
import { memoryStore } from "../../src/store/memory.ts";
import type { Bucket } from "../../src/store/store.ts";
import { FakeClock } from "../../testing/mod.ts";

const OP_MS = 100;
const p = (i: number): Partition => ({ keys: ["p", String(i)] });

/** Every write takes OP_MS of fake time; `log` records when each key was written. */
function slow(bucket: Bucket, clock: FakeClock, log: { key: string; at: number }[]): Bucket {
  const later = <T>(key: string, op: () => Promise<T>) =>
    new Promise<void>((resolve) => clock.setTimeout(resolve, OP_MS)).then(async () => {
      const result = await op();
      log.push({ key, at: clock.now() });
      return result;
    });
  return {
    name: bucket.name,
    create: (k, v) => later(k, () => bucket.create(k, v)),
    update: (k, v, r) => later(k, () => bucket.update(k, v, r)),
    put: (k, v) => later(k, () => bucket.put(k, v)),
    get: (k) => bucket.get(k),
    delete: (k, o) => later(k, () => bucket.delete(k, o)),
    keys: () => bucket.keys(),
    status: () => bucket.status(),
    watch: (o) => bucket.watch(o),
  };
}

async function run<T>(clock: FakeClock, promise: Promise<T>): Promise<T> {
  let done = false;
  const settled = promise.finally(() => (done = true));
  while (!done) await clock.tickAsync(10);
  return await settled;
}

Deno.test("a publication to six workers takes three store operations, shrinking keys written first", async () => {
  const clock = new FakeClock();
  const inner = await memoryStore({ clock }).bucket("assign", { ttlMs: 0 });
  const log: { key: string; at: number }[] = [];
  const publisher = new Publisher(slow(inner, clock, log), (e) => {
    throw e;
  });
  const workers = ["a", "b", "c", "d", "e", "f"];
  await run(clock, publisher.adopt(0));
  // v1: a..c hold two partitions each; d..f nothing.
  const first = new Map(workers.map((w, i) => [w, i < 3 ? [p(2 * i), p(2 * i + 1)] : []]));
  await run(clock, publisher.publish(1, first, "assign", 0, () => true));
  log.length = 0;
  // v2: a..c give one partition each to d..f.
  const second = new Map(workers.map((w, i) => [w, i < 3 ? [p(2 * i)] : [p(2 * (i - 3) + 1)]]));
  const start = clock.now();
  const version = await run(clock, publisher.publish(1, second, "assign", 0, () => true));
  assert.equal(version, 2);
  assert.ok(clock.now() - start <= 3 * OP_MS + 20, `took ${clock.now() - start} ms`);
  const at = (key: string) => log.find((l) => l.key === key)!.at;
  const shrunk = Math.max(at("w.a"), at("w.b"), at("w.c"));
  for (const w of ["d", "e", "f"]) {
    assert.ok(at(`w.${w}`) > shrunk, `w.${w} written after every shrinking key`);
  }
  assert.ok(at("_meta") > Math.max(...log.filter((l) => l.key !== "_meta").map((l) => l.at)));
});
