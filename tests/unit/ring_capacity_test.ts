/**
 * The ring of `weightedConsistentHash()` weighted by capacity: a worker of capacity c has
 * max(1, round(virtualNodes × c / largest capacity)) points, the first ones of its full set. With
 * a load factor so large that no bound binds, every partition goes to the worker of its first ring
 * point, so shares of the partitions show the points directly.
 */
import assert from "node:assert/strict";
import {
  consistentHash,
  createAssignmentEngine,
  weightedConsistentHash,
  type WorkerInfo,
} from "../../src/engine/mod.ts";
import type { Partition } from "../../src/partition.ts";

const LOOSE = weightedConsistentHash({ loadFactor: 1000 });
const partitions: Partition[] = Array.from({ length: 20_000 }, (_, i) => ({ keys: ["p", `${i}`] }));
const info = (caps: Record<string, number>) =>
  new Map<string, WorkerInfo>(Object.entries(caps).map(([id, capacity]) => [id, { capacity }]));
const share = (owners: readonly string[], id: string) =>
  owners.filter((o) => o === id).length / owners.length;

for (const backend of ["wasm", "ts"] as const) {
  Deno.test(`ring (${backend}): a worker's ring points follow its capacity`, async () => {
    const engine = await createAssignmentEngine({ backend });
    const { owners } = engine.assign({
      workers: ["big", "small"],
      partitions,
      strategy: LOOSE,
      workerInfo: info({ big: 3, small: 1 }),
    });
    // 150 points against 50: about three quarters of the ring.
    const big = share(owners, "big");
    assert.ok(big > 0.7 && big < 0.8, `big holds ${big}`);
  });

  Deno.test(`ring (${backend}): equal capacities give the ring of no capacities`, async () => {
    const engine = await createAssignmentEngine({ backend });
    const workers = ["a", "b", "c", "d"];
    const plain = engine.assign({ workers, partitions, strategy: LOOSE }).owners;
    const equal = engine.assign({
      workers,
      partitions,
      strategy: LOOSE,
      workerInfo: info({ a: 2, b: 2, c: 2, d: 2 }),
    }).owners;
    assert.deepEqual(equal, plain);
  });

  Deno.test(`ring (${backend}): a capacity change below the largest moves partitions only to or from that worker`, async () => {
    const engine = await createAssignmentEngine({ backend });
    const workers = ["a", "b", "c", "d"];
    const caps = { a: 4, b: 1, c: 2, d: 3 };
    const before = engine.assign({ workers, partitions, strategy: LOOSE, workerInfo: info(caps) });
    // c's points grow from 75 to 113: the new points are added, none of the others move.
    const after = engine.assign({
      workers,
      partitions,
      strategy: LOOSE,
      workerInfo: info({ ...caps, c: 3 }),
    });
    let moved = 0;
    after.owners.forEach((o, i) => {
      if (o === before.owners[i]) return;
      moved++;
      assert.equal(o, "c", `partition ${i} moved from ${before.owners[i]} to ${o}`);
    });
    assert.ok(moved > 0);
    assert.ok(share(after.owners, "c") > share(before.owners, "c"));
  });

  Deno.test(`ring (${backend}): the ring follows capacities back and forth on one engine, and consistentHash() ignores them`, async () => {
    const engine = await createAssignmentEngine({ backend });
    const fresh = await createAssignmentEngine({ backend });
    const workers = ["a", "b", "c"];
    const inputs = [
      { a: 1, b: 1, c: 1 },
      { a: 4, b: 1, c: 1 },
      { a: 4, b: 1, c: 2 },
      { a: 1, b: 1, c: 1 },
    ];
    for (const caps of inputs) {
      const workerInfo = info(caps);
      // The engine that saw the earlier capacities answers as one that sees these first.
      assert.deepEqual(
        engine.assign({ workers, partitions, strategy: LOOSE, workerInfo }).owners,
        (await createAssignmentEngine({ backend }))
          .assign({ workers, partitions, strategy: LOOSE, workerInfo }).owners,
      );
      assert.deepEqual(
        engine.assign({ workers, partitions, strategy: consistentHash(), workerInfo }).owners,
        fresh.assign({ workers, partitions, strategy: consistentHash() }).owners,
      );
    }
  });

  Deno.test(`ring (${backend}): workers joining and leaving a weighted ring answer as a fresh engine`, async () => {
    const engine = await createAssignmentEngine({ backend });
    const all = info({ a: 4, b: 1, c: 2, d: 3, e: 1 });
    const sets = [["a", "b"], ["a", "b", "c"], ["b", "c", "d"], ["b", "c", "d", "e"], ["a", "e"]];
    for (const workers of sets) {
      const got = engine.assign({ workers, partitions, strategy: LOOSE, workerInfo: all }).owners;
      const want = (await createAssignmentEngine({ backend }))
        .assign({ workers, partitions, strategy: LOOSE, workerInfo: all }).owners;
      assert.deepEqual(got, want, `workers ${workers.join(",")}`);
    }
  });
}
