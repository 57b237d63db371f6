/**
 * Prints a Markdown table comparing every strategy row of `bench/strategies_bench.ts` (the
 * built-in strategies, `weightedConsistentHash()` with placement metadata, and the peers written
 * there) in one run: cold time, balance, movement and placement quality, for 100 workers × 10k
 * partitions and 1000 × 100k.
 *
 * Run: `deno run -A bench/strategies_table.ts [--small] [--cold <calls>] [--baseline <dir>]`
 * (`--small`: 100 × 10k only; `--cold`: cold calls per row at 100 × 10k, default 21, the big size
 * uses half of it, a seventh for the rendezvous rows, at least 3; `--baseline`: also time the
 * `weightedConsistentHash()` rows against the engine of another checkout in `<dir>`, calls
 * alternating, e.g. a copy of the previous commit). About a minute on a 2-vCPU machine.
 *
 * Columns:
 * - **cold**: median of N calls, each on a different partition array (different keys) and the
 *   other of two worker sets, so nothing is cached; WebAssembly backend; peers run as strategy
 *   functions through `engine.assign`;
 * - **max/mean**: the largest worker load (total weight) divided by its fair share: the total
 *   weight split by capacity for capacity-aware rows, equally for the others;
 * - **+1 / −1 worker**: partitions whose owner changed when `worker-<n>` joins (capacity 2, first
 *   zone) or `worker-37` leaves, the previous assignment passed as `previous`. "min" for +1 is the
 *   fewest partitions (heaviest first) that bring the newcomer to within one maximum weight of its
 *   fair share; for −1 it is the number of partitions `worker-37` held (they have to move);
 * - **capacity ×2**: the same when `worker-37`'s capacity doubles; "min" is the fewest partitions
 *   (heaviest first) that bring it from its load before to within one maximum weight of its new
 *   fair share. Rows that ignore capacities show "ignored";
 * - **locality violations**: partitions with a `locality` placed outside that zone;
 * - **unplaced**: partitions without an owner (no live worker matches the selector).
 *
 * @module
 */
import {
  type AssignInput,
  type AssignmentEngine,
  createAssignmentEngine,
  type Partition,
  type WorkerInfo,
} from "../src/engine/mod.ts";
import {
  coldInput,
  makeWorkers,
  type Row,
  ROWS,
  type SizeData,
  sizeData,
} from "./strategies_bench.ts";

const args = Deno.args;
const small = args.includes("--small");
const coldAt = args.indexOf("--cold");
const COLD = coldAt >= 0 ? Math.max(1, Number(args[coldAt + 1])) : 21;
if (!Number.isInteger(COLD)) {
  console.error(`--cold needs a positive integer, got '${args[coldAt + 1]}'`);
  Deno.exit(2);
}

const baselineAt = args.indexOf("--baseline");
const baselineDir = baselineAt >= 0 ? args[baselineAt + 1] : undefined;
if (baselineAt >= 0 && (baselineDir === undefined || baselineDir.startsWith("--"))) {
  console.error("--baseline needs the directory of another checkout (holding src/engine/mod.ts)");
  Deno.exit(2);
}

const engine = await createAssignmentEngine({ backend: "wasm" });
/** The engine of another checkout, for `--baseline`. */
const baseline: AssignmentEngine | undefined = baselineDir === undefined
  ? undefined
  : await (await import(
    new URL(`${baselineDir.replace(/\/$/, "")}/src/engine/mod.ts`, `file://${Deno.cwd()}/`).href
  ) as typeof import("../src/engine/mod.ts")).createAssignmentEngine({ backend: "wasm" });

function median(values: number[]): number {
  const s = values.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** A fixed integer workload, so tables from different machines can be put side by side. */
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

interface Quality {
  maxRel: number;
  plus: [moved: number, min: number];
  minus: [moved: number, min: number];
  capacity: [moved: number, min: number] | undefined;
  locality: number | undefined;
  unplaced: number;
}

function assignOwners(input: AssignInput): { owners: string[]; map: ReadonlyMap<string, string> } {
  const r = engine.assign(input);
  return { owners: r.owners, map: r.assignment };
}

function movedBetween(a: readonly string[], b: readonly string[]): number {
  let moved = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== "" && a[i] !== b[i]) moved++;
  return moved;
}

function capacityOf(info: ReadonlyMap<string, WorkerInfo> | undefined, id: string): number {
  return info?.get(id)?.capacity ?? 1;
}

