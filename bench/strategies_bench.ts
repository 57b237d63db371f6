/**
 * Strategies compared in one run (issue 11): every built-in strategy of `src/engine/mod.ts`
 * (`weightedConsistentHash()`, `consistentHash()`, `roundRobin()`), `weightedConsistentHash()` with
 * placement metadata, and peers written here as strategy functions: a naive modulo hash,
 * rendezvous (highest-random-weight) hashing, plain and weighted by capacity, rendezvous that
 * honours selectors and localities, and a user-written smooth weighted round robin (the shape of
 * `examples/custom_strategy.ts`).
 *
 * Inputs: non-ASCII keys (`["région-<one of 7>", "客户-<set>-<i>-ü"]`), integer weights 1–100, a
 * different partition array with different keys on every cold call, and two worker sets used in
 * turn, so nothing is cached between calls. Three input kinds:
 * - **equal**: no `workerInfo`, no partition metadata;
 * - **capacities**: worker capacities 1–4;
 * - **metadata**: capacities, plus 10 % of the partitions with `selector: { disk: "ssd" }` (a
 *   quarter of the workers have it) and 33 % with a `locality` (one of three zones, every worker
 *   has one).
 *
 * `deno bench -A bench/strategies_bench.ts` times cold calls (100 × 10k for every row; 1000 × 100k
 * for the rows that take under a second a call); `bench/strategies_table.ts` imports the rows from
 * here and prints balance and movement next to the timings. Peers run through `engine.assign`
 * like any strategy function, so their times include the engine's validation and marshalling.
 *
 * @module
 */
import {
  type AssignInput,
  type AssignmentStrategy,
  consistentHash,
  createAssignmentEngine,
  type Partition,
  roundRobin,
  type StrategyFunction,
  type StrategyInput,
  weightedConsistentHash,
  type WorkerInfo,
} from "../src/engine/mod.ts";

// ---------------------------------------------------------------------------------------------
// Peers: strategy functions a user could write.

/** 32-bit FNV-1a over the UTF-16 units of a partition's keys (with a separator), then fmix32. */
export function partitionHash(keys: readonly string[]): number {
  let h = 0x811c9dc5;
  for (let k = 0; k < keys.length; k++) {
    const key = keys[k]!;
    for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
    h = Math.imul(h ^ 0x2f, 0x01000193);
  }
  return fmix32(h);
}

/** MurmurHash3's 32-bit finalizer. */
function fmix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function sortedWorkers(workers: readonly string[]): string[] {
  return workers.slice().sort();
}

/** Naive modulo hash: partition hash mod the number of workers (sorted by ID). */
export const moduloHash: StrategyFunction = ({ workers, partitions }) => {
  const ids = sortedWorkers(workers);
  const out = new Array<string>(partitions.length);
  for (let i = 0; i < partitions.length; i++) {
    out[i] = ids[partitionHash(partitions[i]!.keys) % ids.length]!;
  }
  return out;
};

/** Hashes of the worker IDs (rendezvous seeds). */
function workerSeeds(ids: readonly string[]): Uint32Array {
  const seeds = new Uint32Array(ids.length);
  for (let w = 0; w < ids.length; w++) seeds[w] = partitionHash([ids[w]!]);
  return seeds;
}

/** Score of a (partition, worker) pair, uniform in [0, 2^32). */
function pairScore(ph: number, seed: number): number {
  return fmix32((ph ^ Math.imul(seed, 0x9e3779b1)) + seed);
}

/** Rendezvous (highest random weight) hashing: the worker with the highest pair score. */
export const rendezvous: StrategyFunction = ({ workers, partitions }) => {
  const ids = sortedWorkers(workers);
  const seeds = workerSeeds(ids);
  const out = new Array<string>(partitions.length);
  for (let i = 0; i < partitions.length; i++) {
    const ph = partitionHash(partitions[i]!.keys);
    let best = 0;
    let bestScore = -1;
    for (let w = 0; w < ids.length; w++) {
      const s = pairScore(ph, seeds[w]!);
      if (s > bestScore) {
        bestScore = s;
        best = w;
      }
    }
    out[i] = ids[best]!;
  }
  return out;
};

