/**
 * Movement of placement with metadata when every bound tightens a little (a worker joins, or one
 * doubles its capacity): what moves is the minimum, to the worker that must gain load, on both
 * kernels alike. Two rules get it there. Partitions the old workers shed go first to a worker below
 * its floor, then back to their owner within 1 % of its bound, so the old workers do not trade
 * partitions among themselves; before that, at 300 workers × 30k partitions, a join moved 44
 * against a minimum of 41 and a capacity doubling 31 against 20 (65 and 108 against 40 at 1000 ×
 * 100k without and with selectors and zones, bench/README.md); now 42 and 20. And an earlier rule:
 * below the bound a partition goes back to its previous owner before any walk; before that one, 127
 * moves against 41, 82 of them out of their zone.
 */
import assert from "node:assert/strict";
import {
  createAssignmentEngine,
  weightedConsistentHash,
  type WorkerInfo,
} from "../../src/engine/mod.ts";
import type { Partition } from "../../src/partition.ts";
import { mulberry32 as rng } from "../helpers/random.ts";

const ZONES = ["eu-west", "eu-north", "ap-east"];

/** A fleet in three zones, capacities 1–4, an SSD on every fourth worker. */
function fleet(count: number): { ids: string[]; info: Map<string, WorkerInfo> } {
  const ids = Array.from({ length: count }, (_, i) => `worker-${i}`);
  const r = rng(17);
  const info = new Map<string, WorkerInfo>(ids.map((id, i) => [id, {
    capacity: 1 + Math.floor(r() * 4),
    labels: { zone: ZONES[i % 3]!, ...(i % 4 === 0 ? { disk: "ssd" } : {}) },
  }]));
  return { ids, info };
}

/** Weights 1–100; a third prefer a zone, a tenth need an SSD. */
function partitions(count: number): Partition[] {
  const r = rng(99);
  return Array.from({ length: count }, (_, i) => {
    const weight = 1 + Math.floor(r() * 100);
    const selector = r() < 0.1 ? { disk: "ssd" } : undefined;
    const locality = r() < 0.33 ? ZONES[Math.floor(r() * 3)]! : undefined;
    return {
      keys: ["tenant", String(i)],
      weight,
      ...(selector ? { selector } : {}),
      ...(locality ? { locality } : {}),
    };
  });
}

for (const backend of ["wasm", "ts"] as const) {
  Deno.test(`placement (${backend}): a worker joining a zoned fleet moves about the minimum, all to itself`, async () => {
    const engine = await createAssignmentEngine({ backend });
    const strategy = weightedConsistentHash();
    const { ids, info } = fleet(300);
    const list = partitions(30_000);
    const before = engine.assign({ workers: ids, partitions: list, strategy, workerInfo: info });
    const joined = "worker-300";
    const info2 = new Map(info).set(joined, { capacity: 2, labels: { zone: "eu-west" } });
    const after = engine.assign({
      workers: [...ids, joined],
      partitions: list,
      strategy,
      workerInfo: info2,
      previous: before.assignment,
    });
    const { moved, minimalMoves, localityViolations, unplaced } = after.stats;
    assert.equal(unplaced, 0);
    assert.equal(localityViolations, before.stats.localityViolations);
    assert.ok(moved <= 1.1 * minimalMoves, `${moved} moved, minimum ${minimalMoves}`);
    // Every move goes to the new worker.
    let betweenOld = 0;
    after.owners.forEach((o, i) => {
      if (o !== before.owners[i] && o !== joined) betweenOld++;
    });
    assert.equal(betweenOld, 0, `${betweenOld} of ${moved} moves between old workers`);
  });

  Deno.test(`placement (${backend}): a worker doubling its capacity in a zoned fleet moves about the minimum, none out of its zone`, async () => {
    const engine = await createAssignmentEngine({ backend });
    const strategy = weightedConsistentHash();
    const { ids, info } = fleet(300);
    const list = partitions(30_000);
    const before = engine.assign({ workers: ids, partitions: list, strategy, workerInfo: info });
    const grown = new Map(info);
    const old = info.get("worker-37")!;
    grown.set("worker-37", { ...old, capacity: 2 * old.capacity! });
    const after = engine.assign({
      workers: ids,
      partitions: list,
      strategy,
      workerInfo: grown,
      previous: before.assignment,
    });
    const { moved, minimalMoves, localityViolations } = after.stats;
    // 20 against a minimum of 20 (31 before the shed rule, 157 before the earlier one).
    assert.ok(moved <= 1.1 * minimalMoves, `${moved} moved, minimum ${minimalMoves}`);
    assert.equal(localityViolations, before.stats.localityViolations);
  });

  Deno.test(`placement (${backend}): a worker joining a pool without metadata moves about the minimum, all to itself`, async () => {
    const engine = await createAssignmentEngine({ backend });
    const ids = Array.from({ length: 300 }, (_, i) => `worker-${i}`);
    const r = rng(5);
    const list = Array.from({ length: 30_000 }, (_, i) => ({
      keys: ["tenant", String(i)],
      weight: 1 + Math.floor(r() * 100),
    }));
    const before = engine.assign({ workers: ids, partitions: list });
    const after = engine.assign({
      workers: [...ids, "worker-300"],
      partitions: list,
      previous: before.assignment,
    });
    const { moved, minimalMoves, maxRelativeLoad } = after.stats;
    assert.ok(moved <= 1.1 * minimalMoves, `${moved} moved, minimum ${minimalMoves}`);
    assert.ok(after.owners.every((o, i) => o === before.owners[i] || o === "worker-300"));
    // Within the 1 % over its bound that an old worker may keep.
    assert.ok(maxRelativeLoad <= 1.01 + 1e-9, `max/mean ${maxRelativeLoad}`);
  });
}
