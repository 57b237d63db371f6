/**
 * The engine driver: validates input, marshals keys into the kernel in one batch, caches partition
 * hashes and the hash ring between calls, gives workers stable slots, and turns kernel output into
 * owner IDs and statistics. Backend-independent; the kernels do the numeric work.
 *
 * @module
 */
import { StrategyError } from "../errors.ts";
import { type Partition, partitionId, validatePartitions } from "../partition.ts";
import {
  checkWorkerLabels,
  fillPlacement,
  type MetaScan,
  noPartitionMeta,
  type PartitionMeta,
  placementClasses,
  scanPartition,
  throttleMoves,
  workerCapacity,
  type WorkerInfo,
} from "./placement.ts";
import {
  type Kernel,
  type KernelStats,
  MAX_SHARED,
  type PlacedStats,
  STRATEGY_GIVEN,
  STRATEGY_RING,
  STRATEGY_ROUND_ROBIN,
  STRATEGY_WEIGHTED,
  UNASSIGNED_SLOT,
} from "./kernel.ts";
import {
  type AssignmentStrategy,
  type BuiltinStrategy,
  MAX_VIRTUAL_NODES,
  type StrategyFunction,
  weightedConsistentHash,
} from "./strategies.ts";
import type { AssignInput, AssignmentEngine, AssignmentResult, AssignmentStats } from "./types.ts";

const encoder = new TextEncoder();
/** Most keys per partition (the kernels pack the count into 24 bits). */
const MAX_KEYS = 0xffffff;

function tooManyKeys(index: number): never {
  throw new RangeError(`Partition at index ${index} has more than ${MAX_KEYS} keys`);
}

/** Characters per encodeInto call when marshalling keys. */
const CHUNK_CHARS = 8192;
const DEFAULT_STRATEGY = weightedConsistentHash();

/** What a result remembers so that passing its map back as `previous` needs no look-ups. */
interface Snapshot {
  readonly engine: Engine;
  readonly partitions: readonly Partition[];
  readonly generation: number;
  /** Owner slot of each partition. */
  readonly slots: Uint32Array;
  /** Worker ID of each slot when the result was made ("" for a free slot). */
  readonly slotIds: readonly string[];
}

/** An immutable `Map` of partition ID to owner, filled on first read. */
class AssignmentMap extends Map<string, string> {
  #fill: (() => void) | undefined;
  readonly #snapshot: Snapshot | undefined;

  /** The snapshot behind `value` when it is an assignment map made by an engine. */
  static snapshotOf(value: unknown): Snapshot | undefined {
    return value instanceof AssignmentMap ? value.#snapshot : undefined;
  }

  constructor(
    ids: () => readonly string[],
    owners: () => readonly string[],
    snapshot?: Snapshot,
  ) {
    super();
    this.#snapshot = snapshot;
    this.#fill = () => {
      const list = ids();
      const of = owners();
      for (let i = 0; i < list.length; i++) {
        if (of[i] !== "") Map.prototype.set.call(this, list[i]!, of[i]!);
      }
    };
  }

  #ready(): void {
    const fill = this.#fill;
    if (fill !== undefined) {
      this.#fill = undefined;
      fill();
    }
  }

  override get size(): number {
    this.#ready();
    return super.size;
  }
  override get(key: string): string | undefined {
    this.#ready();
    return super.get(key);
  }
  override has(key: string): boolean {
    this.#ready();
    return super.has(key);
  }
  override forEach(
    callback: (value: string, key: string, map: Map<string, string>) => void,
    thisArg?: unknown,
  ): void {
    this.#ready();
    super.forEach(callback, thisArg);
  }
  override entries(): MapIterator<[string, string]> {
    this.#ready();
    return super.entries();
  }
  override keys(): MapIterator<string> {
    this.#ready();
    return super.keys();
  }
  override values(): MapIterator<string> {
    this.#ready();
    return super.values();
  }
  override [Symbol.iterator](): MapIterator<[string, string]> {
    this.#ready();
    return super[Symbol.iterator]();
  }
  override set(): this {
    throw new TypeError("An assignment map is read-only");
  }
  override delete(): boolean {
    throw new TypeError("An assignment map is read-only");
  }
  override clear(): void {
    throw new TypeError("An assignment map is read-only");
  }
}

