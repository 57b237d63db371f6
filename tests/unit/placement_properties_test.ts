/**
 * Seeded properties of placement with metadata, over both kernels: WASM and TypeScript owners and
 * statistics are identical; selectors are never violated and unmatched partitions are reported;
 * capacity shares hold; pins hold while their worker lives; throttling caps planned moves and never
 * holds back an emergency.
 */
import assert from "node:assert/strict";
import {
  type AssignInput,
  type AssignmentEngine,
  createAssignmentEngine,
  roundRobin,
  type WorkerInfo,
} from "../../src/engine/mod.ts";
import type { Partition } from "../../src/partition.ts";

const wasm = await createAssignmentEngine({ backend: "wasm" });
const ts = await createAssignmentEngine({ backend: "ts" });

/** A small deterministic generator (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Case {
  readonly workers: string[];
  readonly info: Map<string, WorkerInfo>;
  readonly partitions: Partition[];
}

function randomCase(seed: number): Case {
  const r = rng(seed);
  const w = 2 + Math.floor(r() * 30);
  const n = 1 + Math.floor(r() * 600);
  const zones = ["a", "b", "c"];
  const workers = Array.from({ length: w }, (_, i) => `w-${i}-é${seed}`);
  const info = new Map<string, WorkerInfo>(workers.map((id, i) => [id, {
    capacity: 1 + Math.floor(r() * 4),
    labels: { zone: zones[Math.floor(r() * 3)]!, ...(r() < 0.3 ? { pool: "gpu" } : {}) },
    instance: `host-${i}`,
  }]));
  const partitions = Array.from({ length: n }, (_, i) => {
    const p: { -readonly [K in keyof Partition]: Partition[K] } = {
      keys: ["t", String(i), "ü"],
      weight: 1 + Math.floor(r() * 100),
    };
    if (r() < 0.1) p.selector = { pool: "gpu" };
    if (r() < 0.3) p.locality = zones[Math.floor(r() * 3)]!;
    if (r() < 0.2) p.priority = Math.floor(r() * 3);
    if (r() < 0.02) {
      p.pin = r() < 0.5 ? workers[Math.floor(r() * w)]! : `host-${Math.floor(r() * w)}`;
    }
    return p;
  });
  return { workers, info, partitions };
}

function run(engine: AssignmentEngine, input: AssignInput) {
  const result = engine.assign(input);
  return { owners: result.owners, stats: result.stats, unplaced: result.unplaced, result };
}

Deno.test("placement with metadata: WASM and TypeScript agree bit for bit, with and without a previous assignment and a move cap", () => {
  for (let seed = 1; seed <= 60; seed++) {
    const c = randomCase(seed);
    const first = { workers: c.workers, partitions: c.partitions, workerInfo: c.info };
    const a = run(wasm, first), b = run(ts, first);
    assert.deepEqual(a.owners, b.owners, `seed ${seed}: owners`);
    assert.deepEqual(a.stats, b.stats, `seed ${seed}: stats`);
    // One worker leaves, one joins, with a cap on planned moves.
    const workers = [...c.workers.slice(1), `late-${seed}`];
    const next = {
      workers,
      partitions: c.partitions,
      workerInfo: c.info,
      previous: new Map(a.result.assignment),
      maxMoves: seed % 3 === 0 ? 0.1 : 1 + (seed % 5),
    };
    const a2 = run(wasm, next), b2 = run(ts, next);
    assert.deepEqual(a2.owners, b2.owners, `seed ${seed}: owners after a change`);
    assert.deepEqual(a2.stats, b2.stats, `seed ${seed}: stats after a change`);
    // Worker order does not matter.
    const shuffled = run(wasm, { ...next, workers: [...workers].reverse() });
    assert.deepEqual(shuffled.owners, a2.owners, `seed ${seed}: worker order`);
  }
});

Deno.test("selectors are never violated; a partition no live worker matches is unplaced, reported and left out of the map", () => {
  for (let seed = 100; seed < 140; seed++) {
    const c = randomCase(seed);
    for (const engine of [wasm, ts]) {
      const { owners, stats, unplaced, result } = run(engine, {
        workers: c.workers,
        partitions: c.partitions,
        workerInfo: c.info,
      });
      const gpu = c.workers.some((w) => c.info.get(w)!.labels!.pool === "gpu");
      c.partitions.forEach((p, i) => {
        if (p.selector === undefined) return assert.notEqual(owners[i], "");
        if (!gpu && p.pin === undefined) return assert.equal(owners[i], "", `seed ${seed}`);
        if (p.pin === undefined) assert.equal(c.info.get(owners[i]!)?.labels?.pool, "gpu");
      });
      assert.equal(stats.unplaced, unplaced.length);
      assert.equal(unplaced.length, owners.filter((o) => o === "").length);
      for (const id of unplaced) assert.equal(result.assignment.has(id), false);
    }
  }
});

Deno.test("capacity shares: 100 workers of capacity 1-4 and 10k partitions of weight 1-100 stay within 1.02 of each worker's share", () => {
  const r = rng(7);
  const workers = Array.from({ length: 100 }, (_, i) => `worker-${i}`);
  const info = new Map(workers.map((w) => [w, { capacity: 1 + Math.floor(r() * 4) }]));
  const partitions = Array.from({ length: 10_000 }, (_, i) => ({
    keys: ["orders", String(i)],
    weight: 1 + Math.floor(r() * 100),
  }));
  for (const engine of [wasm, ts]) {
    const { owners, stats } = run(engine, { workers, partitions, workerInfo: info });
    const total = partitions.reduce((s, p) => s + p.weight, 0);
    const capacity = [...info.values()].reduce((s, i) => s + i.capacity, 0);
    const loads = new Map<string, number>();
    owners.forEach((o, i) => loads.set(o, (loads.get(o) ?? 0) + partitions[i]!.weight));
    let max = 0;
    for (const w of workers) {
      max = Math.max(max, (loads.get(w) ?? 0) / (total * info.get(w)!.capacity / capacity));
    }
    assert.ok(max <= 1.02, `${engine.backend}: max/share ${max}`);
    assert.ok(Math.abs(stats.maxRelativeLoad - max) < 1e-9);
  }
});

Deno.test("with equal capacities and no partition metadata the metadata path gives the plain path's owners", () => {
  for (let seed = 200; seed < 230; seed++) {
    const c = randomCase(seed);
    const plain = c.partitions.map((p) => ({ keys: p.keys, weight: p.weight! }));
    const forced = plain.map((p) => ({ ...p, priority: 0 }));
    const a = wasm.assign({ workers: c.workers, partitions: plain });
    const b = wasm.assign({ workers: c.workers, partitions: forced });
    assert.deepEqual(a.owners, b.owners, `seed ${seed}`);
  }
});

Deno.test("pins hold while the pinned worker is in the list (by ID or instance name) and are ignored otherwise", () => {
  const workers = ["a", "b", "c"];
  const info = new Map(workers.map((w) => [w, { instance: `host-${w}` }]));
  const partitions = [
    ...Array.from({ length: 30 }, (_, i) => ({ keys: ["p", String(i)] })),
    { keys: ["pinned", "id"], pin: "c" },
    { keys: ["pinned", "instance"], pin: "host-b" },
  ];
  for (const engine of [wasm, ts]) {
    const on = engine.assign({ workers, partitions, workerInfo: info }).owners;
    assert.equal(on[30], "c");
    assert.equal(on[31], "b");
    const off = engine.assign({ workers: ["a"], partitions, workerInfo: info }).owners;
    assert.equal(off[30], "a");
    assert.equal(off[31], "a");
  }
});

Deno.test("throttling: at most maxMoves planned moves, the rest pending; repeated rounds converge; a departed worker's partitions always move", () => {
  const partitions = Array.from({ length: 200 }, (_, i) => ({ keys: ["q", String(i)] }));
  const four = ["w0", "w1", "w2", "w3"];
  for (const engine of [wasm, ts]) {
    let previous = new Map(engine.assign({ workers: four, partitions }).assignment);
    const five = [...four, "w4"];
    const target = engine.assign({ workers: five, partitions, previous });
    let rounds = 0;
    for (;;) {
      const r = engine.assign({ workers: five, partitions, previous, maxMoves: 7 });
      assert.ok(r.stats.moved <= 7, `moved ${r.stats.moved}`);
      previous = new Map(r.assignment);
      rounds++;
      if (r.stats.movesPending === 0) break;
      assert.ok(rounds < 20, "converges");
    }
    assert.ok(rounds >= Math.ceil(target.stats.moved / 7));
    const final = engine.assign({ workers: five, partitions, previous });
    assert.equal(final.stats.moved, 0, "the throttled rounds reached a stable assignment");
    // w0 departs: its partitions move at once even with maxMoves 1.
    const held = [...previous].filter(([, o]) => o === "w0").length;
    const r = engine.assign({ workers: five.slice(1), partitions, previous, maxMoves: 1 });
    assert.ok(r.stats.moved >= held, `${r.stats.moved} >= ${held}`);
    assert.ok([...r.assignment.values()].every((o) => o !== "w0"));
    // maxMoves 0: only the emergency moves.
    const zero = engine.assign({ workers: five.slice(1), partitions, previous, maxMoves: 0 });
    assert.equal(zero.stats.moved, held);
  }
});

Deno.test("bad placement input fails with a clear RangeError", () => {
  const partitions = [{ keys: ["a"] }, { keys: ["b"], selector: { pool: "gpu" } }];
  const workers = ["x", "y"];
  for (const capacity of [0, -1, Number.NaN, Infinity]) {
    assert.throws(
      () => wasm.assign({ workers, partitions, workerInfo: new Map([["x", { capacity }]]) }),
      /capacity/,
    );
  }
  assert.throws(
    () =>
      wasm.assign({
        workers,
        partitions,
        workerInfo: new Map([["x", { labels: { "a b": "c" } }]]),
      }),
    /labels/,
  );
  for (const maxMoves of [-1, 2.5, Number.NaN]) {
    assert.throws(() => wasm.assign({ workers, partitions, maxMoves }), /maxMoves/);
  }
  assert.throws(() => wasm.assign({ workers, partitions, strategy: roundRobin() }), /selector/);
});