function quality(row: Row, d: SizeData): Quality {
  const partitions: Partition[] = d.sets[row.kind][0]!;
  const n = partitions.length;
  const workers = makeWorkers(d.workers, "worker");
  const info = row.kind === "equal" ? undefined : d.info;
  const withInfo = (m: ReadonlyMap<string, WorkerInfo> | undefined) =>
    m === undefined ? {} : { workerInfo: m };
  const base = assignOwners({ workers, partitions, strategy: row.strategy, ...withInfo(info) });
  // Balance against each worker's fair share.
  const capSum = (ids: readonly string[], m: typeof info) =>
    ids.reduce((s, id) => s + (row.capacityAware ? capacityOf(m, id) : 1), 0);
  const loads = new Map<string, number>();
  let total = 0;
  let unplaced = 0;
  let locality = 0;
  let selectorViolations = 0;
  for (let i = 0; i < n; i++) {
    const p = partitions[i]!;
    const w = p.weight ?? 1;
    total += w;
    const owner = base.owners[i]!;
    if (owner === "") {
      unplaced++;
      continue;
    }
    loads.set(owner, (loads.get(owner) ?? 0) + w);
    const labels = info?.get(owner)?.labels;
    if (p.locality !== undefined && labels?.zone !== p.locality) locality++;
    if (p.selector !== undefined) {
      for (const key in p.selector) if (labels?.[key] !== p.selector[key]) selectorViolations++;
    }
  }
  if (selectorViolations > 0) {
    throw new Error(`${row.name}: ${selectorViolations} partitions placed against their selector`);
  }
  const caps = capSum(workers, info);
  let maxRel = 0;
  for (const id of workers) {
    const share = total * (row.capacityAware ? capacityOf(info, id) : 1) / caps;
    maxRel = Math.max(maxRel, (loads.get(id) ?? 0) / share);
  }
  // Fewest partitions (heaviest first) that add up to `weight`: the fewest moves that can shift
  // that much load.
  const heaviest = partitions.map((q) => q.weight ?? 1).sort((a, b) => b - a);
  const maxWeight = heaviest[0]!;
  const fewest = (weight: number) => {
    let k = 0;
    for (let sum = 0; sum < weight && k < heaviest.length; k++) sum += heaviest[k]!;
    return k;
  };
  // +1 worker: the newcomer must get to within one maximum weight of its fair share.
  const newcomer = `worker-${d.workers}`;
  const plusInfo = info === undefined ? undefined : new Map(info).set(newcomer, {
    capacity: 2,
    labels: { zone: info.get("worker-0")!.labels!.zone! },
  });
  const plusWorkers = [...workers, newcomer];
  const plus = assignOwners({
    workers: plusWorkers,
    partitions,
    strategy: row.strategy,
    previous: base.map,
    ...withInfo(plusInfo),
  });
  const plusShare = total * (row.capacityAware ? 2 : 1) / capSum(plusWorkers, plusInfo);
  const plusMin = fewest(plusShare - maxWeight);
  // −1 worker: its partitions must move.
  const leaver = "worker-37";
  const minus = assignOwners({
    workers: workers.filter((id) => id !== leaver),
    partitions,
    strategy: row.strategy,
    previous: base.map,
    ...withInfo(info),
  });
  const held = base.owners.filter((o) => o === leaver).length;
  // Capacity ×2: the worker must get to within one maximum weight of its new fair share.
  let capacity: [number, number] | undefined;
  if (row.capacityAware && info !== undefined) {
    const before = capacityOf(info, leaver);
    const doubled = new Map(info).set(leaver, { ...info.get(leaver)!, capacity: 2 * before });
    const changed = assignOwners({
      workers,
      partitions,
      strategy: row.strategy,
      previous: base.map,
      workerInfo: doubled,
    });
    const share = total * 2 * before / capSum(workers, doubled);
    capacity = [
      movedBetween(base.owners, changed.owners),
      fewest(share - maxWeight - (loads.get(leaver) ?? 0)),
    ];
  }
  return {
    maxRel,
    plus: [movedBetween(base.owners, plus.owners), plusMin],
    minus: [movedBetween(base.owners, minus.owners), held],
    capacity,
    locality: row.kind === "metadata" ? locality : undefined,
    unplaced,
  };
}

/**
 * Cold times of every row, interleaved (one call of each row per round) against drift, after
 * `warmup` rounds. A running
 * call number picks the partition array and the worker set, so no call reuses the previous call's
 * array (the engine's cache) or workers (its ring).
 */
function coldTimes(
  rows: readonly Row[],
  d: SizeData,
  calls: (row: Row) => number,
  warmup = 1,
): number[][] {
  const times = rows.map(() => [] as number[]);
  let call = 0;
  // Warm-up: compile and settle every path.
  for (let k = 0; k < warmup; k++) for (const row of rows) engine.assign(coldInput(row, d, call++));
  const rounds = Math.max(...rows.map(calls));
  for (let k = 0; k < rounds; k++) {
    // The row that goes first rotates, so no row always inherits the garbage of the same one.
    for (let q = 0; q < rows.length; q++) {
      const r = (q + k) % rows.length;
      const row = rows[r]!;
      if (k >= calls(row)) continue;
      const input = coldInput(row, d, call++);
      const t0 = performance.now();
      engine.assign(input);
      times[r]!.push(performance.now() - t0);
    }
  }
  return times;
}

/**
 * `--baseline`: cold times of the three `weightedConsistentHash()` rows on this tree's engine and
 * the baseline's, calls alternating between the two (and the rows) so both see the same machine.
 */