function strategyCode(strategy: BuiltinStrategy): number {
  switch (strategy.kind) {
    case "weightedConsistentHash":
      return STRATEGY_WEIGHTED;
    case "consistentHash":
      return STRATEGY_RING;
    case "roundRobin":
      return STRATEGY_ROUND_ROBIN;
    default:
      throw new TypeError(
        `Unknown strategy ${JSON.stringify(strategy)}; use weightedConsistentHash(), ` +
          "consistentHash(), roundRobin() or a function",
      );
  }
}

/**
 * A result whose owner IDs are built from the owner slots on first read, so that a caller that only
 * passes `assignment` on as `previous` (or reads the stats) never pays for an array of n strings.
 */
class Result implements AssignmentResult {
  readonly stats: AssignmentStats;
  readonly assignment: ReadonlyMap<string, string>;
  readonly unplaced: readonly string[];
  #owners: string[] | undefined;
  readonly #slots: Uint32Array;
  readonly #slotIds: readonly string[];

  constructor(
    slots: Uint32Array,
    slotIds: readonly string[],
    stats: AssignmentStats,
    assignment: (result: Result) => ReadonlyMap<string, string>,
    unplaced: readonly string[],
  ) {
    this.#slots = slots;
    this.#slotIds = slotIds;
    this.stats = stats;
    this.unplaced = unplaced;
    this.assignment = assignment(this);
  }

  get owners(): string[] {
    if (this.#owners === undefined) {
      const slots = this.#slots, slotIds = this.#slotIds;
      const owners = new Array<string>(slots.length);
      for (let i = 0; i < slots.length; i++) owners[i] = slotIds[slots[i]!] ?? "";
      this.#owners = owners;
    }
    return this.#owners;
  }
}

function checkMaxMoves(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (
    typeof value !== "number" || !Number.isFinite(value) || value < 0 ||
    (value >= 1 && !Number.isInteger(value))
  ) {
    throw new RangeError(
      `Invalid maxMoves ${String(value)}: use 0 (no planned moves), an integer count, or a ` +
        "number between 0 and 1 (a fraction of the total weight)",
    );
  }
  return value;
}

function emptyStats(): AssignmentStats {
  return {
    maxLoad: 0,
    meanLoad: 0,
    moved: 0,
    minimalMoves: 0,
    maxRelativeLoad: 0,
    unplaced: 0,
    localityViolations: 0,
    movesPending: 0,
  };
}

/** The engine over one kernel. */
export class Engine implements AssignmentEngine {
  readonly #kernel: Kernel;
  // Partition cache: the array and its elements as last loaded.
  #parts: readonly Partition[] | undefined;
  #partRefs: Partition[] = [];
  #generation = 0;
  #n = 0;
  #total = 0;
  #maxWeight = 0;
  #ids: string[] | undefined;
  // Worker slots.
  readonly #slotOf = new Map<string, number>();
  #slotIds: string[] = [];
  #free: number[] = [];
  #mark = new Uint32Array(0);
  #markGen = 0;
  #sorted: readonly string[] = [];
  #ringVnodes = 0; // 0 = ring not valid
  // Points each slot has on the ring (valid for live slots while the ring is), and whether the
  // last sync weighted them by capacity (then the next sync compares every live slot's points).
  #ringPoints = new Uint32Array(0);
  #ringWeighted = false;
  // Membership changes not yet applied to the ring.
  #pendingAdded: number[] = [];
  #pendingRemoved = 0;
  #remap = new Int32Array(0);
  // Marshalling scratch.
  #lens = new Uint32Array(0);
  #byteHint = 16384;
  #counts = new Uint32Array(0);
  #weights = new Float64Array(0);
  // Placement metadata of the loaded partitions (by generation).
  #meta: PartitionMeta | undefined;
  #metaGeneration = -1;
  /** The metadata scan of the loaded partitions (undefined: none has metadata). */
  #metaScan: MetaScan | undefined;
  #capacities = new Float64Array(0);

