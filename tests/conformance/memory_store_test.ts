/**
 * Runs the store conformance suite against the in-memory store, plus the checks only a memory
 * store can make cheaply (a manual clock drives expiry).
 *
 * @module
 */

import assert from "node:assert/strict";
import { memoryStore } from "../../src/store/memory.ts";
import { bytes, collect, storeConformance, text } from "./store_conformance.ts";

storeConformance("memory store", () =>
  Promise.resolve({
    store: memoryStore(),
    [Symbol.asyncDispose]: () => Promise.resolve(),
  }));

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
