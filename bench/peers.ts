/**
 * Peers table (issue 14): the held-out key shape through npm hash-ring packages a TypeScript user
 * would pick, next to this engine, in one run with calls interleaved.
 *
 * Inputs: 100 workers (`worker-<i>`) × 10k partitions, keys `["région-<one of 7>", "客户-<set>-<i>-ü"]`
 * (the peers hash the partition ID, the keys joined with `/`), weights uniform in [1, 100), a
 * different partition set (different keys) on every cold call.
 *
 * Columns: **cold** = build the ring from the worker IDs and place every partition (a stateless
 * `assign(workers, partitions)`), median and p99 of the interleaved calls, and as a multiple of
 * this engine's WebAssembly `weightedConsistentHash()` median; **max/mean** = the heaviest worker's
 * load (sum of partition weights) over the mean; **moved +1 / −1** = partitions whose owner changed
 * when `worker-100` joins or `worker-37` leaves (peers: added to or removed from the same ring
 * object; this engine: the previous assignment passed in), against the minimum 1/101 and 1/100;
 * **rebuild stable** = whether a ring rebuilt from the same worker list gives the same owners (a
 * leader and its successor must agree).
 *
 * Usage: `deno run -A bench/peers.ts [--calls N]` (`deno task bench:peers`).
 *
 * @module
 */
import ConsistentHash from "npm:consistent-hash@1.2.2";
import HashRing from "npm:hashring@3.2.0";
import NodeHashRing from "npm:node-hashring@1.0.2";
import { HashRing as Ketama } from "npm:ketama@1.0.0";
import {
  consistentHash,
  createAssignmentEngine,
  type Partition,
  weightedConsistentHash,
} from "../src/engine/mod.ts";
import { partitionId } from "../src/partition.ts";

const WORKERS = 100;
const PARTITIONS = 10_000;
const SETS = 8;
const callsArg = Deno.args.indexOf("--calls");
const CALLS = callsArg >= 0 ? Number(Deno.args[callsArg + 1]) : 60;

const REGIONS = ["île-de-france", "bayern", "東京", "são-paulo", "ontario", "москва", "zürich"];
function heldOut(set: number): Partition[] {
  let seed = 7 + set;
  const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  return Array.from({ length: PARTITIONS }, (_, i) => ({
    keys: [`région-${REGIONS[i % REGIONS.length]}`, `客户-${set}-${i}-ü`],
    weight: 1 + rand() * 99,
  }));
}
const workers = Array.from({ length: WORKERS }, (_, i) => `worker-${i}`);
const sets = Array.from({ length: SETS }, (_, s) => heldOut(s));

/** A peer: a ring over worker IDs that can grow and shrink, and a key look-up. */
interface Ring {
  lookup(key: string): string;
  add(worker: string): void;
  remove(worker: string): void;
}
interface Peer {
  readonly name: string;
  readonly algorithm: string;
  build(workers: readonly string[]): Ring;
}

const peers: Peer[] = [
  {
    name: "consistent-hash@1.2.2",
    algorithm: "ring, 150 random points per worker (PJW hash)",
    build(ws) {
      const ring = new ConsistentHash();
      for (const w of ws) ring.add(w);
      return {
        lookup: (k) => ring.get(k) as string,
        add: (w) => void ring.add(w),
        remove: (w) => void ring.remove(w),
      };
    },
  },
  {
    name: "node-hashring@1.0.2",
    algorithm: "ring, 80 vnodes per worker (murmur3-32)",
    build(ws) {
      const ring = new NodeHashRing([...ws]);
      return {
        lookup: (k) => ring.findNode(k) as string,
        add: (w) => void ring.addNode(w),
        remove: (w) => void ring.removeNode(w),
      };
    },
  },
  {
    name: "hashring@3.2.0",
    algorithm: "ketama: md5, 160 points per worker, LRU of 5000",
    build(ws) {
      const ring = new HashRing([...ws]);
      return {
        lookup: (k) => ring.get(k) as string,
        add: (w) => void ring.add(w),
        remove: (w) => void ring.remove(w),
      };
    },
  },
  {
    name: "ketama@1.0.0",
    algorithm: "libketama: sha1, weight-scaled points",
    build(ws) {
      const ring = new Ketama<string>();
      for (const w of ws) ring.addNode(w);
      return {
        lookup: (k) => ring.getNode(k) as string,
        add: (w) => void ring.addNode(w),
        remove: (w) => void ring.removeNode(w),
      };
    },
  },
];