function capacitiesOf(ids: readonly string[], info: StrategyInput["workerInfo"]): Float64Array {
  const caps = new Float64Array(ids.length);
  for (let w = 0; w < ids.length; w++) caps[w] = info?.get(ids[w]!)?.capacity ?? 1;
  return caps;
}

/**
 * Weighted rendezvous: the worker with the highest `capacity / -ln(u)`, u the pair score in (0, 1);
 * each worker wins a share of the partitions proportional to its capacity. Maximizing
 * `ln(u) / capacity` gives the same order with one division.
 */
export const weightedRendezvous: StrategyFunction = ({ workers, partitions, workerInfo }) => {
  const ids = sortedWorkers(workers);
  const seeds = workerSeeds(ids);
  const inv = capacitiesOf(ids, workerInfo).map((c) => 1 / c);
  const out = new Array<string>(partitions.length);
  for (let i = 0; i < partitions.length; i++) {
    const ph = partitionHash(partitions[i]!.keys);
    let best = 0;
    let bestScore = -Infinity;
    for (let w = 0; w < ids.length; w++) {
      const s = Math.log((pairScore(ph, seeds[w]!) + 0.5) / 4294967296) * inv[w]!;
      if (s > bestScore) {
        bestScore = s;
        best = w;
      }
    }
    out[i] = ids[best]!;
  }
  return out;
};

/**
 * Weighted rendezvous that honours `selector` (only matching workers score) and `locality`
 * (the best worker in the partition's zone wins when there is one, else the best of the rest).
 * No load bound, so it never spills for want of room. A strategy function must name an owner for
 * every partition, so one that no worker matches goes to the best worker overall (a selector
 * violation; the inputs here always have matching workers).
 */
export function metadataRendezvous(spreadBy = "zone"): StrategyFunction {
  return ({ workers, partitions, workerInfo }) => {
    const ids = sortedWorkers(workers);
    const seeds = workerSeeds(ids);
    const inv = capacitiesOf(ids, workerInfo).map((c) => 1 / c);
    const labels = ids.map((id) => workerInfo?.get(id)?.labels ?? {});
    const out = new Array<string>(partitions.length);
    for (let i = 0; i < partitions.length; i++) {
      const p = partitions[i]!;
      const ph = partitionHash(p.keys);
      const selector = p.selector;
      let any = 0;
      let anyScore = -Infinity;
      let best = -1;
      let bestScore = -Infinity;
      let local = -1;
      let localScore = -Infinity;
      for (let w = 0; w < ids.length; w++) {
        const s = Math.log((pairScore(ph, seeds[w]!) + 0.5) / 4294967296) * inv[w]!;
        if (s > anyScore) {
          anyScore = s;
          any = w;
        }
        const l = labels[w]!;
        if (selector !== undefined && !matches(l, selector)) continue;
        if (s > bestScore) {
          bestScore = s;
          best = w;
        }
        if (p.locality !== undefined && l[spreadBy] === p.locality && s > localScore) {
          localScore = s;
          local = w;
        }
      }
      out[i] = ids[local >= 0 ? local : best >= 0 ? best : any]!;
    }
    return out;
  };
}

function matches(labels: Readonly<Record<string, string>>, selector: Partition["selector"]) {
  for (const key in selector) if (labels[key] !== selector[key]) return false;
  return true;
}

/**
 * Smooth weighted round robin by worker capacity, the strategy of `examples/custom_strategy.ts`:
 * for each partition in input order every worker's credit grows by its capacity, and the worker
 * with the most credit (the first on a tie) takes it and pays the total capacity back.
 */
export const weightedRoundRobin: StrategyFunction = ({ workers, partitions, workerInfo }) => {
  const ids = sortedWorkers(workers);
  const caps = capacitiesOf(ids, workerInfo);
  let total = 0;
  for (const c of caps) total += c;
  const credit = new Float64Array(ids.length);
  const out = new Array<string>(partitions.length);
  for (let i = 0; i < partitions.length; i++) {
    let best = 0;
    for (let w = 0; w < ids.length; w++) {
      credit[w]! += caps[w]!;
      if (credit[w]! > credit[best]!) best = w;
    }
    credit[best]! -= total;
    out[i] = ids[best]!;
  }
  return out;
};

