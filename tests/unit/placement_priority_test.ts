/**
 * Priority ranks: a partition without `priority` ranks like `priority: 0` (the documented default),
 * wherever it stands in the list, including before the first partition that has metadata.
 */
import assert from "node:assert/strict";
import { createAssignmentEngine } from "../../src/engine/mod.ts";
import { scanPartitionMeta } from "../../src/engine/placement.ts";
import type { Partition } from "../../src/partition.ts";

const ranks = (partitions: Partition[]) => Array.from(scanPartitionMeta(partitions).prio ?? []);

Deno.test("a partition without priority ranks like priority 0 before the first one with metadata", () => {
  // Priorities 5 > 3 > 0: ranks 0, 1, 2 (0 = placed first).
  assert.deepEqual(
    ranks([{ keys: ["a"] }, { keys: ["b"], priority: 5 }, { keys: ["c"], priority: 3 }]),
    [2, 0, 1],
  );
  assert.deepEqual(
    ranks([{ keys: ["b"], priority: 5 }, { keys: ["a"] }, { keys: ["c"], priority: 3 }]),
    [0, 2, 1],
  );
  assert.deepEqual(
    ranks([{ keys: ["b"], priority: 5 }, { keys: ["c"], priority: 3 }, { keys: ["a"] }]),
    [0, 1, 2],
  );
  // Every later partition has the same priority: the early one still ranks below it.
  assert.deepEqual(ranks([{ keys: ["a"] }, { keys: ["b"], priority: 5 }]), [1, 0]);
  // A negative priority ranks below the default.
  assert.deepEqual(
    ranks([{ keys: ["a"] }, { keys: ["b"], priority: -1 }, { keys: ["c"] }]),
    [0, 1, 0],
  );
});

Deno.test("rank of a partition without priority does not depend on its position (random lists)", () => {
  let seed = 99;
  const r = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  for (let t = 0; t < 200; t++) {
    const n = 2 + Math.floor(r() * 12);
    const list: Partition[] = Array.from(
      { length: n },
      (_, i) =>
        r() < 0.4 ? { keys: [`p${i}`] } : { keys: [`p${i}`], priority: Math.floor(r() * 5) - 2 },
    );
    const explicit = list.map((p) => ({ ...p, priority: p.priority ?? 0 }));
    const a = ranks(list), b = ranks(explicit);
    // All-equal priorities give no ranks at all; otherwise the ranks must agree.
    if (a.length === 0 || b.length === 0) assert.equal(new Set(b).size <= 1, true, `case ${t}`);
    else assert.deepEqual(a, b, `case ${t}: ${JSON.stringify(list)}`);
  }
});

Deno.test("owners with implicit and explicit priority 0 agree, WASM and TypeScript", async () => {
  const engines = [
    await createAssignmentEngine({ backend: "wasm" }),
    await createAssignmentEngine({ backend: "ts" }),
  ];
  // A worker joins and a move cap lets only a few of the planned moves go: the most important
  // first (by priority rank), so the ranks decide which partitions move.
  const workers = Array.from({ length: 8 }, (_, i) => `w${i}`);
  const implicit: Partition[] = [];
  for (let i = 0; i < 400; i++) {
    const p: { keys: string[]; weight: number; priority?: number } = {
      keys: ["t", String(i)],
      weight: 1 + (i % 7),
    };
    if (i >= 200) p.priority = i % 3 === 0 ? 5 : 3;
    implicit.push(p);
  }
  const explicit = implicit.map((p) => ({ ...p, priority: p.priority ?? 0 }));
  const owners: string[][] = [];
  for (const engine of engines) {
    const run = (partitions: Partition[]) => {
      const before = engine.assign({ workers, partitions });
      return engine.assign({
        workers: [...workers, "w8"],
        partitions,
        previous: before.assignment,
        maxMoves: 5,
      });
    };
    const a = run(implicit), b = run(explicit);
    assert.equal(a.stats.movesPending > 0, true);
    assert.deepEqual(a.owners, b.owners);
    assert.deepEqual(a.stats, b.stats);
    // The moves that went are of the highest priority.
    const moved = a.owners.flatMap((o, i) => (o === "w8" ? [i] : []));
    assert.equal(moved.length > 0, true);
    for (const i of moved) assert.equal(implicit[i]!.priority, 5, `partition ${i} moved`);
    owners.push(a.owners);
  }
  assert.deepEqual(owners[0], owners[1]);
});