const wasm = await createAssignmentEngine({ backend: "wasm" });
const ts = await createAssignmentEngine({ backend: "ts" });
interface Contender {
  readonly name: string;
  readonly algorithm: string;
  cold(partitions: readonly Partition[], ids: readonly string[]): string[];
  moved(partitions: readonly Partition[], ids: readonly string[]): [plus: number, minus: number];
  stable(partitions: readonly Partition[], ids: readonly string[]): boolean;
}
const engineRow = (
  name: string,
  algorithm: string,
  engine: typeof wasm,
  strategy: ReturnType<typeof weightedConsistentHash> | ReturnType<typeof consistentHash>,
): Contender => ({
  name,
  algorithm,
  cold: (partitions) => engine.assign({ workers, partitions, strategy }).owners,
  moved(partitions) {
    const base = engine.assign({ workers, partitions, strategy });
    const plus = engine.assign({
      workers: [...workers, `worker-${WORKERS}`],
      partitions,
      strategy,
      previous: base.assignment,
    });
    const minus = engine.assign({
      workers: workers.filter((w) => w !== "worker-37"),
      partitions,
      strategy,
      previous: base.assignment,
    });
    return [plus.stats.moved, minus.stats.moved];
  },
  stable(partitions) {
    const a = engine.assign({ workers, partitions, strategy }).owners;
    const other = engine.backend === "wasm" ? ts : wasm;
    const b = other.assign({ workers, partitions, strategy }).owners;
    return a.every((o, i) => o === b[i]);
  },
});
const contenders: Contender[] = [
  engineRow(
    "parti weightedConsistentHash(), WebAssembly",
    "ring 150 vnodes (XXH3) + bounded loads by weight",
    wasm,
    weightedConsistentHash(),
  ),
  engineRow(
    "parti weightedConsistentHash(), TypeScript",
    "same, pure TypeScript backend",
    ts,
    weightedConsistentHash(),
  ),
  // Its own engine: one that just loaded the same partitions would skip hashing them.
  engineRow(
    "parti consistentHash(), WebAssembly",
    "plain ring 150 vnodes (XXH3)",
    await createAssignmentEngine({ backend: "wasm" }),
    consistentHash(),
  ),
  ...peers.map((peer): Contender => ({
    name: peer.name,
    algorithm: peer.algorithm,
    cold(partitions, ids) {
      const ring = peer.build(workers);
      const owners = new Array<string>(partitions.length);
      for (let i = 0; i < ids.length; i++) owners[i] = ring.lookup(ids[i]!);
      return owners;
    },
    moved(_partitions, ids) {
      const ring = peer.build(workers);
      const base = ids.map((id) => ring.lookup(id));
      ring.add(`worker-${WORKERS}`);
      const plus = ids.filter((id, i) => ring.lookup(id) !== base[i]).length;
      ring.remove(`worker-${WORKERS}`);
      ring.remove("worker-37");
      const minus = ids.filter((id, i) => ring.lookup(id) !== base[i]).length;
      return [plus, minus];
    },
    stable(_partitions, ids) {
      const a = peer.build(workers), b = peer.build(workers);
      return ids.every((id) => a.lookup(id) === b.lookup(id));
    },
  })),
];

/** The same fixed integer workload as bench/engine_bench.ts, to compare machines. */
function calibration(): string {
  let best = Infinity;
  for (let run = 0; run < 5; run++) {
    const start = performance.now();
    let x = 1;
    for (let i = 0; i < 10_000_000; i++) x = (Math.imul(x, 1103515245) + 12345) | 0;
    best = Math.min(best, performance.now() - start);
    if (x === 42) console.log("");
  }
  return `calibration: 10M LCG steps in ${best.toFixed(2)} ms (best of 5)`;
}

const ids = sets.map((set) => set.map(partitionId));
const times = contenders.map(() => [] as number[]);
const WARMUP = 5;
for (let call = 0; call < CALLS + WARMUP; call++) {
  const s = call % SETS;
  // Rotate the order so that no contender always runs right after another's garbage.
  for (let k = 0; k < contenders.length; k++) {
    const c = (k + call) % contenders.length;
    const start = performance.now();
    contenders[c]!.cold(sets[s]!, ids[s]!);
    const t = performance.now() - start;
    if (call >= WARMUP) times[c]!.push(t);
  }
}
const quantile = (values: number[], q: number) => {
  const sorted = values.slice().sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
};
const fmt = (ms: number) => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2));
const ours = quantile(times[0]!, 0.5);
const rows = [
  "| contender | algorithm | cold p50 (ms) | cold p99 (ms) | cold × parti WASM | max/mean | moved +1 (min 0.99 %) | moved −1 (min 1.00 %) | rebuild stable |",
  "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
];
const partitions = sets[0]!;
for (let c = 0; c < contenders.length; c++) {
  const contender = contenders[c]!;
  const owners = contender.cold(partitions, ids[0]!);
  const load = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < owners.length; i++) {
    const w = partitions[i]!.weight ?? 1;
    load.set(owners[i]!, (load.get(owners[i]!) ?? 0) + w);
    total += w;
  }
  const maxMean = Math.max(...load.values()) / (total / WORKERS);
  const [plus, minus] = contender.moved(partitions, ids[0]!);
  const pct = (m: number) => `${m} (${(100 * m / PARTITIONS).toFixed(2)} %)`;
  const p50 = quantile(times[c]!, 0.5);
  rows.push(
    `| ${contender.name} | ${contender.algorithm} | ${fmt(p50)} | ${
      fmt(quantile(times[c]!, 0.99))
    } | ${(p50 / ours).toFixed(1)}× | ${maxMean.toFixed(3)} | ${pct(plus)} | ${pct(minus)} | ${
      contender.stable(partitions, ids[0]!) ? "yes" : "**no**"
    } |`,
  );
}
console.log(calibration());
console.log(
  `${WORKERS} workers × ${
    PARTITIONS / 1000
  }k partitions, held-out keys, weights 1–100, ${CALLS} interleaved cold calls each (Deno ${Deno.version.deno})\n`,
);
console.log(rows.join("\n"));