// ---------------------------------------------------------------------------------------------
// Inputs.

/** Zones of the `zone` label (workers are spread over them round robin). */
export const ZONES: readonly string[] = ["eu-west", "eu-north", "ap-east"];
const REGIONS = ["île-de-france", "bayern", "東京", "são-paulo", "ontario", "москва", "zürich"];

/** A small deterministic generator (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Input kind of a row (see the module doc). */
export type InputKind = "equal" | "capacities" | "metadata";

/**
 * Partition set `set` of `count` partitions: non-ASCII keys unique to the set, weights 1–100, and
 * (kind "metadata") 10 % selectors and 33 % localities. Keys and weights depend only on the set,
 * so the kinds differ only in their metadata.
 */
export function makePartitions(count: number, set: number, kind: InputKind): Partition[] {
  const weights = rng(1000 + set);
  const meta = rng(5000 + set);
  const out: Partition[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const keys = [`région-${REGIONS[i % REGIONS.length]}`, `客户-${set}-${i}-ü`];
    const weight = 1 + Math.floor(weights() * 100);
    if (kind !== "metadata") {
      out[i] = { keys, weight };
      continue;
    }
    const sel = meta() < 0.1;
    const loc = meta() < 0.33;
    const zone = ZONES[Math.floor(meta() * ZONES.length)]!;
    out[i] = sel && loc
      ? { keys, weight, selector: { disk: "ssd" }, locality: zone }
      : sel
      ? { keys, weight, selector: { disk: "ssd" } }
      : loc
      ? { keys, weight, locality: zone }
      : { keys, weight };
  }
  return out;
}

/** Worker IDs `<prefix>-0 …`. */
export function makeWorkers(count: number, prefix: string): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
}

/**
 * Capacity 1–4 (seeded by the worker's index) and labels: zone round robin over {@link ZONES},
 * `disk: "ssd"` on every fourth worker.
 */
export function workerInfoOf(id: string, index: number): WorkerInfo {
  const r = rng(7919 * (index + 1));
  return {
    capacity: 1 + Math.floor(r() * 4),
    labels: { zone: ZONES[index % ZONES.length]!, ...(index % 4 === 0 ? { disk: "ssd" } : {}) },
    instance: `host-${id}`,
  };
}

/** Worker info for the given worker ID lists. */
export function makeWorkerInfo(...lists: readonly string[][]): Map<string, WorkerInfo> {
  const info = new Map<string, WorkerInfo>();
  for (const list of lists) list.forEach((id, i) => info.set(id, workerInfoOf(id, i)));
  return info;
}

// ---------------------------------------------------------------------------------------------
// Rows.

/** One compared strategy. */
export interface Row {
  readonly name: string;
  readonly kind: InputKind;
  /** A built-in descriptor or a peer function. */
  readonly strategy: AssignmentStrategy;
  /** Whether the row gives each worker a capacity share (else all shares are equal). */
  readonly capacityAware: boolean;
  /** Whether one call at 1000 × 100k takes about a second or more (left out of `deno bench`). */
  readonly slow?: boolean;
}

/** Every row, in table order. */
export const ROWS: readonly Row[] = [
  {
    name: "weightedConsistentHash()",
    kind: "equal",
    strategy: weightedConsistentHash(),
    capacityAware: false,
  },
  { name: "consistentHash()", kind: "equal", strategy: consistentHash(), capacityAware: false },
  { name: "roundRobin()", kind: "equal", strategy: roundRobin(), capacityAware: false },
  { name: "peer: modulo hash", kind: "equal", strategy: moduloHash, capacityAware: false },
  {
    name: "peer: rendezvous (HRW)",
    kind: "equal",
    strategy: rendezvous,
    capacityAware: false,
    slow: true,
  },
  {
    name: "weightedConsistentHash() + capacities",
    kind: "capacities",
    strategy: weightedConsistentHash(),
    capacityAware: true,
  },
  {
    name: "peer: weighted rendezvous",
    kind: "capacities",
    strategy: weightedRendezvous,
    capacityAware: true,
    slow: true,
  },
  {
    name: "peer: weighted round robin (function)",
    kind: "capacities",
    strategy: weightedRoundRobin,
    capacityAware: true,
  },
  {
    name: "weightedConsistentHash() + capacities, selectors, localities",
    kind: "metadata",
    strategy: weightedConsistentHash(),
    capacityAware: true,
  },
  {
    name: "peer: weighted rendezvous + selectors, localities",
    kind: "metadata",
    strategy: metadataRendezvous(),
    capacityAware: true,
    slow: true,
  },
];