  constructor(kernel: Kernel) {
    this.#kernel = kernel;
  }

  get backend(): "wasm" | "ts" {
    return this.#kernel.backend;
  }

  assign(input: AssignInput): AssignmentResult {
    if (typeof input !== "object" || input === null) {
      throw new TypeError("assign() needs an object with 'workers' and 'partitions'");
    }
    const { workers, partitions, previous } = input;
    const strategy: AssignmentStrategy = input.strategy ?? DEFAULT_STRATEGY;
    if (!Array.isArray(workers)) throw new TypeError("'workers' must be an array of worker IDs");
    if (!Array.isArray(partitions)) throw new TypeError("'partitions' must be an array");
    if (
      previous !== undefined && !(previous instanceof Map) && typeof previous.get !== "function"
    ) {
      throw new TypeError("'previous' must be a Map of partition ID to worker ID");
    }
    const sorted = this.#sortWorkers(workers);
    if (partitions.length === 0) {
      return {
        owners: [],
        unplaced: [],
        stats: emptyStats(),
        assignment: new AssignmentMap(() => [], () => []),
      };
    }
    if (workers.length === 0) {
      validatePartitions(partitions);
      throw new RangeError(
        `Cannot assign ${partitions.length} partitions: the worker list is empty; ` +
          "give at least one worker ID",
      );
    }
    this.#loadPartitions(partitions);
    const n = this.#n;
    const removed = this.#updateWorkers(sorted);
    let ringSynced = false;
    try {
      let code: number;
      let loadFactor = 1;
      let vnodes = 0;
      if (typeof strategy === "function") {
        code = STRATEGY_GIVEN;
      } else {
        code = strategyCode(strategy);
        if (code !== STRATEGY_ROUND_ROBIN) {
          vnodes = (strategy as { virtualNodes: number }).virtualNodes;
          if (!Number.isInteger(vnodes) || vnodes < 1 || vnodes > MAX_VIRTUAL_NODES) {
            throw new RangeError(
              `Invalid virtualNodes ${String(vnodes)}; build the strategy with its factory`,
            );
          }
        }
        if (code === STRATEGY_WEIGHTED) {
          loadFactor = (strategy as { loadFactor: number }).loadFactor;
          if (!(loadFactor >= 1) || !Number.isFinite(loadFactor)) {
            throw new RangeError(
              `Invalid loadFactor ${String(loadFactor)}; use a finite number of at least 1`,
            );
          }
        }
      }
      const uniform = this.#loadCapacities(sorted, input.workerInfo);
      if (vnodes > 0) {
        // The weighted strategy gives workers of different capacities different numbers of points.
        this.#syncRing(vnodes, code === STRATEGY_WEIGHTED && !uniform);
        ringSynced = true;
      }
      const hasPrev = previous !== undefined && this.#fillPrevious(previous, partitions);
      if (typeof strategy === "function") {
        this.#runUserStrategy(strategy, workers, partitions, previous, input.workerInfo);
      }
      const mean = this.#total / sorted.length;
      const k = this.#run(
        code,
        strategy,
        sorted,
        input,
        hasPrev,
        loadFactor,
        mean,
        partitions,
        uniform,
      );
      // The result's own copy of the owner slots (4 bytes per partition); owner IDs and the map
      // are built from it only when read.
      const slots = k.owners.slice();
      const slotIds = this.#slotIds.slice();
      const stats: AssignmentStats = {
        maxLoad: k.maxLoad,
        meanLoad: mean,
        moved: k.moved,
        minimalMoves: k.minimalMoves,
        maxRelativeLoad: k.maxRelativeLoad,
        unplaced: k.unplaced,
        localityViolations: k.localityViolations,
        movesPending: k.movesPending,
      };
      const unplaced: string[] = [];
      if (k.unplaced > 0) {
        const ids = this.#partitionIds(partitions);
        for (let i = 0; i < n; i++) if (slots[i] === UNASSIGNED_SLOT) unplaced.push(ids[i]!);
      }
      const snapshot: Snapshot = {
        engine: this,
        partitions,
        generation: this.#generation,
        slots,
        slotIds,
      };
      return new Result(
        slots,
        slotIds,
        stats,
        (result) =>
          new AssignmentMap(() => this.#partitionIds(partitions), () => result.owners, snapshot),
        unplaced,
      );
    } finally {
      // A ring that missed a membership change is rebuilt from scratch on its next use, because
      // the departed workers' slots are reused below.
      if (!ringSynced && (this.#pendingAdded.length > 0 || this.#pendingRemoved > 0)) {
        this.#ringVnodes = 0;
      }
      this.#pendingAdded = [];
      this.#pendingRemoved = 0;
      for (const slot of removed) {
        this.#slotIds[slot] = "";
        this.#free.push(slot);
      }
    }
  }

  /** Runs the kernel: the plain path, or placement with metadata; then movement throttling. */
  #run(
    code: number,
    strategy: AssignmentStrategy,
    sorted: readonly string[],
    input: AssignInput,
    hasPrev: boolean,
    loadFactor: number,
    mean: number,
    partitions: readonly Partition[],
    uniform: boolean,
  ): KernelStats & Omit<PlacedStats, "owners"> & { movesPending: number } {
    const kernel = this.#kernel;
    const n = this.#n;
    const workers = sorted.length;
    const slotCount = this.#slotIds.length;
    const share = loadFactor * mean;
    const info = input.workerInfo;
    const maxMoves = checkMaxMoves(input.maxMoves);
    if (this.#metaGeneration !== this.#generation) {
      this.#meta = this.#metaScan === undefined
        ? noPartitionMeta()
        : this.#metaScan.finish(partitions);
      this.#metaGeneration = this.#generation;
    }
    const meta = this.#meta!;
    const capacities = this.#capacities;
    const placed = code === STRATEGY_WEIGHTED && (meta.any || !uniform);
    if (placed && info !== undefined) {
      for (const id of sorted) checkWorkerLabels(id, info.get(id));
    }
    if (
      !placed && code !== STRATEGY_GIVEN &&
      (meta.cls !== undefined || meta.pref !== undefined || meta.pins.length > 0)
    ) {
      throw new RangeError(
        "Partitions with a selector, locality or pin need the weightedConsistentHash() strategy " +
          "(or a strategy function that honours them)",
      );
    }
    let stats: PlacedStats;
    let views: ReturnType<Kernel["placementViews"]> | undefined;
    if (placed) {
      const classes = placementClasses(meta);
      views = kernel.placementViews(n, slotCount, classes, 2 * meta.priorities);
      const spreadBy = (strategy as { spreadBy?: string }).spreadBy ?? "zone";
      const groups = fillPlacement({
        views,
        meta,
        n,
        sorted,
        slotOf: this.#slotOf,
        slotCount,
        capacities,
        info,
        share,
        mean,
        maxWeight: this.#maxWeight,
        loadFactor,
        spreadBy,
      });
      stats = kernel.assignPlaced(n, workers, slotCount, groups, hasPrev, this.#maxWeight, uniform);
    } else {
      const k = kernel.assign(
        code,
        n,
        workers,
        slotCount,
        share,
        hasPrev,
        // With slack (loadFactor > 1) a worker may legitimately stay light, so no floor.
        loadFactor === 1 ? mean - this.#maxWeight : 0,
        this.#maxWeight,
      );
      stats = { ...k, unplaced: 0, localityViolations: 0, maxRelativeLoad: 0 };
    }
    let movesPending = 0;
    if (maxMoves !== undefined && hasPrev && stats.moved > 0) {
      movesPending = throttleMoves({
        owners: kernel.ownerView(n),
        prev: kernel.prevView(n),
        weights: this.#weights,
        n,
        cls: views?.cls,
        elig: views?.elig,
        slotCount,
        prio: placed ? meta.prio : undefined,
        pinned: views?.pin,
        maxMoves,
        totalWeight: this.#total,
      });
      if (movesPending > 0) {
        if (placed) stats = kernel.placedStats(n, workers, slotCount, true, this.#maxWeight);
        else {
          const k = kernel.assign(
            STRATEGY_GIVEN,
            n,
            workers,
            slotCount,
            share,
            true,
            loadFactor === 1 ? mean - this.#maxWeight : 0,
            this.#maxWeight,
          );
          stats = { ...k, unplaced: 0, localityViolations: 0, maxRelativeLoad: 0 };
        }
      }
    }
    const maxRelativeLoad = placed ? stats.maxRelativeLoad * loadFactor : stats.maxLoad / mean;
    return { ...stats, maxRelativeLoad, movesPending };
  }

  #partitionIds(partitions: readonly Partition[]): readonly string[] {
    if (partitions === this.#parts && this.#ids !== undefined) return this.#ids;
    const ids = partitions.map(partitionId);
    if (partitions === this.#parts) this.#ids = ids;
    return ids;
  }

  #sortWorkers(workers: readonly string[]): readonly string[] {
    for (let i = 0; i < workers.length; i++) {
      const id = workers[i];
      if (typeof id !== "string" || id.length === 0) {
        throw new TypeError(
          `Worker at index ${i} is ${JSON.stringify(id)}; worker IDs must be non-empty strings`,
        );
      }
    }
    const sorted = workers.slice().sort();
    for (let i = 1; i < sorted.length; i++) {
      if (sorted[i] === sorted[i - 1]) {
        throw new TypeError(
          `Worker ID '${sorted[i]}' appears more than once; worker IDs must be unique`,
        );
      }
    }
    return sorted;
  }

  /** Validates, marshals and hashes the partitions unless the same array was loaded last time. */
  #loadPartitions(partitions: readonly Partition[]): void {
    const n = partitions.length;
    if (partitions === this.#parts && n === this.#n) {
      const refs = this.#partRefs;
      let same = true;
      for (let i = 0; i < n; i++) {
        if (partitions[i] !== refs[i]) {
          same = false;
          break;
        }
      }
      if (same) return;
    }
    this.#parts = undefined;
    this.#ids = undefined;
    // One pass: validate, collect key lengths, counts and weights, and marshal the keys. Keys are
    // concatenated into short strings (small ropes that die young), each written with one
    // encodeInto. Lengths are collected in UTF-16 units; when a chunk turns out not to be ASCII
    // the kernel turns them into UTF-8 byte lengths afterwards, from the bytes themselves.
    if (this.#counts.length < n) {
      this.#counts = new Uint32Array(n * 1.25);
      this.#weights = new Float64Array(n * 1.25);
    }
    const kernel = this.#kernel;
    const counts = this.#counts;
    const weights = this.#weights;
    let lens = this.#lens;
    let bytes = kernel.reserveBytes(this.#byteHint, 0);
    let at = 0;
    let chunk = "";
    let ascii = true;
    let slash = false;
    let keyCount = 0;
    let total = 0;
    let maxWeight = 0;
    let equal = true;
    let bad = false;
    let prevKeys: readonly string[] = [];
    // Placement metadata is read in the same pass, from the first partition that has some.
    let scan: MetaScan | undefined;
    for (let i = 0; i < n; i++) {
      const p = partitions[i] as Partition | null | undefined;
      if (typeof p !== "object" || p === null) {
        bad = true;
        break;
      }
      const keys = p.keys;
      if (!Array.isArray(keys) || keys.length === 0) {
        bad = true;
        break;
      }
      if (keys.length > MAX_KEYS) tooManyKeys(i);
      if (lens.length < keyCount + keys.length) {
        const next = new Uint32Array(Math.max(2 * lens.length, keyCount + keys.length, 1024));
        next.set(lens);
        lens = this.#lens = next;
      }
      // Leading keys shared with the previous partition are hashed once (see MAX_SHARED); the
      // last key is always marshalled, which keeps the comparison to one string per partition in
      // the common two-key case.
      let shared = 0;
      let limit = keys.length - 1;
      if (limit > prevKeys.length) limit = prevKeys.length;
      if (limit > MAX_SHARED) limit = MAX_SHARED;
      while (shared < limit && keys[shared] === prevKeys[shared]) shared++;
      for (let j = 0; j < keys.length; j++) {
        const key = keys[j];
        if (typeof key !== "string" || key.length === 0) {
          bad = true;
          break;
        }
        if (j < shared) continue;
        lens[keyCount++] = key.length;
        chunk += key;
      }
      if (bad) break;
      counts[i] = (keys.length << 8) | shared;
      prevKeys = keys;
      const w = p.weight;
      let weight = 1;
      if (w !== undefined) {
        if (typeof w !== "number" || !(w > 0) || !Number.isFinite(w)) {
          bad = true;
          break;
        }
        weight = w;
      }
      weights[i] = weight;
      if (weight !== weights[0]) equal = false;
      total += weight;
      if (weight > maxWeight) maxWeight = weight;
      scan = scanPartition(scan, n, i, p);
      if (chunk.length >= CHUNK_CHARS || i === n - 1) {
        // A UTF-16 unit takes at most 3 UTF-8 bytes.
        if (at + 3 * chunk.length > bytes.length) {
          bytes = kernel.reserveBytes(Math.ceil((at + 3 * chunk.length) * 1.5), at);
        }
        const { written } = encoder.encodeInto(chunk, bytes.subarray(at));
        if (written !== chunk.length) ascii = false;
        if (!slash && chunk.indexOf("/") !== -1) slash = true;
        at += written;
        chunk = "";
      }
    }
    if (bad) {
      validatePartitions(partitions);
      throw new TypeError("Invalid partitions");
    }
    if (at > this.#byteHint) this.#byteHint = at;
    let buffers = kernel.partitionBuffers(n, keyCount, at);
    buffers.keyLens.set(lens.subarray(0, keyCount));
    buffers.keyCounts.set(counts.subarray(0, n));
    buffers.weights.set(weights.subarray(0, n));
    let dups = kernel.preparePartitions(n, equal, !ascii, at);
    if (dups < 0) {
      // A surrogate pair split between two keys (each key is encoded on its own, so each half
      // becomes U+FFFD): encode key by key instead.
      const chars = lens.subarray(0, keyCount).reduce((sum, len) => sum + len, 0);
      buffers = kernel.partitionBuffers(n, keyCount, chars * 3);
      bytes = buffers.bytes;
      at = 0;
      let k = 0;
      for (let i = 0; i < n; i++) {
        const keys = partitions[i]!.keys;
        for (let j = counts[i]! & 0xff; j < keys.length; j++) {
          const { written } = encoder.encodeInto(keys[j]!, bytes.subarray(at));
          lens[k++] = written;
          at += written;
        }
      }
      buffers.keyLens.set(lens.subarray(0, keyCount));
      dups = kernel.preparePartitions(n, equal, false, at);
    }
    // A '/' inside a key can make two different key lists share one ID; the hash-based duplicate
    // check below cannot see that, so check IDs directly.
    if (slash) validatePartitions(partitions);
    // Equal hashes mean equal key lists (or a 64-bit collision); let validation name the duplicate.
    if (dups > 0) validatePartitions(partitions);
    this.#parts = partitions;
    this.#metaScan = scan;
    // Reuse the array (already in the old generation) rather than allocating a copy per load.
    const refs = this.#partRefs;
    refs.length = n;
    for (let i = 0; i < n; i++) refs[i] = partitions[i]!;
    this.#n = n;
    this.#total = total;
    this.#maxWeight = maxWeight;
    this.#generation++;
  }

  /** Gives each worker a stable slot; returns the slots of departed workers. */
  #updateWorkers(sorted: readonly string[]): number[] {
    const slotOf = this.#slotOf;
    const gen = ++this.#markGen;
    const capNeeded = this.#slotIds.length + sorted.length;
    if (this.#mark.length < capNeeded) {
      const next = new Uint32Array(Math.max(capNeeded, this.#mark.length * 2));
      next.set(this.#mark);
      this.#mark = next;
    }
    const mark = this.#mark;
    const addedIds: string[] = [];
    for (const id of sorted) {
      const slot = slotOf.get(id);
      if (slot === undefined) addedIds.push(id);
      else mark[slot] = gen;
    }
    const removed: number[] = [];
    if (slotOf.size > sorted.length - addedIds.length) {
      for (const [id, slot] of slotOf) {
        if (mark[slot] !== gen) {
          removed.push(slot);
          slotOf.delete(id);
        }
      }
    }
    const addedSlots: number[] = [];
    for (const id of addedIds) {
      const slot = this.#free.pop() ?? this.#slotIds.length;
      if (slot === this.#slotIds.length) this.#slotIds.push(id);
      else this.#slotIds[slot] = id;
      slotOf.set(id, slot);
      addedSlots.push(slot);
    }
    const kernel = this.#kernel;
    kernel.ensureSlots(this.#slotIds.length, sorted.length * Math.max(this.#ringVnodes, 1));
    const { rank, alive, rankToSlot } = kernel.slotViews();
    for (const slot of removed) alive[slot] = 0;
    for (let r = 0; r < sorted.length; r++) {
      const slot = slotOf.get(sorted[r]!)!;
      rank[slot] = r;
      rankToSlot[r] = slot;
      alive[slot] = 1;
    }
    if (addedSlots.length > 0) kernel.hashWorkers(addedSlots, addedIds);
    this.#pendingAdded = addedSlots;
    this.#pendingRemoved = removed.length;
    this.#sorted = sorted;
    return removed;
  }

  /**
   * Validates the capacities of the workers (in rank order) into #capacities; returns whether
   * they are all equal.
   */
  #loadCapacities(
    sorted: readonly string[],
    info: ReadonlyMap<string, WorkerInfo> | undefined,
  ): boolean {
    const workers = sorted.length;
    if (this.#capacities.length < workers) this.#capacities = new Float64Array(workers * 2);
    const capacities = this.#capacities;
    if (info === undefined || info.size === 0) {
      capacities.fill(1, 0, workers);
      return true;
    }
    let uniform = true;
    for (let r = 0; r < workers; r++) {
      const id = sorted[r]!;
      capacities[r] = workerCapacity(id, info.get(id));
      if (capacities[r] !== capacities[0]) uniform = false;
    }
    return uniform;
  }

  /**
   * Brings the ring up to date with the current workers (incrementally when possible). Each worker
   * has `vnodes` points, or with `weighted` `max(1, round(vnodes × capacity / largest capacity))`
   * (its first points: a worker keeps its place on the ring as its share changes). A worker whose
   * number of points changes rebuilds the ring.
   */
  #syncRing(vnodes: number, weighted: boolean): void {
    const kernel = this.#kernel;
    const sorted = this.#sorted;
    const slotOf = this.#slotOf;
    const workers = sorted.length;
    if (this.#ringPoints.length < this.#slotIds.length) {
      const next = new Uint32Array(Math.max(this.#slotIds.length, 2 * this.#ringPoints.length));
      next.set(this.#ringPoints);
      this.#ringPoints = next;
    }
    const have = this.#ringPoints;
    const added = this.#pendingAdded;
    for (const slot of added) have[slot] = 0;
    let want: number[] | undefined;
    if (weighted) {
      const capacities = this.#capacities;
      let largest = 0;
      for (let r = 0; r < workers; r++) largest = Math.max(largest, capacities[r]!);
      want = new Array<number>(workers);
      for (let r = 0; r < workers; r++) {
        want[r] = Math.max(1, Math.round(vnodes * capacities[r]! / largest));
      }
    }
    let rebuild = vnodes !== this.#ringVnodes;
    if (!rebuild && (weighted || this.#ringWeighted)) {
      for (let r = 0; r < workers; r++) {
        const had = have[slotOf.get(sorted[r]!)!]!;
        if (had !== 0 && had !== (want === undefined ? vnodes : want[r]!)) {
          rebuild = true;
          break;
        }
      }
    }
    if (rebuild) {
      kernel.ensureSlots(this.#slotIds.length, workers * vnodes);
      kernel.clearRing();
      const all: number[] = [];
      for (let r = 0; r < workers; r++) {
        const slot = slotOf.get(sorted[r]!)!;
        all.push(slot);
        have[slot] = want === undefined ? vnodes : want[r]!;
      }
      kernel.updateRing(all, vnodes, want);
      this.#ringVnodes = vnodes;
    } else if (added.length > 0 || this.#pendingRemoved > 0) {
      // Added slots are in rank order, so equal ring positions tie-break by worker ID.
      let counts: number[] | undefined;
      if (want !== undefined) {
        counts = [];
        for (let r = 0; r < workers && counts.length < added.length; r++) {
          const slot = slotOf.get(sorted[r]!)!;
          if (have[slot] === 0) counts.push(want[r]!);
        }
      }
      kernel.updateRing(added, vnodes, counts);
      for (let k = 0; k < added.length; k++) {
        have[added[k]!] = counts === undefined ? vnodes : counts[k]!;
      }
    }
    this.#ringWeighted = weighted;
    this.#pendingAdded = [];
    this.#pendingRemoved = 0;
  }

  /** Fills the kernel's previous-owner slots; returns false when there is nothing to compare. */
  #fillPrevious(previous: ReadonlyMap<string, string>, partitions: readonly Partition[]): boolean {
    const n = this.#n;
    const snap = AssignmentMap.snapshotOf(previous);
    const prev = this.#kernel.prevView(n);
    if (
      snap !== undefined && snap.engine === this && snap.partitions === partitions &&
      snap.generation === this.#generation
    ) {
      const slotOf = this.#slotOf;
      if (this.#remap.length < snap.slotIds.length) {
        this.#remap = new Int32Array(snap.slotIds.length * 2);
      }
      const remap = this.#remap;
      for (let s = 0; s < snap.slotIds.length; s++) {
        const id = snap.slotIds[s]!;
        remap[s] = id === "" ? -2 : slotOf.get(id) ?? -2;
      }
      const old = snap.slots;
      for (let i = 0; i < n; i++) {
        const o = old[i]!;
        prev[i] = o === UNASSIGNED_SLOT ? -1 : remap[o]!;
      }
      return true;
    }
    if (previous.size === 0) return false;
    const ids = this.#partitionIds(partitions);
    const slotOf = this.#slotOf;
    for (let i = 0; i < n; i++) {
      const owner = previous.get(ids[i]!);
      prev[i] = owner === undefined ? -1 : slotOf.get(owner) ?? -2;
    }
    return true;
  }

  #runUserStrategy(
    fn: StrategyFunction,
    workers: readonly string[],
    partitions: readonly Partition[],
    previous: ReadonlyMap<string, string> | undefined,
    workerInfo: AssignInput["workerInfo"],
  ): void {
    let result: readonly string[];
    try {
      result = fn({ workers, partitions, previous, workerInfo });
    } catch (error) {
      throw new StrategyError(`The strategy function threw: ${String(error)}`, { cause: error });
    }
    if (!Array.isArray(result) || result.length !== partitions.length) {
      throw new StrategyError(
        `The strategy function returned ${
          Array.isArray(result) ? `${result.length} owners` : String(result)
        }; it must return one worker ID per partition (${partitions.length})`,
      );
    }
    const owners = this.#kernel.ownerView(partitions.length);
    const slotOf = this.#slotOf;
    for (let i = 0; i < result.length; i++) {
      const slot = slotOf.get(result[i]!);
      if (slot === undefined) {
        throw new StrategyError(
          `The strategy function assigned partition ${i} to '${String(result[i])}', ` +
            "which is not one of the given workers",
        );
      }
      owners[i] = slot;
    }
  }
}
