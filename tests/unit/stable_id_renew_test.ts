/**
 * A worker's ID counts as lost only on evidence: another holder's value in its key (see
 * `StableId.renew`). Found by the cluster fault test: after two of three nodes had been down, a
 * worker's renewal conflicted, its read of the key answered "absent" (a replica that lagged, or
 * the key had expired while its own timed-out create was still waiting for a stream leader), and
 * the create that followed conflicted with the worker's own write: the worker declared its ID
 * taken over, released everything and stopped for good. Now it reads again and keeps its ID.
 *
 * And a claim just won is confirmed by an immediate renewal before it is used: the same server
 * (nats-server#4320, before 2.9.21) may accept two creates of one key that are in flight
 * together, as when a pool starts at once; both processes would then run as the same worker.
 */
import assert from "node:assert/strict";
import { RevisionConflictError } from "../../src/errors.ts";
import { encode } from "../../src/protocol/records.ts";
import { memoryStore } from "../../src/store/memory.ts";
import type { Bucket } from "../../src/store/store.ts";
import { StableId } from "../../src/worker/stable_id.ts";
import { forwarding } from "../helpers/forwarding_bucket.ts";

/** `get` answers "absent" for the next `stale` calls (a lagging replica). */
function lagging(inner: Bucket): Bucket & { stale: number } {
  const bucket: Bucket & { stale: number } = Object.assign(
    forwarding(inner, {
      async get(key) {
        if (bucket.stale > 0) {
          bucket.stale--;
          return null;
        }
        return await inner.get(key);
      },
    }),
    { stale: 0 },
  );
  return bucket;
}

async function setup() {
  const inner = await memoryStore().bucket("ids", { ttlMs: 0 });
  const bucket = lagging(inner);
  const claim = { instance: "host-a", nonce: "nonce-a" };
  const id = new StableId(bucket, {
    prefix: "worker",
    min: 0,
    max: 9,
    claim,
    stableInstance: true,
    onError: () => {},
  });
  assert.equal(await id.claim(), "worker-0");
  return { inner, bucket, claim, id };
}

Deno.test("a renewal whose read lags behind its own landed write keeps the ID", async () => {
  const { inner, bucket, claim, id } = await setup();
  // Our own earlier renewal timed out but landed: the revision moved under us.
  await inner.put("worker-0", encode(claim));
  bucket.stale = 1; // and the read after the conflict says "absent"
  await id.renew(); // the create conflicts with our own value: read again, keep it
  await id.renew(); // and the revision adopted is the current one
  assert.equal(bucket.stale, 0);
});

Deno.test("a renewal that finds another holder's value loses the ID", async () => {
  const { inner, bucket, id } = await setup();
  await inner.put("worker-0", encode({ instance: "host-b", nonce: "nonce-b" }));
  bucket.stale = 1;
  await assert.rejects(() => id.renew(), RevisionConflictError);
});

/** Creates of `worker-0` in flight together both succeed (the pre-check race, on demand). */
function racyCreates(inner: Bucket): Bucket {
  let held: (() => void)[] | undefined = [];
  const release = () => {
    const queue = held ?? [];
    held = undefined;
    for (const r of queue) r();
  };
  return forwarding(inner, {
    async create(key, value) {
      if (key !== "worker-0" || held === undefined) return await inner.create(key, value);
      const absent = (await inner.get(key)) === null; // the pre-check, before either is applied
      await new Promise<void>((resolve) => {
        held!.push(resolve);
        if (held!.length === 2) release();
      });
      if (!absent) return await inner.create(key, value);
      return await inner.put(key, value); // applied without a second check
    },
  });
}

Deno.test("two claims of the same free ID accepted together by a racy store end with two different IDs", async () => {
  const bucket = racyCreates(await memoryStore().bucket("ids", { ttlMs: 0 }));
  const make = (name: string) =>
    new StableId(bucket, {
      prefix: "worker",
      min: 0,
      max: 9,
      claim: { instance: `host-${name}`, nonce: `nonce-${name}` },
      stableInstance: false,
      onError: () => {},
    });
  const ids = await Promise.all([make("a").claim(), make("b").claim()]);
  assert.equal(new Set(ids).size, 2, `claimed ${ids.join(", ")}`);
});