/** Cold-call data for one size: partition sets per kind, two worker sets, their info. */
export interface SizeData {
  readonly workers: number;
  readonly partitions: number;
  readonly sets: Record<InputKind, Partition[][]>;
  readonly setA: string[];
  readonly setB: string[];
  readonly info: Map<string, WorkerInfo>;
}

/** Builds the cold-call data of one size (`sets` partition arrays per kind). */
export function sizeData(workers: number, partitions: number, sets: number): SizeData {
  const setA = makeWorkers(workers, "worker");
  const setB = makeWorkers(workers, "node");
  const build = (kind: InputKind) =>
    Array.from({ length: sets }, (_, s) => makePartitions(partitions, s, kind));
  // The equal and capacities kinds have the same partitions.
  const plain = build("equal");
  return {
    workers,
    partitions,
    sets: { equal: plain, capacities: plain, metadata: build("metadata") },
    setA,
    setB,
    info: makeWorkerInfo(setA, setB),
  };
}

/** The input of cold call number `i` of a row. */
export function coldInput(row: Row, d: SizeData, i: number): AssignInput {
  const sets = d.sets[row.kind];
  return {
    workers: i & 1 ? d.setA : d.setB,
    partitions: sets[i % sets.length]!,
    strategy: row.strategy,
    ...(row.kind === "equal" ? {} : { workerInfo: d.info }),
  };
}

// ---------------------------------------------------------------------------------------------
// deno bench: cold calls.

const SIZES: readonly [workers: number, partitions: number][] = [[100, 10_000], [1_000, 100_000]];
let current: SizeData | undefined;
const engine = await createAssignmentEngine({ backend: "wasm" });
const samples = new Map<string, number[]>();

for (const [w, p] of SIZES) {
  const big = p >= 100_000;
  const size = `${w}×${big ? "100k" : "10k"}`;
  const group = `strategies ${size} cold`;
  for (const row of ROWS) {
    if (big && row.slow) continue;
    const times: number[] = [];
    samples.set(`${row.name} ${size}`, times);
    let i = 0;
    Deno.bench({
      name: `${row.name} ${size}`,
      group,
      baseline: row.kind === "equal" && row.strategy === ROWS[0]!.strategy,
      ...(big ? { n: 15, warmup: 3 } : {}),
      fn(b) {
        if (current?.partitions !== p) {
          current = undefined;
          current = sizeData(w, p, big ? 3 : 8);
        }
        const input = coldInput(row, current, ++i);
        b.start();
        const t0 = performance.now();
        engine.assign(input);
        times.push(performance.now() - t0);
        b.end();
      },
    });
  }
}

// deno bench prints no median: print p50 / p99 per row when the run ends.
globalThis.addEventListener("unload", () => {
  if (samples.size === 0 || [...samples.values()].every((t) => t.length === 0)) return;
  const rows = ["| row | calls | p50 | p99 |", "|---|---|---|---|"];
  for (const [name, times] of samples) {
    const sorted = times.slice(Math.min(5, times.length >> 2)).sort((a, b) => a - b);
    if (sorted.length === 0) continue;
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
    const ms = (t: number) => t >= 1 ? `${t.toFixed(2)} ms` : `${(t * 1000).toFixed(0)} µs`;
    rows.push(`| ${name} | ${sorted.length} | ${ms(at(0.5))} | ${ms(at(0.99))} |`);
  }
  console.log(rows.join("\n"));
});