function baselineSection(d: SizeData, calls: number, other: AssignmentEngine): void {
  const rows = ROWS.filter((r) => r.name.startsWith("weightedConsistentHash"));
  const engines = [engine, other];
  const times = rows.map(() => engines.map(() => [] as number[]));
  let call = 0;
  for (let k = -2; k < calls; k++) {
    // The row that goes first rotates, and so does the engine that goes first, so no call always
    // inherits the garbage of the same predecessor.
    for (let q = 0; q < rows.length; q++) {
      const r = (q + k + 2) % rows.length;
      for (const j of (k + q) & 1 ? [1, 0] : [0, 1]) {
        const input = coldInput(rows[r]!, d, call++);
        const t0 = performance.now();
        engines[j]!.assign(input);
        if (k >= 0) times[r]![j]!.push(performance.now() - t0);
      }
    }
  }
  const p50 = times.map((perEngine) => perEngine.map(median));
  console.log("");
  console.log(
    `This tree against \`${baselineDir}\` (\`--baseline\`), cold, median of ${calls} calls each, ` +
      "alternating:",
  );
  console.log("");
  console.log("| input | this tree (ms) | baseline (ms) | this tree / equal | baseline / equal |");
  console.log("|---|--:|--:|--:|--:|");
  rows.forEach((row, r) => {
    const [mine, theirs] = p50[r]!;
    console.log(
      `| ${row.kind} | ${ms(mine!)} | ${ms(theirs!)} | ${(mine! / p50[0]![0]!).toFixed(2)}× | ${
        (theirs! / p50[0]![1]!).toFixed(2)
      }× |`,
    );
  });
}

function ms(t: number): string {
  return t >= 100 ? t.toFixed(0) : t >= 10 ? t.toFixed(1) : t.toFixed(2);
}

function movedCell([moved, min]: [number, number], n: number): string {
  return `${moved} / ${min} (${(100 * moved / n).toFixed(2)} %)`;
}

const started = performance.now();
console.log(`\`deno run -A bench/strategies_table.ts${args.length ? ` ${args.join(" ")}` : ""}\``);
console.log("");
console.log(
  `Deno ${Deno.version.deno}, V8 ${Deno.version.v8}, ${engine.backend} backend; ${calibration()}`,
);
const sizes: [number, number][] = small ? [[100, 10_000]] : [[100, 10_000], [1_000, 100_000]];
for (const [w, p] of sizes) {
  const big = p >= 100_000;
  const d = sizeData(w, p, big ? 3 : 8);
  const calls = (row: Row) => big ? Math.max(3, Math.round(COLD / (row.slow ? 7 : 2))) : COLD;
  const times = coldTimes(ROWS, d, calls);
  const medians = times.map(median);
  console.log("");
  console.log(
    `### ${w} workers × ${
      big ? "100k" : "10k"
    } partitions (weights 1–100, non-ASCII keys; cold = ` +
      `median of ${calls(ROWS[0]!)} calls${
        big ? `, ${calls(ROWS.find((r) => r.slow)!)} for the rendezvous rows` : ""
      })`,
  );
  console.log("");
  console.log(
    "Input: **equal** = no worker info, no partition metadata; **capacities** = worker " +
      "capacities 1–4; **metadata** = capacities + 10 % of the partitions with a selector " +
      "(a quarter of the workers match) + 33 % with a locality (one of three zones).",
  );
  console.log("");
  console.log(
    "| strategy | input | cold (ms) | max/mean | +1 worker: moved / min | " +
      "−1 worker: moved / min | capacity ×2: moved / min | locality violations | unplaced |",
  );
  console.log("|---|---|--:|--:|--:|--:|--:|--:|--:|");
  ROWS.forEach((row, r) => {
    const q = quality(row, d);
    console.log(
      `| ${row.name} | ${row.kind} | ${ms(medians[r]!)} | ${q.maxRel.toFixed(3)} | ${
        movedCell(q.plus, p)
      } | ${movedCell(q.minus, p)} | ${q.capacity ? movedCell(q.capacity, p) : "ignored"} | ${
        q.locality ?? "–"
      } | ${q.unplaced} |`,
    );
  });
  // The ratios come from a run of their own: the three weightedConsistentHash() rows only,
  // interleaved, after a warm-up, so the peers' garbage (a rendezvous call allocates megabytes)
  // and their JIT work do not land on one row more than another.
  const own = ROWS.filter((r) => r.name.startsWith("weightedConsistentHash"));
  const ownCalls = big ? Math.max(5, COLD) : 4 * COLD;
  const ownMedians = coldTimes(own, d, () => ownCalls, 10).map(median);
  const wch = (kind: Row["kind"]) => ownMedians[own.findIndex((r) => r.kind === kind)]!;
  console.log("");
  console.log(
    `weightedConsistentHash() cold, relative to no metadata (these three rows alone, median of ${ownCalls} ` +
      `interleaved calls each): capacities ${(wch("capacities") / wch("equal")).toFixed(2)}×, ` +
      `capacities + selectors + localities ${(wch("metadata") / wch("equal")).toFixed(2)}×`,
  );
  if (baseline !== undefined) baselineSection(d, big ? Math.max(5, COLD) : 4 * COLD, baseline);
}
console.log("");
console.log(`(${((performance.now() - started) / 1000).toFixed(0)} s)`);
