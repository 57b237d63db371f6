/**
 * Claiming a worker ID: a lone claimant takes the lowest free ID, and a burst of claimants that
 * start together (a pool deployed at once) settles in a fraction of the creates it took when each
 * one walked every ID its peers had already won (finding 4 of the scale bench, `bench/README.md`).
 */
import assert from "node:assert/strict";
import { WorkerIdExhaustedError } from "../../src/errors.ts";
import { memoryStore } from "../../src/store/memory.ts";
import type { Bucket } from "../../src/store/store.ts";
import { StableId } from "../../src/worker/stable_id.ts";
import { forwarding } from "../helpers/forwarding_bucket.ts";

/** Counts the creates made on `inner`. */
function counting(inner: Bucket): Bucket & { creates: number } {
  const bucket: Bucket & { creates: number } = Object.assign(
    forwarding(inner, {
      create: (k, v) => {
        bucket.creates++;
        return inner.create(k, v);
      },
    }),
    { creates: 0 },
  );
  return bucket;
}

/** A seeded generator, so the spread of concurrent claims is the same on every run. */
function seeded(seed: number): () => number {
  return () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
}

function claimant(bucket: Bucket, i: number, max = 9999) {
  return new StableId(bucket, {
    prefix: "worker",
    min: 0,
    max,
    claim: { instance: `host-${i}`, nonce: `nonce-${i}` },
    stableInstance: false,
    onError: () => {},
    random: seeded(i + 1),
  });
}

Deno.test("a lone claimant takes the lowest free worker ID, filling gaps first", async () => {
  const bucket = await memoryStore().bucket("ids", { ttlMs: 0 });
  const ids = [];
  for (let i = 0; i < 4; i++) ids.push(claimant(bucket, i));
  for (const id of ids) await id.claim();
  assert.deepEqual(ids.map((id) => id.workerId), ["worker-0", "worker-1", "worker-2", "worker-3"]);
  await ids[1]!.release();
  const next = claimant(bucket, 9);
  assert.equal(await next.claim(), "worker-1");
  assert.equal(await claimant(bucket, 10).claim(), "worker-4");
});

Deno.test("a small burst of claimants gets the lowest IDs, without gaps", async () => {
  const bucket = await memoryStore().bucket("ids", { ttlMs: 0 });
  const won = await Promise.all(Array.from({ length: 12 }, (_, i) => claimant(bucket, i).claim()));
  assert.deepEqual(
    won.slice().sort((a, b) => Number(a.slice(7)) - Number(b.slice(7))),
    Array.from({ length: 12 }, (_, i) => `worker-${i}`),
  );
});

Deno.test("500 claimants that start together get distinct IDs in under a quarter of the creates", async () => {
  const bucket = counting(await memoryStore().bucket("ids", { ttlMs: 0 }));
  const n = 500;
  const won = await Promise.all(Array.from({ length: n }, (_, i) => claimant(bucket, i).claim()));
  assert.equal(new Set(won).size, n);
  // Walking from the lowest ID every time costs n(n + 1)/2 = 125,250 creates; 16 sequential
  // tries and then a growing window cost about 27,600 (measured), a fifth of that.
  assert.ok(bucket.creates < (n * (n + 1)) / 2 / 4, `${bucket.creates} creates`);
  // The IDs stay compact: a spread of claims leaves gaps, never IDs far beyond the pool's size.
  const highest = Math.max(...won.map((id) => Number(id.slice("worker-".length))));
  assert.ok(highest < 4 * n, `highest ID worker-${highest}`);
});

Deno.test("a burst that exactly fills the range gets every ID, and one more is refused", async () => {
  const bucket = await memoryStore().bucket("ids", { ttlMs: 0 });
  const won = await Promise.all(
    Array.from({ length: 64 }, (_, i) => claimant(bucket, i, 63).claim()),
  );
  assert.equal(new Set(won).size, 64);
  await assert.rejects(claimant(bucket, 64, 63).claim(), WorkerIdExhaustedError);
});

Deno.test("a claim from a small range lists no keys: it tries the range's IDs in order", async () => {
  let listings = 0;
  const inner = await memoryStore().bucket("ids", { ttlMs: 0 });
  const bucket = forwarding(inner, {
    keys: () => {
      listings++;
      return inner.keys();
    },
  });
  const one = new StableId(bucket, {
    prefix: "p3m7",
    min: 0,
    max: 0,
    claim: { instance: "host", nonce: "n" },
    stableInstance: false,
    onError: () => {},
  });
  assert.equal(await one.claim(), "p3m7-0");
  // A range of four with two IDs held: the lowest free one, still without a listing.
  await inner.create("worker-0", new Uint8Array([1]));
  await inner.create("worker-1", new Uint8Array([1]));
  assert.equal(await claimant(bucket, 1, 3).claim(), "worker-2");
  assert.equal(listings, 0);
  // A large range lists once.
  await claimant(bucket, 2).claim();
  assert.equal(listings, 1);
});
