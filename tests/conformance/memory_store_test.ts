/**
 * Runs the store conformance suite against the in-memory store, plus the checks only a memory
 * store can make cheaply (a manual clock drives expiry).
 *
 * @module
 */

import assert from "node:assert/strict";
import { memoryStore } from "../../src/store/memory.ts";
import { faultyStore } from "../../testing/faulty_store.ts";
import {
  bytes,
  collect,
  collectReadiness,
  seen,
  shape,
  storeConformance,
  text,
  whenReady,
} from "./store_conformance.ts";

storeConformance("memory store", () =>
  Promise.resolve({
    store: memoryStore(),
    [Symbol.asyncDispose]: () => Promise.resolve(),
  }));

// Tests and demos run workers on a faulty store: while healed it must be a conforming store,
// readiness included.
storeConformance("faulty store (healed) over the memory store", () =>
  Promise.resolve({
    store: faultyStore(memoryStore()),
    [Symbol.asyncDispose]: () => Promise.resolve(),
  }));

Deno.test("faulty store: a watch cut before its initial values arrive gets them, and readiness, after the heal", async () => {
  const shared = memoryStore();
  await (await shared.bucket("cut", { ttlMs: 0 })).put("k", bytes("v"));
  const store = faultyStore(shared);
  const bucket = await store.bucket("cut", { ttlMs: 0 });
  store.cut();
  const watch = bucket.watch();
  const probe = collectReadiness(watch);
  try {
    // The memory store hands the initial value over through promise callbacks only, so one
    // macrotask turn is enough for the wrapper to be holding it (a flush, not a timing guess).
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.deepEqual(probe.entries, [], "delivered while cut");
    assert.equal(probe.ready(), false, "initialized while the initial value is held back");
    store.heal();
    assert.deepEqual((await whenReady(probe, "after the heal")).map(shape), [["k", "put", "v"]]);
  } finally {
    watch.stop();
    await probe.done;
  }
});

Deno.test("faulty store: changes made during a cut are delivered after the heal, in order", async () => {
  const shared = memoryStore();
  await (await shared.bucket("late", { ttlMs: 0 })).put("k", bytes("v"));
  const store = faultyStore(shared);
  const bucket = await store.bucket("late", { ttlMs: 0 });
  const watch = bucket.watch();
  const probe = collectReadiness(watch);
  try {
    assert.deepEqual((await whenReady(probe, "before the cut")).map(shape), [["k", "put", "v"]]);
    store.cut();
    await shared.bucket("late", { ttlMs: 0 }).then((b) => b.put("k", bytes("during")));
    store.heal();
    await bucket.put("k", bytes("after"));
    await seen(probe, (e) => text(e) === "after", "the write after healing");
    assert.deepEqual(probe.entries.map(text), ["v", "during", "after"]);
    assert.equal(probe.ready(), true);
  } finally {
    watch.stop();
    await probe.done;
  }
});

Deno.test("memory store: expiry follows the injected clock, counted from the last write", async () => {
  let now = 0;
  const store = memoryStore({ clock: { now: () => now } });
  const bucket = await store.bucket("ttl", { ttlMs: 1000, history: 2 });
  await bucket.put("k", bytes("1"));
  now = 600;
  await bucket.put("k", bytes("2")); // restarts the key's clock
  now = 1100; // the first revision is gone, the second still lives
  assert.equal(text(await bucket.get("k")), "2");
  assert.equal((await bucket.status()).values, 1);
  now = 1600;
  assert.equal(await bucket.get("k"), null);
  assert.equal((await bucket.status()).values, 0);
  await bucket.create("k", bytes("3"));
});

Deno.test("memory store: stored and delivered values are copies of the caller's buffer", async () => {
  const store = memoryStore();
  const bucket = await store.bucket("copies", { ttlMs: 0 });
  const watch = bucket.watch();
  const got = collect(watch);
  try {
    const buffer = bytes("abc");
    await bucket.put("k", buffer);
    buffer[0] = 0x7a;
    assert.equal(text(await bucket.get("k")), "abc");
    (await bucket.get("k"))!.value[0] = 0x7a;
    assert.equal(text(await bucket.get("k")), "abc");
  } finally {
    watch.stop();
    await got.done;
  }
});

Deno.test("memory store: two stores do not share buckets", async () => {
  const a = await memoryStore().bucket("same", { ttlMs: 0 });
  const b = await memoryStore().bucket("same", { ttlMs: 0 });
  await a.put("k", bytes("v"));
  assert.equal(await b.get("k"), null);
});
